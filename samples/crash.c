/* Kiln sample: crashes on purpose.
 *   crash        writes to address 0                      (SIGSEGV, exit 139)
 *   crash ill    executes ud2                             (SIGILL,  exit 132)
 *   crash deep   writes to address 0 three calls down     (SIGSEGV, exit 139)
 *   crash abort  calls abort() three calls down           (SIGABRT, exit 134)
 *   crash thread as deep, with a second thread asleep in crash_sleeper
 * Built with -g so that kiln's backtrace shows file:line. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile int *target; /* NULL: the compiler cannot prove it */

__attribute__((noinline)) static void crash_inner(int how)
{
    if (how)
        abort();
    *target = 42;
}

__attribute__((noinline)) static void crash_middle(int how)
{
    crash_inner(how);
    __asm__ volatile("" ::: "memory"); /* not a tail call */
}

__attribute__((noinline)) static void crash_outer(int how)
{
    crash_middle(how);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void *crash_sleeper(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "thread") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, crash_sleeper, NULL);
        usleep(20000); /* let it reach pause() */
        argv[1] = "deep";
    }
    if (argc > 1 && strcmp(argv[1], "ill") == 0) {
        printf("crash: executing ud2\n");
        fflush(stdout);
        __asm__ volatile("ud2");
    } else if (argc > 1 && (strcmp(argv[1], "deep") == 0 || strcmp(argv[1], "abort") == 0)) {
        int how = strcmp(argv[1], "abort") == 0;
        printf("crash: %s three calls down\n", how ? "aborting" : "writing to NULL");
        fflush(stdout);
        crash_outer(how);
    } else {
        printf("crash: writing to NULL\n");
        fflush(stdout);
        *(volatile int *)0 = 42;
    }
    printf("crash: still alive?!\n");
    return 1;
}
