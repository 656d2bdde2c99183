/*
 * stampede.c - fire N concurrent HTTP/1.1 GETs at one URL and time them.
 *
 *   stampede <host> <port> <path> [n=1000] [timeout_ms=10000] [settle_ms=300]
 *            [warm_path]
 *
 * Opens n connections and waits until all are established; with warm_path,
 * sends one GET warm_path on every connection and reads its answer (a
 * stampede is many callers asking at once on their open, already used,
 * pooled connections: what is timed is the requests, not TCP accepts or the
 * server's first touch of a fresh connection's memory); then waits settle_ms.
 * Then it writes the same request on every connection as fast as it can,
 * and waits until
 * every response is complete (Content-Length, the last chunk, or EOF; the
 * connections are kept alive, as real callers' would be). Prints one line:
 *
 *   STAMPEDE n=.. connected=.. warm_failed=.. answered=.. status_200=.. status_other=..
 *            failed=.. distinct_bodies=.. wall_ms=.. p50_ms=.. p99_ms=.. max_ms=..
 *
 * wall_ms runs from the first byte sent to the last response completed;
 * distinct_bodies counts different 200 bodies (1 when everyone got the same
 * answer). Built by bench/run.sh with cc; no libraries. Exit 0 when it could
 * run at all (the numbers say how well the server did), 1 on a usage or
 * setup error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "normcache/hash.h"

enum { ST_CONNECTING, ST_CONNECTED, ST_SENT, ST_DONE, ST_FAILED };

struct conn {
    int fd;
    int state;
    char *buf;
    size_t len, cap;
    long status;
    uint64_t body_hash;
    double sent_ms, done_ms;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Returns the header length (through the blank line) or 0 if incomplete. */
static size_t header_end(const struct conn *c)
{
    const char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
    return e == NULL ? 0 : (size_t)(e - c->buf) + 4;
}

/* Content-Length of a complete header block, or -1 when absent. */
static long content_length(const char *hdr, size_t n)
{
    const char *p = hdr;
    const char *end = hdr + n;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (eol == NULL)
            break;
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "Content-Length:", 15) == 0)
            return strtol(p + 15, NULL, 10);
        p = eol + 2;
    }
    return -1;
}

static void finish(struct conn *c, double t)
{
    size_t h = header_end(c);
    c->state = ST_DONE;
    c->done_ms = t;
    if (h == 0 || sscanf(c->buf, "HTTP/1.%*d %ld", &c->status) != 1) {
        c->state = ST_FAILED;
        return;
    }
    c->body_hash = nc_fnv1a64(c->buf + h, c->len - h);
}

/* True when the response held in c is complete (Content-Length reached, or
 * the last chunk of a chunked body seen). */
static int complete(const struct conn *c)
{
    size_t h = header_end(c);
    if (h == 0)
        return 0;
    long cl = content_length(c->buf, h);
    if (cl >= 0)
        return c->len >= h + (size_t)cl;
    return c->len >= h + 5 && memcmp(c->buf + c->len - 5, "0\r\n\r\n", 5) == 0 &&
           memmem(c->buf, h, "chunked", 7) != NULL;
}

/* Sends req on every connected connection and collects the responses until
 * all are complete or timeout_ms pass; returns the time of the first send. */
