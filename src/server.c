/* server.c - worker threads and their event loops (see server.h).
 *
 * One pass of a loop: handle ready Redis sockets (replies resume suspended
 * connections), expire Redis deadlines, MHD_run() (parses requests, runs
 * handlers, sends responses), then one Redis flush, so that every command
 * issued during the pass leaves in a single write.
 *
 * Stopping runs in phases on every worker at once, a barrier between
 * them, because a request may wait on a flight another worker owns (its
 * answer then comes through the request's own worker's mailbox):
 *   1. stop accepting; a new request on a kept-alive connection gets 503
 *      shutting_down; requests in flight run on until every worker is idle
 *      or SHUTDOWN_GRACE_MS is over. Barrier.
 *   2. each worker ends the flights it owns (stale copy or 503
 *      shutting_down), posting to other workers' mailboxes. Barrier: from
 *      here nothing posts to any mailbox.
 *   3. each worker delivers its mailbox, closes Redis (pending commands
 *      fail, their requests answer), and runs its daemon until every
 *      answer is sent or STOP_FLUSH_MS passes. Nothing is left suspended,
 *      so MHD_stop_daemon() may run: it closes the remaining (idle)
 *      connections. */
#include "normcache/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "normcache/clock.h"
#include "normcache/breaker.h"
#include "normcache/cache.h"
#include "normcache/counters.h"
#include "normcache/iplimit.h"
#include "normcache/log.h"
#include "normcache/near.h"
#include "normcache/near_sync.h"
#include "normcache/pubsub.h"
#include "normcache/sentinel.h"
#include "normcache/recs.h"
#include "normcache/router.h"
#include "normcache/store.h"
#include "normcache/worker.h"

/* After the grace period: how long answers already queued may take to
 * leave before the connections are closed. */
#define STOP_FLUSH_MS 1000

struct nc_loop {
    struct nc_worker w; /* what the loop's requests see */
    struct nc_server *srv;
    struct MHD_Daemon *daemon;
    pthread_t thread;
    int started;
    atomic_int busy; /* 0 once stopping and no request is active (phase 1) */
    int epfd;
    int wakefd;
    int mhd_fd;
};

struct nc_server {
    const struct nc_config *cfg;
    struct nc_breaker breaker;  /* one Redis, one breaker for every worker */
    struct nc_iplimit *iplimit; /* HTTP_MAX_CONNECTIONS_PER_IP across workers; NULL: none */
    struct nc_near *near;       /* NEAR_CACHE: one for every worker; NULL: off */
    int nloops;
    struct nc_loop *loops;
    int port;
    atomic_int stopping;
    /* The stop barrier: bar_total threads (those started) meet at each. */
    pthread_mutex_t bar_lock;
    pthread_cond_t bar_cond;
    int bar_total, bar_count, bar_gen;
};

static void stop_barrier(struct nc_server *srv)
{
    pthread_mutex_lock(&srv->bar_lock);
    int gen = srv->bar_gen;
    if (++srv->bar_count >= srv->bar_total) {
        srv->bar_count = 0;
        srv->bar_gen++;
        pthread_cond_broadcast(&srv->bar_cond);
    } else {
        while (gen == srv->bar_gen)
            pthread_cond_wait(&srv->bar_cond, &srv->bar_lock);
    }
    pthread_mutex_unlock(&srv->bar_lock);
}

static int all_idle(struct nc_server *srv)
{
    for (int i = 0; i < srv->bar_total; i++)
        if (atomic_load(&srv->loops[i].busy))
            return 0;
    return 1;
}

/* libmicrohttpd's messages (MHD_USE_ERROR_LOG): log.c redacts arguments
 * that may be client bytes, escapes and cuts the line. Most are about one
 * client's connection (closed mid-request, reset) and would flood the log
 * under attack: debug. Running out of file descriptors (accept failing,
 * accept suspended at a resource limit) concerns the whole service: warn. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    int severe = strstr(fmt, "resource limit") || strstr(fmt, "Error accepting connection");
    nc_log_foreign(severe ? NC_LOG_WARN : NC_LOG_DEBUG, "libmicrohttpd", fmt, ap);
}

static int fill_addr(const struct nc_config *cfg, int port, struct sockaddr_storage *ss,
                     socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, cfg->bind_addr, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof *a4;
        return AF_INET;
    }
    if (inet_pton(AF_INET6, cfg->bind_addr, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof *a6;
        return AF_INET6;
    }
    return -1;
}

/* SO_REUSEPORT would let a second instance silently share a port that is
 * already taken; try a plain bind first so that is an error instead. */
