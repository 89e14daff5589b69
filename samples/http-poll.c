/* A small HTTP/1.1 server with one poll() loop and non-blocking sockets.
 *
 *   http-poll [PORT [log]]  (default 8080; listens on 0.0.0.0; with "log",
 *                            one access-log line per request on stdout)
 *
 * GET /     a short page
 * GET /big  1 MiB of deterministic bytes: byte i is (i*7 + i/1024) % 251
 * Keep-alive (HTTP/1.1 default, "Connection: close" honoured), Content-Length
 * on every response, pipelined requests answered in order. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 1023 /* with the listener, 1024 pollfds: within the usual RLIMIT_NOFILE */
#define IN_SIZE 8192
#define BIG_SIZE (1 << 20)

/* Set by the "log" argument. */
static int access_log;

static const char PAGE[] = "hello from http-poll on Kiln\n";
static unsigned char big[BIG_SIZE];

struct conn {
    int fd;
    char in[IN_SIZE];
    size_t in_len;
    char head[256];           /* response header being sent */
    size_t head_len, head_off;
    const unsigned char *body; /* response body being sent */
    size_t body_len, body_off;
    int close_after;           /* close once the response is out */
};

static struct conn conns[MAX_CONNS];
static struct pollfd pfds[MAX_CONNS + 1];

static int sending(const struct conn *c) {
    return c->head_off < c->head_len || c->body_off < c->body_len;
}

static void drop_conn(struct conn *c) {
    close(c->fd);
    c->fd = -1;
}

/* Parse one complete request from c->in, if there is one, and queue its
 * response. Returns 1 if a request was taken. */
static int take_request(struct conn *c) {
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t used = (size_t)(end - c->in) + 4;
    *end = '\0';

    char method[8] = "", path[256] = "", version[16] = "";
    sscanf(c->in, "%7s %255s %15s", method, path, version);
    int http10 = strcmp(version, "HTTP/1.0") == 0;
    int keep = !http10;
    for (char *line = strstr(c->in, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Connection:", 11) == 0) {
            const char *v = line + 13;
            while (*v == ' ')
                v++;
            if (strncasecmp(v, "close", 5) == 0)
                keep = 0;
            else if (strncasecmp(v, "keep-alive", 10) == 0)
                keep = 1;
        }
    }

    const char *status = "200 OK", *type = "text/plain";
    if (strcmp(method, "GET") != 0) {
        status = "405 Method Not Allowed";
        c->body = (const unsigned char *)"method not allowed\n";
    } else if (strcmp(path, "/") == 0) {
        c->body = (const unsigned char *)PAGE;
    } else if (strcmp(path, "/big") == 0) {
        c->body = big;
        type = "application/octet-stream";
    } else {
        status = "404 Not Found";
        c->body = (const unsigned char *)"not found\n";
    }
    c->body_len = c->body == big ? BIG_SIZE : strlen((const char *)c->body);
    c->body_off = 0;
    c->head_len = (size_t)snprintf(c->head, sizeof c->head,
                                   "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
                                   status, type, c->body_len,
                                   keep ? "" : "Connection: close\r\n");
    c->head_off = 0;
    c->close_after = !keep;
    if (access_log) {
        /* What a server's access log writes: one line, unbuffered. */
        char line[160];
        int n = snprintf(line, sizeof line, "127.0.0.1 - - \"GET %.60s HTTP/1.1\" %.3s %zu\n",
                         path, status, c->body_len);
        if (n > 0)
            (void)!write(1, line, (size_t)n);
    }

    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    return 1;
}

/* Send what the socket takes. Returns -1 when the connection is done. */
static int flush(struct conn *c) {
    while (sending(c)) {
        ssize_t n;
        if (c->head_off < c->head_len)
            n = send(c->fd, c->head + c->head_off, c->head_len - c->head_off, MSG_NOSIGNAL);
        else
            n = send(c->fd, c->body + c->body_off, c->body_len - c->body_off, MSG_NOSIGNAL);
        if (n < 0)
            return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
        if (c->head_off < c->head_len)
            c->head_off += (size_t)n;
        else
            c->body_off += (size_t)n;
    }
    if (c->close_after)
        return -1;
    /* The response is out: answer the next pipelined request, if any. */
    if (take_request(c))
        return flush(c);
    return 0;
}

/* Read what is there. Returns -1 when the connection is done. */
static int receive(struct conn *c) {
    for (;;) {
        if (c->in_len == IN_SIZE)
            return -1; /* a request larger than the buffer: give up */
        ssize_t n = recv(c->fd, c->in + c->in_len, IN_SIZE - c->in_len, 0);
        if (n == 0)
            return -1;
        if (n < 0)
            return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
        c->in_len += (size_t)n;
        if (!sending(c) && take_request(c))
            return flush(c);
    }
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 8080;
    access_log = argc > 2 && strcmp(argv[2], "log") == 0;
    for (size_t i = 0; i < BIG_SIZE; i++)
        big[i] = (unsigned char)((i * 7 + i / 1024) % 251);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (lfd < 0) {
        perror("socket");
        return 1;
    }
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 512) < 0) {
        perror("bind/listen");
        return 1;
    }
    printf("listening on 0.0.0.0:%d\n", port);
    fflush(stdout);

    for (int i = 0; i < MAX_CONNS; i++)
        conns[i].fd = -1;
    for (;;) {
        /* pfds[0] is the listener, pfds[1 + i] is conns[i]. */
        pfds[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (int i = 0; i < MAX_CONNS; i++) {
            struct conn *c = &conns[i];
            pfds[1 + i] = (struct pollfd){.fd = c->fd, .events = sending(c) ? POLLOUT : POLLIN};
        }
        if (poll(pfds, MAX_CONNS + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("poll");
            return 1;
        }
        if (pfds[0].revents & POLLIN) {
            for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                if (fd < 0)
                    break;
                int slot = 0;
                while (slot < MAX_CONNS && conns[slot].fd >= 0)
                    slot++;
                if (slot == MAX_CONNS) {
                    close(fd);
                    continue;
                }
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                conns[slot] = (struct conn){.fd = fd};
            }
        }
        for (int i = 0; i < MAX_CONNS; i++) {
            struct conn *c = &conns[i];
            short ev = pfds[1 + i].revents;
            if (c->fd < 0 || ev == 0)
                continue;
            int r;
            if (ev & (POLLERR | POLLNVAL))
                r = -1;
            else if (sending(c))
                r = flush(c);
            else
                r = receive(c);
            if (r < 0)
                drop_conn(c);
        }
    }
}
