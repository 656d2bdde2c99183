/* cache_input.c - the key of a /cache entry from what the caller sent: a
 * query text (normalised) or params (canonical JSON), and an optional ctx
 * (canonical JSON) for what makes an answer valid besides the question. */
#include <string.h>

#include "normcache/key.h"
#include "normcache/normalise.h"
#include "normcache/utf8.h"

#include "cache_int.h"

enum MHD_Result nc_cache_too_long(struct nc_req *r)
{
    return nc_req_problem(r, 414, "query_too_long", "Query Too Long",
                          "The query text is longer than MAX_QUERY_BYTES.");
}

/* Parses a query-string JSON argument (params, ctx) into *doc: 0, or queues
 * a 4xx with the given code and returns -1. */
static int parse_arg(struct nc_req *r, const struct nc_arg *a, const char *code,
                     struct nc_json_doc **doc, enum MHD_Result *ret)
{
    struct nc_json_err jerr;
    if (a->value_len > r->w->cfg->max_query_bytes) {
        *ret = nc_cache_too_long(r);
        return -1;
    }
    if (memchr(a->value, '\0', a->value_len)) {
        *ret =
            nc_req_problem(r, 400, code, "Bad Request", "The JSON argument contains a NUL byte.");
        return -1;
    }
    if (nc_json_parse(a->value, a->value_len, NC_CACHE_MAX_DEPTH, doc, &jerr) != 0) {
        *ret = nc_req_problem(r, 400, code, "Bad Request", jerr.msg);
        return -1;
    }
    return 0;
}

/* r->scratch holds the normalised or canonical text: adds the context, then
 * hashes it into r->key.
 *
 * The context is appended as "\nctx=" + its canonical JSON. Neither a
 * normalised query (whitespace runs become one space) nor canonical JSON
 * (newlines are escaped) can hold a raw newline, so the two parts cannot be
 * confused; no ctx leaves the text, and so the key, exactly as before, and
 * ctx members in any order give one canonical text, so one entry. */
static int finish_key(struct nc_req *r, enum nc_key_kind kind, const struct nc_json *ctx,
                      enum MHD_Result *ret)
{
    const struct nc_config *cfg = r->w->cfg;
    if (ctx) {
        struct nc_json_err jerr;
        if (ctx->type != NC_JSON_OBJECT) {
            *ret =
                nc_req_problem(r, 400, "invalid_ctx", "Bad Request", "ctx must be a JSON object.");
            return -1;
        }
        size_t before = r->scratch.len;
        if (nc_buf_append(&r->scratch, "\nctx=", 5) != 0) {
            *ret = nc_req_problem(r, 500, "internal", "Internal Error", "Out of memory.");
            return -1;
        }
        if (nc_json_canonical(ctx, &r->scratch, &jerr) != 0) {
            *ret = nc_req_problem(
                r, 400, jerr.code == NC_JSON_ERR_NUMBER ? "invalid_number" : "invalid_ctx",
                "Bad Request", jerr.msg);
            return -1;
        }
        if (r->scratch.len - before - 5 > cfg->max_query_bytes) {
            *ret = nc_cache_too_long(r);
            return -1;
        }
    }
    r->keylen = nc_key_derive(cfg->key_prefix, r->ns, kind, cfg->key_secret, cfg->key_secret_len,
                              r->scratch.data, r->scratch.len, r->key);
    if (r->keylen < 0) {
        r->keylen = 0;
        *ret = nc_req_problem(r, 500, "internal", "Internal Error", "Key derivation failed.");
        return -1;
    }
    return 0;
}
int nc_cache_key_query(struct nc_req *r, const char *q, size_t qlen, const struct nc_json *ctx,
                       enum MHD_Result *ret)
{
    const struct nc_config *cfg = r->w->cfg;
    const char *err;
    if (qlen > cfg->max_query_bytes) {
        *ret = nc_cache_too_long(r);
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
    return finish_key(r, NC_KEY_QUERY, ctx, ret);
}

/* Key of a parsed params value (from the query string or a PUT body, so a
 * body is never serialised and parsed again). */
int nc_cache_key_params(struct nc_req *r, const struct nc_json *params, const struct nc_json *ctx,
                        enum MHD_Result *ret)
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
    return finish_key(r, NC_KEY_PARAMS, ctx, ret);
}

/* Query-string form: ?q= or ?params=, exactly one, and optionally ?ctx=. */
int nc_cache_key_from_args(struct nc_req *r, enum MHD_Result *ret)
{
    static const char *const names[3] = {"q", "params", "ctx"};
    const struct nc_arg *a[3];
    if (nc_req_args(r, names, a, 3) != 0) {
        *ret = nc_req_problem(r, 400, "unknown_parameter", "Bad Request",
                              "Only the query parameters q, params and ctx are accepted.");
        return -1;
    }
    const struct nc_arg *q = a[0], *p = a[1], *c = a[2];
    if ((q != NULL) == (p != NULL)) {
        *ret = nc_req_problem(r, 400, "invalid_request", "Bad Request",
                              "Give exactly one of q (a query text) and params (a JSON object).");
        return -1;
    }
    struct nc_json_doc *pdoc = NULL, *cdoc = NULL;
    int rc = -1;
    if (c && parse_arg(r, c, "invalid_ctx", &cdoc, ret) != 0)
        goto out;
    const struct nc_json *ctx = cdoc ? nc_json_root(cdoc) : NULL;
    if (q) {
        rc = nc_cache_key_query(r, q->value, q->value_len, ctx, ret);
    } else if (parse_arg(r, p, "invalid_params", &pdoc, ret) == 0) {
        rc = nc_cache_key_params(r, nc_json_root(pdoc), ctx, ret);
    }
out:
    nc_json_doc_free(pdoc);
    nc_json_doc_free(cdoc);
    return rc;
}

int nc_cache_tag_key(const struct nc_req *r, const char *tag, size_t len, char out[NC_KEY_MAX])
{
    const struct nc_config *cfg = r->w->cfg;
    return nc_key_derive(cfg->key_prefix, r->ns, NC_KEY_TAG, cfg->key_secret, cfg->key_secret_len,
                         tag, len, out);
}
