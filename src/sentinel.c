/* sentinel.c - the master's address in sentinel mode (see sentinel.h).
 *
 * One thread, blocking hiredis connections, each call bounded by
 * REDIS_CONNECT_TIMEOUT_MS / REDIS_TIMEOUT_MS. The subscription socket and
 * an eventfd are poll()ed together, so a worker's request or the stop is
 * seen at once. Queries use short-lived connections: a resolve is rare (a
 * start, a failover, a worker's report, the periodic re-check), and a fresh
 * connection cannot be left in a half-read state by a timeout. */
#include "normcache/sentinel.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "normcache/clock.h"
#include "normcache/log.h"

#define SN_MAX NC_REDIS_NODES_MAX
#define SN_RETRY_MS 100       /* between failed resolves, and between requested ones */
#define SN_RECHECK_MS 5000    /* the safety net: resolve again this often */
#define SN_FIRST_WAIT_MS 1500 /* nc_sentinel_start waits this long for an address */

/* ------------------------------------------------------------ parsers */

static int parse_port(const char *s, size_t len, int *port)
{
    if (!len || len > 5)
        return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = v;
    return 0;
}

/* A host as Redis reports it: printable, no blank, fits. */
static int copy_host(const char *s, size_t len, char *host, size_t hostlen)
{
    if (!len || len >= hostlen)
        return -1;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return -1;
    memcpy(host, s, len);
    host[len] = '\0';
    return 0;
}

int nc_sentinel_parse_addr(const redisReply *r, char *host, size_t hostlen, int *port, char *err,
                           size_t errlen)
{
    if (!r) {
        snprintf(err, errlen, "no reply");
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL) {
        snprintf(err, errlen, "the sentinel does not know this master name");
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "error reply: %.*s", (int)(r->len > 120 ? 120 : r->len), r->str);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING) {
        snprintf(err, errlen, "unexpected reply shape");
        return -1;
    }
    int p;
    if (copy_host(r->element[0]->str, r->element[0]->len, host, hostlen) != 0 ||
        parse_port(r->element[1]->str, r->element[1]->len, &p) != 0) {
        snprintf(err, errlen, "malformed address");
        return -1;
    }
    *port = p;
    return 0;
}

/* Splits msg into at most 6 blank-separated fields; returns how many. */
static int split_fields(const char *msg, size_t len, const char **f, size_t *fl, int max)
{
    int n = 0;
    size_t i = 0;
    while (i < len) {
        if (msg[i] == ' ') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && msg[j] != ' ')
            j++;
        if (n == max)
            return max + 1;
        f[n] = msg + i;
        fl[n] = j - i;
        n++;
        i = j;
    }
    return n;
}

int nc_sentinel_parse_switch(const char *msg, size_t len, const char *master, char *host,
                             size_t hostlen, int *port)
{
    const char *f[5];
    size_t fl[5];
    int dummy, p;
    if (split_fields(msg, len, f, fl, 5) != 5 || parse_port(f[2], fl[2], &dummy) != 0 ||
        parse_port(f[4], fl[4], &p) != 0)
        return -1;
    if (fl[0] != strlen(master) || memcmp(f[0], master, fl[0]) != 0)
        return 0;
    if (copy_host(f[3], fl[3], host, hostlen) != 0)
        return -1;
    *port = p;
    return 1;
}

int nc_sentinel_role_is_master(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
           r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len == 6 &&
           memcmp(r->element[0]->str, "master", 6) == 0;
}

/* ------------------------------------------------ the published address */

static pthread_mutex_t pub_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pub_cond = PTHREAD_COND_INITIALIZER;
static char pub_host[NC_SENTINEL_HOST_MAX]; /* under pub_lock */
static int pub_port;                        /* under pub_lock */
static atomic_ullong pub_gen, pub_failovers;
static _Atomic(nc_sentinel_move_fn *) pub_hook;

void nc_sentinel_on_move(nc_sentinel_move_fn *fn)
{
    atomic_store(&pub_hook, fn);
}

