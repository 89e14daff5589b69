/* Kiln sample: crashes on purpose.
 *   crash       writes to address 0       (SIGSEGV, exit 139)
 *   crash ill   executes ud2              (SIGILL,  exit 132) */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "ill") == 0) {
        printf("crash: executing ud2\n");
        fflush(stdout);
        __asm__ volatile("ud2");
    } else {
        printf("crash: writing to NULL\n");
        fflush(stdout);
        *(volatile int *)0 = 42;
    }
    printf("crash: still alive?!\n");
    return 1;
}
