/* Signals and timers with musl: handlers run through raise() and kill(),
 * SA_SIGINFO fields, a handler on an alternate stack, a SIGSEGV handler that
 * recovers with siglongjmp, alarm() and SIGALRM, setitimer, timer_create
 * with SIGEV_SIGNAL, blocked and pending signals, and nanosleep cut short by
 * a timer. One line per check, then "signals ok" (exit 1 on a failure). */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int failures;
static void check(int ok, const char *line) {
    printf("%s%s\n", ok ? "" : "FAIL: ", line);
    fflush(stdout);
    if (!ok)
        failures++;
}

static void on(int sig, void (*handler)(int, siginfo_t *, void *), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) {
        perror("sigaction");
        exit(1);
    }
}

static volatile sig_atomic_t count;
static volatile int last_signo, last_code, last_pid, last_value;
static void counting(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    count++;
    last_signo = sig == si->si_signo ? sig : -1;
    last_code = si->si_code;
    last_pid = si->si_pid;
    last_value = si->si_value.sival_int;
}

static char altstack[64 * 1024];
static volatile int on_altstack;
static void where(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)si, (void)uc;
    char here;
    on_altstack = &here >= altstack && &here < altstack + sizeof altstack;
}

static sigjmp_buf recover;
static volatile uintptr_t fault_addr;
static void segv(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)uc;
    fault_addr = (uintptr_t)si->si_addr;
    siglongjmp(recover, 1);
}

static void reset(void) {
    count = 0;
    last_signo = last_code = last_pid = last_value = 0;
}

int main(void) {
    char line[160];

    on(SIGUSR1, counting, 0);
    reset();
    raise(SIGUSR1);
    snprintf(line, sizeof line, "raise: SIGUSR1 handled %d time(s)", (int)count);
    check(count == 1 && last_signo == SIGUSR1, line);

    reset();
    kill(getpid(), SIGUSR1);
    check(count == 1, "kill: SIGUSR1 handled");

    on(SIGUSR2, counting, 0);
    reset();
    kill(getpid(), SIGUSR2);
    check(count == 1 && last_signo == SIGUSR2 && last_code == SI_USER && last_pid == getpid(),
          "siginfo: si_signo SIGUSR2, si_code SI_USER, si_pid ours");

    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        perror("sigaltstack");
    on(SIGURG, where, SA_ONSTACK);
    raise(SIGURG);
    check(on_altstack, "sigaltstack: the handler ran on the alternate stack");

    on(SIGSEGV, segv, SA_NODEFER);
    if (sigsetjmp(recover, 1) == 0) {
        int *volatile bad = (int *)16;
        *bad = 1;
        check(0, "sigsegv: the write to address 16 did not fault");
    } else {
        snprintf(line, sizeof line, "sigsegv: recovered with siglongjmp, si_addr %#lx",
                 (unsigned long)fault_addr);
        check(fault_addr == 16, line);
    }

    struct timespec t0, t1;
    on(SIGALRM, counting, 0);
    reset();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    alarm(1);
    while (count == 0)
        pause();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    check(last_signo == SIGALRM && waited >= 0.9, "alarm: SIGALRM after a second");

    /* setitimer: three ticks of a 20 ms interval timer, waited for with
     * sigsuspend while SIGALRM is blocked in between. */
    sigset_t alrm, old;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    sigprocmask(SIG_BLOCK, &alrm, &old);
    reset();
    struct itimerval it = {.it_interval = {0, 20000}, .it_value = {0, 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
    while (count < 3)
        sigsuspend(&old);
    struct itimerval off = {0};
    setitimer(ITIMER_REAL, &off, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    snprintf(line, sizeof line, "setitimer: %d ticks", (int)count >= 3 ? 3 : (int)count);
    check(count >= 3, line);

    /* timer_create: SIGRTMIN carrying a value. */
    on(SIGRTMIN, counting, 0);
    reset();
    timer_t timer;
    struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN};
    sev.sigev_value.sival_int = 42;
    if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) {
        perror("timer_create");
        failures++;
    } else {
        struct itimerspec ts = {.it_value = {0, 50 * 1000 * 1000}};
        timer_settime(timer, 0, &ts, NULL);
        while (count == 0)
            pause();
        timer_delete(timer);
        snprintf(line, sizeof line, "timer_create: SIGRTMIN with value %d, si_code SI_TIMER",
                 last_value);
        check(last_code == SI_TIMER && last_value == 42, line);
    }

    /* A blocked signal stays pending and arrives when unblocked. */
    sigset_t usr1, pending;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    reset();
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    raise(SIGUSR1);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGUSR1) == 1 && count == 0;
    sigprocmask(SIG_UNBLOCK, &usr1, NULL);
    check(was_pending && count == 1, "sigprocmask: blocked SIGUSR1 was pending, delivered on unblock");

    /* nanosleep returns EINTR when a timer's signal interrupts it. */
    reset();
    struct itimerval once = {.it_value = {0, 100000}};
    setitimer(ITIMER_REAL, &once, NULL);
    struct timespec req = {5, 0}, rem = {0, 0};
    int r = nanosleep(&req, &rem);
    int e = errno;
    check(r == -1 && e == EINTR && count == 1 && (rem.tv_sec > 0 || rem.tv_nsec > 0) && rem.tv_sec < 5,
          "nanosleep: EINTR from a timer, with time remaining");

    if (failures) {
        printf("signals: %d check(s) failed\n", failures);
        return 1;
    }
    printf("signals ok\n");
    return 0;
}