uint64_t nc_sentinel_publish(const char *host, int port)
{
    pthread_mutex_lock(&pub_lock);
    uint64_t gen = atomic_load(&pub_gen);
    int moved = gen == 0 || port != pub_port || strcmp(host, pub_host) != 0;
    if (moved) {
        if (gen != 0) {
            atomic_fetch_add(&pub_failovers, 1);
            nc_logf(NC_LOG_WARN, "redis master moved: %s:%d -> %s:%d", pub_host, pub_port, host,
                    port);
        } else {
            nc_logf(NC_LOG_INFO, "redis master: %s:%d", host, port);
        }
        snprintf(pub_host, sizeof pub_host, "%s", host);
        pub_port = port;
        gen++;
        atomic_store(&pub_gen, gen);
        pthread_cond_broadcast(&pub_cond);
    }
    pthread_mutex_unlock(&pub_lock);
    nc_sentinel_move_fn *hook = atomic_load(&pub_hook);
    if (moved && hook)
        hook();
    return gen;
}

uint64_t nc_sentinel_generation(void)
{
    return atomic_load_explicit(&pub_gen, memory_order_acquire);
}

int nc_sentinel_master(char *host, size_t hostlen, int *port, uint64_t *gen)
{
    pthread_mutex_lock(&pub_lock);
    uint64_t g = atomic_load(&pub_gen);
    if (g) {
        snprintf(host, hostlen, "%s", pub_host);
        *port = pub_port;
        *gen = g;
    }
    pthread_mutex_unlock(&pub_lock);
    return g ? 0 : -1;
}

uint64_t nc_sentinel_failovers(void)
{
    return atomic_load(&pub_failovers);
}

/* ------------------------------------------------------------ the thread */

struct sn_node {
    char host[NC_SENTINEL_HOST_MAX];
    int port;
};

/* Set by nc_sentinel_start before the thread runs, read-only after. */
static struct sn_node sn_nodes[SN_MAX];
static int sn_n;
static const struct nc_config *sn_cfg;
static int sn_cur; /* the sentinel that answered last (thread only) */

static pthread_t sn_thread;
static atomic_int sn_started, sn_stop, sn_want;
static atomic_int sn_wake_fd = -1;

void nc_sentinel_request_resolve(void)
{
    if (atomic_exchange(&sn_want, 1))
        return; /* already asked: one wake is enough */
    int fd = atomic_load(&sn_wake_fd);
    if (fd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(fd, &one, sizeof one); /* EAGAIN: it is awake anyway */
        (void)n;
    }
}

int nc_sentinel_take_request(void)
{
    return atomic_exchange(&sn_want, 0);
}

/* Why the last resolve failed (thread only): the one warning says it; each
 * attempt is a debug line, since they repeat every SN_RETRY_MS. */
static char sn_why[256];

#define sn_fail(...)                                                                               \
    do {                                                                                           \
        snprintf(sn_why, sizeof sn_why, __VA_ARGS__);                                              \
        nc_logf(NC_LOG_DEBUG, "sentinel: %s", sn_why);                                             \
    } while (0)

static struct timeval ms_tv(int ms)
{
    return (struct timeval){ms / 1000, (ms % 1000) * 1000};
}

/* Connects with the Redis timeouts; AUTH with password (and user) when set.
 * NULL on any failure (why logged at debug). */
