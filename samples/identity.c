/* Process identity as a server sees it at start-up: drops root the way
 * nginx and others do (setgroups, setgid, setuid), checks there is no way
 * back, and looks at its session, its children and memory locking.
 * Prints one line per step; exits 1 on the first surprise. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int fail(const char *what) {
    printf("identity: FAILED %s (errno %d %s)\n", what, errno, strerror(errno));
    return 1;
}

int main(void) {
    uid_t r, e, s;
    printf("identity: uid %d euid %d gid %d egid %d\n", getuid(), geteuid(), getgid(), getegid());
    gid_t groups[] = {65534, 27};
    if (setgroups(2, groups) != 0)
        return fail("setgroups");
    if (setgid(65534) != 0)
        return fail("setgid");
    if (setuid(65534) != 0)
        return fail("setuid");
    if (getresuid(&r, &e, &s) != 0)
        return fail("getresuid");
    gid_t got[8];
    int n = getgroups(8, got);
    printf("identity: dropped to uid %d/%d/%d gid %d, %d groups\n", r, e, s, getgid(), n);
    if (setuid(0) == 0 || errno != EPERM)
        return fail("setuid(0) after dropping should be EPERM");
    printf("identity: setuid(0) refused: %s\n", strerror(errno));
    if (setpriority(PRIO_PROCESS, 0, 5) != 0)
        return fail("setpriority");
    printf("identity: nice %d\n", getpriority(PRIO_PROCESS, 0));
    printf("identity: pid %d pgrp %d sid %d\n", getpid(), getpgrp(), getsid(0));
    if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD)
        return fail("waitpid should be ECHILD");
    printf("identity: waitpid: %s\n", strerror(errno));
    if (mlockall(MCL_CURRENT) != 0)
        return fail("mlockall");
    long barriers = syscall(SYS_membarrier, 0, 0, 0);
    if (barriers < 0 || syscall(SYS_membarrier, 1, 0, 0) != 0)
        return fail("membarrier");
    printf("identity: mlockall ok, membarrier ok\n");
    return 0;
}
