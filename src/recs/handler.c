/* handler.c - GET /products/recommendations: parameters, the cache read,
 * the fresh / stale / XFetch decision, and the answers (from an entry or
 * from a flight's result). Runs on the request's worker thread; the
 * upstream call itself is a flight (flight.c). */
#include <hiredis/hiredis.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "normcache/clock.h"
#include "normcache/counters.h"
#include "normcache/near.h"
#include "normcache/near_sync.h"
#include "normcache/normalise.h"
#include "normcache/rand.h"
#include "normcache/recs.h"
#include "normcache/store.h"
#include "normcache/utf8.h"
#include "recs_int.h"

#define LIMIT_DEFAULT 10
#define LIMIT_MAX 50

/* Per-request state (r->ext), freed when the request completes. */
struct recs_req {
    struct nc_recs_result *res; /* a flight's answer (one reference) */
    int delivered;              /* the flight answered (res may be NULL) */
    int coalesced;
    int no_cache, only_if_cached;
    int near; /* the entry came from the near cache */
    int limit;
    struct nc_recs_entry entry; /* within r->out when r->have_value */
};

void nc_recs_req_deliver(struct nc_req *r, struct nc_recs_result *res, int coalesced)
{
    struct recs_req *rq = r->ext;
    rq->res = res;
    rq->coalesced = coalesced;
    rq->delivered = 1;
    if (r->state == NC_REQ_WAITING)
        nc_req_resume(r);
}

static enum MHD_Result oom(struct nc_req *r)
{
    return nc_req_problem(r, 500, "internal", "Internal Error", "Out of memory.");
}

/* Common headers of a 200/404 from cache or upstream. */
static void caching_headers(struct nc_req *r, long long max_age, long long age, const char *body,
                            size_t len)
{
    const struct nc_config *cfg = r->w->cfg;
    char v[96];
    snprintf(v, sizeof v, "max-age=%lld, stale-while-revalidate=%d, stale-if-error=%d", max_age,
             cfg->stale_grace_s, cfg->stale_grace_s);
    nc_req_header(r, "Cache-Control", v);
    snprintf(v, sizeof v, "%lld", age < 0 ? 0 : age);
    nc_req_header(r, "Age", v);
    if (body) {
        nc_key_etag_format(nc_key_etag_hash(body, len), v);
        nc_req_header(r, "ETag", v);
    }
}

static enum MHD_Result reply_body(struct nc_req *r, int status, const char *body, size_t len)
{
    const char *inm = nc_req_hdr(r, "If-None-Match");
    if (status == 200 && inm) {
        for (int i = 0; i < r->nhdr; i++)
            if (strcmp(r->hdr_name[i], "ETag") == 0 &&
                (strstr(inm, r->hdr_value[i]) || strcmp(inm, "*") == 0)) {
                nc_buf_reset(&r->out);
                return nc_req_reply(r, 304, NULL);
            }
    }
    if (status == 404)
        return nc_req_problem(r, 404, "not_found", "Not Found",
                              "The upstream has no recommendations for this query.");
    if (r->out.data && body >= r->out.data && body <= r->out.data + r->out.len) {
        /* the body sits after the entry header in the same buffer */
        memmove(r->out.data, body, len);
        r->out.len = len;
    } else {
        nc_buf_reset(&r->out);
        if (nc_buf_append(&r->out, body, len) != 0)
            return oom(r);
    }
    return nc_req_reply(r, status, "application/json");
}

/* Answer from an entry read from Redis (fresh or stale). */
static enum MHD_Result answer_entry(struct nc_req *r, const struct nc_recs_entry *e, int64_t now)
{
    long long remaining = e->fresh_until_ms - now; /* ms; negative when stale */
    int stale = remaining <= 0;
    char cs[96];
    long long ttl_s = remaining >= 0 ? remaining / 1000 : -((-remaining + 999) / 1000);
    snprintf(cs, sizeof cs, "normcache; hit; ttl=%lld%s", ttl_s,
             ((struct recs_req *)r->ext)->near ? "; detail=near" : "");
    nc_req_header(r, "Cache-Status", cs);
    r->cache = stale ? "STALE" : "HIT";
    nc_counters_cache(r->w->counters, NC_RECS_NS, stale ? NC_RES_STALE : NC_RES_HIT);
    long long fresh = e->fresh_until_ms - e->stored_ms;
    caching_headers(r, fresh / 1000, (now - e->stored_ms) / 1000, e->status == 200 ? e->body : NULL,
                    e->len);
    return reply_body(r, e->status == 404 ? 404 : 200, e->body, e->len);
}

