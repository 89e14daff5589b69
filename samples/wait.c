/* Kiln sample: waits to be stopped.
 *   wait        prints "waiting", then sleeps up to a minute; stopping the VM
 *               (Ctrl-C in `kiln run`) ends it with SIGTERM (exit 143) */
#include <stdio.h>
#include <time.h>

int main(void)
{
    printf("waiting\n");
    fflush(stdout);
    struct timespec ts = { .tv_sec = 60, .tv_nsec = 0 };
    nanosleep(&ts, NULL);
    printf("wait: timed out\n");
    return 1;
}