static int port_free(const struct nc_config *cfg, int port, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int fam = fill_addr(cfg, port, &ss, &len);
    if (fam < 0) {
        snprintf(err, errlen, "BIND_ADDR %s is not an IP address", cfg->bind_addr);
        return -1;
    }
    int fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = bind(fd, (struct sockaddr *)&ss, len);
    int e = errno;
    close(fd);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", cfg->bind_addr, port, strerror(e));
        return -1;
    }
    return 0;
}

/* Picks a free port for PORT=0 so that every worker binds the same one. */
static int pick_port(const struct nc_config *cfg)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int fam = fill_addr(cfg, 0, &ss, &len);
    if (fam < 0)
        return -1;
    int fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&ss, len) == 0 &&
        getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        port = ntohs(fam == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    close(fd);
    return port;
}

static int loop_init(struct nc_server *srv, struct nc_loop *l, int id, char *err, size_t errlen)
{
    const struct nc_config *cfg = srv->cfg;
    l->srv = srv;
    l->w.id = id;
    l->w.cfg = cfg;
    l->w.iplimit = srv->iplimit;
    l->w.near = srv->near;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->epfd < 0 || l->wakefd < 0) {
        snprintf(err, errlen, "epoll/eventfd: %s", strerror(errno));
        return -1;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &l->wakefd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &e) != 0) {
        snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
        return -1;
    }
    l->w.counters = nc_counters_new();
    l->w.store = nc_store_new(cfg, &srv->breaker, l->epfd);
    if (!l->w.counters || !l->w.store) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* NEAR_CACHE: the connection tracks the keys it reads for the
     * subscriber's invalidations, from before its first read. */
    if (srv->near && nc_store_add_setup(l->w.store, nc_near_sync_track, &l->w.near_gen,
                                        nc_near_sync_gen_ptr()) != 0) {
        snprintf(err, errlen, "cannot set up client tracking");
        return -1;
    }
    if (nc_cache_worker_init(&l->w, l->epfd) != 0) {
        snprintf(err, errlen, "cannot set up the lease waiters");
        return -1;
    }
    if (nc_recs_worker_init(&l->w, l->epfd) != 0) {
        snprintf(err, errlen, "cannot set up the upstream client");
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len;
    int fam = fill_addr(cfg, srv->port, &ss, &len);
    /* Connection memory holds the request line and headers: room beyond
     * the router's own limits on both (router.h). */
    size_t mem = nc_router_conn_memory(cfg);
    unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
                         MHD_USE_ERROR_LOG | (fam == AF_INET6 ? MHD_USE_IPv6 : 0);
    l->daemon = MHD_start_daemon(
        flags, (uint16_t)srv->port, nc_router_accept, &l->w, nc_router_access, &l->w,
        /* The logger first, or libmicrohttpd complains on stderr. */
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, &l->w, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)cfg->conn_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)cfg->conn_limit, MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024, MHD_OPTION_NOTIFY_COMPLETED,
        nc_router_completed, &l->w, MHD_OPTION_NOTIFY_CONNECTION, nc_router_connection, &l->w,
        MHD_OPTION_URI_LOG_CALLBACK, nc_router_uri_log, &l->w, MHD_OPTION_END);
    if (!l->daemon) {
        snprintf(err, errlen, "cannot start HTTP listener on %s:%d", cfg->bind_addr, srv->port);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (!di) {
        snprintf(err, errlen, "libmicrohttpd has no epoll support");
        return -1;
    }
    l->mhd_fd = di->epoll_fd;
    /* Level-triggered: MHD_run() may leave work for the next pass. */
    struct epoll_event me = {.events = EPOLLIN, .data.ptr = &l->mhd_fd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->mhd_fd, &me) != 0) {
        snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int loop_timeout(struct nc_loop *l, int64_t now)
{
    int t = 1000;
    MHD_UNSIGNED_LONG_LONG mt;
    if (MHD_get_timeout(l->daemon, &mt) == MHD_YES && mt < (MHD_UNSIGNED_LONG_LONG)t)
        t = (int)mt;
    int rt = nc_store_next_timeout_ms(l->w.store, now);
    if (rt >= 0 && rt < t)
        t = rt;
    int ut = nc_recs_next_timeout_ms(&l->w, now);
    if (ut >= 0 && ut < t)
        t = ut;
    int ct = nc_cache_next_timeout_ms(&l->w, now);
    if (ct >= 0 && ct < t)
        t = ct;
    int lt = nc_log_next_flush_ms(now);
    if (lt >= 0 && lt < t)
        t = lt;
    return t;
}

/* Waits for events and hands each to its owner: the store's connections
 * (unless with_store is 0: phase 3, the connection is gone), the wake-up
 * eventfd, the lease mailbox, the upstream client. MHD's own socket only
 * wakes the loop: MHD_run follows. */
static void loop_dispatch(struct nc_loop *l, int timeout, int with_store)
{
    struct epoll_event evs[64];
    int n = epoll_wait(l->epfd, evs, 64, timeout);
    for (int i = 0; i < n; i++) {
        void *p = evs[i].data.ptr;
        if (with_store && nc_store_on_event(l->w.store, p, evs[i].events))
            continue;
        if (p == &l->wakefd) {
            uint64_t v;
            ssize_t r = read(l->wakefd, &v, sizeof v);
            (void)r;
        } else if (p != &l->mhd_fd && !nc_cache_on_event(&l->w, p))
            nc_recs_on_event(&l->w, p, evs[i].events);
    }
}

static void loop_pass(struct nc_loop *l, int timeout)
{
    loop_dispatch(l, timeout, 1);
    int64_t now = nc_now_ms();
    nc_store_tick(l->w.store, now);
    nc_recs_tick(&l->w, now);
    nc_cache_tick(&l->w, now);
    MHD_run(l->daemon);
    nc_router_sweep(&l->w, now);
    nc_store_flush(l->w.store);
    nc_log_flush_due(now); /* access lines at most NC_LOG_FLUSH_MS old */
    /* After a burst of connections (a stampede) has gone, give the freed
     * per-connection memory back to the system rather than keep it. */
    if (l->w.conns_peak >= 256 && l->w.conns < l->w.conns_peak / 4) {
        malloc_trim(0);
        l->w.conns_peak = l->w.conns;
    }
}

/* Phase 3's passes: the Redis connection is gone; MHD, the mailbox and
 * what is left of the upstream client only. */
static void loop_flush_pass(struct nc_loop *l, int timeout)
{
    loop_dispatch(l, timeout, 0);
    MHD_run(l->daemon);
    nc_log_flush();
}

static void loop_stop(struct nc_loop *l)
{
    struct nc_server *srv = l->srv;
    /* 1: no new connections, no new requests; those in flight (waiting on
     * Redis, the upstream, another instance) get the grace period, which
     * ends early once every worker is idle. */
    l->w.stopping = 1;
    MHD_socket ls = MHD_quiesce_daemon(l->daemon);
    if (ls != MHD_INVALID_SOCKET)
        close(ls);
    int64_t deadline = nc_now_ms() + srv->cfg->shutdown_grace_ms;
    for (;;) {
        atomic_store(&l->busy, l->w.active > 0);
        int64_t now = nc_now_ms();
        if (now >= deadline || all_idle(srv))
            break;
        int t = loop_timeout(l, now);
        if (t > deadline - now)
            t = (int)(deadline - now);
        loop_pass(l, t > 20 ? 20 : t);
    }
    if (l->w.active > 0)
        nc_logf(NC_LOG_WARN, "worker %d: %d requests still in flight after the grace period",
                l->w.id, l->w.active);
    stop_barrier(srv);

    /* 2: every worker ends its flights; waiters elsewhere get mail. Lease
     * waiters are this worker's own: answered 503 shutting_down. */
    nc_recs_worker_shutdown(&l->w);
    nc_cache_worker_shutdown(&l->w);
    nc_store_flush(l->w.store); /* lock releases */
    stop_barrier(srv);

    /* 3: nobody posts any more. Deliver, fail what waits on Redis, send. */
    nc_recs_worker_drain(&l->w);
    nc_store_free(l->w.store);
    l->w.store = NULL;
    int64_t flush_end = nc_now_ms() + STOP_FLUSH_MS;
    MHD_run(l->daemon);
    while (l->w.active > 0 && nc_now_ms() < flush_end)
        loop_flush_pass(l, 10);
    if (l->w.suspended > 0) {
        /* A bug: MHD_stop_daemon() would abort the process. Leave the
         * daemon to the exit rather than crash. */
        nc_logf(NC_LOG_ERROR, "worker %d: %d requests still suspended at stop", l->w.id,
                l->w.suspended);
        l->daemon = NULL;
        return;
    }
    MHD_stop_daemon(l->daemon);
    l->daemon = NULL;
}

static void *loop_main(void *arg)
{
    struct nc_loop *l = arg;
    struct nc_server *srv = l->srv;
    while (!atomic_load(&srv->stopping))
        loop_pass(l, loop_timeout(l, nc_now_ms()));
    loop_stop(l);
    nc_log_thread_end(); /* nothing buffered is lost at the stop */
    return NULL;
}

int nc_server_port(const struct nc_server *srv)
{
    return srv->port;
}

static void server_free(struct nc_server *srv)
{
    nc_pubsub_stop();
    for (int i = 0; i < srv->nloops; i++) {
        struct nc_loop *l = &srv->loops[i];
        if (l->daemon)
            MHD_stop_daemon(l->daemon);
        nc_recs_worker_free(&l->w);
        nc_cache_worker_free(&l->w);
        nc_buf_free(&l->w.logfields);
        nc_store_free(l->w.store);
        /* counter blocks stay registered until exit: a scrape may be
         * running in another thread right now. */
        if (l->epfd >= 0)
            close(l->epfd);
        if (l->wakefd >= 0)
            close(l->wakefd);
    }
    free(srv->loops);
    nc_sentinel_stop();      /* after the stores: nothing reads the address now */
    nc_near_free(srv->near); /* the subscriber, its last user, has stopped */
    pthread_cond_destroy(&srv->bar_cond);
    pthread_mutex_destroy(&srv->bar_lock);
    nc_iplimit_free(srv->iplimit);
    free(srv);
}

/* File descriptors the configuration can hold open at once: every
 * connection of every worker, plus per worker its epoll, eventfd,
 * listener, libmicrohttpd's epoll and wake-up fds and Redis, plus the
 * upstream calls and some slack for logs, subscriber and libraries. */
static rlim_t server_fds_needed(const struct nc_config *cfg)
{
    return (rlim_t)cfg->threads * ((rlim_t)cfg->conn_limit + 8) +
           (rlim_t)cfg->upstream_max_inflight + 64;
}

/* Raises the soft RLIMIT_NOFILE towards the hard limit when it cannot
 * hold the configured connections (as Redis does for maxclients), and
 * says so when even the hard limit cannot: otherwise accepts would start
 * failing well below HTTP_MAX_CONNECTIONS x THREADS with nothing said. */
static void server_raise_nofile(const struct nc_config *cfg)
{
    struct rlimit rl;
    rlim_t need = server_fds_needed(cfg);
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
        return;
    rlim_t old = rl.rlim_cur;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    if (want > old) {
        struct rlimit nl = {want, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &nl) == 0)
            rl.rlim_cur = want;
    }
    if (rl.rlim_cur > old)
        nc_logf(NC_LOG_INFO, "raised the open files limit (RLIMIT_NOFILE) from %llu to %llu",
                (unsigned long long)old, (unsigned long long)rl.rlim_cur);
    if (rl.rlim_cur < need) {
        char f[160];
        snprintf(f, sizeof f, "\"fd_limit\":%llu,\"fd_hard_limit\":%llu,\"fd_needed\":%llu",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
                 (unsigned long long)need);
        char msg[320];
        snprintf(msg, sizeof msg,
                 "open files limit %llu (hard %llu) is below the %llu that THREADS=%d x "
                 "HTTP_MAX_CONNECTIONS=%d need: connections beyond it will be refused; raise "
                 "the limit (ulimit -n, LimitNOFILE=) or lower the settings",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
                 (unsigned long long)need, cfg->threads, cfg->conn_limit);
        nc_log_write(NC_LOG_WARN, msg, f);
    }
}

