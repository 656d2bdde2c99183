/* rebuild.c - what a flight does in Redis, on its owner's thread: take
 * the cross-instance lock (SET NX PX) and re-read the key in the same
 * write, wait for another instance's rebuild (woken by its PUBLISH, or by
 * a slow poll), store the upstream's answer (a script that writes only
 * while the lock is ours, then PUBLISHes), renew and release the lock. */
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "normcache/clock.h"
#include "normcache/log.h"
#include "normcache/near.h"
#include "normcache/rand.h"
#include "normcache/store.h"
#include "recs_int.h"

struct fcmd {
    struct nc_recs_flight *f;
    int kind;
};
enum { C_LOCK, C_RECHECK, C_STORE, C_RENEW, C_RELEASE };

static const char store_script[] =
    "if redis.call('GET', KEYS[2]) == ARGV[1] then "
    "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]); "
    "redis.call('DEL', KEYS[2]); redis.call('PUBLISH', KEYS[1], '1'); return 1 end "
    "return 0";
static const char release_script[] =
    "if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]); "
    "redis.call('PUBLISH', KEYS[1], '0') end return 1";
static const char renew_script[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                   "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";

static void on_flight_reply(void *priv, redisReply *reply);

static int flight_cmd(struct nc_recs_flight *f, int kind, int argc, const char **argv,
                      const size_t *lens)
{
    struct fcmd *c = malloc(sizeof *c);
    if (!c)
        return -1;
    c->f = f;
    c->kind = kind;
    if (nc_store_command(f->owner->w->store, on_flight_reply, c, argc, argv, lens) != 0) {
        free(c);
        return -1;
    }
    f->outstanding++;
    return 0;
}

/* Takes the lock and, in the same write, re-reads the value: a rebuild
 * that finished after this request's first read (its flight already gone
 * from the table) must not cause a second upstream call. The GET's reply
 * comes after the SET's and decides. */
void nc_recs_lock_try(struct nc_recs_flight *f)
{
    const struct nc_config *cfg = f->owner->w->cfg;
    char px[16];
    int pl = snprintf(px, sizeof px, "%d", cfg->lock_ttl_ms);
    const char *argv[6] = {"SET", f->lockkey, f->token, "NX", "PX", px};
    size_t lens[6] = {3, strlen(f->lockkey), strlen(f->token), 2, 2, (size_t)pl};
    const char *gargv[2] = {"GET", f->key};
    size_t glens[2] = {3, f->keylen};
    atomic_store(&f->state, F_LOCKING);
    f->lock_failed = 0;
    if (flight_cmd(f, C_LOCK, 6, argv, lens) != 0) {
        f->bypass = 1; /* Redis unusable: go straight to the upstream */
        nc_recs_upstream_start(f);
        return;
    }
    if (flight_cmd(f, C_RECHECK, 2, gargv, glens) != 0)
        f->lock_failed = 1; /* the SET's reply will still come; see C_LOCK */
}

void nc_recs_lock_renew(struct nc_recs_flight *f, int64_t now_ms)
{
    const struct nc_config *cfg = f->owner->w->cfg;
    char px[16];
    int pl = snprintf(px, sizeof px, "%d", cfg->lock_ttl_ms);
    const char *argv[6] = {"EVAL", renew_script, "1", f->lockkey, f->token, px};
    size_t lens[6] = {4, strlen(renew_script), 1, strlen(f->lockkey), strlen(f->token), (size_t)pl};
    flight_cmd(f, C_RENEW, 6, argv, lens); /* a lost renewal: the TTL still covers a while */
    f->next_renew = now_ms + cfg->lock_ttl_ms / 3;
}

static void lock_release(struct nc_recs_flight *f)
{
    if (!f->have_lock)
        return;
    f->have_lock = 0;
    const char *argv[6] = {"EVAL", release_script, "2", f->key, f->lockkey, f->token};
    size_t lens[6] = {4,         strlen(release_script), 1,
                      f->keylen, strlen(f->lockkey),     strlen(f->token)};
    flight_cmd(f, C_RELEASE, 6, argv, lens); /* if lost, the lock's TTL ends it */
}

/* Finishes with the stale copy when there is one (stale-if-error). */
static int finish_with_stale(struct nc_recs_flight *f)
{
    if (!f->stale)
        return 0;
    struct nc_recs_result *res = f->stale;
    f->stale = NULL;
    nc_recs_flight_finish(f, res);
    return 1;
}

void nc_recs_flight_abandon(struct nc_recs_flight *f)
{
    /* Released so that another instance need not wait for its TTL; the
     * release leaves in the store's last flush before it closes. */
    lock_release(f);
    if (finish_with_stale(f))
        return;
    struct nc_recs_result *res = NULL;
    if (!f->background) {
        res = nc_recs_result_new(503, NULL, 0);
        if (res)
            res->shutdown = 1;
    }
    nc_recs_flight_finish(f, res);
}

static void on_recheck(struct nc_recs_flight *f, redisReply *reply)
{
    const struct nc_config *cfg = f->owner->w->cfg;
    struct nc_recs_entry e;
    if (atomic_load(&f->state) != F_LOCKING)
        return;
    if (!reply || f->lock_failed) {
        f->bypass = 1;
        lock_release(f);
        nc_recs_upstream_start(f);
    } else if (reply->type == REDIS_REPLY_STRING &&
               nc_recs_entry_parse(reply->str, reply->len, &e) == 0 &&
               nc_wall_ms() < e.fresh_until_ms && e.stored_ms >= f->min_stored_ms) {
        /* Somebody (another instance, or a flight that just ended) stored a
         * fresh answer: use it. */
        lock_release(f);
        nc_recs_flight_finish(f, nc_recs_result_from_entry(&e));
    } else if (f->have_lock) {
        nc_recs_upstream_start(f);
    } else if (f->background) {
        nc_recs_flight_finish(f, NULL); /* another instance refreshes it */
    } else {
        /* Held elsewhere: wait for its PUBLISH (or the poll / limit). Every
         * poll tries the lock again, so a crashed holder costs at most its
         * lock's TTL. */
        int64_t now = nc_now_ms();
        if (!f->deadline)
            f->deadline = now + cfg->lock_wait_ms;
        if (now >= f->deadline) {
            /* the holder is gone or slow: the stale copy, or the upstream
             * without the lock */
            if (!finish_with_stale(f))
                nc_recs_upstream_start(f);
        } else {
            f->next_poll = now + NC_RECS_POLL_MS;
            atomic_store(&f->state, F_WAITING);
        }
    }
}

static void on_flight_reply(void *priv, redisReply *reply)
{
    struct fcmd *c = priv;
    struct nc_recs_flight *f = c->f;
    int kind = c->kind;
    free(c);
    /* f->outstanding still counts this reply until the end, so nothing
     * below (nc_recs_flight_finish in particular) can free the flight. */
    switch (kind) {
    case C_LOCK:
        if (!reply || reply->type == REDIS_REPLY_ERROR)
            f->lock_failed = 1;
        else if (reply->type == REDIS_REPLY_STATUS) {
            f->have_lock = 1;
            f->next_renew = nc_now_ms() + f->owner->w->cfg->lock_ttl_ms / 3;
        }
        if (f->lock_failed && f->outstanding == 1 && atomic_load(&f->state) == F_LOCKING) {
            /* the GET was never sent: nothing else will decide */
            f->bypass = 1;
            lock_release(f);
            nc_recs_upstream_start(f);
        }
        break;
    case C_RECHECK:
        on_recheck(f, reply);
        break;
    case C_STORE:
        /* This instance's own write: no near hit of the entry it replaced
         * from here on (other instances hear of it from Redis). */
        if (f->owner->w->near)
            nc_near_drop(f->owner->w->near, f->key, f->keylen);
        if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)
            f->have_lock = 0; /* the script released it */
        break;
    default:
        break;
    }
    f->outstanding--;
    nc_recs_flight_maybe_free(f);
}

