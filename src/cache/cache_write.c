/* cache_write.c - PUT /cache/<ns>: the body's q or params (and ctx) name
 * the entry, its value is stored as compact JSON with one SET ... EX (there
 * is no entry without a TTL); with tags, one script also adds the key to
 * each tag's index. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normcache/clock.h"
#include "normcache/counters.h"
#include "normcache/key.h"
#include "normcache/log.h"

#include "cache_int.h"

static void on_set(void *priv, redisReply *reply)
{
    struct nc_req *r = priv;
    /* Whatever the reply (a timed-out SET may still have happened), no
     * near hit may return the value this write replaced. */
    nc_cache_near_drop(r, r->key, (size_t)r->keylen);
    if (!reply)
        r->redis_failed = 1;
    else if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "LEASELOST", 9) == 0)
        r->flags |= NC_CACHE_F_LEASE_LOST;
    else if (reply->type != REDIS_REPLY_STATUS) {
        /* e.g. OOM with a noeviction Redis: not stored, and say so */
        nc_counters_redis_error(NC_REDIS_ERR_REPLY);
        nc_logf(NC_LOG_WARN, "redis refused a SET: %.*s",
                reply->type == REDIS_REPLY_ERROR ? (int)(reply->len > 200 ? 200 : reply->len) : 0,
                reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        r->redis_failed = 2;
    }
    nc_cache_settle(r);
}

static enum MHD_Result put_reply_bypass(struct nc_req *r)
{
    r->cache = "BYPASS";
    nc_buf_reset(&r->out);
    int rc = nc_buf_printf(&r->out, "{\"key\":\"%s\",\"stored\":false}", r->key);
    return nc_req_reply_built(r, rc, 200, "application/json");
}

/* A write with tags or a lease token, in one atomic step: with a token,
 * only while it holds the lease (else the error LEASELOST); the value with
 * an absolute expiry (PXAT) that is also its score in each tag's index, so
 * a tag delete can tell an entry that still carries the tag (same expiry)
 * from one written again since without it; dead index members trimmed and
 * the index expiring with its longest-lived member, so it never outlives
 * what it names; then the key's lease removed and its waiters woken.
 * KEYS: key, its lease, tag indexes. ARGV: token or "", value, ttl,
 * wake-up channel, and in cluster mode the absolute expiry (the indexes,
 * in other slots, are then written by tag_add_script: one command per
 * index, not atomic with the value). */
static const char write_script[] =
    "if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then "
    "  return redis.error_reply('LEASELOST the lease is not held') end "
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "local exp = ARGV[5] and tonumber(ARGV[5]) or now + tonumber(ARGV[3]) * 1000 "
    "redis.call('SET', KEYS[1], ARGV[2], 'PXAT', exp) "
    "for i = 3, #KEYS do "
    "  redis.call('ZADD', KEYS[i], exp, KEYS[1]) "
    "  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now) "
    "  local top = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES') "
    "  redis.call('PEXPIREAT', KEYS[i], top[2]) "
    "end "
    "if redis.call('DEL', KEYS[2]) == 1 then redis.call('PUBLISH', ARGV[4], KEYS[1]) end "
    "return redis.status_reply('OK')";

/* Cluster mode: one tag index (its own slot) gains the key. KEYS: the
 * index. ARGV: expiry (ms since the epoch), key. */
static const char tag_add_script[] =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
    "local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES') "
    "if top[2] then redis.call('PEXPIREAT', KEYS[1], top[2]) end "
    "return 1";

int nc_cache_put_members(const struct nc_json *obj, struct nc_cache_item *it,
                         struct nc_cache_err *e)
{
    static const char *const names[] = {"q", "params", "ctx", "value", "ttl", "tags"};
    const struct nc_json **slots[] = {&it->q,     &it->params, &it->ctx,
                                      &it->value, &it->ttl,    &it->tags};
    memset(it, 0, sizeof *it);
    if (obj->type != NC_JSON_OBJECT)
        return nc_cache_err_set(e, 400, "invalid_body", "An entry must be a JSON object.");
    for (const struct nc_json *m = obj->child; m; m = m->next) {
        size_t i = 0;
        while (i < sizeof names / sizeof names[0] && strcmp(m->key, names[i]) != 0)
            i++;
        if (i == sizeof names / sizeof names[0])
            return nc_cache_err_set(e, 400, "invalid_body",
                                    "Unknown member: only q, params, ctx, value, ttl and tags are "
                                    "accepted.");
        *slots[i] = m;
    }
    return 0;
}

