/* cache_near.c - the near cache (near.h) on the /cache routes: what a GET
 * finds there, what a Redis hit leaves there, and what this instance's
 * writes take away.
 *
 * An entry's value is the stored JSON followed by a 16-byte trailer: the
 * entry's Redis expiry (nc_now_ms clock, -1: no TTL) and its ETag hash, so
 * that a near hit answers with the same Cache-Control and ETag as a Redis
 * hit without hashing the body again. */
#include <string.h>

#include "normcache/clock.h"
#include "normcache/near.h"
#include "normcache/near_sync.h"
#include "normcache/store.h"

#include "cache_int.h"

#define TRAILER 16

int nc_cache_near_lookup(struct nc_req *r, const char *key, size_t klen, struct nc_buf *out,
                         long long *ttl_ms, uint64_t *etag)
{
    struct nc_near *n = r->w->near;
    if (!n || !nc_near_sync_gen())
        return 0;
    int64_t now = nc_now_ms(), exp;
    if (nc_near_get(n, key, klen, now, out, &exp) != 1)
        return 0;
    if (out->len < TRAILER) { /* not ours: cannot happen */
        nc_buf_reset(out);
        return 0;
    }
    int64_t rexp;
    out->len -= TRAILER;
    memcpy(&rexp, out->data + out->len, sizeof rexp);
    memcpy(etag, out->data + out->len + sizeof rexp, sizeof *etag);
    out->data[out->len] = '\0';
    *ttl_ms = rexp < 0 ? -1 : rexp > now ? rexp - now : 0;
    return 1;
}

int nc_cache_near_get(struct nc_req *r, long long *ttl_ms, uint64_t *etag)
{
    return nc_cache_near_lookup(r, r->key, (size_t)r->keylen, &r->out, ttl_ms, etag);
}

void nc_cache_near_read_begin_for(struct nc_req *r, const char *key, size_t klen,
                                  struct nc_near_read *rd)
{
    rd->gen = 0;
    if (r->w->near)
        nc_near_read_begin(r->w->near, key, klen, rd);
}

void nc_cache_near_read_sent_for(struct nc_req *r, struct nc_near_read *rd)
{
    if (r->w->near)
        nc_near_read_sent(rd, r->w->near_gen);
}

void nc_cache_near_read_begin(struct nc_req *r)
{
    nc_cache_near_read_begin_for(r, r->key, (size_t)r->keylen, &r->near_rd);
}

void nc_cache_near_read_sent(struct nc_req *r)
{
    nc_cache_near_read_sent_for(r, &r->near_rd);
}

void nc_cache_near_put(struct nc_req *r, const struct nc_near_read *rd, const char *key,
                       size_t klen, const char *val, size_t vlen, long long pttl, uint64_t etag)
{
    struct nc_near *n = r->w->near;
    if (!n || !rd->gen || pttl < -1)
        return;
    /* Counted from when the read was sent: never later than Redis's own
     * expiry. */
    int64_t max = r->w->cfg->near_max_ttl_ms;
    int64_t rexp = pttl >= 0 ? rd->sent_ms + pttl : -1;
    int64_t exp = rd->sent_ms + (pttl >= 0 && pttl < max ? pttl : max);
    if (exp <= nc_now_ms())
        return;
    nc_buf_reset(&r->scratch);
    if (nc_buf_append(&r->scratch, val, vlen) == 0 &&
        nc_buf_append(&r->scratch, &rexp, sizeof rexp) == 0 &&
        nc_buf_append(&r->scratch, &etag, sizeof etag) == 0)
        nc_near_read_put(n, rd, r->w->near_gen, key, klen, r->scratch.data, r->scratch.len, exp);
}

void nc_cache_near_fill(struct nc_req *r, long long pttl, uint64_t etag)
{
    if (!r->redis_failed)
        nc_cache_near_put(r, &r->near_rd, r->key, (size_t)r->keylen, r->out.data, r->out.len, pttl,
                          etag);
}

void nc_cache_near_drop(struct nc_req *r, const char *key, size_t keylen)
{
    if (r->w->near)
        nc_near_drop(r->w->near, key, keylen);
}

void nc_cache_near_clear(struct nc_req *r)
{
    if (r->w->near)
        nc_near_clear(r->w->near);
}