/* The service is stopping: the client should go to another instance. */
static enum MHD_Result shutting_down(struct nc_req *r)
{
    r->cache = "MISS";
    nc_req_header(r, "Connection", "close");
    nc_req_header(r, "Retry-After", "1");
    nc_req_header(r, "Cache-Status", "normcache; detail=shutting-down");
    return nc_req_problem(r, 503, "shutting_down", "Service Unavailable",
                          "The service is shutting down; retry (on another instance).");
}

static enum MHD_Result answer_result(struct nc_req *r, struct recs_req *rq)
{
    struct nc_recs_result *res = rq->res;
    if (res && res->shutdown)
        return shutting_down(r);
    if (!res) { /* the flight could not allocate an answer */
        r->cache = "MISS";
        nc_req_header(r, "Retry-After", "1");
        return nc_req_problem(r, 503, "internal", "Service Unavailable", "Out of memory.");
    }
    char cs[96];
    if (res->status >= 500) {
        snprintf(cs, sizeof cs, "normcache; fwd=%s%s", res->bypass ? "bypass" : "miss",
                 rq->coalesced ? "; collapsed" : "");
        nc_req_header(r, "Cache-Status", cs);
        r->cache = res->bypass ? "BYPASS" : "MISS";
        if (res->status == 504)
            return nc_req_problem(r, 504, "upstream_timeout", "Gateway Timeout",
                                  "The upstream did not answer in time.");
        if (res->status == 503) {
            nc_req_header(r, "Retry-After", "1");
            return nc_req_problem(r, 503, "upstream_busy", "Service Unavailable",
                                  "Too many upstream calls in flight; retry shortly.");
        }
        return nc_req_problem(r, 502, "upstream_error", "Bad Gateway",
                              "The upstream failed and no cached copy exists.");
    }
    if (res->bypass) {
        r->cache = "BYPASS";
        snprintf(cs, sizeof cs, "normcache; fwd=bypass%s", rq->coalesced ? "; collapsed" : "");
    } else {
        r->cache = "MISS";
        snprintf(cs, sizeof cs, "normcache; fwd=%s%s%s", rq->no_cache ? "request" : "miss",
                 res->stored ? "; stored" : "", rq->coalesced ? "; collapsed" : "");
    }
    nc_req_header(r, "Cache-Status", cs);
    nc_counters_cache(r->w->counters, NC_RECS_NS, res->bypass ? NC_RES_BYPASS : NC_RES_MISS);
    caching_headers(r, res->max_age_s, 0, res->status == 200 ? res->body : NULL, res->len);
    return reply_body(r, res->status, res->body, res->len);
}

/* Parses limit into rq->limit: 1..50, plain digits. 0 or -1. */
static int parse_limit(const struct nc_arg *lim, struct recs_req *rq)
{
    rq->limit = LIMIT_DEFAULT;
    if (!lim)
        return 0;
    char *end;
    long v = lim->value_len && lim->value_len < 4 && lim->value[0] != '-' && lim->value[0] != '+' &&
                     lim->value[0] != ' '
                 ? strtol(lim->value, &end, 10)
                 : -1;
    if (v < 1 || v > LIMIT_MAX || (lim->value_len && *end))
        return -1;
    rq->limit = (int)v;
    return 0;
}

/* Parses query/limit; fills r->scratch with the normalised query and
 * r->key. 0, or queues a 4xx/500 and returns -1. */
