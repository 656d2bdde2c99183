/* cache.c - the /cache/<ns> routes: GET (hit/miss/bypass), PUT, DELETE of
 * one entry and flush of a namespace.
 *
 * Reads and writes fail open: whatever goes wrong with Redis, a GET is a
 * 404 BYPASS and a PUT a 200 stored:false. Invalidations fail loudly (503),
 * because a caller that believes stale data is gone is worse off than one
 * that retries. */
#include "normcache/cache.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "normcache/counters.h"
#include "normcache/json.h"
#include "normcache/key.h"
#include "normcache/log.h"
#include "normcache/normalise.h"
#include "normcache/store.h"
#include "normcache/utf8.h"

#define MAX_DEPTH 32
#define SCAN_COUNT "1000"

/* ------------------------------------------------------ key from input */

static enum MHD_Result too_long(struct nc_req *r)
{
    return nc_req_problem(r, 414, "query_too_long", "Query Too Long",
                          "The query text is longer than MAX_QUERY_BYTES.");
}

/* r->scratch holds the normalised or canonical text: hash it into r->key. */
static int finish_key(struct nc_req *r, enum nc_key_kind kind, enum MHD_Result *ret)
{
    const struct nc_config *cfg = r->w->cfg;
    r->keylen = nc_key_derive(cfg->key_prefix, r->ns, kind, cfg->key_secret, cfg->key_secret_len,
                              r->scratch.data, r->scratch.len, r->key);
    if (r->keylen < 0) {
        r->keylen = 0;
        *ret = nc_req_problem(r, 500, "internal", "Internal Error", "Key derivation failed.");
        return -1;
    }
    return 0;
}

/* Key of a query text. 0, or queues a 4xx and returns -1 (*ret holds the
 * handler result). */
static int key_from_query(struct nc_req *r, const char *q, size_t qlen, enum MHD_Result *ret)
{
    const struct nc_config *cfg = r->w->cfg;
    const char *err;
    if (qlen > cfg->max_query_bytes) {
        *ret = too_long(r);
        return -1;
    }
    if (memchr(q, '\0', qlen) || !nc_utf8_valid(q, qlen)) {
        *ret = nc_req_problem(r, 400, "invalid_utf8", "Bad Request",
                              "The query text is not valid UTF-8 or contains NUL.");
        return -1;
    }
    if (nc_normalise(nc_config_ns_norm(cfg, r->ns), q, qlen, &r->scratch, &err) != 0) {
        *ret = nc_req_problem(r, 400, "invalid_utf8", "Bad Request", err);
        return -1;
    }
    if (r->scratch.len == 0) {
        *ret = nc_req_problem(r, 400, "empty_query", "Bad Request",
                              "The query text is empty once normalised.");
        return -1;
    }
    return finish_key(r, NC_KEY_QUERY, ret);
}

/* Key of a parsed params value (from the query string or a PUT body, so a
 * body is never serialised and parsed again). */
static int key_from_params(struct nc_req *r, const struct nc_json *params, enum MHD_Result *ret)
{
    struct nc_json_err jerr;
    nc_buf_reset(&r->scratch);
    if (params->type != NC_JSON_OBJECT) {
        *ret = nc_req_problem(r, 400, "invalid_params", "Bad Request",
                              "params must be a JSON object.");
        return -1;
    }
    if (nc_json_canonical(params, &r->scratch, &jerr) != 0) {
        *ret = nc_req_problem(r, 400,
                              jerr.code == NC_JSON_ERR_NUMBER ? "invalid_number" : "invalid_params",
                              "Bad Request", jerr.msg);
        return -1;
    }
    return finish_key(r, NC_KEY_PARAMS, ret);
}

