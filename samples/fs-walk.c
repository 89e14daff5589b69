/* Kiln sample (musl-gcc -static): looks at the file system the way real
 * programs do and prints what it finds. samples/fs-walk-rust does the same
 * in Rust with the same output. Commands, run in order:
 *   walk DIR     list DIR recursively, sorted: "d PATH", "f PATH SIZE",
 *                "l PATH -> TARGET"
 *   cat FILE     print "cat FILE (N bytes)" and the contents
 *   count DIR    print "count DIR: N files, M dirs" (recursively)
 *   open PATH    try to open PATH: "open PATH: ok" or the errno's name
 *   probe        /tmp, /proc/self, /dev/urandom, /etc and the cwd
 * Exit status 1 if anything unexpected failed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failed;

static const char *errname(int e)
{
    switch (e) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EROFS: return "EROFS";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case ELOOP: return "ELOOP";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case ENOSYS: return "ENOSYS";
    case EBADF: return "EBADF";
    case EFAULT: return "EFAULT";
    case ENOTEMPTY: return "ENOTEMPTY";
    default: return "errno?";
    }
}

static void fail(const char *what, const char *path)
{
    printf("error: %s %s: %s\n", what, path, errname(errno));
    failed = 1;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in DIR (without . and ..); *n gets the count. */
static char **names(const char *dir, int *n)
{
    DIR *d = opendir(dir);
    char **v = NULL;
    int cap = 0;
    struct dirent *e;

    *n = 0;
    if (!d) {
        fail("opendir", dir);
        return NULL;
    }
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            v = realloc(v, cap * sizeof *v);
        }
        v[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(v, *n, sizeof *v, cmp);
    return v;
}