static int parse_request(struct nc_req *r, struct recs_req *rq, enum MHD_Result *ret)
{
    const struct nc_config *cfg = r->w->cfg;
    static const char *const names[2] = {"query", "limit"};
    const struct nc_arg *a[2];
    if (nc_req_args(r, names, a, 2) != 0) {
        *ret = nc_req_problem(r, 400, "unknown_parameter", "Bad Request",
                              "Only query and limit are accepted.");
        return -1;
    }
    const struct nc_arg *q = a[0], *lim = a[1];
    if (!q) {
        *ret = nc_req_problem(r, 400, "missing_query", "Bad Request",
                              "The query parameter is required.");
        return -1;
    }
    if (parse_limit(lim, rq) != 0) {
        *ret = nc_req_problem(r, 400, "invalid_limit", "Bad Request",
                              "limit must be an integer from 1 to 50.");
        return -1;
    }
    if (q->value_len > cfg->max_query_bytes) {
        *ret = nc_req_problem(r, 414, "query_too_long", "Query Too Long",
                              "The query text is longer than MAX_QUERY_BYTES.");
        return -1;
    }
    const char *err;
    if (memchr(q->value, '\0', q->value_len) || !nc_utf8_valid(q->value, q->value_len) ||
        nc_normalise(nc_config_ns_norm(cfg, NC_RECS_NS), q->value, q->value_len, &r->scratch,
                     &err) != 0) {
        *ret = nc_req_problem(r, 400, "invalid_utf8", "Bad Request",
                              "The query text is not valid UTF-8 or contains NUL.");
        return -1;
    }
    if (!r->scratch.len) {
        *ret = nc_req_problem(r, 400, "empty_query", "Bad Request",
                              "The query text is empty once normalised.");
        return -1;
    }
    /* The key covers everything that changes the answer: the normalised
     * query and the limit. */
    size_t qlen = r->scratch.len;
    if (nc_buf_printf(&r->scratch, "\nlimit=%d", rq->limit) != 0) {
        *ret = oom(r);
        return -1;
    }
    strcpy(r->ns, NC_RECS_NS);
    r->keylen = nc_key_derive_mode(cfg->key_prefix, NC_RECS_NS, NC_KEY_RECS, cfg->key_secret,
                                   cfg->key_secret_len, r->scratch.data, r->scratch.len,
                                   cfg->redis_mode == NC_REDIS_CLUSTER, r->key);
    if (r->keylen < 0) {
        r->keylen = 0;
        *ret = nc_req_problem(r, 500, "internal", "Internal Error", "Key derivation failed.");
        return -1;
    }
    r->scratch.len = qlen;
    r->scratch.data[qlen] = '\0';
    return 0;
}

static void parse_cache_control(const char *cc, struct recs_req *rq)
{
    if (!cc)
        return;
    /* Directive names are case-insensitive tokens separated by commas. */
    const char *p = cc;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *s = p;
        while (*p && *p != ',' && *p != '=' && *p != ' ')
            p++;
        size_t n = (size_t)(p - s);
        if (n == 8 && strncasecmp(s, "no-cache", 8) == 0)
            rq->no_cache = 1;
        else if (n == 14 && strncasecmp(s, "only-if-cached", 14) == 0)
            rq->only_if_cached = 1;
        while (*p && *p != ',')
            p++;
    }
}

/* NEAR_CACHE: an entry read from Redis stays near until its Redis expiry
 * (fresh_until plus the grace of a 200 entry, as rebuild.c writes it), at
 * most NEAR_CACHE_MAX_TTL_MS from when the read was sent. */
static void near_fill(struct nc_req *r, const struct nc_recs_entry *e)
{
    const struct nc_config *cfg = r->w->cfg;
    long long left = e->fresh_until_ms + (e->status == 200 ? cfg->stale_grace_s * 1000LL : 0) -
                     (long long)nc_wall_ms();
    if (left > cfg->near_max_ttl_ms)
        left = cfg->near_max_ttl_ms;
    int64_t exp = r->near_rd.sent_ms + left;
    if (left > 0 && exp > nc_now_ms())
        nc_near_read_put(r->w->near, &r->near_rd, r->w->near_gen, r->key, (size_t)r->keylen,
                         r->out.data, r->out.len, exp);
}

static void on_read(void *priv, redisReply *reply)
{
    struct nc_req *r = priv;
    struct recs_req *rq = r->ext;
    if (!reply)
        r->redis_failed = 1;
    else if (reply->type == REDIS_REPLY_STRING) {
        nc_buf_reset(&r->out);
        /* out of memory here reads as a miss */
        if (nc_buf_append(&r->out, reply->str, reply->len) == 0 &&
            nc_recs_entry_parse(r->out.data, r->out.len, &rq->entry) == 0) {
            r->have_value = 1;
            if (r->w->near)
                near_fill(r, &rq->entry);
        }
    }
    r->outstanding--;
    if (r->state == NC_REQ_WAITING)
        nc_req_resume(r);
}

/* Starts (or joins) the upstream flight for this request, or answers from
 * stale / 503 when the in-flight cap is hit. */
static enum MHD_Result go_upstream(struct nc_req *r, struct recs_req *rq)
{
    struct nc_recs_worker *rw = r->w->recs;
    const struct nc_recs_entry *stale = r->have_value ? &rq->entry : NULL;
    long long min_stored = rq->no_cache ? (long long)nc_wall_ms()
                           : stale      ? stale->stored_ms + 1
                                        : 0;
    int rc = nc_recs_flight_join(rw, r, r->key, r->scratch.data, r->scratch.len, rq->limit, 0,
                                 stale, min_stored);
    if (rc != 0) {
        if (stale)
            return answer_entry(r, stale, nc_wall_ms());
        if (rc == -2)
            return oom(r);
        if (rc == -3)
            return shutting_down(r);
        r->cache = "MISS";
        nc_req_header(r, "Retry-After", "1");
        nc_req_header(r, "Cache-Status", "normcache; detail=upstream-busy");
        return nc_req_problem(r, 503, "upstream_busy", "Service Unavailable",
                              "Too many upstream calls in flight; retry shortly.");
    }
    /* A flight that failed while starting (upstream unreachable, out of
     * memory) has answered already: suspending now would wait forever. */
    if (rq->delivered)
        return answer_result(r, rq);
    r->num = 1; /* phase: waiting for the flight */
    nc_req_suspend(r);
    return MHD_YES;
}