/* Query-string form: ?q= or ?params=, exactly one, nothing else. */
static int derive_from_args(struct nc_req *r, enum MHD_Result *ret)
{
    static const char *const names[2] = {"q", "params"};
    const struct nc_arg *a[2];
    if (nc_req_args(r, names, a, 2) != 0) {
        *ret = nc_req_problem(r, 400, "unknown_parameter", "Bad Request",
                              "Only the query parameters q and params are accepted.");
        return -1;
    }
    const struct nc_arg *q = a[0], *p = a[1];
    if ((q != NULL) == (p != NULL)) {
        *ret = nc_req_problem(r, 400, "invalid_request", "Bad Request",
                              "Give exactly one of q (a query text) and params (a JSON object).");
        return -1;
    }
    if (q)
        return key_from_query(r, q->value, q->value_len, ret);
    if (p->value_len > r->w->cfg->max_query_bytes) {
        *ret = too_long(r);
        return -1;
    }
    struct nc_json_doc *doc = NULL;
    struct nc_json_err jerr;
    if (memchr(p->value, '\0', p->value_len) ||
        nc_json_parse(p->value, p->value_len, MAX_DEPTH, &doc, &jerr) != 0) {
        *ret = nc_req_problem(r, 400, "invalid_params", "Bad Request",
                              memchr(p->value, '\0', p->value_len) ? "params contains a NUL byte."
                                                                   : jerr.msg);
        return -1;
    }
    int rc = key_from_params(r, nc_json_root(doc), ret);
    nc_json_doc_free(doc);
    return rc;
}

/* ------------------------------------------------------ Redis plumbing */

static int issue(struct nc_req *r, nc_store_cb *cb, int argc, const char **argv, const size_t *lens)
{
    if (nc_store_command(r->w->store, cb, r, argc, argv, lens) != 0)
        return -1;
    r->outstanding++;
    return 0;
}

/* Every callback ends here: the last outstanding reply resumes. */
static void settle(struct nc_req *r)
{
    if (--r->outstanding == 0 && r->state == NC_REQ_WAITING)
        nc_req_resume(r);
}

/* The reply of GETRANGE key 0 MAX_BODY_BYTES: at most one byte more than a
 * PUT could store, so that a huge value written by another client costs no
 * more than that to read. "" is a missing key (no stored value is empty). */
static void on_get(void *priv, redisReply *reply)
{
    struct nc_req *r = priv;
    if (!reply)
        r->redis_failed = 1;
    else if (reply->type == REDIS_REPLY_STRING && reply->len > r->w->cfg->max_body_bytes) {
        nc_logf(NC_LOG_WARN, "redis value under %s is larger than MAX_BODY_BYTES: a miss", r->key);
    } else if (reply->type == REDIS_REPLY_STRING && reply->len > 0) {
        nc_buf_reset(&r->out);
        if (nc_buf_append(&r->out, reply->str, reply->len) == 0)
            r->have_value = 1;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        /* WRONGTYPE and friends: somebody else's data; a miss, not a crash. */
        nc_counters_redis_error(NC_REDIS_ERR_REPLY);
        nc_logf(NC_LOG_WARN, "redis value under %s is not a string: a miss", r->key);
    }
    settle(r);
}

static void on_integer(void *priv, redisReply *reply)
{
    struct nc_req *r = priv;
    if (!reply)
        r->redis_failed = 1;
    else if (reply->type == REDIS_REPLY_INTEGER)
        r->num = reply->integer;
    else if (reply->type == REDIS_REPLY_ERROR)
        r->redis_failed = 2;
    settle(r);
}

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
    settle(r);
}

static void on_unlink(void *priv, redisReply *reply)
{
    struct nc_req *r = priv;
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        r->redis_failed = 1;
    else if (reply->type == REDIS_REPLY_INTEGER)
        r->deleted += reply->integer;
    settle(r);
}

static void issue_scan(struct nc_req *r);

static void on_scan(void *priv, redisReply *reply)
{
    struct nc_req *r = priv;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_ARRAY || reply->element[0]->len >= 24) {
        r->redis_failed = 1;
        settle(r);
        return;
    }
    if (!r->redis_failed) {
        redisReply *keys = reply->element[1];
        if (keys->elements) {
            /* argv points into the reply: hiredis formats (copies) the
             * command before this callback returns. */
            size_t n = keys->elements + 1;
            const char **argv = malloc(n * sizeof *argv);
            size_t *lens = malloc(n * sizeof *lens);
            if (!argv || !lens)
                r->redis_failed = 1;
            else {
                argv[0] = "UNLINK";
                lens[0] = 6;
                for (size_t i = 0; i < keys->elements; i++) {
                    argv[i + 1] = keys->element[i]->str;
                    lens[i + 1] = keys->element[i]->len;
                }
                if (issue(r, on_unlink, (int)n, argv, lens) != 0)
                    r->redis_failed = 1;
            }
            free(argv);
            free(lens);
        }
        memcpy(r->cursor, reply->element[0]->str, reply->element[0]->len);
        r->cursor[reply->element[0]->len] = '\0';
        if (strcmp(r->cursor, "0") != 0 && !r->redis_failed)
            issue_scan(r);
    }
    settle(r);
}

