/* cache_batch.c - POST /cache/<ns>/_mget and /_mset: many entries in one
 * call and one pipelined Redis round trip (every command of the call
 * leaves in the loop pass's single write).
 *
 * _mget: {"items": [{"q"|"params", optional "ctx"}, ...]} ->
 *        {"results": [{"key", "hit": true, "value", "ttl"} | {"key", "hit": false}, ...]}
 * _mset: {"items": [{"q"|"params", "value", optional "ttl", "tags", "ctx"}, ...]} ->
 *        {"results": [{"key", "stored": true|false}, ...]}
 *
 * Results are in request order. An invalid item makes the whole call a 400
 * naming the item's index; nothing is read or written then. Redis
 * unavailable: every item hit:false / stored:false with X-Cache: BYPASS
 * (fail open, like the single-entry routes). The body route also carries
 * queries too long for a URL (up to MAX_QUERY_BYTES each). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normcache/counters.h"
#include "normcache/jsonstr.h"
#include "normcache/log.h"

#include "cache_int.h"

struct batch_item {
    struct nc_req *r;
    char key[NC_KEY_MAX];
    int keylen;
    int ttl;                /* _mset: the TTL to write */
    int ok;                 /* _mget: a value came back; _mset: stored */
    long long pttl;         /* _mget: remaining TTL in ms (< 0: none) */
    size_t voff, vlen;      /* the value in batch->vals */
    int near;               /* _mget: answered from the near cache */
    struct nc_near_read rd; /* _mget: the Redis read, which may fill the near cache */
};

struct batch {
    int n;
    struct nc_buf vals;
    struct batch_item items[];
};

void nc_cache_batch_done(struct nc_req *r)
{
    struct batch *b = r->ext;
    if (!b || (r->route != NC_ROUTE_CACHE_MGET && r->route != NC_ROUTE_CACHE_MSET))
        return;
    nc_buf_free(&b->vals);
    free(b);
    r->ext = NULL;
}

/* ------------------------------------------------------------- replies */

static void on_item_get(void *priv, redisReply *reply)
{
    struct batch_item *it = priv;
    struct nc_req *r = it->r;
    struct batch *b = r->ext;
    if (!reply) {
        r->redis_failed = 1;
    } else if (reply->type == REDIS_REPLY_STRING && reply->len > 0 &&
               reply->len <= r->w->cfg->max_body_bytes) { /* see cache_read.c */
        it->voff = b->vals.len;
        it->vlen = reply->len;
        if (nc_buf_append(&b->vals, reply->str, reply->len) == 0)
            it->ok = 1;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        nc_counters_redis_error(NC_REDIS_ERR_REPLY); /* another type: a miss */
    }
    nc_cache_settle(r);
}

static void on_item_pttl(void *priv, redisReply *reply)
{
    struct batch_item *it = priv;
    if (!reply)
        it->r->redis_failed = 1;
    else if (reply->type == REDIS_REPLY_INTEGER)
        it->pttl = reply->integer;
    nc_cache_settle(it->r);
}

static void on_item_set(void *priv, redisReply *reply)
{
    struct batch_item *it = priv;
    nc_cache_near_drop(it->r, it->key, (size_t)it->keylen); /* see cache_write.c's on_set */
    if (!reply)
        it->r->redis_failed = 1;
    else if (reply->type == REDIS_REPLY_STATUS)
        it->ok = 1;
    else
        nc_counters_redis_error(NC_REDIS_ERR_REPLY); /* e.g. OOM: this item not stored */
    nc_cache_settle(it->r);
}

/* ------------------------------------------------------------ requests */

/* A 400 that names the item. */
static enum MHD_Result item_error(struct nc_req *r, int i, const struct nc_cache_err *e)
{
    struct nc_cache_err named = *e;
    int p = snprintf(named.detail, sizeof named.detail, "items[%d]: ", i);
    size_t room = sizeof named.detail - (size_t)p - 1;
    size_t dl = strnlen(e->detail, room);
    memcpy(named.detail + p, e->detail, dl); /* cut if it must be: it is a message */
    named.detail[(size_t)p + dl] = '\0';
    return nc_cache_err_reply(r, &named);
}

/* The items array of the body, or NULL after queueing a 400. */
static const struct nc_json *batch_items(struct nc_req *r, const struct nc_json *root,
                                         enum MHD_Result *ret)
{
    const struct nc_json *items = NULL;
    if (root->type == NC_JSON_OBJECT && root->count == 1 && strcmp(root->child->key, "items") == 0)
        items = root->child;
    if (!items || items->type != NC_JSON_ARRAY) {
        *ret = nc_req_problem(r, 400, "invalid_body", "Bad Request",
                              "The body must be {\"items\": [...]}.");
        return NULL;
    }
    if (items->count > (size_t)r->w->cfg->batch_max_items) {
        char d[96];
        snprintf(d, sizeof d, "At most %d items per call (BATCH_MAX_ITEMS).",
                 r->w->cfg->batch_max_items);
        *ret = nc_req_problem(r, 400, "too_many_items", "Bad Request", d);
        return NULL;
    }
    return items;
}

