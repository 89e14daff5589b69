/* /init of the Linux guest that bench-net measures Kiln against: the same
 * static server as the only program of a Linux VM under the same QEMU.
 * Loads the virtio-net modules from /modules (Debian builds them as
 * modules), sets up lo and eth0 as QEMU user networking expects
 * (10.0.2.15/24 via 10.0.2.2), then execs /server with init's arguments
 * (the kernel command line after "--"). Without /modules it only execs
 * /server (bench-boot's Linux peer). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

/* 0 once loaded (or already there); the dependency order is found by
 * retrying. */
static int load(const char *name) {
    char path[128];
    snprintf(path, sizeof path, "/modules/%s.ko", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int r = fd < 0 ? -1 : (int)syscall(SYS_finit_module, fd, "", 0);
    int ok = r == 0 || errno == EEXIST;
    close(fd);
    return ok ? 0 : -1;
}

static void addr(int s, const char *ifname, unsigned long req, const char *ip) {
    struct ifreq r = {0};
    strncpy(r.ifr_name, ifname, IFNAMSIZ - 1);
    struct sockaddr_in *a = (struct sockaddr_in *)&r.ifr_addr;
    a->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a->sin_addr);
    if (ioctl(s, req, &r) != 0)
        perror(ifname);
}

static void up(int s, const char *ifname) {
    struct ifreq r = {0};
    strncpy(r.ifr_name, ifname, IFNAMSIZ - 1);
    ioctl(s, SIOCGIFFLAGS, &r);
    r.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &r) != 0)
        perror(ifname);
}

int main(int argc, char **argv) {
    mount("proc", "/proc", "proc", 0, NULL);
    if (access("/modules/virtio.ko", R_OK) != 0) {
        /* No network asked for: run the program at once (its exit ends
         * the VM: init exits, the kernel panics, panic=-1 reboots, and
         * QEMU's -no-reboot stops). */
        argv[0] = "/server";
        execv("/server", argv);
        perror("/server");
        return 1;
    }
    const char *mods[] = {"virtio", "virtio_ring", "virtio_mmio", "virtio_pci_legacy_dev",
                          "virtio_pci_modern_dev", "virtio_pci", "failover", "net_failover",
                          "virtio_net"};
    enum { N = sizeof mods / sizeof *mods };
    int done[N] = {0};
    for (int pass = 0; pass < N; pass++)
        for (int i = 0; i < N; i++)
            if (!done[i])
                done[i] = load(mods[i]) == 0;
    for (int i = 0; i < N; i++)
        if (!done[i])
            printf("init: cannot load %s\n", mods[i]);
    for (int i = 0; i < 500 && if_nametoindex("eth0") == 0; i++)
        usleep(10000);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    up(s, "lo");
    addr(s, "eth0", SIOCSIFADDR, "10.0.2.15");
    addr(s, "eth0", SIOCSIFNETMASK, "255.255.255.0");
    up(s, "eth0");
    struct rtentry rt = {0};
    struct sockaddr_in *gw = (struct sockaddr_in *)&rt.rt_gateway;
    gw->sin_family = AF_INET;
    inet_pton(AF_INET, "10.0.2.2", &gw->sin_addr);
    ((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
    ((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    if (ioctl(s, SIOCADDRT, &rt) != 0)
        perror("route");
    close(s);
    printf("init: eth0 10.0.2.15/24 via 10.0.2.2, starting /server\n");
    fflush(stdout);
    argv[0] = "/server";
    execv("/server", argv);
    perror("/server");
    return 1;
}