static void issue_scan(struct nc_req *r)
{
    const struct nc_config *cfg = r->w->cfg;
    /* prefix and ns are [A-Za-z0-9_-]: no glob metacharacters, so the
     * pattern matches this namespace's keys and nothing else. */
    char pattern[NC_KEY_MAX];
    int plen = snprintf(pattern, sizeof pattern, "%s:%s:*", cfg->key_prefix, r->ns);
    const char *argv[6] = {"SCAN", r->cursor, "MATCH", pattern, "COUNT", SCAN_COUNT};
    size_t lens[6] = {4, strlen(r->cursor), 5, (size_t)plen, 5, strlen(SCAN_COUNT)};
    if (issue(r, on_scan, 6, argv, lens) != 0)
        r->redis_failed = 1;
}

/* ------------------------------------------------------------ routes */

static enum MHD_Result bypass_get(struct nc_req *r)
{
    r->cache = "BYPASS";
    nc_counters_cache(r->w->counters, r->ns, NC_RES_BYPASS);
    return nc_req_problem(r, 404, "cache_miss", "Not Found",
                          "Redis is unavailable; the entry could not be read.");
}

static enum MHD_Result get_start(struct nc_req *r)
{
    enum MHD_Result ret;
    if (derive_from_args(r, &ret) != 0)
        return ret;
    char end[24];
    int endlen = snprintf(end, sizeof end, "%zu", r->w->cfg->max_body_bytes);
    const char *argv[4] = {"GETRANGE", r->key, "0", end};
    size_t lens[4] = {8, (size_t)r->keylen, 1, (size_t)endlen};
    const char *pargv[2] = {"PTTL", r->key};
    size_t plens[2] = {4, (size_t)r->keylen};
    if (issue(r, on_get, 4, argv, lens) != 0)
        return bypass_get(r);
    /* Both go out in the same write, and the store cannot refuse the
     * second after taking the first within one pass. */
    if (issue(r, on_integer, 2, pargv, plens) != 0)
        r->redis_failed = 1;
    nc_req_suspend(r);
    return MHD_YES;
}

static enum MHD_Result get_finish(struct nc_req *r)
{
    if (r->redis_failed == 1)
        return bypass_get(r);
    if (!r->have_value) {
        r->cache = "MISS";
        nc_counters_cache(r->w->counters, r->ns, NC_RES_MISS);
        return nc_req_problem(r, 404, "cache_miss", "Not Found", "No entry for this key.");
    }
    r->cache = "HIT";
    nc_counters_cache(r->w->counters, r->ns, NC_RES_HIT);
    char v[64];
    if (r->num >= 0)
        snprintf(v, sizeof v, "max-age=%lld", r->num / 1000);
    else
        snprintf(v, sizeof v, "no-cache"); /* written elsewhere without a TTL */
    nc_req_header(r, "Cache-Control", v);
    snprintf(v, sizeof v, "\"%016llx\"",
             (unsigned long long)nc_key_etag_hash(r->out.data, r->out.len));
    nc_req_header(r, "ETag", v);
    const char *inm = nc_req_hdr(r, "If-None-Match");
    if (inm && (strstr(inm, v) || strcmp(inm, "*") == 0)) {
        nc_buf_reset(&r->out);
        return nc_req_reply(r, 304, NULL);
    }
    return nc_req_reply(r, 200, "application/json");
}