int nc_cache_put_check(struct nc_req *r, const struct nc_cache_item *it, struct nc_cache_err *e)
{
    const struct nc_config *cfg = r->w->cfg;
    if (!it->value)
        return nc_cache_err_set(e, 400, "missing_value", "The entry needs a value (any JSON).");
    r->ttl = nc_config_ns_ttl(cfg, r->ns);
    if (it->ttl) {
        const struct nc_json *ttl = it->ttl;
        long long t = -1;
        int is_int = ttl->type == NC_JSON_NUMBER && !strpbrk(ttl->str, ".eE") && ttl->len < 12;
        if (is_int)
            t = strtoll(ttl->str, NULL, 10);
        if (!is_int || t < 1 || t > cfg->max_ttl_s) {
            char d[128];
            snprintf(d, sizeof d, "ttl must be a JSON integer from 1 to %d.", cfg->max_ttl_s);
            return nc_cache_err_set(e, 400, "invalid_ttl", d);
        }
        r->ttl = (int)t;
    }
    if (it->tags) {
        int n = 0, ok = it->tags->type == NC_JSON_ARRAY;
        for (const struct nc_json *t = ok ? it->tags->child : NULL; t && ok; t = t->next, n++)
            ok = n < NC_CACHE_MAX_TAGS && t->type == NC_JSON_STRING && nc_tag_valid(t->str, t->len);
        if (!ok)
            return nc_cache_err_set(e, 400, "invalid_tags",
                                    "tags must be an array of at most 32 strings matching "
                                    "[A-Za-z0-9_.:-]{1,128}.");
    }
    if (it->params && it->params->type != NC_JSON_OBJECT)
        return nc_cache_err_set(e, 400, "invalid_params", "params must be a JSON object.");
    return nc_cache_key_item(r, it->q, it->params, it->ctx, e);
}

int nc_cache_put_send(struct nc_req *r, const struct nc_cache_write *wr, nc_store_cb *cb,
                      void *priv)
{
    char ttlbuf[16];
    int tl = snprintf(ttlbuf, sizeof ttlbuf, "%d", wr->ttl);
    if ((!wr->tags || !wr->tags->child) && !wr->token) {
        /* The common write stays one plain SET ... EX, and ends any lease
         * on the key with a plain UNLINK in the same write: a script here
         * cost a sixth of PUT throughput. Waiters of that lease (a rare
         * case: someone wrote without it) see the value at their next
         * re-check; the holder's own write wakes them at once. */
        char lk[NC_KEY_MAX];
        int lkl = nc_cache_lease_key(wr->key, wr->keylen, lk);
        const char *argv[5] = {"SET", wr->key, wr->value, "EX", ttlbuf};
        size_t lens[5] = {3, wr->keylen, wr->vlen, 2, (size_t)tl};
        const char *uargv[2] = {"UNLINK", lk};
        size_t ulens[2] = {6, (size_t)lkl};
        if (lkl < 0 || nc_cache_issue_for(r, cb, priv, 5, argv, lens) != 0)
            return -1;
        if (nc_cache_issue_for(r, nc_cache_on_settle, r, 2, uargv, ulens) != 0)
            r->redis_failed = 1;
        return 0;
    }
    enum { MAXARGS = 3 + 2 + NC_CACHE_MAX_TAGS + 4 };
    char tagkeys[NC_CACHE_MAX_TAGS][NC_KEY_MAX], lk[NC_KEY_MAX], ch[NC_CACHE_CHANNEL_MAX];
    const char *argv[MAXARGS];
    size_t lens[MAXARGS];
    char nkeys[8];
    int lkl = nc_cache_lease_key(wr->key, wr->keylen, lk);
    if (lkl < 0)
        return -1;
    int argc = 0, nt = 0;
    argv[argc] = "EVAL";
    lens[argc++] = 4;
    argv[argc] = write_script;
    lens[argc++] = sizeof write_script - 1;
    argc++; /* numkeys, below */
    argv[argc] = wr->key;
    lens[argc++] = wr->keylen;
    argv[argc] = lk;
    lens[argc++] = (size_t)lkl;
    for (const struct nc_json *t = wr->tags ? wr->tags->child : NULL; t && nt < NC_CACHE_MAX_TAGS;
         t = t->next) {
        int kl = nc_cache_tag_key(r, t->str, t->len, tagkeys[nt]);
        if (kl < 0)
            return -1;
        argv[argc] = tagkeys[nt++];
        lens[argc++] = (size_t)kl;
    }
    int cluster = nc_cache_cluster(r);
    argv[2] = nkeys;
    lens[2] = (size_t)snprintf(nkeys, sizeof nkeys, "%d", cluster ? 2 : 2 + nt);
    if (cluster)
        argc -= nt; /* the indexes are not KEYS of this script: sent apart below */
    argv[argc] = wr->token ? wr->token : "";
    lens[argc++] = wr->token ? wr->toklen : 0;
    argv[argc] = wr->value;
    lens[argc++] = wr->vlen;
    argv[argc] = ttlbuf;
    lens[argc++] = (size_t)tl;
    argv[argc] = ch;
    lens[argc++] = (size_t)nc_cache_lease_channel(r->w->cfg, wr->key, ch);
    if (!cluster)
        return nc_cache_issue_for(r, cb, priv, argc, argv, lens);
    /* Cluster: the expiry is fixed here (this host's clock) so that the
     * value and every index agree on it. */
    char exp[24];
    argv[argc] = exp;
    lens[argc++] = (size_t)snprintf(exp, sizeof exp, "%lld",
                                    (long long)nc_wall_ms() + (long long)wr->ttl * 1000);
    if (nc_cache_issue_for(r, cb, priv, argc, argv, lens) != 0)
        return -1;
    for (int i = 0; i < nt; i++) {
        const char *targv[6] = {"EVAL", tag_add_script, "1", tagkeys[i], exp, wr->key};
        size_t tlens[6] = {
            4, sizeof tag_add_script - 1, 1, strlen(tagkeys[i]), lens[argc - 1], wr->keylen};
        /* A failed index add leaves the entry out of that tag (README). */
        (void)nc_cache_issue_for(r, nc_cache_on_settle, r, 6, targv, tlens);
    }
    return 0;
}