/* Sends the entry's write: through the store script while the lock is
 * ours, else a plain SET then PUBLISH (the holder vanished). 1 when the
 * write was queued. */
static int store_entry(struct nc_recs_flight *f, const struct nc_buf *ent, long long px)
{
    char pxs[24];
    int pl = snprintf(pxs, sizeof pxs, "%lld", px);
    if (f->have_lock) {
        const char *argv[8] = {"EVAL",     store_script, "2",       f->key,
                               f->lockkey, f->token,     ent->data, pxs};
        size_t lens[8] = {4,
                          strlen(store_script),
                          1,
                          f->keylen,
                          strlen(f->lockkey),
                          strlen(f->token),
                          ent->len,
                          (size_t)pl};
        return flight_cmd(f, C_STORE, 8, argv, lens) == 0;
    }
    const char *argv[5] = {"SET", f->key, ent->data, "PX", pxs};
    size_t lens[5] = {3, f->keylen, ent->len, 2, (size_t)pl};
    const char *pargv[3] = {"PUBLISH", f->key, "1"};
    size_t plens[3] = {7, f->keylen, 1};
    int stored = flight_cmd(f, C_STORE, 5, argv, lens) == 0;
    flight_cmd(f, C_STORE, 3, pargv, plens); /* lost: waiters' polls still see it */
    return stored;
}

void nc_recs_flight_upstream_done(struct nc_recs_flight *f, int status, int64_t delta_ms)
{
    struct nc_recs_worker *rw = f->owner;
    const struct nc_config *cfg = rw->w->cfg;
    if (status >= 500) {
        lock_release(f);
        if (!finish_with_stale(f)) /* stale-if-error */
            nc_recs_flight_finish(f, f->background ? NULL : nc_recs_result_new(status, NULL, 0));
        return;
    }

    /* Fresh TTL with jitter so that keys written together do not expire
     * together; negative entries live exactly NEGATIVE_TTL. */
    long long fresh_ms, px;
    if (status == 404) {
        fresh_ms = (long long)cfg->negative_ttl_s * 1000;
        px = fresh_ms;
    } else {
        double u = nc_rand_unit();
        long long ttl_ms = (long long)nc_config_ns_ttl(cfg, NC_RECS_NS) * 1000;
        fresh_ms = (long long)((double)ttl_ms * (1.0 - u * cfg->ttl_jitter_pct / 100.0));
        if (fresh_ms < 1)
            fresh_ms = 1;
        px = fresh_ms + (long long)cfg->stale_grace_s * 1000;
    }
    int64_t now = nc_wall_ms();
    struct nc_buf ent;
    nc_buf_init(&ent);
    int rc = nc_recs_entry_build(&ent, (long long)now, (long long)now + fresh_ms,
                                 (long long)delta_ms, status, f->resp.data, f->resp.len);
    struct nc_recs_result *res = status == 200 ? nc_recs_result_new(200, f->resp.data, f->resp.len)
                                               : nc_recs_result_new(404, NULL, 0);
    if (res)
        res->max_age_s = fresh_ms / 1000;
    /* A partial entry is never written: it would be served as a truncated
     * body until it expires. */
    if (rc == 0 && !f->bypass && store_entry(f, &ent, px) && res)
        res->stored = 1;
    if (res)
        res->bypass = f->bypass;
    nc_buf_free(&ent);
    /* Send the write now, before answering (possibly a thousand) waiters:
     * other instances are waiting for its PUBLISH. */
    nc_store_flush(rw->w->store);
    nc_recs_flight_finish(f, res);
}