/* Checks one _mget item and derives its key. */
static int mget_item(struct nc_req *r, const struct nc_json *obj, struct nc_cache_err *e)
{
    const struct nc_json *q = NULL, *params = NULL, *ctx = NULL;
    if (obj->type != NC_JSON_OBJECT)
        return nc_cache_err_set(e, 400, "invalid_body", "An item must be a JSON object.");
    for (const struct nc_json *m = obj->child; m; m = m->next) {
        if (strcmp(m->key, "q") == 0)
            q = m;
        else if (strcmp(m->key, "params") == 0)
            params = m;
        else if (strcmp(m->key, "ctx") == 0)
            ctx = m;
        else
            return nc_cache_err_set(e, 400, "invalid_body",
                                    "Unknown member: only q, params and ctx are accepted.");
    }
    return nc_cache_key_item(r, q, params, ctx, e);
}

static enum MHD_Result batch_bypass(struct nc_req *r);

enum MHD_Result nc_cache_batch_start(struct nc_req *r)
{
    int mset = r->route == NC_ROUTE_CACHE_MSET;
    enum MHD_Result ret;
    if (r->nargs)
        return nc_req_problem(r, 400, "unknown_parameter", "Bad Request",
                              "Batch calls take their input from the JSON body.");
    struct nc_json_doc *doc = NULL;
    struct nc_json_err jerr;
    /* {"items": [{"params": ...}]}: two levels above an item's own limit. */
    if (nc_json_parse(r->body.data ? r->body.data : "", r->body.len, NC_CACHE_MAX_DEPTH + 2, &doc,
                      &jerr) != 0)
        return nc_req_problem(r, 400, "invalid_json", "Bad Request", jerr.msg);
    const struct nc_json *items = batch_items(r, nc_json_root(doc), &ret);
    if (!items) {
        nc_json_doc_free(doc);
        return ret;
    }
    int n = (int)items->count;
    struct batch *b = calloc(1, sizeof *b + (size_t)n * sizeof b->items[0]);
    if (!b) {
        nc_json_doc_free(doc);
        return nc_req_problem(r, 503, "out_of_memory", "Service Unavailable", "Out of memory.");
    }
    r->ext = b;
    b->n = n;
    nc_buf_init(&b->vals);

    /* Every item is checked (and keyed) before anything is sent. */
    struct nc_cache_err e;
    int i = 0;
    for (const struct nc_json *o = items->child; o; o = o->next, i++) {
        struct batch_item *it = &b->items[i];
        struct nc_cache_item ci;
        it->r = r;
        it->pttl = -1;
        int rc = mset ? (nc_cache_put_members(o, &ci, &e) || nc_cache_put_check(r, &ci, &e))
                      : mget_item(r, o, &e);
        if (rc != 0) {
            nc_json_doc_free(doc);
            return item_error(r, i, &e);
        }
        memcpy(it->key, r->key, (size_t)r->keylen + 1);
        it->keylen = r->keylen;
        it->ttl = r->ttl;
        if (mset) {
            it->voff = b->vals.len;
            if (nc_json_compact(ci.value, &b->vals) != 0) {
                nc_json_doc_free(doc);
                return nc_req_problem(r, 503, "out_of_memory", "Service Unavailable",
                                      "Out of memory.");
            }
            it->vlen = b->vals.len - it->voff;
        }
    }
    r->keylen = 0; /* many keys: none in X-Cache-Key or the access log */
    if (!r->w->cfg->redis_enabled || n == 0) {
        nc_json_doc_free(doc);
        return n == 0 ? nc_cache_batch_finish(r) : batch_bypass(r);
    }