static redisContext *sn_connect(const char *host, int port, const char *user, const char *pass)
{
    const struct nc_config *cfg = sn_cfg;
    redisContext *c = redisConnectWithTimeout(host, port, ms_tv(cfg->redis_connect_timeout_ms));
    if (!c || c->err) {
        sn_fail("connect to %s:%d failed: %s", host, port, c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, ms_tv(cfg->redis_connect_timeout_ms + cfg->redis_timeout_ms));
    if (pass && pass[0]) {
        const char *argv[3] = {"AUTH", user, pass};
        size_t lens[3] = {4, strlen(user), strlen(pass)};
        int argc = user[0] ? 3 : 2;
        argv[argc - 1] = pass;
        lens[argc - 1] = lens[2];
        redisReply *r = redisCommandArgv(c, argc, argv, lens);
        int ok = r && r->type != REDIS_REPLY_ERROR;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            sn_fail("AUTH refused by %s:%d", host, port);
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

static redisContext *sn_connect_sentinel(int i)
{
    return sn_connect(sn_nodes[i].host, sn_nodes[i].port, "", sn_cfg->redis_sentinel_password);
}

/* 1 when host:port answers ROLE with master. */
static int sn_check_role(const char *host, int port)
{
    redisContext *c = sn_connect(host, port, sn_cfg->redis_user, sn_cfg->redis_password);
    if (!c)
        return 0;
    redisReply *r = redisCommand(c, "ROLE");
    int ok = nc_sentinel_role_is_master(r);
    if (!ok)
        sn_fail("%s:%d does not answer ROLE with master", host, port);
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* Asks the sentinels in turn, from the last that answered; publishes the
 * first address that ROLE confirms. 0, or -1 when none did. */
static int sn_resolve(void)
{
    const char *name = sn_cfg->redis_sentinel_master;
    for (int k = 0; k < sn_n && !atomic_load(&sn_stop); k++) {
        int i = (sn_cur + k) % sn_n;
        redisContext *c = sn_connect_sentinel(i);
        if (!c)
            continue;
        const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", name};
        redisReply *r = redisCommandArgv(c, 3, argv, NULL);
        redisFree(c);
        char host[NC_SENTINEL_HOST_MAX], why[160];
        int port;
        int rc = nc_sentinel_parse_addr(r, host, sizeof host, &port, why, sizeof why);
        if (r)
            freeReplyObject(r);
        if (rc != 0) {
            sn_fail("sentinel %s:%d: %s", sn_nodes[i].host, sn_nodes[i].port, why);
            continue;
        }
        if (!sn_check_role(host, port))
            continue;
        sn_cur = i;
        nc_sentinel_publish(host, port);
        return 0;
    }
    return -1;
}

/* A SUBSCRIBEd connection to a sentinel, the last that answered first. */
static redisContext *sn_subscribe(void)
{
    for (int k = 0; k < sn_n && !atomic_load(&sn_stop); k++) {
        int i = (sn_cur + k) % sn_n;
        redisContext *c = sn_connect_sentinel(i);
        if (!c)
            continue;
        redisReply *r = redisCommand(c, "SUBSCRIBE +switch-master");
        int ok = r && r->type == REDIS_REPLY_ARRAY;
        if (r)
            freeReplyObject(r);
        if (ok) {
            sn_cur = i;
            return c;
        }
        redisFree(c);
    }
    return NULL;
}

/* A message on the subscription. 1 when the master moved and the new
 * address was confirmed and published; -1 when it moved but could not be
 * confirmed (resolve again); 0 otherwise. */
static int sn_on_message(const redisReply *m)
{
    if (m->type != REDIS_REPLY_ARRAY || m->elements != 3 ||
        m->element[0]->type != REDIS_REPLY_STRING || strcmp(m->element[0]->str, "message") != 0 ||
        m->element[2]->type != REDIS_REPLY_STRING)
        return 0;
    char host[NC_SENTINEL_HOST_MAX];
    int port;
    if (nc_sentinel_parse_switch(m->element[2]->str, m->element[2]->len,
                                 sn_cfg->redis_sentinel_master, host, sizeof host, &port) != 1)
        return 0;
    if (!sn_check_role(host, port))
        return -1;
    nc_sentinel_publish(host, port);
    return 1;
}

static void sn_drain_wake(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof v) == (ssize_t)sizeof v)
        ;
}

/* Sleeps up to ms, or less when woken (a request, the stop). */
static void sn_wait(int wfd, int ms)
{
    struct pollfd p = {.fd = wfd, .events = POLLIN};
    if (poll(&p, 1, ms) > 0)
        sn_drain_wake(wfd);
}

/* Listens on c until it fails or the thread stops; resolves again on a
 * worker's request (at most every SN_RETRY_MS) and every SN_RECHECK_MS. */
static void sn_listen(redisContext *c, int wfd)
{
    int64_t next_check = nc_now_ms() + SN_RECHECK_MS, not_before = 0;
    while (!atomic_load(&sn_stop)) {
        void *rep = NULL;
        if (redisGetReplyFromReader(c, &rep) != REDIS_OK)
            return;
        if (rep) {
            if (sn_on_message(rep) < 0)
                atomic_store(&sn_want, 1);
            freeReplyObject(rep);
            continue;
        }
        int64_t now = nc_now_ms();
        if ((atomic_load(&sn_want) && now >= not_before) || now >= next_check) {
            nc_sentinel_take_request();
            if (sn_resolve() != 0)
                atomic_store(&sn_want, 1); /* keep trying while it fails */
            now = nc_now_ms();
            not_before = now + SN_RETRY_MS;
            next_check = now + SN_RECHECK_MS;
        }
        int64_t until = atomic_load(&sn_want) ? not_before : next_check;
        int tmo = until <= now ? 0 : (int)(until - now);
        struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN}, {.fd = wfd, .events = POLLIN}};
        int n = poll(p, 2, tmo);
        if (n < 0 && errno != EINTR)
            return;
        if (n > 0 && p[1].revents)
            sn_drain_wake(wfd);
        if (n > 0 && p[0].revents && redisBufferRead(c) != REDIS_OK) {
            nc_logf(NC_LOG_DEBUG, "sentinel: subscription lost: %s", c->errstr);
            return;
        }
    }
}

