/* pubsub.c - the process's subscriber thread (see pubsub.h).
 *
 * A blocking connection on a thread of its own keeps the workers' loops
 * free of a second protocol state (hiredis 0.14's async API would put a
 * pub/sub connection in every worker). shutdown() on its socket is what
 * wakes it to stop. */
#include "normcache/pubsub.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "normcache/log.h"
#include "normcache/sentinel.h"
#include "normcache/near_sync.h"

#define PUBSUB_MAX 8
#define PUBSUB_PATTERN_MAX 192
#define INV_CHANNEL "__redis__:invalidate"
#define INV_NAME "normcache-inv"

struct watch {
    char pattern[PUBSUB_PATTERN_MAX];
    nc_pubsub_fn *fn;
    void *ud;
};

static struct watch watches[PUBSUB_MAX];
static int nwatches;
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t ps_thread;
static atomic_int ps_started, ps_stop;
static atomic_int ps_fd = -1;
static const struct nc_config *ps_cfg;
static struct nc_near *ps_near; /* NULL: no near cache */

void nc_pubsub_near(struct nc_near *n)
{
    ps_near = n;
}

int nc_pubsub_watch(const char *pattern, nc_pubsub_fn *fn, void *ud)
{
    int rc = -1;
    pthread_mutex_lock(&watch_lock);
    for (int i = 0; i < nwatches; i++)
        if (strcmp(watches[i].pattern, pattern) == 0 && watches[i].fn == fn) {
            rc = 0; /* every worker registers: once is enough */
            goto out;
        }
    if (nwatches < PUBSUB_MAX && strlen(pattern) < PUBSUB_PATTERN_MAX &&
        !atomic_load(&ps_started)) {
        snprintf(watches[nwatches].pattern, PUBSUB_PATTERN_MAX, "%s", pattern);
        watches[nwatches].fn = fn;
        watches[nwatches].ud = ud;
        nwatches++;
        rc = 0;
    }
out:
    pthread_mutex_unlock(&watch_lock);
    return rc;
}

static int ps_auth(redisContext *c, const struct nc_config *cfg)
{
    if (!cfg->redis_password[0])
        return 1;
    const char *argv[3] = {"AUTH", cfg->redis_user, cfg->redis_password};
    size_t lens[3] = {4, strlen(cfg->redis_user), strlen(cfg->redis_password)};
    int argc = cfg->redis_user[0] ? 3 : 2;
    argv[argc - 1] = cfg->redis_password;
    lens[argc - 1] = lens[2];
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r)
        freeReplyObject(r);
    return ok;
}

static int is_str(const redisReply *r, const char *s)
{
    return r->type == REDIS_REPLY_STRING && strcmp(r->str, s) == 0;
}

/* message __redis__:invalidate <array of keys | nil>, and the confirmation
 * of that subscription (the near cache becomes usable with client id). */
static void ps_invalidation(const redisReply *m, long long id)
{
    if (m->elements != 3 || !is_str(m->element[1], INV_CHANNEL))
        return;
    const redisReply *p = m->element[2];
    if (is_str(m->element[0], "subscribe"))
        nc_near_sync_up(ps_near, id);
    else if (!is_str(m->element[0], "message"))
        return;
    else if (p->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < p->elements; i++)
            if (p->element[i]->type == REDIS_REPLY_STRING)
                nc_near_sync_key(ps_near, p->element[i]->str, p->element[i]->len);
    } else if (p->type == REDIS_REPLY_NIL) {
        nc_near_sync_all(ps_near); /* FLUSHALL / FLUSHDB */
    } else if (p->type == REDIS_REPLY_STRING) {
        nc_near_sync_key(ps_near, p->str, p->len);
    }
}

static void ps_dispatch(const redisReply *m, long long id)
{
    if (m->type != REDIS_REPLY_ARRAY || m->elements < 3)
        return;
    if (ps_near && m->elements == 3) {
        ps_invalidation(m, id);
        return;
    }
    /* pmessage <pattern> <channel> <payload> */
    if (m->elements != 4 || !is_str(m->element[0], "pmessage") ||
        m->element[1]->type != REDIS_REPLY_STRING || m->element[2]->type != REDIS_REPLY_STRING)
        return;
    for (int i = 0; i < nwatches; i++)
        if (strcmp(watches[i].pattern, m->element[1]->str) == 0)
            watches[i].fn(m->element[2]->str, m->element[2]->len, watches[i].ud);
}

static void ps_listen(redisContext *c, long long id)
{
    while (!atomic_load(&ps_stop)) {
        void *rep = NULL;
        if (redisGetReply(c, &rep) != REDIS_OK)
            return;
        if (rep)
            ps_dispatch(rep, id);
        freeReplyObject(rep);
    }
}

/* Where to subscribe: REDIS_URL's host; in cluster mode the seed-th seed;
 * in sentinel mode the master in force (gen set; -1 while none is known). */
static int ps_target(const struct nc_config *cfg, unsigned seed, char *host, size_t hostlen,
                     int *port, uint64_t *gen)
{
    *gen = 0;
    if (cfg->redis_mode == NC_REDIS_SENTINEL)
        return nc_sentinel_master(host, hostlen, port, gen);
    const char *h = cfg->redis_host;
    *port = cfg->redis_port;
    if (cfg->redis_mode == NC_REDIS_CLUSTER && cfg->redis_nnodes > 0) {
        h = cfg->redis_nodes[seed % (unsigned)cfg->redis_nnodes].host;
        *port = cfg->redis_nodes[seed % (unsigned)cfg->redis_nnodes].port;
    }
    snprintf(host, hostlen, "%s", h);
    return 0;
}

