/* Kiln sample: makes random system calls with random arguments and checks
 * that the kernel answers each one (any result, any errno) and stays up.
 *   fuzz [COUNT [SEED]]
 * Calls that would end, block or undo the program itself (exit, signals,
 * sleeps, reads of the console, unmapping its own memory, TLS) are skipped:
 * the point is the kernel's checking of pointers, lengths and flags.
 *   fuzz MODE... (lengths, fds, dirs, timers, epoll, all)
 * aim at the paths that allocate what the program asks for: huge lengths
 * and counts, descriptors up to RLIMIT_NOFILE, deep directory trees in
 * /tmp, many timers, many epoll registrations. Each mode prints one line
 * ending in "kernel still up"; a wrong answer prints "FAIL ..." and the
 * program exits 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/uio.h>

static uint64_t state;

static uint64_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

/* Arguments that are often interesting: small numbers, flags, pointers to
 * nowhere, kernel addresses, pointers into our own memory. */
static long arg(char *scratch)
{
    switch (next() % 8) {
    case 0: return (long)(next() % 8);
    case 1: return -(long)(next() % 4096);
    case 2: return (long)next();
    case 3: return (long)(0xffff800000000000ull + (next() % (1ull << 40)));
    case 4: return (long)(scratch + next() % 4096);
    case 5: return (long)(next() & 0xffffffffull);
    case 6: return 0;
    default: return (long)(1ull << (next() % 64));
    }
}

