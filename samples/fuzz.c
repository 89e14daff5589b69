/* Kiln sample: makes random system calls with random arguments and checks
 * that the kernel answers each one (any result, any errno) and stays up.
 *   fuzz [COUNT [SEED]]
 * Calls that would end, block or undo the program itself (exit, signals,
 * sleeps, reads of the console, unmapping its own memory, TLS) are skipped:
 * the point is the kernel's checking of pointers, lengths and flags. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/syscall.h>

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

int main(int argc, char **argv)
{
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