static int ctype_is_json(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    return strncasecmp(ct, "application/json", n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static enum MHD_Result put_reply_bypass(struct nc_req *r)
{
    r->cache = "BYPASS";
    nc_buf_reset(&r->out);
    int rc = nc_buf_printf(&r->out, "{\"key\":\"%s\",\"stored\":false}", r->key);
    return nc_req_reply_built(r, rc, 200, "application/json");
}

static enum MHD_Result put_start(struct nc_req *r)
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
    if (nc_json_parse(r->body.data ? r->body.data : "", r->body.len, MAX_DEPTH + 1, &doc, &jerr) !=
        0)
        return nc_req_problem(r, 400, "invalid_json", "Bad Request", jerr.msg);
    const struct nc_json *root = nc_json_root(doc);
    const struct nc_json *q = NULL, *params = NULL, *value = NULL, *ttl = NULL;
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
            else
                bad = "Unknown member in the body: only q, params, value and ttl are accepted.";
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
    int rc = params ? key_from_params(r, params, &ret) : key_from_query(r, q->str, q->len, &ret);
    /* A body's params have no text of their own: MAX_QUERY_BYTES applies to
     * their canonical form. */
    if (rc == 0 && params && r->scratch.len > cfg->max_query_bytes) {
        ret = too_long(r);
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
    if (issue(r, on_set, 5, argv, lens) != 0)
        return put_reply_bypass(r);
    nc_req_suspend(r);
    return MHD_YES;
}

static enum MHD_Result put_finish(struct nc_req *r)
{
    if (r->redis_failed)
        return put_reply_bypass(r);
    nc_buf_reset(&r->out);
    int rc = nc_buf_printf(&r->out, "{\"key\":\"%s\",\"ttl\":%d,\"stored\":true}", r->key, r->ttl);
    return nc_req_reply_built(r, rc, 200, "application/json");
}

static enum MHD_Result unavailable(struct nc_req *r)
{
    nc_req_header(r, "Retry-After", "1");
    return nc_req_problem(
        r, 503, "redis_unavailable", "Service Unavailable",
        "Redis did not confirm the invalidation (it may not have happened). Retry.");
}

static enum MHD_Result delete_start(struct nc_req *r)
{
    enum MHD_Result ret;
    if (r->nargs == 0) {
        r->route = NC_ROUTE_CACHE_FLUSH;
        if (!r->w->cfg->redis_enabled)
            return unavailable(r);
        strcpy(r->cursor, "0");
        issue_scan(r);
        if (r->redis_failed)
            return unavailable(r);
        nc_req_suspend(r);
        return MHD_YES;
    }
    if (derive_from_args(r, &ret) != 0)
        return ret;
    if (!r->w->cfg->redis_enabled)
        return unavailable(r);
    const char *argv[2] = {"UNLINK", r->key};
    size_t lens[2] = {6, (size_t)r->keylen};
    if (issue(r, on_integer, 2, argv, lens) != 0)
        return unavailable(r);
    nc_req_suspend(r);
    return MHD_YES;
}

static enum MHD_Result delete_finish(struct nc_req *r)
{
    if (r->redis_failed)
        return unavailable(r);
    nc_buf_reset(&r->out);
    int rc = nc_buf_printf(&r->out, "{\"deleted\":%lld}",
                           r->route == NC_ROUTE_CACHE_FLUSH ? r->deleted : r->num);
    return nc_req_reply_built(r, rc, 200, "application/json");
}

/* Checks made once, before any body is read: namespace, then for PUT the
 * media type and announced size. */
static enum MHD_Result cache_head(struct nc_req *r)
{
    const char *ns = r->uri.data + 7; /* after "/cache/" */
    size_t nslen = r->path_len - 7;
    if (!nc_ns_valid(ns, nslen))
        return nc_req_problem(r, 400, "invalid_namespace", "Bad Request",
                              "The namespace must match [A-Za-z0-9_-]{1,64}.");
    memcpy(r->ns, ns, nslen);
    r->ns[nslen] = '\0';
    if (r->route != NC_ROUTE_CACHE_PUT)
        return MHD_YES;
    if (!ctype_is_json(nc_req_hdr(r, MHD_HTTP_HEADER_CONTENT_TYPE)))
        return nc_req_problem(r, 415, "unsupported_media_type", "Unsupported Media Type",
                              "PUT bodies must be application/json.");
    const char *cl = nc_req_hdr(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > r->w->cfg->max_body_bytes) {
        /* Refused before a byte of it is read; the connection closes. */
        nc_req_header(r, "Connection", "close");
        return nc_req_problem(r, 413, "body_too_large", "Content Too Large",
                              "The body is larger than MAX_BODY_BYTES.");
    }
    return MHD_YES;
}

static enum MHD_Result cache_start(struct nc_req *r)
{
    switch (r->route) {
    case NC_ROUTE_CACHE_GET:
        return get_start(r);
    case NC_ROUTE_CACHE_PUT:
        return put_start(r);
    default:
        return delete_start(r);
    }
}

static enum MHD_Result cache_resume(struct nc_req *r)
{
    switch (r->route) {
    case NC_ROUTE_CACHE_GET:
        return get_finish(r);
    case NC_ROUTE_CACHE_PUT:
        return put_finish(r);
    default:
        return delete_finish(r);
    }
}

const struct nc_handler nc_cache_handler = {
    .head = cache_head,
    .start = cache_start,
    .resume = cache_resume,
};
