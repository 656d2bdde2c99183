/* flight.c - process-wide single flight for recommendations: the table of
 * flights (one per key), their waiters, the shared results and the
 * per-worker mailboxes that carry results to waiters on other workers
 * (only a connection's own worker may touch its request).
 *
 * Locks: table_lock guards the table (hnext chains) and every flight's
 * waiter list; a worker's mlock guards its mailbox queue. A flight's other
 * fields belong to its owner's thread (see recs_int.h). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "normcache/hash.h"
#include "normcache/counters.h"
#include "normcache/rand.h"
#include "normcache/pubsub.h"
#include "recs_int.h"

#define TABLE_SIZE 1024

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nc_recs_flight *table[TABLE_SIZE];
static atomic_int upstream_inflight;

/* ------------------------------------------------------------ results */

struct nc_recs_result *nc_recs_result_new(int status, const char *body, size_t len)
{
    struct nc_recs_result *res = malloc(sizeof *res + len + 1);
    if (!res)
        return NULL;
    atomic_init(&res->ref, 1);
    res->status = status;
    res->stored = res->bypass = res->shutdown = 0;
    res->max_age_s = 0;
    res->len = len;
    if (body && len)
        memcpy(res->body, body, len);
    res->body[len] = '\0';
    return res;
}

struct nc_recs_result *nc_recs_result_from_entry(const struct nc_recs_entry *e)
{
    struct nc_recs_result *res = e->status == 404 ? nc_recs_result_new(404, NULL, 0)
                                                  : nc_recs_result_new(200, e->body, e->len);
    if (res) {
        long long ttl = e->fresh_until_ms - e->stored_ms;
        res->max_age_s = ttl > 0 ? ttl / 1000 : 0;
    }
    return res;
}

void nc_recs_result_put(struct nc_recs_result *res)
{
    if (res && atomic_fetch_sub(&res->ref, 1) == 1)
        free(res);
}

/* -------------------------------------------------------------- table */

void nc_recs_table_lock(void)
{
    pthread_mutex_lock(&table_lock);
}

void nc_recs_table_unlock(void)
{
    pthread_mutex_unlock(&table_lock);
}

static unsigned table_hash(const char *key)
{
    return (unsigned)(nc_fnv1a64(key, strlen(key)) % TABLE_SIZE);
}

