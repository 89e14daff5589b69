/* Kiln's vDSO: clock_gettime, gettimeofday, time and getcpu answered in the
 * program, from the clock page (vvar) that the kernel maps just below this
 * object and updates. Built by kernel/build.rs with the host C compiler as a
 * freestanding shared object and embedded in the kernel. */
#include <stdint.h>

struct timespec_k { int64_t tv_sec; int64_t tv_nsec; };
struct timeval_k { int64_t tv_sec; int64_t tv_usec; };

/* Must match kernel/src/vdso.rs (VvarPage). */
struct vvar {
    volatile uint32_t seq;   /* odd while the kernel updates the page */
    uint32_t valid;          /* 0: use the system call */
    uint64_t tsc_base;       /* TSC at monotonic time 0 */
    uint64_t mult;           /* ns = ((tsc - tsc_base) * mult) >> 32 */
    uint64_t realtime_base;  /* ns since the epoch at monotonic time 0 */
};

extern const struct vvar vvar_page __attribute__((visibility("hidden")));

#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define CLOCK_MONOTONIC_RAW 4
#define CLOCK_REALTIME_COARSE 5
#define CLOCK_MONOTONIC_COARSE 6
#define CLOCK_BOOTTIME 7

static long sys2(long nr, long a, long b)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return ret;
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* Monotonic nanoseconds, or -1 when the page is not usable. */
static int64_t monotonic_ns(uint64_t *realtime_base)
{
    const struct vvar *v = &vvar_page;
    uint32_t seq;
    uint64_t ns;
    do {
        seq = v->seq;
        __asm__ volatile("" ::: "memory");
        if (!v->valid)
            return -1;
        uint64_t ticks = rdtsc() - v->tsc_base;
        ns = (uint64_t)(((unsigned __int128)ticks * v->mult) >> 32);
        *realtime_base = v->realtime_base;
        __asm__ volatile("" ::: "memory");
    } while ((seq & 1) || seq != v->seq);
    return (int64_t)ns;
}

int __vdso_clock_gettime(int clock, struct timespec_k *ts)
{
    uint64_t base;
    int64_t ns;
    switch (clock) {
    case CLOCK_REALTIME: case CLOCK_REALTIME_COARSE:
    case CLOCK_MONOTONIC: case CLOCK_MONOTONIC_RAW:
    case CLOCK_MONOTONIC_COARSE: case CLOCK_BOOTTIME:
        ns = monotonic_ns(&base);
        if (ns >= 0) {
            if (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)
                ns += (int64_t)base;
            ts->tv_sec = ns / 1000000000;
            ts->tv_nsec = ns % 1000000000;
            return 0;
        }
    }
    return (int)sys2(228, clock, (long)ts);
}

int __vdso_gettimeofday(struct timeval_k *tv, void *tz)
{
    uint64_t base;
    int64_t ns = monotonic_ns(&base);
    if (ns < 0 || tz)
        return (int)sys2(96, (long)tv, (long)tz);
    if (tv) {
        ns += (int64_t)base;
        tv->tv_sec = ns / 1000000000;
        tv->tv_usec = (ns % 1000000000) / 1000;
    }
    return 0;
}

long __vdso_time(long *t)
{
    uint64_t base;
    int64_t ns = monotonic_ns(&base);
    if (ns < 0)
        return sys2(201, (long)t, 0);
    long s = (ns + (int64_t)base) / 1000000000;
    if (t)
        *t = s;
    return s;
}

int __vdso_getcpu(unsigned *cpu, unsigned *node, void *unused)
{
    (void)unused;
    if (cpu)
        *cpu = 0;
    if (node)
        *node = 0;
    return 0;
}

int clock_gettime(int, struct timespec_k *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct timeval_k *, void *) __attribute__((weak, alias("__vdso_gettimeofday")));
long time(long *) __attribute__((weak, alias("__vdso_time")));
int getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
