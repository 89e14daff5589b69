/* Kiln sample: memory and tmpfs under pressure.
 *   memory tmpfs MIB      write MIB MiB to /tmp, read it back, compare checksums
 *   memory sparse PATH    a 1 GiB sparse file: ftruncate, pwrite, stat, SEEK_DATA/HOLE
 *   memory fill PATH      write to PATH until the file system is full (ENOSPC)
 *   memory dots PATH      write one byte every 64 KiB of PATH until ENOSPC (one page each)
 *   memory oom            touch ever more memory until the kernel ends the program
 * Each prints what it saw; a failed check prints "FAIL ..." and exits 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define MIB (1024 * 1024)

static void fail(const char *what)
{
    printf("FAIL %s: %s\n", what, strerror(errno));
    exit(1);
}

/* A pattern that differs at every offset, so a misplaced page shows. */
static void pattern(uint64_t *buf, size_t words, uint64_t start)
{
    for (size_t i = 0; i < words; i++) {
        uint64_t x = (start + i) * 0x9e3779b97f4a7c15ull;
        buf[i] = x ^ (x >> 29);
    }
}

static uint64_t sum(const uint64_t *buf, size_t words, uint64_t acc)
{
    for (size_t i = 0; i < words; i++)
        acc = (acc ^ buf[i]) * 0x100000001b3ull;
    return acc;
}

static int tmpfs_big(long mib)
{
    static uint64_t buf[MIB / 8];
    int fd = open("/tmp/big", O_CREAT | O_TRUNC | O_RDWR, 0644);
    if (fd < 0)
        fail("open /tmp/big");
    uint64_t wsum = 0, rsum = 0;
    for (long m = 0; m < mib; m++) {
        pattern(buf, MIB / 8, (uint64_t)m * (MIB / 8));
        wsum = sum(buf, MIB / 8, wsum);
        ssize_t n = write(fd, buf, MIB);
        if (n != MIB) {
            printf("FAIL write at %ld MiB: %zd (%s)\n", m, n, n < 0 ? strerror(errno) : "short");
            return 1;
        }
    }
    struct stat st;
    if (fstat(fd, &st) != 0)
        fail("fstat");
    if (lseek(fd, 0, SEEK_SET) != 0)
        fail("lseek");
    long got = 0;
    for (;;) {
        ssize_t n = read(fd, buf, MIB);
        if (n < 0)
            fail("read");
        if (n == 0)
            break;
        if (n != MIB) {
            printf("FAIL short read %zd at %ld MiB\n", n, got);
            return 1;
        }
        rsum = sum(buf, MIB / 8, rsum);
        got++;
    }
    close(fd);
    printf("tmpfs: wrote %ld MiB (st_size %lld, st_blocks %lld), read back %ld MiB, checksums %s\n",
           mib, (long long)st.st_size, (long long)st.st_blocks, got,
           wsum == rsum ? "match" : "DIFFER");
    /* Deleting the file gives the memory back to the file system. */
    struct statvfs before, after;
    statvfs("/tmp", &before);
    if (unlink("/tmp/big") != 0)
        fail("unlink");
    statvfs("/tmp", &after);
    printf("tmpfs: unlink gave back %lu MiB\n",
           (unsigned long)((after.f_bfree - before.f_bfree) * after.f_bsize / MIB));
    return wsum == rsum ? 0 : 1;
}

static int sparse(const char *path)
{
    const off_t gib = 1024L * MIB;
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
    if (fd < 0)
        fail("open");
    if (ftruncate(fd, gib) != 0)
        fail("ftruncate 1 GiB");
    if (pwrite(fd, "data", 4, gib) != 4)
        fail("pwrite at 1 GiB");
    if (pwrite(fd, "early", 5, 8192) != 5)
        fail("pwrite at 8192");
    struct stat st;
    if (fstat(fd, &st) != 0)
        fail("fstat");
    printf("sparse: st_size %lld st_blocks %lld\n", (long long)st.st_size, (long long)st.st_blocks);
    printf("sparse: SEEK_DATA 0 -> %lld\n", (long long)lseek(fd, 0, SEEK_DATA));
    printf("sparse: SEEK_HOLE 8192 -> %lld\n", (long long)lseek(fd, 8192, SEEK_HOLE));
    printf("sparse: SEEK_DATA 12288 -> %lld\n", (long long)lseek(fd, 12288, SEEK_DATA));
    printf("sparse: SEEK_HOLE %lld -> %lld\n", (long long)gib, (long long)lseek(fd, gib, SEEK_HOLE));
    char buf[8] = "xxxxxxxx";
    if (pread(fd, buf, 8, gib - 4) != 8)
        fail("pread");
    printf("sparse: read across the hole's end: %s\n",
           memcmp(buf, "\0\0\0\0data", 8) == 0 ? "zeros then data" : "WRONG");
    close(fd);
    unlink(path);
    return 0;
}

static int fill(const char *path)
{
    static char buf[64 * 1024];
    memset(buf, 'x', sizeof buf);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0)
        fail("open");
    long long total = 0;
    for (;;) {
        ssize_t n = write(fd, buf, sizeof buf);
        if (n < 0) {
            printf("fill: wrote %lld bytes, then %s\n", total,
                   errno == ENOSPC ? "ENOSPC" : strerror(errno));
            break;
        }
        total += n;
    }
    struct stat st;
    fstat(fd, &st);
    printf("fill: st_size %lld\n", (long long)st.st_size);
    close(fd);
    return 0;
}

static int dots(const char *path)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0)
        fail("open");
    long n = 0;
    while (pwrite(fd, ".", 1, (off_t)n * 65536) == 1)
        n++;
    printf("dots: %ld one-byte writes 64 KiB apart, then %s\n", n,
           errno == ENOSPC ? "ENOSPC" : strerror(errno));
    struct stat st;
    fstat(fd, &st);
    printf("dots: st_size %lld st_blocks %lld\n", (long long)st.st_size, (long long)st.st_blocks);
    close(fd);
    return 0;
}

static int oom(void)
{
    long mib = 0;
    for (;;) {
        char *p = malloc(MIB);
        if (!p) {
            printf("oom: malloc failed after %ld MiB\n", mib);
            return 1;
        }
        for (long i = 0; i < MIB; i += 4096)
            p[i] = 1;
        mib++;
        if (mib % 16 == 0) {
            printf("oom: %ld MiB touched\n", mib);
            fflush(stdout);
        }
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IOLBF, 0);
    if (argc >= 3 && strcmp(argv[1], "tmpfs") == 0)
        return tmpfs_big(atol(argv[2]));
    if (argc >= 3 && strcmp(argv[1], "sparse") == 0)
        return sparse(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "fill") == 0)
        return fill(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "dots") == 0)
        return dots(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "oom") == 0)
        return oom();
    fprintf(stderr, "usage: memory tmpfs MIB | sparse PATH | fill PATH | dots PATH | oom\n");
    return 2;
}