static int skipped(long nr)
{
    static const long skip[] = {
        SYS_read, SYS_readv, SYS_pread64, SYS_preadv, SYS_preadv2,
        SYS_exit, SYS_exit_group, SYS_kill, SYS_tkill, SYS_tgkill,
        SYS_rt_sigqueueinfo, SYS_rt_tgsigqueueinfo, SYS_rt_sigreturn,
        SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigsuspend, SYS_rt_sigtimedwait,
        SYS_pause, SYS_nanosleep, SYS_clock_nanosleep, SYS_poll, SYS_ppoll,
        SYS_select, SYS_pselect6, SYS_epoll_wait, SYS_epoll_pwait, SYS_epoll_pwait2,
        SYS_futex, SYS_recvfrom, SYS_recvmsg, SYS_recvmmsg, SYS_accept, SYS_accept4,
        SYS_connect, SYS_wait4, SYS_waitid, SYS_alarm, SYS_setitimer, SYS_timer_create,
        SYS_clone, SYS_clone3, SYS_fork, SYS_vfork, SYS_execve, SYS_execveat,
        SYS_mmap, SYS_munmap, SYS_mprotect, SYS_mremap, SYS_brk, SYS_madvise,
        SYS_arch_prctl, SYS_close, SYS_close_range, SYS_dup2, SYS_dup3,
        SYS_set_tid_address, SYS_prctl, SYS_setrlimit, SYS_prlimit64,
        SYS_sigaltstack, SYS_msgrcv, SYS_semop, SYS_semtimedop, SYS_io_getevents,
        SYS_sendfile, SYS_splice, SYS_tee, SYS_copy_file_range, SYS_flock, SYS_fcntl,
        SYS_sched_yield, SYS_signalfd, SYS_signalfd4, SYS_timerfd_settime,
        SYS_sendto, SYS_sendmsg, SYS_sendmmsg, SYS_write, SYS_writev, SYS_pwrite64,
        SYS_pwritev, SYS_pwritev2, SYS_reboot,
        /* Calls that change this process's memory, privileges or CPU state
         * on Linux (the host run must survive too). */
        SYS_pkey_mprotect, SYS_remap_file_pages, SYS_rseq, SYS_personality,
        SYS_modify_ldt, SYS_iopl, SYS_ioperm, SYS_seccomp, SYS_ptrace, SYS_unshare,
        SYS_setns, SYS_shmat, SYS_shmdt, SYS_mlock, SYS_mlock2, SYS_mlockall,
        SYS_mbind, SYS_set_mempolicy, SYS_migrate_pages, SYS_move_pages,
        SYS_process_vm_readv, SYS_process_vm_writev, SYS_process_madvise,
        SYS_userfaultfd, SYS_io_uring_setup, SYS_io_uring_enter, SYS_io_uring_register,
        SYS_setuid, SYS_setgid, SYS_setreuid, SYS_setregid, SYS_setresuid, SYS_setresgid,
        SYS_setfsuid, SYS_setfsgid, SYS_setgroups, SYS_capset, SYS_chroot, SYS_pivot_root,
        SYS_mount, SYS_umount2, SYS_swapoff, SYS_swapon, SYS_sethostname, SYS_setdomainname,
        SYS_settimeofday, SYS_clock_settime, SYS_clock_adjtime, SYS_adjtimex,
        SYS_sched_setaffinity, SYS_sched_setscheduler, SYS_sched_setparam, SYS_sched_setattr,
        SYS_setpriority, SYS_setsid, SYS_setpgid, SYS_vhangup, SYS_acct, SYS_kexec_load,
        SYS_init_module, SYS_finit_module, SYS_delete_module, SYS_chdir, SYS_fchdir,
        SYS_unlink, SYS_unlinkat, SYS_rmdir, SYS_rename, SYS_renameat, SYS_renameat2,
        SYS_truncate, SYS_ftruncate, SYS_chmod, SYS_fchmod, SYS_fchmodat, SYS_chown,
        SYS_fchown, SYS_lchown, SYS_fchownat, SYS_mknod, SYS_mknodat, SYS_syslog,
        SYS_quotactl, SYS_fanotify_init, SYS_perf_event_open, SYS_bpf, SYS_keyctl,
        SYS_add_key, SYS_request_key, SYS_ioctl, SYS_shutdown, SYS_listen, SYS_bind,
        SYS_getrandom, SYS_sync, SYS_syncfs,
    };
    for (unsigned i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (skip[i] == nr)
            return 1;
    return 0;
}

static int failed;

static void check(int ok, const char *what)
{
    if (!ok) {
        printf("FAIL %s (errno %d %s)\n", what, errno, strerror(errno));
        failed = 1;
    }
}

/* 64 KiB of scratch memory followed by an unmapped page, so that a call
 * told to copy far more stops at the guard instead of overwriting the
 * program. */
static char *guarded(void)
{
    char *p = mmap(0, 17 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    munmap(p + 16 * 4096, 4096);
    memset(p, 0, 16 * 4096);
    return p;
}

static const unsigned long lens[] = {
    0, 1, 4095, 4096, 65536, 1ul << 20, 1ul << 31, 1ul << 32, 1ul << 40,
    1ul << 62, ~0ul >> 1, ~0ul, -4096ul,
};
#define NLENS (sizeof lens / sizeof lens[0])

static void mode_lengths(void)
{
    char *buf = guarded();
    check(buf != 0, "mmap scratch");
    int zero = open("/dev/zero", O_RDONLY), null = open("/dev/null", O_WRONLY);
    int tmp = open("/tmp/fuzz-len", O_CREAT | O_RDWR | O_TRUNC, 0600);
    int tmp2 = open("/tmp/fuzz-len2", O_CREAT | O_RDWR | O_TRUNC, 0600);
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    int pfd[2], sv[2];
    check(pipe2(pfd, O_NONBLOCK) == 0, "pipe2");
    check(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) == 0, "socketpair");
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int ep = epoll_create1(0);
    check(zero >= 0 && null >= 0 && tmp >= 0 && tmp2 >= 0 && dir >= 0 && udp >= 0 && ep >= 0, "open");
    struct sockaddr_in lo = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(0x7f000001)};
    long calls = 0;
    for (unsigned i = 0; i < NLENS; i++) {
        unsigned long L = lens[i];
        struct iovec iov = {buf, L};
        int opt = (int)L;
        syscall(SYS_ftruncate, tmp, 4096);
        syscall(SYS_read, zero, buf, L);
        syscall(SYS_write, null, buf, L);
        syscall(SYS_pread64, tmp, buf, L, L);
        syscall(SYS_pwrite64, tmp, buf, 1, L);
        syscall(SYS_pwrite64, tmp, buf, L, 0);
        syscall(SYS_readv, zero, &iov, 1);
        syscall(SYS_writev, tmp, &iov, 1);
        memset(buf, 0, 4096); /* iovecs read from buf: empty ones */
        syscall(SYS_readv, zero, buf, L);
        syscall(SYS_lseek, tmp, L, SEEK_DATA);
        syscall(SYS_lseek, tmp, L, SEEK_HOLE);
        syscall(SYS_ftruncate, tmp, 4096);
        syscall(SYS_sendfile, null, tmp, 0, L);
        syscall(SYS_copy_file_range, tmp, 0, tmp2, 0, L, 0);
        syscall(SYS_ftruncate, tmp, L);
        syscall(SYS_fallocate, tmp, 0, 0, L);
        syscall(SYS_fallocate, tmp, 1, L, L);
        syscall(SYS_fallocate, tmp, 3, 0, L);
        syscall(SYS_ftruncate, tmp, 4096);
        syscall(SYS_getrandom, buf, L, 0);
        syscall(SYS_getdents64, dir, buf, L);
        syscall(SYS_lseek, dir, 0, SEEK_SET);
        syscall(SYS_readlink, "/proc/self/exe", buf, L);
        syscall(SYS_getcwd, buf, L);
        syscall(SYS_sendto, sv[0], buf, L, MSG_DONTWAIT, 0, 0);
        syscall(SYS_recvfrom, sv[1], buf, L, MSG_DONTWAIT, 0, 0);
        syscall(SYS_setsockopt, udp, SOL_SOCKET, SO_RCVBUF, &opt, sizeof opt);
        syscall(SYS_setsockopt, udp, SOL_SOCKET, SO_SNDBUF, &opt, sizeof opt);
        syscall(SYS_setsockopt, udp, SOL_SOCKET, SO_RCVBUF, buf, L);
        syscall(SYS_sendto, udp, buf, L, MSG_DONTWAIT, &lo, sizeof lo);
        syscall(SYS_recvfrom, udp, buf, L, MSG_DONTWAIT, 0, 0);
        syscall(SYS_getsockopt, udp, SOL_SOCKET, SO_RCVBUF, buf, &opt);
        /* The sets and poll entries hold whatever the calls above left:
         * only the timeouts must be zero, so that nothing waits. */
        struct timeval tv0 = {0, 0};
        struct timespec ts0 = {0, 0};
        syscall(SYS_poll, buf, L, 0);
        syscall(SYS_select, (int)L, buf, buf, buf, &tv0);
        syscall(SYS_ppoll, buf, L, &ts0, 0, 8);
        syscall(SYS_sched_getaffinity, 0, L, buf);
        syscall(SYS_sched_setaffinity, 0, L, buf);
        syscall(SYS_fcntl, pfd[1], F_SETPIPE_SZ, L);
        syscall(SYS_write, pfd[1], buf, L);
        syscall(SYS_read, pfd[0], buf, L);
        syscall(SYS_epoll_wait, ep, buf, L, 0);
        syscall(SYS_getgroups, L, buf);
        syscall(SYS_setgroups, L, buf);
        syscall(SYS_mincore, buf, L, buf);
        syscall(SYS_mlock, buf, L);
        syscall(SYS_munlock, buf, L);
        syscall(SYS_msync, buf, L, MS_ASYNC);
        syscall(SYS_madvise, buf + 16 * 4096, L, MADV_WILLNEED);
        syscall(SYS_getxattr, "/tmp", "user.x", buf, L);
        syscall(SYS_listxattr, "/tmp", buf, L);
        syscall(SYS_uname, buf);
        void *m = (void *)syscall(SYS_mmap, 0, L, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED) {
            void *r = (void *)syscall(SYS_mremap, m, L ? L : 1, L * 2, MREMAP_MAYMOVE);
            syscall(SYS_munmap, r != MAP_FAILED ? r : m, r != MAP_FAILED ? L * 2 : L);
        }
        m = (void *)syscall(SYS_mmap, 0, L, PROT_READ, MAP_PRIVATE, tmp, 0);
        if (m != MAP_FAILED)
            syscall(SYS_munmap, m, L);
        calls += 56;
    }
    /* A mapping populated far past memory stops quietly, and gives its
     * memory back when unmapped. */
    void *m = mmap(0, 1ul << 40, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (m != MAP_FAILED)
        munmap(m, 1ul << 40);
    struct stat st;
    check(fstat(tmp, &st) == 0 && st.st_size == 4096, "tmpfs file back to 4096 bytes");
    close(zero), close(null), close(tmp), close(tmp2), close(dir), close(pfd[0]), close(pfd[1]);
    close(sv[0]), close(sv[1]), close(udp), close(ep);
    unlink("/tmp/fuzz-len"), unlink("/tmp/fuzz-len2");
    munmap(buf, 16 * 4096);
    printf("fuzz lengths: %ld calls with %u lengths up to 2^64-1, kernel still up\n", calls, (unsigned)NLENS);
}

static void mode_fds(void)
{
    struct rlimit rl;
    check(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit");
    long limit = (long)rl.rlim_cur, n = 0;
    while (open("/dev/null", O_RDONLY) >= 0)
        n++;
    check(errno == EMFILE, "open until EMFILE");
    check(n + 3 == limit, "every descriptor below RLIMIT_NOFILE opens");
    for (long fd = 3; fd < limit; fd++)
        close(fd);
    check(dup2(0, (int)limit - 1) == limit - 1, "dup2 to RLIMIT_NOFILE-1");
    check(dup2(0, (int)limit) < 0 && errno == EBADF, "dup2 to RLIMIT_NOFILE is EBADF");
    close((int)limit - 1);
    /* Pipes, eventfds and sockets until the descriptors or memory end. */
    long pipes = 0, socks = 0, events = 0;
    int p[2];
    while (pipe(p) == 0) {
        pipes++;
        write(p[1], "x", 1);
    }
    for (long fd = 3; fd < limit; fd++)
        close(fd);
    for (;;) {
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        if (s < 0)
            break;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
        int big = 1 << 22;
        setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) {
            check(errno == ENOMEM || errno == EADDRINUSE || errno == ENOBUFS, "bind fails with ENOMEM");
            break;
        }
        socks++;
    }
    for (long fd = 3; fd < limit; fd++)
        close(fd);
    while (eventfd(0, 0) >= 0)
        events++;
    for (long fd = 3; fd < limit; fd++)
        close(fd);
    check(open("/dev/null", O_RDONLY) == 3, "descriptors come back");
    close(3);
    printf("fuzz fds: %ld files, %ld pipes, %ld bound sockets, %ld eventfds, kernel still up\n",
           n, pipes, socks, events);
}

static void mode_dirs(void)
{
    check(chdir("/tmp") == 0, "chdir /tmp");
    long depth = 0;
    /* Each call resolves through the whole chain of the working directory
     * (see docs/architecture.md): deeper trees work, slowly. */
    while (depth < 1000 && mkdir("d", 0700) == 0 && chdir("d") == 0)
        depth++;
    char *cwd = getcwd(0, 0);
    long pathlen = cwd ? (long)strlen(cwd) : -1;
    free(cwd);
    /* Many files in the deepest directory, each with some data. */
    long files = 0;
    char name[32];
    for (; files < 1000; files++) {
        snprintf(name, sizeof name, "f%ld", files);
        int fd = open(name, O_CREAT | O_WRONLY, 0600);
        if (fd < 0)
            break;
        write(fd, name, strlen(name));
        close(fd);
    }
    for (long i = 0; i < files; i++) {
        snprintf(name, sizeof name, "f%ld", i);
        check(unlink(name) == 0, "unlink");
    }
    for (long i = 0; i < depth; i++) {
        check(chdir("..") == 0, "chdir ..");
        check(rmdir("d") == 0, "rmdir");
    }
    printf("fuzz dirs: %ld levels (getcwd %ld bytes), %ld files, all removed, kernel still up\n",
           depth, pathlen, files);
}

static void mode_timers(void)
{
    long posix = 0, fds = 0;
    struct sigevent sev = {.sigev_notify = SIGEV_NONE};
    struct itimerspec its = {.it_value = {0, 1000000}, .it_interval = {0, 1000000}};
    timer_t t;
    while (posix < 100000 && syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &t) == 0) {
        syscall(SYS_timer_settime, t, 0, &its, 0);
        posix++;
    }
    check(errno == EAGAIN, "timer_create ends in EAGAIN");
    /* As many timerfds as POSIX timers: every timer turn looks at each
     * (see docs/architecture.md), so tens of thousands armed at 1 ms
     * would leave the program little time. */
    while (fds < 4096) {
        int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
        if (fd < 0)
            break;
        timerfd_settime(fd, 0, &its, 0);
        fds++;
    }
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, 0);
    for (long id = 0; id < posix; id++)
        syscall(SYS_timer_delete, (timer_t)id);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    for (long fd = 3; fd < (long)rl.rlim_cur; fd++)
        close(fd);
    printf("fuzz timers: %ld POSIX timers, %ld timerfds armed at 1 ms, kernel still up\n", posix, fds);
}