int nc_server_start(const struct nc_config *cfg, struct nc_server **out, char *err, size_t errlen)
{
    struct nc_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    srv->cfg = cfg;
    pthread_mutex_init(&srv->bar_lock, NULL);
    pthread_cond_init(&srv->bar_cond, NULL);
    server_raise_nofile(cfg);
    if (cfg->conn_limit_per_ip > 0 && !(srv->iplimit = nc_iplimit_new(cfg->conn_limit_per_ip))) {
        snprintf(err, errlen, "out of memory");
        free(srv);
        return -1;
    }
    /* A shard per MiB, 4 to 64: enough locks for the workers, and shards
     * large enough for big values (an entry may take a tenth of one). */
    size_t shards = cfg->near_max_bytes >> 20;
    shards = shards < 4 ? 4 : shards > 64 ? 64 : shards;
    if (cfg->near_cache && !(srv->near = nc_near_new(cfg->near_max_bytes, (unsigned)shards))) {
        snprintf(err, errlen, "out of memory");
        nc_iplimit_free(srv->iplimit);
        free(srv);
        return -1;
    }
    nc_breaker_init(&srv->breaker, cfg->breaker_failures, cfg->breaker_cooldown_ms);
    srv->port = cfg->port ? cfg->port : pick_port(cfg);
    srv->loops = calloc((size_t)cfg->threads, sizeof *srv->loops);
    if (!srv->loops || srv->port <= 0) {
        snprintf(err, errlen, "cannot pick a port");
        free(srv->loops);
        nc_near_free(srv->near);
        nc_iplimit_free(srv->iplimit);
        free(srv);
        return -1;
    }
    for (int i = 0; i < cfg->threads; i++) {
        srv->loops[i].epfd = srv->loops[i].wakefd = -1;
        atomic_init(&srv->loops[i].busy, 1); /* until its worker says otherwise */
    }
    if (port_free(cfg, srv->port, err, errlen) != 0) {
        free(srv->loops);
        nc_near_free(srv->near);
        nc_iplimit_free(srv->iplimit);
        free(srv);
        return -1;
    }
    /* Sentinel mode: the master's address before the stores are made. */
    nc_sentinel_start(cfg);
    for (int i = 0; i < cfg->threads; i++) {
        srv->nloops = i + 1;
        if (loop_init(srv, &srv->loops[i], i, err, errlen) != 0) {
            server_free(srv);
            return -1;
        }
    }
    /* The workers registered what they listen for (lease wake-ups); the
     * near cache listens for invalidations. */
    if (srv->near)
        nc_pubsub_near(srv->near);
    nc_pubsub_start(cfg);
    for (int i = 0; i < srv->nloops; i++) {
        if (pthread_create(&srv->loops[i].thread, NULL, loop_main, &srv->loops[i]) != 0) {
            snprintf(err, errlen, "pthread_create failed");
            srv->bar_total = i;
            atomic_store(&srv->stopping, 1);
            for (int j = 0; j < i; j++)
                pthread_join(srv->loops[j].thread, NULL);
            server_free(srv);
            return -1;
        }
        srv->loops[i].started = 1;
    }
    *out = srv;
    return 0;
}

void nc_server_stop(struct nc_server *srv)
{
    if (!srv)
        return;
    srv->bar_total = srv->nloops; /* all started (else start failed) */
    atomic_store(&srv->stopping, 1);
    for (int i = 0; i < srv->nloops; i++) {
        uint64_t one = 1;
        ssize_t w = write(srv->loops[i].wakefd, &one, sizeof one);
        (void)w;
    }
    for (int i = 0; i < srv->nloops; i++)
        if (srv->loops[i].started)
            pthread_join(srv->loops[i].thread, NULL);
    server_free(srv);
}
