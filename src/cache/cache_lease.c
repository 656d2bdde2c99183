/* cache_lease.c - leases on /cache entries (memcached's leases, Nishtala
 * et al., NSDI 2013): one caller computes a missing answer, the others wait
 * for it instead of computing it too, and a value computed before an
 * invalidation cannot land after it.
 *
 * A lease is `<key>:lease` in Redis holding a random token (SET NX PX), so
 * it holds across instances. GET with `Cache-Lease: acquire` runs one
 * script: the value if there is one, else the lease if nobody holds it,
 * else "wait". A waiter stays suspended (no thread held) in its worker's
 * list until a write or a release PUBLISHes on `<prefix>:_lease:<key>`
 * (this instance's or another's: the process subscriber, pubsub.c, hands
 * the key to every worker with waiters through its eventfd); then it runs
 * the script again: the value (a collapsed hit), or the next lease, which
 * SET NX gives to exactly one of them. A poll every LEASE_POLL_MS is only
 * the safety net (a lease that expired, a lost message); LEASE_WAIT_MS
 * bounds the wait. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "normcache/cache.h"
#include "normcache/clock.h"
#include "normcache/counters.h"
#include "normcache/log.h"
#include "normcache/pubsub.h"
#include "normcache/rand.h"

#include "cache_int.h"

#define LEASE_POLL_MS 250
#define LEASE_QUEUE 64 /* keys a worker's mailbox holds; more means "re-check all" */

enum lease_state { LS_NONE, LS_HIT, LS_GRANTED, LS_WAIT, LS_TIMEOUT, LS_SHUTDOWN };

/* A GET that asked for a lease (r->ext). */
struct lease_req {
    struct nc_req *r;
    enum lease_state state;
    char token[NC_CACHE_LEASE_TOKEN_MAX + 1];
    long long lease_pttl;
    int waited;   /* it waited for another's lease: a hit is "collapsed" */
    int inflight; /* a script is out */
    int woken;    /* a wake-up for its key arrived */
    int64_t deadline, next_poll;
    struct lease_req *prev, *next; /* in the worker's waiters while waiting */
};

/* A worker's waiters and its mailbox from the subscriber thread. */
struct lease_worker {
    struct nc_worker *w;
    int efd;
    struct lease_req *waiters; /* this worker's thread only */
    atomic_int nwaiters;
    pthread_mutex_t lock; /* guards keys/nkeys/overflow */
    char keys[LEASE_QUEUE][NC_KEY_MAX];
    int nkeys, overflow;
    struct lease_worker *next_all;
};

static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lease_worker *all_workers;

/* The value if any (read as in cache_read.c: at most MAX_BODY_BYTES + 1
 * bytes); else the lease if free; else wait. One round trip, and atomic, so
 * a value written between a read and a SET NX cannot be missed. */
static const char lease_get_script[] =
    "local v = redis.call('GETRANGE', KEYS[1], 0, ARGV[3]) "
    "if v ~= '' then return {1, v, redis.call('PTTL', KEYS[1])} end "
    "if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end "
    "return {3, redis.call('PTTL', KEYS[2])}";

/* Any write or invalidation removes the key's lease (its holder's later
 * write then fails: the stale-set race) and wakes the waiters. */
static const char lease_clear_script[] =
    "if redis.call('DEL', KEYS[1]) == 1 then redis.call('PUBLISH', ARGV[1], KEYS[2]) end "
    "return 0";