static void mode_epoll(void)
{
    int ep = epoll_create1(0);
    check(ep >= 0, "epoll_create1");
    long reg = 0;
    /* 16384 ready registrations: each epoll_ctl looks through the ready
     * queue (see docs/architecture.md), so 65536 would take a minute. */
    while (reg < 16384) {
        int fd = eventfd(1, EFD_NONBLOCK);
        if (fd < 0)
            break;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            break;
        reg++;
    }
    static struct epoll_event evs[4096];
    long seen = 0;
    int n = epoll_wait(ep, evs, 4096, 0);
    if (n > 0)
        seen = n;
    /* Epolls watching epolls: Linux allows 4 levels (ELOOP after). */
    int chain[8], depth = 0;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    for (long fd = 3; fd < (long)rl.rlim_cur; fd++)
        if (fd != ep)
            close(fd);
    chain[0] = ep;
    for (depth = 1; depth < 8; depth++) {
        chain[depth] = epoll_create1(0);
        struct epoll_event ev = {.events = EPOLLIN};
        if (epoll_ctl(chain[depth], EPOLL_CTL_ADD, chain[depth - 1], &ev) != 0)
            break;
    }
    for (int i = 0; i <= depth && i < 8; i++)
        close(chain[i]);
    printf("fuzz epoll: %ld registrations, %ld ready in one wait, nesting stops at %d, kernel still up\n",
           reg, seen, depth);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IOLBF, 0);
    if (argc > 1 && (argv[1][0] < '0' || argv[1][0] > '9')) {
        for (int i = 1; i < argc; i++) {
            const char *m = argv[i];
            int all = strcmp(m, "all") == 0, known = 0;
            if (all || strcmp(m, "lengths") == 0)
                mode_lengths(), known = 1;
            if (all || strcmp(m, "fds") == 0)
                mode_fds(), known = 1;
            if (all || strcmp(m, "dirs") == 0)
                mode_dirs(), known = 1;
            if (all || strcmp(m, "timers") == 0)
                mode_timers(), known = 1;
            if (all || strcmp(m, "epoll") == 0)
                mode_epoll(), known = 1;
            if (!known) {
                fprintf(stderr, "fuzz: unknown mode %s\n", m);
                return 2;
            }
        }
        return failed;
    }
    long count = argc > 1 ? atol(argv[1]) : 20000;
    state = argc > 2 ? strtoull(argv[2], 0, 0) : 0x9e3779b97f4a7c15ull;
    static char scratch[8192];
    long made = 0;
    for (long i = 0; i < count; i++) {
        long nr = (long)(next() % 460);
        if (skipped(nr))
            continue;
        syscall(nr, arg(scratch), arg(scratch), arg(scratch), arg(scratch), arg(scratch), arg(scratch));
        made++;
    }
    printf("fuzz: %ld random system calls, kernel still up\n", made);
    return 0;
}