static void walk(const char *dir, int print, long *files, long *dirs)
{
    int n;
    char **v = names(dir, &n);
    for (int i = 0; i < n; i++) {
        char path[4096], target[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", v[i]);
        if (lstat(path, &st) != 0) {
            fail("lstat", path);
        } else if (S_ISDIR(st.st_mode)) {
            ++*dirs;
            if (print)
                printf("d %s\n", path);
            walk(path, print, files, dirs);
        } else if (S_ISLNK(st.st_mode)) {
            ssize_t len = readlink(path, target, sizeof target - 1);
            if (len < 0) {
                fail("readlink", path);
                continue;
            }
            target[len] = 0;
            if (print)
                printf("l %s -> %s\n", path, target);
        } else {
            ++*files;
            if (print)
                printf("f %s %lld\n", path, (long long)st.st_size);
        }
        free(v[i]);
    }
    free(v);
}

/* Read a whole small file into buf (NUL-terminated); returns its length or -1. */
static long slurp(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    long len = 0;
    ssize_t r;
    if (fd < 0)
        return -1;
    while (len < (long)cap - 1 && (r = read(fd, buf + len, cap - 1 - len)) > 0)
        len += r;
    close(fd);
    buf[len] = 0;
    return len;
}

static void first_line(const char *label, const char *path)
{
    char buf[4096];
    if (slurp(path, buf, sizeof buf) < 0) {
        fail("open", path);
        return;
    }
    buf[strcspn(buf, "\n")] = 0;
    printf("%s: %s\n", label, buf);
}

static void list_tmp(void)
{
    int n;
    char **v = names("/tmp", &n);
    printf("tmp: listing");
    if (n == 0)
        printf(" (empty)");
    for (int i = 0; i < n; i++) {
        printf(" %s", v[i]);
        free(v[i]);
    }
    printf("\n");
    free(v);
}

static void probe(void)
{
    static char buf[1 << 16];
    char exe[4096];
    const char *msg = "hello tmpfs\n";
    int fd;
    long len;

    /* /tmp: create, write, read back, rename, unlink. */
    fd = open("/tmp/kiln-a", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        fail("create", "/tmp/kiln-a");
    } else {
        ssize_t w = write(fd, msg, strlen(msg));
        close(fd);
        printf("tmp: wrote %zd bytes to /tmp/kiln-a\n", w);
        if (slurp("/tmp/kiln-a", buf, sizeof buf) >= 0) {
            buf[strcspn(buf, "\n")] = 0;
            printf("tmp: read back \"%s\"\n", buf);
        } else {
            fail("reopen", "/tmp/kiln-a");
        }
        if (rename("/tmp/kiln-a", "/tmp/kiln-b") == 0)
            printf("tmp: renamed /tmp/kiln-a to /tmp/kiln-b\n");
        else
            fail("rename", "/tmp/kiln-a");
        list_tmp();
        if (unlink("/tmp/kiln-b") == 0)
            printf("tmp: unlinked /tmp/kiln-b\n");
        else
            fail("unlink", "/tmp/kiln-b");
        list_tmp();
    }

    /* /proc/self. */
    len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len < 0) {
        fail("readlink", "/proc/self/exe");
        exe[0] = 0;
    } else {
        exe[len] = 0;
        printf("exe: %s\n", exe);
    }
    len = slurp("/proc/self/cmdline", buf, sizeof buf);
    if (len < 0) {
        fail("open", "/proc/self/cmdline");
    } else {
        for (long i = 0; i + 1 < len; i++)
            if (!buf[i])
                buf[i] = ' ';
        printf("cmdline: %s\n", buf);
    }
    if (slurp("/proc/self/maps", buf, sizeof buf) < 0) {
        fail("open", "/proc/self/maps");
    } else {
        char *line = strtok(buf, "\n");
        int found = 0;
        while (line && !found) {
            size_t ll = strlen(line), el = strlen(exe);
            if (el && ll >= el && !strcmp(line + ll - el, exe)) {
                printf("maps: %s\n", line);
                found = 1;
            }
            line = strtok(NULL, "\n");
        }
        if (!found) {
            printf("error: /proc/self/maps does not show %s\n", exe);
            failed = 1;
        }
    }

    /* /dev/urandom. */
    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail("open", "/dev/urandom");
    } else {
        unsigned char r[16];
        ssize_t got = read(fd, r, sizeof r);
        close(fd);
        printf("urandom: got %zd bytes\n", got);
    }

    /* /etc and the working directory. */
    first_line("hosts", "/etc/hosts");
    first_line("resolv", "/etc/resolv.conf");
    if (getcwd(exe, sizeof exe))
        printf("cwd: %s\n", exe);
    else
        fail("getcwd", "");
}

int main(int argc, char **argv)
{
    static char buf[1 << 20];
    for (int i = 1; i < argc; i++) {
        const char *cmd = argv[i], *arg = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(cmd, "probe")) {
            probe();
            continue;
        }
        if (!arg) {
            printf("error: %s needs an argument\n", cmd);
            return 2;
        }
        i++;
        if (!strcmp(cmd, "walk")) {
            long files = 0, dirs = 0;
            printf("walk %s\n", arg);
            walk(arg, 1, &files, &dirs);
        } else if (!strcmp(cmd, "count")) {
            long files = 0, dirs = 0;
            walk(arg, 0, &files, &dirs);
            printf("count %s: %ld files, %ld dirs\n", arg, files, dirs);
        } else if (!strcmp(cmd, "cat")) {
            long len = slurp(arg, buf, sizeof buf);
            if (len < 0) {
                fail("open", arg);
                continue;
            }
            printf("cat %s (%ld bytes)\n%s", arg, len, buf);
            if (len && buf[len - 1] != '\n')
                printf("\n");
        } else if (!strcmp(cmd, "open")) {
            int fd = open(arg, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                printf("open %s: ok\n", arg);
                close(fd);
            } else {
                printf("open %s: %s\n", arg, errname(errno));
            }
        } else {
            printf("error: unknown command %s\n", cmd);
            return 2;
        }
    }
    printf("fs-walk: done\n");
    return failed;
}