static double exchange(int ep, struct conn *cs, int n, struct epoll_event *evs, const char *req,
                       size_t req_len, double timeout_ms)
{
    double t0 = now_ms();
    int open = 0;
    for (int i = 0; i < n; i++) {
        struct conn *c = &cs[i];
        if (c->state != ST_CONNECTED)
            continue;
        c->len = 0;
        c->status = 0;
        c->sent_ms = now_ms();
        if (send(c->fd, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len) {
            c->state = ST_FAILED;
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        c->state = ST_SENT;
        open++;
    }
    double deadline = t0 + timeout_ms;
    static char rbuf[65536];
    while (open > 0 && now_ms() < deadline) {
        int k = epoll_wait(ep, evs, n, 50);
        for (int j = 0; j < k; j++) {
            struct conn *c = &cs[evs[j].data.u32];
            if (c->state != ST_SENT)
                continue;
            for (;;) {
                ssize_t r = recv(c->fd, rbuf, sizeof rbuf, 0);
                if (r > 0) {
                    if (c->len + (size_t)r > c->cap) {
                        size_t cap = c->cap ? c->cap * 2 : 16384;
                        while (cap < c->len + (size_t)r)
                            cap *= 2;
                        char *nb = realloc(c->buf, cap);
                        if (nb == NULL) {
                            c->state = ST_FAILED;
                            break;
                        }
                        c->buf = nb;
                        c->cap = cap;
                    }
                    memcpy(c->buf + c->len, rbuf, (size_t)r);
                    c->len += (size_t)r;
                    if (complete(c)) {
                        finish(c, now_ms());
                        break;
                    }
                    continue;
                }
                if (r == 0) { /* EOF: complete unless the framing said otherwise */
                    size_t h = header_end(c);
                    if (h != 0 && content_length(c->buf, h) < 0 &&
                        memmem(c->buf, h, "chunked", 7) == NULL)
                        finish(c, now_ms());
                    else
                        c->state = ST_FAILED;
                } else if (errno == EAGAIN || errno == EINTR) {
                    break;
                } else {
                    c->state = ST_FAILED;
                }
                break;
            }
            if (c->state != ST_SENT) {
                open--;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            }
        }
    }
    for (int i = 0; i < n; i++)
        if (cs[i].state == ST_SENT) {
            cs[i].state = ST_FAILED;
            epoll_ctl(ep, EPOLL_CTL_DEL, cs[i].fd, NULL);
        }
    return t0;
}

static int format_request(char *buf, size_t size, const char *path, const char *host, int port)
{
    int len = snprintf(buf, size, "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: */*\r\n\r\n", path,
                       host, port);
    return len > 0 && (size_t)len < size ? len : -1;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: stampede <host> <port> <path> [n] [timeout_ms] [settle_ms] "
                        "[warm_path]\n");
        return 1;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    const char *path = argv[3];
    int n = argc > 4 ? atoi(argv[4]) : 1000;
    double timeout_ms = argc > 5 ? atof(argv[5]) : 10000;
    int settle_ms = argc > 6 ? atoi(argv[6]) : 300;
    const char *warm_path = argc > 7 && argv[7][0] != '\0' ? argv[7] : NULL;
    if (n <= 0 || port <= 0 || port > 65535) {
        fprintf(stderr, "stampede: bad arguments\n");
        return 1;
    }

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "stampede: host must be an IPv4 address\n");
        return 1;
    }

    static char req[8192], warm_req[8192];
    int req_len = format_request(req, sizeof req, path, host, port);
    int warm_len = warm_path ? format_request(warm_req, sizeof warm_req, warm_path, host, port) : 0;
    if (req_len < 0 || warm_len < 0) {
        fprintf(stderr, "stampede: path too long\n");
        return 1;
    }

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct conn *cs = calloc((size_t)n, sizeof *cs);
    struct epoll_event *evs = calloc((size_t)n, sizeof *evs);
    if (ep < 0 || cs == NULL || evs == NULL) {
        perror("stampede");
        return 1;
    }

    /* Phase 1: connect everything. */
    int pending = 0;
    for (int i = 0; i < n; i++) {
        struct conn *c = &cs[i];
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            c->state = ST_FAILED;
            continue;
        }
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
            c->state = ST_FAILED;
            continue;
        }
        c->state = ST_CONNECTING;
        struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        pending++;
    }
    double deadline = now_ms() + 5000;
    while (pending > 0 && now_ms() < deadline) {
        int k = epoll_wait(ep, evs, n, 100);
        for (int j = 0; j < k; j++) {
            struct conn *c = &cs[evs[j].data.u32];
            if (c->state != ST_CONNECTING)
                continue;
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            c->state = err == 0 ? ST_CONNECTED : ST_FAILED;
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            pending--;
        }
    }
    int connected = 0;
    for (int i = 0; i < n; i++) {
        if (cs[i].state == ST_CONNECTING) {
            cs[i].state = ST_FAILED;
            epoll_ctl(ep, EPOLL_CTL_DEL, cs[i].fd, NULL);
        }
        if (cs[i].state == ST_CONNECTED)
            connected++;
    }

    /* Phase 2 (optional): one cheap request on every connection, so that the
     * timed requests find them in use, as a pooled caller's would be. */
    int warm_failed = 0;
    if (warm_path != NULL) {
        exchange(ep, cs, n, evs, warm_req, (size_t)warm_len, timeout_ms);
        int warmed = 0;
        for (int i = 0; i < n; i++) {
            if (cs[i].state == ST_DONE && cs[i].status >= 200 && cs[i].status < 400) {
                cs[i].state = ST_CONNECTED;
                warmed++;
            } else {
                cs[i].state = ST_FAILED;
            }
        }
        warm_failed = connected - warmed;
    }
    if (settle_ms > 0)
        usleep((useconds_t)settle_ms * 1000);

    /* Phase 3: the stampede. */
    double t0 = exchange(ep, cs, n, evs, req, (size_t)req_len, timeout_ms);

    double t_last = t0;
    int answered = 0, ok = 0, other = 0, failed = 0, nbodies = 0;
    double *lat = calloc((size_t)n, sizeof *lat);
    uint64_t *hashes = calloc((size_t)n, sizeof *hashes);
    if (lat == NULL || hashes == NULL)
        return 1;
    for (int i = 0; i < n; i++) {
        struct conn *c = &cs[i];
        if (c->state == ST_DONE) {
            lat[answered++] = c->done_ms - c->sent_ms;
            if (c->done_ms > t_last)
                t_last = c->done_ms;
            if (c->status == 200) {
                ok++;
                hashes[nbodies++] = c->body_hash;
            } else {
                other++;
            }
        } else {
            failed++;
        }
        if (c->fd >= 0)
            close(c->fd);
        free(c->buf);
    }
    qsort(lat, (size_t)answered, sizeof *lat, cmp_double);
    qsort(hashes, (size_t)nbodies, sizeof *hashes, cmp_u64);
    int distinct = 0;
    for (int i = 0; i < nbodies; i++)
        if (i == 0 || hashes[i] != hashes[i - 1])
            distinct++;
    double p50 = answered ? lat[(size_t)(0.50 * (answered - 1))] : -1;
    double p99 = answered ? lat[(size_t)(0.99 * (answered - 1))] : -1;
    double mx = answered ? lat[answered - 1] : -1;
    printf("STAMPEDE n=%d connected=%d warm_failed=%d answered=%d status_200=%d status_other=%d "
           "failed=%d distinct_bodies=%d wall_ms=%.1f p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
           n, connected, warm_failed, answered, ok, other, failed, distinct,
           answered ? t_last - t0 : -1.0, p50, p99, mx);
    free(lat);
    free(hashes);
    free(cs);
    free(evs);
    close(ep);
    return 0;
}
