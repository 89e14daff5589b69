/* The network interfaces as a C program finds them: getifaddrs and
 * if_nameindex (netlink NETLINK_ROUTE dumps), if_nametoindex and
 * if_indextoname (SIOCGIFINDEX, SIOCGIFNAME), SIOCGIFCONF, SIOCGIFFLAGS and
 * SIOCGIFHWADDR; then a fork, which Kiln refuses. One line per fact, then
 * "done". Built with musl (ifaddrs-musl) and glibc (ifaddrs-glibc): their
 * getifaddrs read netlink differently. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *ntop(const struct sockaddr *sa, char *buf, size_t len) {
    if (!sa) return "-";
    if (sa->sa_family == AF_INET)
        return inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, len);
    if (sa->sa_family == AF_INET6)
        return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, len);
    return "?";
}

int main(void) {
    struct ifaddrs *list, *i;
    char a[64], m[64], b[64];
    if (getifaddrs(&list) != 0) {
        printf("FAIL getifaddrs: %s\n", strerror(errno));
        return 1;
    }
    for (i = list; i; i = i->ifa_next) {
        int fam = i->ifa_addr ? i->ifa_addr->sa_family : -1;
        if (fam == AF_PACKET) {
            const struct sockaddr_ll *ll = (const struct sockaddr_ll *)i->ifa_addr;
            printf("ifa %s packet %02x:%02x:%02x:%02x:%02x:%02x index %d flags 0x%x\n",
                   i->ifa_name, ll->sll_addr[0], ll->sll_addr[1], ll->sll_addr[2],
                   ll->sll_addr[3], ll->sll_addr[4], ll->sll_addr[5], ll->sll_ifindex,
                   i->ifa_flags);
        } else if (fam == AF_INET) {
            printf("ifa %s inet %s netmask %s broadcast %s\n", i->ifa_name,
                   ntop(i->ifa_addr, a, sizeof a), ntop(i->ifa_netmask, m, sizeof m),
                   (i->ifa_flags & IFF_BROADCAST) ? ntop(i->ifa_broadaddr, b, sizeof b) : "-");
        } else if (fam == AF_INET6) {
            printf("ifa %s inet6 %s netmask %s scope %u\n", i->ifa_name,
                   ntop(i->ifa_addr, a, sizeof a), ntop(i->ifa_netmask, m, sizeof m),
                   ((const struct sockaddr_in6 *)i->ifa_addr)->sin6_scope_id);
        }
    }
    freeifaddrs(list);

    struct if_nameindex *ni = if_nameindex(), *n;
    if (!ni) {
        printf("FAIL if_nameindex: %s\n", strerror(errno));
        return 1;
    }
    for (n = ni; n->if_index; n++) printf("nameindex %u %s\n", n->if_index, n->if_name);
    if_freenameindex(ni);
    printf("nametoindex eth0 %u\n", if_nametoindex("eth0"));
    printf("nametoindex nope %u\n", if_nametoindex("nope"));
    char name[IF_NAMESIZE];
    printf("indextoname 1 %s\n", if_indextoname(1, name) ? name : strerror(errno));

    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq reqs[8];
    struct ifconf ifc = {.ifc_len = sizeof reqs, .ifc_req = reqs};
    if (ioctl(s, SIOCGIFCONF, &ifc) != 0) {
        printf("FAIL SIOCGIFCONF: %s\n", strerror(errno));
        return 1;
    }
    for (int k = 0; k < ifc.ifc_len / (int)sizeof(struct ifreq); k++) {
        struct ifreq r = reqs[k];
        printf("ifconf %s %s", r.ifr_name, ntop(&r.ifr_addr, a, sizeof a));
        if (ioctl(s, SIOCGIFFLAGS, &r) == 0) printf(" flags 0x%x", (unsigned short)r.ifr_flags);
        if (ioctl(s, SIOCGIFHWADDR, &r) == 0) printf(" hwtype %d", r.ifr_hwaddr.sa_family);
        printf("\n");
    }
    close(s);

    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) return 0;
    printf("fork: %d %s\n", (int)pid, pid < 0 ? strerror(errno) : "child");
    printf("done\n");
    return 0;
}