/* A holder gives its lease back (its computation failed). */
static const char lease_release_script[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
    "redis.call('DEL', KEYS[1]) "
    "redis.call('PUBLISH', ARGV[2], KEYS[2]) "
    "return 1";

/* ------------------------------------------------------------ names */

int nc_cache_lease_key(const char *key, size_t keylen, char out[NC_KEY_MAX])
{
    if (keylen + 6 >= NC_KEY_MAX)
        return -1;
    memcpy(out, key, keylen);
    memcpy(out + keylen, ":lease", 7);
    return (int)keylen + 6;
}

int nc_cache_lease_channel(const struct nc_config *cfg, const char *key,
                           char out[NC_CACHE_CHANNEL_MAX])
{
    return snprintf(out, NC_CACHE_CHANNEL_MAX, "%s:_lease:%s", cfg->key_prefix, key);
}

static int lease_malformed(struct nc_cache_err *e)
{
    return nc_cache_err_set(e, 400, "invalid_lease",
                            "Cache-Lease must be a lease token ([A-Za-z0-9_-]{22,64}).");
}

int nc_cache_lease_header(const struct nc_req *r, const char **tok, size_t *len,
                          struct nc_cache_err *e)
{
    const char *h = nc_req_hdr(r, "Cache-Lease");
    if (!h)
        return 0;
    size_t n = strlen(h);
    if (n < 22 || n > NC_CACHE_LEASE_TOKEN_MAX)
        return lease_malformed(e);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return lease_malformed(e);
    }
    *tok = h;
    *len = n;
    return 1;
}

int nc_cache_lease_wanted(const struct nc_req *r)
{
    const char *h = nc_req_hdr(r, "Cache-Lease");
    return h && strcasecmp(h, "acquire") == 0;
}

/* ------------------------------------------------------------ waiters */

static struct lease_worker *lw_of(const struct nc_req *r)
{
    return r->w->cache;
}

static void waiter_add(struct lease_req *lr)
{
    struct lease_worker *lw = lw_of(lr->r);
    lr->prev = NULL;
    lr->next = lw->waiters;
    if (lw->waiters)
        lw->waiters->prev = lr;
    lw->waiters = lr;
    atomic_fetch_add(&lw->nwaiters, 1);
}

static void waiter_remove(struct lease_req *lr)
{
    if (lr->state != LS_WAIT)
        return;
    struct lease_worker *lw = lw_of(lr->r);
    if (lr->prev)
        lr->prev->next = lr->next;
    else
        lw->waiters = lr->next;
    if (lr->next)
        lr->next->prev = lr->prev;
    lr->prev = lr->next = NULL;
    atomic_fetch_sub(&lw->nwaiters, 1);
}

/* Ends the wait: the resume hook answers by lr->state. */
static void lease_done(struct lease_req *lr, enum lease_state st)
{
    waiter_remove(lr);
    lr->state = st;
    if (lr->r->state == NC_REQ_WAITING)
        nc_req_resume(lr->r);
}

/* ------------------------------------------------------------ script */

static int lease_send(struct lease_req *lr);

