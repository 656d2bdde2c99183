/* cache_write.c - PUT /cache/<ns>: the body's q or params (and ctx) name
 * the entry, its value is stored as compact JSON with one SET ... EX (there
 * is no entry without a TTL). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normcache/counters.h"
#include "normcache/log.h"

#include "cache_int.h"

static void on_set(void *priv, redisReply *reply)
{
    struct nc_req *r = priv;
    if (!reply)
        r->redis_failed = 1;
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

enum MHD_Result nc_cache_put_start(struct nc_req *r)
{
    const struct nc_config *cfg = r->w->cfg;
    enum MHD_Result ret;
    if (r->nargs) {
        return nc_req_problem(r, 400, "unknown_parameter", "Bad Request",
                              "PUT takes its input from the JSON body, not the query string.");
    }
    struct nc_json_doc *doc = NULL;
    struct nc_json_err jerr;
    /* The body wraps value/params one level deeper than their own limit. */
    if (nc_json_parse(r->body.data ? r->body.data : "", r->body.len, NC_CACHE_MAX_DEPTH + 1, &doc,
                      &jerr) != 0)
        return nc_req_problem(r, 400, "invalid_json", "Bad Request", jerr.msg);
    const struct nc_json *root = nc_json_root(doc);
    const struct nc_json *q = NULL, *params = NULL, *value = NULL, *ttl = NULL, *ctx = NULL;
    const char *bad = NULL;
    if (root->type != NC_JSON_OBJECT)
        bad = "The body must be a JSON object.";
    else
        for (const struct nc_json *m = root->child; m && !bad; m = m->next) {
            if (strcmp(m->key, "q") == 0)
                q = m;
            else if (strcmp(m->key, "params") == 0)
                params = m;
            else if (strcmp(m->key, "value") == 0)
                value = m;
            else if (strcmp(m->key, "ttl") == 0)
                ttl = m;
            else if (strcmp(m->key, "ctx") == 0)
                ctx = m;
            else
                bad =
                    "Unknown member in the body: only q, params, ctx, value and ttl are accepted.";
        }
    if (bad) {
        nc_json_doc_free(doc);
        return nc_req_problem(r, 400, "invalid_body", "Bad Request", bad);
    }
    if (!value) {
        nc_json_doc_free(doc);
        return nc_req_problem(r, 400, "missing_value", "Bad Request",
                              "The body needs a value member (any JSON).");
    }
    if ((q != NULL) == (params != NULL)) {
        nc_json_doc_free(doc);
        return nc_req_problem(r, 400, "invalid_request", "Bad Request",
                              "Give exactly one of q (a query text) and params (a JSON object).");
    }
    if (q && q->type != NC_JSON_STRING) {
        nc_json_doc_free(doc);
        return nc_req_problem(r, 400, "invalid_request", "Bad Request", "q must be a string.");
    }
    if (params && params->type != NC_JSON_OBJECT) {
        nc_json_doc_free(doc);
        return nc_req_problem(r, 400, "invalid_params", "Bad Request",
                              "params must be a JSON object.");
    }
    r->ttl = nc_config_ns_ttl(cfg, r->ns);
    if (ttl) {
        long long t = -1;
        int is_int = ttl->type == NC_JSON_NUMBER && !strpbrk(ttl->str, ".eE") && ttl->len < 12;
        if (is_int)
            t = strtoll(ttl->str, NULL, 10);
        if (!is_int || t < 1 || t > cfg->max_ttl_s) {
            nc_json_doc_free(doc);
            char d[128];
            snprintf(d, sizeof d, "ttl must be a JSON integer from 1 to %d.", cfg->max_ttl_s);
            return nc_req_problem(r, 400, "invalid_ttl", "Bad Request", d);
        }
        r->ttl = (int)t;
    }
    /* Key first (uses scratch), then the compact value replaces it. */
    int rc = params ? nc_cache_key_params(r, params, ctx, &ret)
                    : nc_cache_key_query(r, q->str, q->len, ctx, &ret);
    /* A body's params have no text of their own: MAX_QUERY_BYTES applies to
     * their canonical form. */
    if (rc == 0 && params && r->scratch.len > cfg->max_query_bytes) {
        ret = nc_cache_too_long(r);
        rc = -1;
    }
    if (rc != 0) {
        nc_json_doc_free(doc);
        return ret;
    }
    nc_buf_reset(&r->scratch);
    rc = nc_json_compact(value, &r->scratch);
    nc_json_doc_free(doc);
    if (rc != 0)
        return nc_req_problem(r, 500, "internal", "Internal Error", "Out of memory.");
    if (!cfg->redis_enabled)
        return put_reply_bypass(r);
    char ttlbuf[16];
    int tl = snprintf(ttlbuf, sizeof ttlbuf, "%d", r->ttl);
    const char *argv[5] = {"SET", r->key, r->scratch.data, "EX", ttlbuf};
    size_t lens[5] = {3, (size_t)r->keylen, r->scratch.len, 2, (size_t)tl};
    if (nc_cache_issue(r, on_set, 5, argv, lens) != 0)
        return put_reply_bypass(r);
    nc_req_suspend(r);
    return MHD_YES;
}

enum MHD_Result nc_cache_put_finish(struct nc_req *r)
{
    if (r->redis_failed)
        return put_reply_bypass(r);
    nc_buf_reset(&r->out);
    int rc = nc_buf_printf(&r->out, "{\"key\":\"%s\",\"ttl\":%d,\"stored\":true}", r->key, r->ttl);
    return nc_req_reply_built(r, rc, 200, "application/json");
}
