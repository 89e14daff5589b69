/* Kiln sample for `kiln run --profile`: burns CPU in two named functions
 * for about the given number of milliseconds (default 600), two thirds in
 * hot_loop and one third in warm_loop, then makes system calls in
 * syscall_loop. The profile must name them. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

__attribute__((noinline)) unsigned long hot_loop(double ms)
{
    volatile unsigned long x = 1;
    double end = now_ms() + ms;
    while (now_ms() < end)
        for (int i = 0; i < 20000; i++)
            x = x * 6364136223846793005UL + 1442695040888963407UL;
    return x;
}

__attribute__((noinline)) unsigned long warm_loop(double ms)
{
    volatile unsigned long x = 3;
    double end = now_ms() + ms;
    while (now_ms() < end)
        for (int i = 0; i < 20000; i++)
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return x;
}

__attribute__((noinline)) long syscall_loop(int n)
{
    long s = 0;
    for (int i = 0; i < n; i++)
        s += getppid();
    return s;
}

int main(int argc, char **argv)
{
    double ms = argc > 1 ? atof(argv[1]) : 600;
    unsigned long a = hot_loop(ms * 2 / 3);
    unsigned long b = warm_loop(ms / 3);
    long c = syscall_loop(2000);
    printf("spin done %lu\n", (a ^ b) & 1 ? (unsigned long)c + 1 : (unsigned long)c);
    return 0;
}
