/*
 * stampede.c - fire N concurrent HTTP/1.1 GETs at one URL and time them.
 *
 *   stampede <host> <port> <path> [n=1000] [timeout_ms=10000] [settle_ms=300]
 *            [warm_path] [put_path put_body compute_ms]
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
 * answer).
 *
 * Lease mode (put_path given): the stampede requests carry `Cache-Lease:
 * acquire`; every response carrying a `Cache-Lease: <token>` header makes its
 * connection a lease holder, which "computes" for compute_ms and then sends
 * `PUT put_path` with put_body and `Cache-Lease: <token>` on the same
 * connection, as a real caller would. The line then also carries
 *
 *   leases=.. collapsed=.. puts_ok=.. put_status=.. put_ms=..
 *
 * leases counting the responses that granted a lease, collapsed the 200s
 * marked `Cache-Status: ...; detail=collapsed`, puts_ok the PUTs answered 2xx,
 * put_status the first PUT's status and put_ms its send time after the first
 * request sent. The holders' 404s are in status_other.
 *
 * Built by bench/run.sh with cc; no libraries. Exit 0 when it could
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

enum { ST_CONNECTING, ST_CONNECTED, ST_SENT, ST_DONE, ST_FAILED, ST_HOLDING, ST_PUTTING };

enum { TOKEN_MAX = 128 };

struct conn {
    int fd;
    int state;
    char *buf;
    size_t len, cap;
    long status;
    uint64_t body_hash;
    double sent_ms, done_ms;
    int lease, collapsed;      /* lease mode: granted a lease; a collapsed hit */
    double put_due, put_sent;  /* lease holders: when the PUT is due, was sent */
    long put_status;           /* the PUT's status; 0 until answered */
    char token[TOKEN_MAX + 1]; /* the granted lease token */
};

/* Lease mode (NULL put_path: off). */
static struct {
    const char *put_path, *put_body;
    double compute_ms;
    const char *host;
    int port;
} lease_mode;

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

/* The value of header `name` ("Name:") in a complete header block, its
 * length in *vlen (leading blanks skipped), or NULL when absent. */
static const char *header_value(const char *hdr, size_t n, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *p = hdr;
    const char *end = hdr + n;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (eol == NULL)
            break;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            *vlen = (size_t)(eol - v);
            return v;
        }
        p = eol + 2;
    }
    return NULL;
}

/* Content-Length of a complete header block, or -1 when absent. */
static long content_length(const char *hdr, size_t n)
{
    size_t vlen;
    const char *v = header_value(hdr, n, "Content-Length:", &vlen);
    return v == NULL ? -1 : strtol(v, NULL, 10);
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
    if (lease_mode.put_path == NULL)
        return;
    size_t vlen;
    const char *v = header_value(c->buf, h, "Cache-Status:", &vlen);
    c->collapsed = v != NULL && memmem(v, vlen, "collapsed", 9) != NULL;
    v = header_value(c->buf, h, "Cache-Lease:", &vlen);
    if (v != NULL && vlen > 0 && vlen <= TOKEN_MAX) {
        memcpy(c->token, v, vlen);
        c->token[vlen] = '\0';
        c->lease = 1;
        c->put_due = t + lease_mode.compute_ms;
        c->state = ST_HOLDING;
    }
}

/* A lease holder's PUT is due: send it on the holder's connection. */
static void send_put(int ep, struct conn *c, uint32_t idx)
{
    static char req[16384];
    int len = snprintf(req, sizeof req,
                       "PUT %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                       "Cache-Lease: %s\r\nContent-Length: %zu\r\n\r\n%s",
                       lease_mode.put_path, lease_mode.host, lease_mode.port, c->token,
                       strlen(lease_mode.put_body), lease_mode.put_body);
    c->len = 0;
    c->put_sent = now_ms();
    if (len <= 0 || (size_t)len >= sizeof req ||
        send(c->fd, req, (size_t)len, MSG_NOSIGNAL) != (ssize_t)len) {
        c->put_status = -1;
        c->state = ST_DONE;
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = idx};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->state = ST_PUTTING;
}

