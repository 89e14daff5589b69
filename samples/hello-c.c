/* Kiln sample: built with musl and glibc, statically and dynamically linked.
 * Prints a line, its arguments, uname's sysname/machine and a clock check. */
#include <stdio.h>
#include <sys/utsname.h>
#include <time.h>

int main(int argc, char **argv)
{
    struct utsname u;
    struct timespec a, b;

    printf("Hello from C on Kiln!\n");
    for (int i = 0; i < argc; i++)
        printf("argv[%d] = %s\n", i, argv[i]);
    if (uname(&u) == 0)
        printf("uname: %s %s\n", u.sysname, u.machine);
    else
        printf("uname failed\n");
    if (clock_gettime(CLOCK_MONOTONIC, &a) == 0 && clock_gettime(CLOCK_MONOTONIC, &b) == 0 &&
        (b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec)))
        printf("clock ok\n");
    else
        printf("clock broken\n");
    return 0;
}