    char end[24];
    int endlen = snprintf(end, sizeof end, "%zu", r->w->cfg->max_body_bytes);
    /* Send. The values stay in b->vals (hiredis copies the command when it
     * is queued, so the buffer may grow afterwards). */
    int sent = 0, near = 0;
    i = 0;
    for (const struct nc_json *o = items->child; o; o = o->next, i++) {
        struct batch_item *it = &b->items[i];
        int rc;
        if (mset) {
            if (r->redis_failed)
                break;
            struct nc_cache_item ci;
            nc_cache_put_members(o, &ci, &e);
            struct nc_cache_write wr = {it->key,
                                        (size_t)it->keylen,
                                        b->vals.data + it->voff,
                                        it->vlen,
                                        it->ttl,
                                        ci.tags,
                                        NULL,
                                        0};
            rc = nc_cache_put_send(r, &wr, on_item_set, it);
        } else {
            long long ttl;
            uint64_t etag;
            if (nc_cache_near_lookup(r, it->key, (size_t)it->keylen, &r->scratch, &ttl, &etag) ==
                    1 &&
                nc_buf_append(&b->vals, r->scratch.data, r->scratch.len) == 0) {
                /* Served from memory, as a Redis read would be (and while
                 * Redis is unavailable too). */
                it->voff = b->vals.len - r->scratch.len;
                it->vlen = r->scratch.len;
                it->pttl = ttl;
                it->ok = it->near = 1;
                near++;
                continue;
            }
            if (r->redis_failed)
                continue; /* Redis refused: the rest only from the near cache */
            const char *argv[4] = {"GETRANGE", it->key, "0", end};
            size_t lens[4] = {8, (size_t)it->keylen, 1, (size_t)endlen};
            const char *pargv[2] = {"PTTL", it->key};
            size_t plens[2] = {4, (size_t)it->keylen};
            nc_cache_near_read_begin_for(r, it->key, (size_t)it->keylen, &it->rd);
            rc = nc_cache_issue_for(r, on_item_get, it, 4, argv, lens);
            if (rc == 0 && nc_cache_issue_for(r, on_item_pttl, it, 2, pargv, plens) != 0)
                r->redis_failed = 1;
            nc_cache_near_read_sent_for(r, &it->rd);
        }
        if (rc != 0) {
            r->redis_failed = 1;
            continue;
        }
        sent++;
    }
    if (!sent && near && !r->redis_failed) {
        nc_json_doc_free(doc);
        return nc_cache_batch_finish(r);
    }
    nc_json_doc_free(doc);
    if (!sent)
        return batch_bypass(r);
    nc_req_suspend(r);
    return MHD_YES;
}

/* --------------------------------------------------------------- answer */

static enum MHD_Result batch_bypass(struct nc_req *r)
{
    struct batch *b = r->ext;
    for (int i = 0; i < b->n; i++)
        b->items[i].ok = b->items[i].near; /* near hits stand */
    r->redis_failed = 1;
    return nc_cache_batch_finish(r);
}

enum MHD_Result nc_cache_batch_finish(struct nc_req *r)
{
    struct batch *b = r->ext;
    int mset = r->route == NC_ROUTE_CACHE_MSET;
    int bypass = r->redis_failed == 1;
    nc_buf_reset(&r->out);
    int rc = nc_buf_appends(&r->out, "{\"results\":[");
    for (int i = 0; i < b->n && rc == 0; i++) {
        struct batch_item *it = &b->items[i];
        const char *value = b->vals.data + it->voff;
        int hit = it->ok && (!bypass || it->near);
        if (!mset && hit) {
            /* Another client may have written something that is not JSON:
             * embedding it would break the whole answer, so it is a miss. */
            struct nc_json_doc *vd = NULL;
            hit = nc_json_parse(value, it->vlen, 1000, &vd, NULL) == 0;
            nc_json_doc_free(vd);
        }
        if (!mset && hit && !it->near && !bypass)
            nc_cache_near_put(r, &it->rd, it->key, (size_t)it->keylen, value, it->vlen, it->pttl,
                              nc_key_etag_hash(value, it->vlen));
        if (!mset)
            nc_counters_cache(r->w->counters, r->ns,
                              hit      ? NC_RES_HIT
                              : bypass ? NC_RES_BYPASS
                                       : NC_RES_MISS);
        rc |= nc_buf_appends(&r->out, i ? ",{\"key\":" : "{\"key\":");
        rc |= nc_jsonstr_append(&r->out, it->key, (size_t)it->keylen, 0);
        if (mset) {
            rc |= nc_buf_appends(&r->out, hit ? ",\"stored\":true}" : ",\"stored\":false}");
        } else if (!hit) {
            rc |= nc_buf_appends(&r->out, ",\"hit\":false}");
        } else {
            rc |= nc_buf_appends(&r->out, ",\"hit\":true,\"value\":");
            rc |= nc_buf_append(&r->out, value, it->vlen);
            if (it->pttl >= 0)
                rc |= nc_buf_printf(&r->out, ",\"ttl\":%lld", it->pttl / 1000);
            rc |= nc_buf_appendc(&r->out, '}');
        }
    }
    rc |= nc_buf_appends(&r->out, "]}");
    if (bypass)
        r->cache = "BYPASS";
    return nc_req_reply_built(r, rc, 200, "application/json");
}