static void on_lease_get(void *priv, redisReply *reply)
{
    struct lease_req *lr = priv;
    struct nc_req *r = lr->r;
    lr->inflight = 0;
    r->outstanding--; /* counted by nc_cache_issue_for; a wait keeps the request suspended */
    if (lr->state == LS_SHUTDOWN) { /* the stop answered for it */
        lease_done(lr, LS_SHUTDOWN);
        return;
    }
    if (!reply) {
        r->redis_failed = 1;
        lease_done(lr, LS_NONE);
        return;
    }
    long long kind = reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
                             reply->element[0]->type == REDIS_REPLY_INTEGER
                         ? reply->element[0]->integer
                         : 0;
    if (kind == 1 && reply->elements == 3 && reply->element[1]->type == REDIS_REPLY_STRING &&
        reply->element[1]->len > r->w->cfg->max_body_bytes) {
        nc_logf(NC_LOG_WARN, "redis value under %s is larger than MAX_BODY_BYTES: a miss", r->key);
        lease_done(lr, LS_NONE);
    } else if (kind == 1 && reply->elements == 3 && reply->element[1]->type == REDIS_REPLY_STRING) {
        nc_buf_reset(&r->out);
        if (nc_buf_append(&r->out, reply->element[1]->str, reply->element[1]->len) == 0) {
            r->have_value = 1;
            r->num =
                reply->element[2]->type == REDIS_REPLY_INTEGER ? reply->element[2]->integer : -1;
        }
        lease_done(lr, LS_HIT);
    } else if (kind == 2) {
        lr->lease_pttl = r->w->cfg->lease_ttl_ms;
        lease_done(lr, LS_GRANTED);
    } else if (kind == 3) {
        int64_t now = nc_now_ms();
        if (lr->state != LS_WAIT) {
            lr->state = LS_WAIT;
            lr->waited = 1;
            lr->deadline = now + r->w->cfg->lease_wait_ms;
            waiter_add(lr);
        }
        /* Poll again no later than the holder's lease runs out. */
        long long left = reply->elements == 2 && reply->element[1]->type == REDIS_REPLY_INTEGER
                             ? reply->element[1]->integer
                             : LEASE_POLL_MS;
        lr->next_poll = now + (left > 0 && left < LEASE_POLL_MS ? left + 1 : LEASE_POLL_MS);
        if (lr->woken) /* a wake-up came while the script was out */
            lr->next_poll = now;
        lr->woken = 0;
        if (now >= lr->deadline)
            lease_done(lr, LS_TIMEOUT);
    } else {
        /* WRONGTYPE and friends: somebody else's data; a miss, no lease. */
        nc_counters_redis_error(NC_REDIS_ERR_REPLY);
        lease_done(lr, LS_NONE);
    }
}

static int lease_send(struct lease_req *lr)
{
    struct nc_req *r = lr->r;
    char lk[NC_KEY_MAX], ttl[16];
    int lkl = nc_cache_lease_key(r->key, (size_t)r->keylen, lk);
    if (lkl < 0 || nc_rand_token(lr->token, sizeof lr->token) != 0)
        return -1;
    char end[24];
    int tl = snprintf(ttl, sizeof ttl, "%d", r->w->cfg->lease_ttl_ms);
    int el = snprintf(end, sizeof end, "%zu", r->w->cfg->max_body_bytes);
    const char *argv[8] = {"EVAL", lease_get_script, "2", r->key, lk, lr->token, ttl, end};
    size_t lens[8] = {4,           sizeof lease_get_script - 1, 1,          (size_t)r->keylen,
                      (size_t)lkl, strlen(lr->token),           (size_t)tl, (size_t)el};
    if (nc_cache_issue_for(r, on_lease_get, lr, 8, argv, lens) != 0)
        return -1;
    lr->inflight = 1;
    return 0;
}

enum MHD_Result nc_cache_lease_get_start(struct nc_req *r)
{
    struct lease_req *lr = calloc(1, sizeof *lr);
    if (!lr)
        return nc_req_problem(r, 503, "out_of_memory", "Service Unavailable", "Out of memory.");
    lr->r = r;
    r->ext = lr;
    if (lease_send(lr) != 0) {
        r->redis_failed = 1; /* fail open: a BYPASS miss, no lease */
        return nc_cache_get_finish(r);
    }
    nc_req_suspend(r);
    return MHD_YES;
}

enum MHD_Result nc_cache_lease_get_finish(struct nc_req *r)
{
    struct lease_req *lr = r->ext;
    struct nc_counters *c = r->w->counters;
    char v[32];
    switch (lr->state) {
    case LS_HIT:
        if (lr->waited) {
            nc_req_header(r, "Cache-Status", "normcache; hit; detail=collapsed");
            nc_counters_lease(c, NC_LEASE_COLLAPSED);
        }
        return nc_cache_get_finish(r);
    case LS_GRANTED:
        nc_counters_lease(c, NC_LEASE_GRANTED);
        nc_req_header(r, "Cache-Lease", lr->token);
        snprintf(v, sizeof v, "%lld", lr->lease_pttl);
        nc_req_header(r, "Cache-Lease-TTL", v);
        return nc_cache_get_finish(r); /* a miss, with the lease */
    case LS_TIMEOUT:
        nc_counters_lease(c, NC_LEASE_WAIT_TIMEOUT);
        r->cache = "MISS";
        nc_counters_cache(c, r->ns, NC_RES_MISS);
        return nc_req_problem(r, 404, "lease_wait_timeout", "Not Found",
                              "Another caller's lease was not resolved within LEASE_WAIT_MS.");
    case LS_SHUTDOWN:
        nc_req_header(r, "Connection", "close");
        return nc_req_problem(r, 503, "shutting_down", "Service Unavailable",
                              "The service is stopping.");
    default:
        return nc_cache_get_finish(r); /* a miss (or BYPASS), no lease */
    }
}