/* The PUT's response is complete (or the connection ended). */
static void finish_put(struct conn *c, int whole)
{
    if (!whole || header_end(c) == 0 || sscanf(c->buf, "HTTP/1.%*d %ld", &c->put_status) != 1)
        c->put_status = -1;
    c->state = ST_DONE;
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
    int holding = 0;
    while (open > 0 && now_ms() < deadline) {
        int wait_ms = 50;
        if (holding > 0) {
            double t = now_ms();
            for (int i = 0; i < n; i++) {
                struct conn *c = &cs[i];
                if (c->state != ST_HOLDING)
                    continue;
                if (c->put_due <= t) {
                    holding--;
                    send_put(ep, c, (uint32_t)i);
                    if (c->state == ST_DONE)
                        open--;
                } else if (c->put_due - t + 1 < wait_ms) {
                    wait_ms = (int)(c->put_due - t) + 1;
                }
            }
        }
        int k = epoll_wait(ep, evs, n, wait_ms);
        for (int j = 0; j < k; j++) {
            struct conn *c = &cs[evs[j].data.u32];
            if (c->state != ST_SENT && c->state != ST_PUTTING)
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
                        if (c->state == ST_PUTTING)
                            finish_put(c, 1);
                        else
                            finish(c, now_ms());
                        break;
                    }
                    continue;
                }
                if (c->state == ST_PUTTING && (r == 0 || (errno != EAGAIN && errno != EINTR))) {
                    finish_put(c, 0);
                } else if (r == 0) { /* EOF: complete unless the framing said otherwise */
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
            if (c->state == ST_HOLDING) { /* stays open: its PUT is to come */
                holding++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            } else if (c->state != ST_SENT && c->state != ST_PUTTING) {
                open--;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            }
        }
    }
    for (int i = 0; i < n; i++) {
        struct conn *c = &cs[i];
        if (c->state == ST_SENT)
            c->state = ST_FAILED;
        else if (c->state == ST_HOLDING || c->state == ST_PUTTING)
            c->state = ST_DONE; /* its lease answer stands; its PUT never completed */
        else
            continue;
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    }
    return t0;
}

static int format_request(char *buf, size_t size, const char *path, const char *host, int port,
                          const char *extra)
{
    int len = snprintf(buf, size, "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: */*\r\n%s\r\n", path,
                       host, port, extra);
    return len > 0 && (size_t)len < size ? len : -1;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: stampede <host> <port> <path> [n] [timeout_ms] [settle_ms] "
                        "[warm_path] [put_path put_body compute_ms]\n");
        return 1;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    const char *path = argv[3];
    int n = argc > 4 ? atoi(argv[4]) : 1000;
    double timeout_ms = argc > 5 ? atof(argv[5]) : 10000;
    int settle_ms = argc > 6 ? atoi(argv[6]) : 300;
    const char *warm_path = argc > 7 && argv[7][0] != '\0' ? argv[7] : NULL;
    if (argc > 8) {
        if (argc != 11) {
            fprintf(stderr, "stampede: lease mode takes put_path put_body compute_ms\n");
            return 1;
        }
        lease_mode.put_path = argv[8];
        lease_mode.put_body = argv[9];
        lease_mode.compute_ms = atof(argv[10]);
        lease_mode.host = host;
        lease_mode.port = port;
    }
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
    int req_len = format_request(req, sizeof req, path, host, port,
                                 lease_mode.put_path ? "Cache-Lease: acquire\r\n" : "");
    int warm_len =
        warm_path ? format_request(warm_req, sizeof warm_req, warm_path, host, port, "") : 0;
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
    int leases = 0, collapsed = 0, puts_ok = 0;
    long put_status = 0;
    double put_ms = -1;
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
            if (c->lease) {
                if (leases++ == 0) {
                    put_status = c->put_status;
                    put_ms = c->put_sent > 0 ? c->put_sent - t0 : -1;
                }
                puts_ok += c->put_status >= 200 && c->put_status < 300;
            }
            collapsed += c->status == 200 && c->collapsed;
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
           "failed=%d distinct_bodies=%d wall_ms=%.1f p50_ms=%.1f p99_ms=%.1f max_ms=%.1f",
           n, connected, warm_failed, answered, ok, other, failed, distinct,
           answered ? t_last - t0 : -1.0, p50, p99, mx);
    if (lease_mode.put_path != NULL)
        printf(" leases=%d collapsed=%d puts_ok=%d put_status=%ld put_ms=%.1f", leases, collapsed,
               puts_ok, put_status, put_ms);
    printf("\n");
    free(lat);
    free(hashes);
    free(cs);
    free(evs);
    close(ep);
    return 0;
}