/* Background refresh of an entry being served (no waiter). */
static void refresh(struct nc_req *r, struct recs_req *rq, const struct nc_recs_entry *e)
{
    nc_recs_flight_join(r->w->recs, NULL, r->key, r->scratch.data, r->scratch.len, rq->limit, 1, e,
                        e->stored_ms + 1);
}

static enum MHD_Result after_read(struct nc_req *r, struct recs_req *rq)
{
    const struct nc_config *cfg = r->w->cfg;
    int64_t now = nc_wall_ms();
    if (r->have_value && !rq->no_cache) {
        const struct nc_recs_entry *e = &rq->entry;
        int fresh = now < e->fresh_until_ms;
        if (fresh && e->status == 200 && cfg->early_refresh_beta > 0 && e->delta_ms > 0) {
            /* XFetch: refresh early with a probability that rises as expiry
             * nears, scaled by how long a rebuild takes. */
            double u = 1.0 - nc_rand_unit(); /* (0, 1]: log(0) is -inf */
            double gap = -(double)e->delta_ms * cfg->early_refresh_beta * log(u);
            if ((double)now + gap >= (double)e->fresh_until_ms)
                refresh(r, rq, e);
        } else if (!fresh && e->status == 200) {
            refresh(r, rq, e); /* stale-while-revalidate: once per key (the flight table) */
        }
        if (fresh || e->status == 200)
            return answer_entry(r, e, now);
    }
    if (rq->only_if_cached) {
        r->cache = "MISS";
        nc_req_header(r, "Cache-Status", "normcache; detail=only-if-cached");
        return nc_req_problem(r, 504, "not_cached", "Gateway Timeout",
                              "only-if-cached was asked and nothing is cached.");
    }
    return go_upstream(r, rq);
}

/* The request's last handler call (headers and empty body seen). */
static enum MHD_Result recs_start(struct nc_req *r)
{
    struct recs_req *rq = calloc(1, sizeof *rq);
    if (!rq)
        return oom(r);
    r->ext = rq;
    enum MHD_Result ret;
    if (parse_request(r, rq, &ret) != 0)
        return ret;
    parse_cache_control(nc_req_hdr(r, "Cache-Control"), rq);
    if (rq->no_cache && !rq->only_if_cached)
        return go_upstream(r, rq);
    struct nc_near *near = r->w->near;
    int64_t exp;
    if (near && nc_near_sync_gen() &&
        nc_near_get(near, r->key, (size_t)r->keylen, nc_now_ms(), &r->out, &exp) == 1 &&
        nc_recs_entry_parse(r->out.data, r->out.len, &rq->entry) == 0) {
        /* Answered without Redis, as a Redis read of it would be. */
        rq->near = 1;
        r->have_value = 1;
        return after_read(r, rq);
    }
    const char *argv[2] = {"GET", r->key};
    size_t lens[2] = {3, (size_t)r->keylen};
    r->near_rd.gen = 0;
    if (near)
        nc_near_read_begin(near, r->key, (size_t)r->keylen, &r->near_rd);
    if (nc_store_command(r->w->store, on_read, r, 2, argv, lens) != 0) {
        r->redis_failed = 1;
        return after_read(r, rq);
    }
    if (near)
        nc_near_read_sent(&r->near_rd, r->w->near_gen);
    r->outstanding++;
    r->num = 0; /* phase: reading */
    nc_req_suspend(r);
    return MHD_YES;
}

static enum MHD_Result recs_resume(struct nc_req *r)
{
    struct recs_req *rq = r->ext;
    if (r->num == 0)
        return after_read(r, rq);
    return answer_result(r, rq);
}

/* The request ended (answered or aborted): drop its share of the result. */
static void recs_done(struct nc_req *r)
{
    struct recs_req *rq = r->ext;
    if (rq) {
        nc_recs_result_put(rq->res);
        free(rq);
        r->ext = NULL;
    }
}

const struct nc_handler nc_recs_handler = {
    .start = recs_start,
    .resume = recs_resume,
    .done = recs_done,
};