void nc_cache_lease_free(struct nc_req *r)
{
    struct lease_req *lr = r->ext;
    if (!lr)
        return;
    waiter_remove(lr);
    free(lr);
    r->ext = NULL;
}

/* ------------------------------------------------------ writes, releases */

int nc_cache_lease_clear(struct nc_req *r, const char *key, size_t keylen, nc_store_cb *cb,
                         void *priv)
{
    char lk[NC_KEY_MAX], ch[NC_CACHE_CHANNEL_MAX];
    int lkl = nc_cache_lease_key(key, keylen, lk);
    int cl = nc_cache_lease_channel(r->w->cfg, key, ch);
    if (lkl < 0)
        return -1;
    const char *argv[6] = {"EVAL", lease_clear_script, "2", lk, key, ch};
    size_t lens[6] = {4, sizeof lease_clear_script - 1, 1, (size_t)lkl, keylen, (size_t)cl};
    return nc_cache_issue_for(r, cb, priv, 6, argv, lens);
}

int nc_cache_lease_release(struct nc_req *r, const char *token, size_t toklen, nc_store_cb *cb)
{
    char lk[NC_KEY_MAX], ch[NC_CACHE_CHANNEL_MAX];
    int lkl = nc_cache_lease_key(r->key, (size_t)r->keylen, lk);
    if (lkl < 0)
        return -1;
    int cl = nc_cache_lease_channel(r->w->cfg, r->key, ch);
    const char *argv[7] = {"EVAL", lease_release_script, "2", lk, r->key, token, ch};
    size_t lens[7] = {
        4, sizeof lease_release_script - 1, 1, (size_t)lkl, (size_t)r->keylen, toklen, (size_t)cl};
    return nc_cache_issue(r, cb, 7, argv, lens);
}

void nc_cache_lease_lost(struct nc_req *r)
{
    nc_counters_lease(r->w->counters, NC_LEASE_LOST);
}

/* ------------------------------------------------------------ worker */

/* Subscriber thread: hand the key to every worker that has waiters. */
static void lease_on_message(const char *channel, size_t len, void *ud)
{
    (void)ud;
    const char *key = memchr(channel, ':', len); /* <prefix>:_lease:<key> */
    key = key ? memchr(key + 1, ':', len - (size_t)(key + 1 - channel)) : NULL;
    if (!key)
        return;
    key++;
    size_t kl = len - (size_t)(key - channel);
    if (kl >= NC_KEY_MAX)
        return;
    pthread_mutex_lock(&all_lock);
    for (struct lease_worker *lw = all_workers; lw; lw = lw->next_all) {
        if (!atomic_load(&lw->nwaiters))
            continue;
        pthread_mutex_lock(&lw->lock);
        if (lw->nkeys < LEASE_QUEUE) {
            memcpy(lw->keys[lw->nkeys], key, kl);
            lw->keys[lw->nkeys++][kl] = '\0';
        } else {
            lw->overflow = 1;
        }
        pthread_mutex_unlock(&lw->lock);
        uint64_t one = 1;
        ssize_t wr = write(lw->efd, &one, sizeof one);
        (void)wr; /* a full counter already means "look" */
    }
    pthread_mutex_unlock(&all_lock);
}