enum MHD_Result nc_cache_put_start(struct nc_req *r)
{
    if (r->nargs) {
        return nc_req_problem(r, 400, "unknown_parameter", "Bad Request",
                              "PUT takes its input from the JSON body, not the query string.");
    }
    struct nc_cache_err e;
    const char *tok = NULL;
    size_t toklen = 0;
    int lease = nc_cache_lease_header(r, &tok, &toklen, &e);
    if (lease < 0)
        return nc_cache_err_reply(r, &e);
    struct nc_json_doc *doc = NULL;
    struct nc_json_err jerr;
    /* The body wraps value/params one level deeper than their own limit. */
    if (nc_json_parse(r->body.data ? r->body.data : "", r->body.len, NC_CACHE_MAX_DEPTH + 1, &doc,
                      &jerr) != 0)
        return nc_req_problem(r, 400, "invalid_json", "Bad Request", jerr.msg);
    struct nc_cache_item it;
    if (nc_cache_put_members(nc_json_root(doc), &it, &e) != 0 ||
        nc_cache_put_check(r, &it, &e) != 0) {
        nc_json_doc_free(doc);
        return nc_cache_err_reply(r, &e);
    }
    /* The key is derived (it used scratch); the compact value replaces it. */
    nc_buf_reset(&r->scratch);
    if (nc_json_compact(it.value, &r->scratch) != 0) {
        nc_json_doc_free(doc);
        return nc_req_problem(r, 500, "internal", "Internal Error", "Out of memory.");
    }
    struct nc_cache_write wr = {r->key, (size_t)r->keylen, r->scratch.data,    r->scratch.len,
                                r->ttl, it.tags,           lease ? tok : NULL, lease ? toklen : 0};
    int sent = r->w->cfg->redis_enabled ? nc_cache_put_send(r, &wr, on_set, r) : -1;
    nc_json_doc_free(doc);
    if (sent != 0)
        return put_reply_bypass(r);
    nc_req_suspend(r);
    return MHD_YES;
}

enum MHD_Result nc_cache_put_finish(struct nc_req *r)
{
    if (r->flags & NC_CACHE_F_LEASE_LOST) {
        nc_cache_lease_lost(r);
        return nc_req_problem(r, 409, "lease_lost", "Conflict",
                              "The lease is no longer held (it expired, was released, or the "
                              "entry was written or deleted since): nothing was written.");
    }
    if (r->redis_failed)
        return put_reply_bypass(r);
    nc_buf_reset(&r->out);
    int rc = nc_buf_printf(&r->out, "{\"key\":\"%s\",\"ttl\":%d,\"stored\":true}", r->key, r->ttl);
    return nc_req_reply_built(r, rc, 200, "application/json");
}