/* Sentinel mode: the master moved (on the sentinel thread). The connection
 * to the old one is cut like at the stop, and the thread reconnects to the
 * new address. A connection made meanwhile sees the new generation itself:
 * ps_fd is stored before the generation is checked, the generation before
 * this reads ps_fd. */
static pthread_mutex_t ps_fd_lock = PTHREAD_MUTEX_INITIALIZER;

static void ps_on_move(void)
{
    pthread_mutex_lock(&ps_fd_lock); /* the fd is not closed (and reused) meanwhile */
    int fd = atomic_load(&ps_fd);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    pthread_mutex_unlock(&ps_fd_lock);
}

/* The connection is about to be closed: ps_on_move must not touch its fd. */
static void ps_forget_fd(void)
{
    pthread_mutex_lock(&ps_fd_lock);
    atomic_store(&ps_fd, -1);
    pthread_mutex_unlock(&ps_fd_lock);
}

/* Names the connection (CLIENT KILL can find it), takes its id and asks
 * for the invalidation channel; -1 when Redis refused (retried later). */
static int ps_track_setup(redisContext *c, long long *id)
{
    const char *name[3] = {"CLIENT", "SETNAME", INV_NAME};
    redisReply *r = redisCommandArgv(c, 3, name, NULL);
    int ok = r && r->type == REDIS_REPLY_STATUS;
    if (r)
        freeReplyObject(r);
    const char *idargv[2] = {"CLIENT", "ID"};
    r = ok ? redisCommandArgv(c, 2, idargv, NULL) : NULL;
    ok = r && r->type == REDIS_REPLY_INTEGER;
    if (ok)
        *id = r->integer;
    if (r)
        freeReplyObject(r);
    const char *sub[2] = {"SUBSCRIBE", INV_CHANNEL};
    if (ok)
        ok = redisAppendCommandArgv(c, 2, sub, NULL) == REDIS_OK;
    if (!ok)
        nc_logf(NC_LOG_WARN, "near cache: cannot set up the invalidation connection");
    return ok ? 0 : -1;
}

static void *ps_main(void *arg)
{
    (void)arg;
    const struct nc_config *cfg = ps_cfg;
    unsigned seed = 0;
    while (!atomic_load(&ps_stop)) {
        struct timeval ct = {cfg->redis_connect_timeout_ms / 1000,
                             (cfg->redis_connect_timeout_ms % 1000) * 1000};
        /* Cluster: a PUBLISH reaches every node, so any seed will do; the
         * next one after each lost or failed connection. Sentinel: the
         * master in force (none yet: wait). */
        char host[sizeof cfg->redis_host];
        int port;
        uint64_t gen;
        redisContext *c = NULL;
        if (ps_target(cfg, seed++, host, sizeof host, &port, &gen) == 0)
            c = redisConnectWithTimeout(host, port, ct);
        if (!c || c->err) {
            if (c)
                redisFree(c);
            for (int i = 0; i < 10 && !atomic_load(&ps_stop); i++)
                usleep(100000);
            continue;
        }
        struct timeval none = {0, 0}; /* block: nc_pubsub_stop() wakes it */
        redisSetTimeout(c, none);
        atomic_store(&ps_fd, c->fd);
        int ok =
            !atomic_load(&ps_stop) && (!gen || nc_sentinel_generation() == gen) && ps_auth(c, cfg);
        long long id = -1;
        if (ok && ps_near)
            ok = ps_track_setup(c, &id) == 0;
        for (int i = 0; ok && i < nwatches; i++) {
            const char *argv[2] = {"PSUBSCRIBE", watches[i].pattern};
            ok = redisAppendCommandArgv(c, 2, argv, NULL) == REDIS_OK;
        }
        if (ok)
            ps_listen(c, id);
        ps_forget_fd();
        if (ps_near && nc_near_sync_gen()) { /* its invalidations are lost from here on */
            nc_near_sync_down(ps_near);
            if (!atomic_load(&ps_stop))
                nc_logf(NC_LOG_WARN, "near cache: invalidation connection lost: emptied, unused "
                                     "until it is back");
        }
        redisFree(c);
        if (!atomic_load(&ps_stop))
            usleep(100000); /* Redis went away: retry soon, not in a spin */
    }
    return NULL;
}

void nc_pubsub_start(const struct nc_config *cfg)
{
    if (!cfg->redis_enabled || (!nwatches && !ps_near) || atomic_exchange(&ps_started, 1))
        return;
    ps_cfg = cfg;
    atomic_store(&ps_stop, 0);
    if (cfg->redis_mode == NC_REDIS_SENTINEL)
        nc_sentinel_on_move(ps_on_move);
    if (pthread_create(&ps_thread, NULL, ps_main, NULL) != 0) {
        nc_logf(NC_LOG_WARN, "cannot start the subscriber thread: cross-instance wake-ups fall "
                             "back to polling");
        atomic_store(&ps_started, 0);
    }
}

void nc_pubsub_stop(void)
{
    if (atomic_exchange(&ps_started, 0)) {
        atomic_store(&ps_stop, 1);
        int fd = atomic_load(&ps_fd);
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
        pthread_join(ps_thread, NULL);
    }
    pthread_mutex_lock(&watch_lock);
    nwatches = 0;
    ps_near = NULL;
    pthread_mutex_unlock(&watch_lock);
}