struct nc_recs_flight *nc_recs_table_find(const char *key)
{
    for (struct nc_recs_flight *f = table[table_hash(key)]; f; f = f->hnext)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

void nc_recs_table_insert(struct nc_recs_flight *f)
{
    unsigned h = table_hash(f->key);
    f->hnext = table[h];
    table[h] = f;
}

void nc_recs_table_remove(struct nc_recs_flight *f)
{
    for (struct nc_recs_flight **p = &table[table_hash(f->key)]; *p; p = &(*p)->hnext)
        if (*p == f) {
            *p = f->hnext;
            return;
        }
}

/* ------------------------------------------------------------ mailbox */

static void mailbox_post(struct nc_recs_worker *rw, struct nc_recs_msg *m)
{
    m->next = NULL;
    pthread_mutex_lock(&rw->mlock);
    if (rw->mtail)
        rw->mtail->next = m;
    else
        rw->mhead = m;
    rw->mtail = m;
    pthread_mutex_unlock(&rw->mlock);
    uint64_t one = 1;
    ssize_t n = write(rw->mailfd, &one, sizeof one);
    (void)n; /* the counter only saturates: the worker wakes anyway */
}

void nc_recs_wake(const char *key, size_t len)
{
    if (len >= NC_KEY_MAX)
        return;
    char k[NC_KEY_MAX];
    memcpy(k, key, len);
    k[len] = '\0';
    nc_recs_table_lock();
    struct nc_recs_flight *f = nc_recs_table_find(k);
    if (f && atomic_load(&f->state) == F_WAITING) {
        /* Lost on out of memory: the flight's poll still runs. */
        struct nc_recs_msg *m = calloc(1, sizeof *m);
        if (m) {
            m->kind = NC_RECS_MSG_WAKE;
            memcpy(m->key, k, len + 1);
            mailbox_post(f->owner, m);
        }
    }
    nc_recs_table_unlock();
}

/* A wake-up for a key: the flight, if still there and ours, tries again.
 * Found under the lock and owned by this thread, it cannot be freed until
 * this thread frees it. */
static void wake_local(struct nc_recs_worker *rw, const char *key)
{
    nc_recs_table_lock();
    struct nc_recs_flight *f = nc_recs_table_find(key);
    if (f && f->owner != rw)
        f = NULL;
    nc_recs_table_unlock();
    if (f && atomic_load(&f->state) == F_WAITING)
        nc_recs_lock_try(f);
}

void nc_recs_mailbox_drain(struct nc_recs_worker *rw)
{
    uint64_t v;
    ssize_t n = read(rw->mailfd, &v, sizeof v);
    (void)n;
    pthread_mutex_lock(&rw->mlock);
    struct nc_recs_msg *m = rw->mhead;
    rw->mhead = rw->mtail = NULL;
    pthread_mutex_unlock(&rw->mlock);
    while (m) {
        struct nc_recs_msg *next = m->next;
        if (m->kind == NC_RECS_MSG_DELIVER)
            nc_recs_req_deliver(m->req, m->res, m->coalesced);
        else
            wake_local(rw, m->key);
        free(m);
        m = next;
    }
}

/* ------------------------------------------------------------ flights */

void nc_recs_flight_finish(struct nc_recs_flight *f, struct nc_recs_result *res)
{
    nc_recs_table_lock();
    nc_recs_table_remove(f);
    struct nc_recs_msg *ws = f->waiters;
    f->waiters = NULL;
    nc_recs_table_unlock();
    atomic_store(&f->state, F_DONE);
    if (f->counted) {
        atomic_fetch_sub(&upstream_inflight, 1);
        f->counted = 0;
    }
    if (!res && ws)
        res = nc_recs_result_new(502, NULL, 0); /* NULL still answers: 503 */
    int first = 1;
    while (ws) {
        struct nc_recs_msg *next = ws->next;
        if (res)
            atomic_fetch_add(&res->ref, 1);
        if (ws->rw == f->owner) {
            nc_recs_req_deliver(ws->req, res, !first);
            free(ws);
        } else {
            /* the waiter is its own message: nothing to allocate here */
            ws->res = res;
            ws->coalesced = !first;
            mailbox_post(ws->rw, ws);
        }
        first = 0;
        ws = next;
    }
    nc_recs_result_put(res);
    nc_recs_flight_maybe_free(f);
}

void nc_recs_flight_maybe_free(struct nc_recs_flight *f)
{
    if (atomic_load(&f->state) != F_DONE || f->outstanding || f->easy)
        return;
    struct nc_recs_worker *rw = f->owner;
    for (struct nc_recs_flight **p = &rw->owned; *p; p = &(*p)->onext)
        if (*p == f) {
            *p = f->onext;
            break;
        }
    nc_recs_result_put(f->stale);
    nc_buf_free(&f->resp);
    free(f->query);
    free(f);
}

/* A new flight, not yet in the table, or NULL (out of memory). */
static struct nc_recs_flight *flight_new(struct nc_recs_worker *rw, const char *key,
                                         const char *query, size_t qlen, int limit, int background,
                                         const struct nc_recs_entry *stale, long long min_stored_ms)
{
    struct nc_recs_flight *f = calloc(1, sizeof *f);
    char *qcopy = f ? strndup(query, qlen) : NULL;
    if (!f || !qcopy || nc_rand_token(f->token, sizeof f->token) != 0) {
        free(qcopy);
        free(f);
        return NULL;
    }
    snprintf(f->key, sizeof f->key, "%s", key);
    f->keylen = strlen(f->key);
    snprintf(f->lockkey, sizeof f->lockkey, "%s:lock", key);
    f->owner = rw;
    atomic_init(&f->state, F_LOCKING);
    f->query = qcopy;
    f->limit = limit;
    f->background = background;
    f->min_stored_ms = min_stored_ms;
    nc_buf_init(&f->resp);
    if (stale) /* without it (out of memory) there is just no fallback */
        f->stale = nc_recs_result_from_entry(stale);
    return f;
}

int nc_recs_flight_join(struct nc_recs_worker *rw, struct nc_req *r, const char *key,
                        const char *query, size_t qlen, int limit, int background,
                        const struct nc_recs_entry *stale, long long min_stored_ms)
{
    const struct nc_config *cfg = rw->w->cfg;
    struct nc_recs_msg *wt = NULL;
    if (rw->shutting_down)
        return -3; /* flights are being failed: nothing may join or start one */
    if (r) {
        wt = calloc(1, sizeof *wt);
        if (!wt)
            return -2;
        wt->kind = NC_RECS_MSG_DELIVER;
        wt->req = r;
        wt->rw = rw;
    }
    nc_recs_table_lock();
    struct nc_recs_flight *f = nc_recs_table_find(key);
    if (f) {
        if (wt) {
            /* appended at the tail: the first waiter is the one that asked */
            struct nc_recs_msg **p = &f->waiters;
            while (*p)
                p = &(*p)->next;
            *p = wt;
            nc_counters_coalesced(rw->w->counters);
        }
        nc_recs_table_unlock();
        return 0;
    }
    if (atomic_fetch_add(&upstream_inflight, 1) >= cfg->upstream_max_inflight) {
        atomic_fetch_sub(&upstream_inflight, 1);
        nc_recs_table_unlock();
        free(wt);
        return -1;
    }
    f = flight_new(rw, key, query, qlen, limit, background, stale, min_stored_ms);
    if (!f) {
        atomic_fetch_sub(&upstream_inflight, 1);
        nc_recs_table_unlock();
        free(wt);
        return -2;
    }
    f->counted = 1;
    f->waiters = wt;
    nc_recs_table_insert(f);
    nc_recs_table_unlock();
    f->onext = rw->owned;
    rw->owned = f;
    if (!cfg->redis_enabled) {
        f->bypass = 1;
        nc_recs_upstream_start(f);
    } else {
        nc_recs_lock_try(f);
    }
    return 0;
}

/* Cross-instance wake-ups: the process's subscriber (pubsub.c) watches the
 * recommendations namespace; a message's channel is a key whose rebuild
 * (on any instance) just finished or failed. */
static void flight_on_message(const char *channel, size_t len, void *ud)
{
    (void)ud;
    nc_recs_wake(channel, len);
}

int nc_recs_sub_watch(const struct nc_config *cfg)
{
    char pattern[NC_KEY_MAX];
    snprintf(pattern, sizeof pattern, "%s:%s:*", cfg->key_prefix, NC_RECS_NS);
    return nc_pubsub_watch(pattern, flight_on_message, NULL);
}
