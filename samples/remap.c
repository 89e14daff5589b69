/* mremap, directly and through glibc's realloc of large blocks (glibc
 * serves blocks of 128 KiB and more with mmap and grows them with
 * mremap). Prints what it saw; exits 1 on the first surprise. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int fail(const char *what) {
    printf("remap: FAILED %s (errno %d)\n", what, errno);
    return 1;
}

int main(void) {
    const size_t page = 4096;
    /* Four writable pages followed by a read-only one, so that growing
     * has to move. */
    char *a = mmap(NULL, 5 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED)
        return fail("mmap");
    if (mprotect(a + 4 * page, page, PROT_READ) != 0)
        return fail("mprotect");
    strcpy(a, "page zero");
    strcpy(a + 3 * page, "page three");
    if (mremap(a, 4 * page, 64 * page, 0) != MAP_FAILED || errno != ENOMEM)
        return fail("grow without MREMAP_MAYMOVE");
    char *b = mremap(a, 4 * page, 64 * page, MREMAP_MAYMOVE);
    if (b == MAP_FAILED)
        return fail("grow with MREMAP_MAYMOVE");
    printf("remap: moved %s, kept \"%s\" and \"%s\", new tail reads %d\n",
           b == a ? "no" : "yes", b, b + 3 * page, b[63 * page]);
    b[63 * page] = 7;
    if (mremap(b, 64 * page, 2 * page, 0) != b)
        return fail("shrink");
    if (munmap(b, 2 * page) != 0)
        return fail("munmap");
    if (mremap(b, page, 2 * page, MREMAP_MAYMOVE) != MAP_FAILED || errno != EFAULT)
        return fail("mremap of nothing");

    /* realloc from 1 MiB to 64 MiB, checking every byte written so far. */
    size_t len = 1 << 20;
    unsigned char *buf = malloc(len);
    if (!buf)
        return fail("malloc");
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(i * 7);
    while (len < (64u << 20)) {
        unsigned char *n = realloc(buf, len * 2);
        if (!n)
            return fail("realloc");
        buf = n;
        for (size_t i = 0; i < len; i += 997)
            if (buf[i] != (unsigned char)(i * 7))
                return fail("realloc lost data");
        for (size_t i = len; i < len * 2; i++)
            buf[i] = (unsigned char)(i * 7);
        len *= 2;
    }
    free(buf);
    printf("remap: realloc grew a block to %zu MiB intact\n", len >> 20);
    return 0;
}