int nc_cache_worker_init(struct nc_worker *w, int epfd)
{
    struct lease_worker *lw = calloc(1, sizeof *lw);
    if (!lw)
        return -1;
    lw->w = w;
    lw->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&lw->lock, NULL);
    w->cache = lw;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &lw->efd};
    if (lw->efd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lw->efd, &e) != 0)
        return -1;
    pthread_mutex_lock(&all_lock);
    lw->next_all = all_workers;
    all_workers = lw;
    pthread_mutex_unlock(&all_lock);
    char pattern[NC_PREFIX_MAX + 16];
    snprintf(pattern, sizeof pattern, "%s:_lease:*", w->cfg->key_prefix);
    return w->cfg->redis_enabled ? nc_pubsub_watch(pattern, lease_on_message, NULL) : 0;
}

int nc_cache_on_event(struct nc_worker *w, void *ptr)
{
    struct lease_worker *lw = w->cache;
    if (!lw || ptr != &lw->efd)
        return 0;
    uint64_t v;
    ssize_t rd = read(lw->efd, &v, sizeof v);
    (void)rd;
    char keys[LEASE_QUEUE][NC_KEY_MAX];
    pthread_mutex_lock(&lw->lock);
    int n = lw->nkeys, all = lw->overflow;
    memcpy(keys, lw->keys, (size_t)n * sizeof keys[0]);
    lw->nkeys = lw->overflow = 0;
    pthread_mutex_unlock(&lw->lock);
    for (struct lease_req *lr = lw->waiters; lr; lr = lr->next)
        for (int i = 0; i < n || (all && i == 0); i++)
            if (all || strcmp(keys[i], lr->r->key) == 0) {
                lr->woken = 1;
                lr->next_poll = 0;
                break;
            }
    nc_cache_tick(w, nc_now_ms());
    return 1;
}

void nc_cache_tick(struct nc_worker *w, int64_t now_ms)
{
    struct lease_worker *lw = w->cache;
    if (!lw)
        return;
    struct lease_req *lr = lw->waiters;
    while (lr) {
        struct lease_req *next = lr->next;
        if (!lr->inflight) {
            if (now_ms >= lr->deadline)
                lease_done(lr, LS_TIMEOUT);
            else if (now_ms >= lr->next_poll && lease_send(lr) != 0) {
                lr->r->redis_failed = 1;
                lease_done(lr, LS_NONE);
            }
        }
        lr = next;
    }
}

int nc_cache_next_timeout_ms(struct nc_worker *w, int64_t now_ms)
{
    struct lease_worker *lw = w->cache;
    int64_t dl = INT64_MAX;
    for (struct lease_req *lr = lw ? lw->waiters : NULL; lr; lr = lr->next) {
        if (lr->inflight)
            continue;
        if (lr->deadline < dl)
            dl = lr->deadline;
        if (lr->next_poll < dl)
            dl = lr->next_poll;
    }
    if (dl == INT64_MAX)
        return -1;
    return dl <= now_ms ? 0 : (int)(dl - now_ms);
}

void nc_cache_worker_shutdown(struct nc_worker *w)
{
    struct lease_worker *lw = w->cache;
    while (lw && lw->waiters) {
        struct lease_req *lr = lw->waiters;
        if (lr->inflight) { /* its reply (or the store's NULL) ends it */
            waiter_remove(lr);
            lr->state = LS_SHUTDOWN;
            continue;
        }
        lease_done(lr, LS_SHUTDOWN);
    }
}

void nc_cache_worker_free(struct nc_worker *w)
{
    struct lease_worker *lw = w->cache;
    if (!lw)
        return;
    pthread_mutex_lock(&all_lock);
    for (struct lease_worker **p = &all_workers; *p; p = &(*p)->next_all)
        if (*p == lw) {
            *p = lw->next_all;
            break;
        }
    pthread_mutex_unlock(&all_lock);
    if (lw->efd >= 0)
        close(lw->efd);
    pthread_mutex_destroy(&lw->lock);
    free(lw);
    w->cache = NULL;
}