static void *sn_main(void *arg)
{
    int wfd = (int)(intptr_t)arg;
    int warned = 0;
    while (!atomic_load(&sn_stop)) {
        nc_sentinel_take_request();
        if (sn_resolve() != 0) {
            if (!warned)
                nc_logf(NC_LOG_WARN,
                        "sentinel: no sentinel gave a reachable master for %s (last: %s); "
                        "retrying every %d ms",
                        sn_cfg->redis_sentinel_master, sn_why, SN_RETRY_MS);
            warned = 1;
            sn_wait(wfd, SN_RETRY_MS);
            continue;
        }
        warned = 0;
        redisContext *c = sn_subscribe();
        if (!c) {
            sn_wait(wfd, SN_RETRY_MS);
            continue;
        }
        sn_listen(c, wfd);
        redisFree(c);
    }
    return NULL;
}

void nc_sentinel_start(const struct nc_config *cfg)
{
    if (!cfg->redis_enabled || cfg->redis_mode != NC_REDIS_SENTINEL ||
        atomic_exchange(&sn_started, 1))
        return;
    sn_cfg = cfg;
    sn_n = cfg->redis_nnodes < SN_MAX ? cfg->redis_nnodes : SN_MAX;
    for (int i = 0; i < sn_n; i++) {
        snprintf(sn_nodes[i].host, sizeof sn_nodes[i].host, "%s", cfg->redis_nodes[i].host);
        sn_nodes[i].port = cfg->redis_nodes[i].port;
    }
    sn_cur = 0;
    atomic_store(&sn_stop, 0);
    atomic_store(&sn_want, 0);
    int wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wfd < 0 || pthread_create(&sn_thread, NULL, sn_main, (void *)(intptr_t)wfd) != 0) {
        nc_logf(NC_LOG_ERROR, "cannot start the sentinel thread: Redis stays unreachable");
        if (wfd >= 0)
            close(wfd);
        atomic_store(&sn_started, 0);
        return;
    }
    atomic_store(&sn_wake_fd, wfd);
    /* A first address before the workers start, when the sentinels answer
     * promptly; otherwise requests bypass Redis until one comes. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += SN_FIRST_WAIT_MS / 1000;
    until.tv_nsec += (SN_FIRST_WAIT_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&pub_lock);
    while (!atomic_load(&pub_gen))
        if (pthread_cond_timedwait(&pub_cond, &pub_lock, &until) != 0)
            break;
    pthread_mutex_unlock(&pub_lock);
}

void nc_sentinel_stop(void)
{
    if (!atomic_exchange(&sn_started, 0))
        return;
    atomic_store(&sn_stop, 1);
    int wfd = atomic_exchange(&sn_wake_fd, -1);
    uint64_t one = 1;
    ssize_t n = write(wfd, &one, sizeof one);
    (void)n;
    pthread_join(sn_thread, NULL);
    close(wfd);
    pthread_mutex_lock(&pub_lock);
    atomic_store(&pub_gen, 0);
    pub_host[0] = '\0';
    pub_port = 0;
    pthread_mutex_unlock(&pub_lock);
}
