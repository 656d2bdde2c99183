/* cache_input.c - the key of a /cache entry from what the caller sent: a
 * query text (normalised) or params (canonical JSON), and an optional ctx
 * (canonical JSON) for what makes an answer valid besides the question.
 *
 * Failures are described in a struct nc_cache_err rather than answered at
 * once, so that a batch can say which item was wrong. */
#include <stdio.h>
#include <string.h>

#include "normcache/key.h"
#include "normcache/normalise.h"
#include "normcache/utf8.h"

#include "cache_int.h"

int nc_cache_err_set(struct nc_cache_err *e, int status, const char *code, const char *detail)
{
    e->status = status;
    e->code = code;
    snprintf(e->detail, sizeof e->detail, "%s", detail);
    return -1;
}

enum MHD_Result nc_cache_err_reply(struct nc_req *r, const struct nc_cache_err *e)
{
    const char *title = e->status == 414   ? "Query Too Long"
                        : e->status >= 500 ? "Internal Error"
                                           : "Bad Request";
    return nc_req_problem(r, e->status, e->code, title, e->detail);
}

static int too_long(struct nc_cache_err *e)
{
    return nc_cache_err_set(e, 414, "query_too_long",
                            "The query text is longer than MAX_QUERY_BYTES.");
}

/* Parses a query-string JSON argument (params, ctx) into *doc: 0, or -1
 * with e (code as given). */
static int parse_arg(const struct nc_req *r, const struct nc_arg *a, const char *code,
                     struct nc_json_doc **doc, struct nc_cache_err *e)
{
    struct nc_json_err jerr;
    if (a->value_len > r->w->cfg->max_query_bytes)
        return too_long(e);
    if (memchr(a->value, '\0', a->value_len))
        return nc_cache_err_set(e, 400, code, "The JSON argument contains a NUL byte.");
    if (nc_json_parse(a->value, a->value_len, NC_CACHE_MAX_DEPTH, doc, &jerr) != 0)
        return nc_cache_err_set(e, 400, code, jerr.msg);
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
                      struct nc_cache_err *e)
{
    const struct nc_config *cfg = r->w->cfg;
    if (ctx) {
        struct nc_json_err jerr;
        if (ctx->type != NC_JSON_OBJECT)
            return nc_cache_err_set(e, 400, "invalid_ctx", "ctx must be a JSON object.");
        size_t before = r->scratch.len;
        if (nc_buf_append(&r->scratch, "\nctx=", 5) != 0)
            return nc_cache_err_set(e, 500, "internal", "Out of memory.");
        if (nc_json_canonical(ctx, &r->scratch, &jerr) != 0)
            return nc_cache_err_set(
                e, 400, jerr.code == NC_JSON_ERR_NUMBER ? "invalid_number" : "invalid_ctx",
                jerr.msg);
        if (r->scratch.len - before - 5 > cfg->max_query_bytes)
            return too_long(e);
    }
    r->keylen = nc_key_derive_mode(cfg->key_prefix, r->ns, kind, cfg->key_secret,
                                   cfg->key_secret_len, r->scratch.data, r->scratch.len,
                                   cfg->redis_mode == NC_REDIS_CLUSTER, r->key);
    if (r->keylen < 0) {
        r->keylen = 0;
        return nc_cache_err_set(e, 500, "internal", "Key derivation failed.");
    }
    return 0;
}

int nc_cache_key_query(struct nc_req *r, const char *q, size_t qlen, const struct nc_json *ctx,
                       struct nc_cache_err *e)
{
    const struct nc_config *cfg = r->w->cfg;
    const char *err;
    if (qlen > cfg->max_query_bytes)
        return too_long(e);
    if (memchr(q, '\0', qlen) || !nc_utf8_valid(q, qlen))
        return nc_cache_err_set(e, 400, "invalid_utf8",
                                "The query text is not valid UTF-8 or contains NUL.");
    if (nc_normalise(nc_config_ns_norm(cfg, r->ns), q, qlen, &r->scratch, &err) != 0)
        return nc_cache_err_set(e, 400, "invalid_utf8", err);
    if (r->scratch.len == 0)
        return nc_cache_err_set(e, 400, "empty_query", "The query text is empty once normalised.");
    return finish_key(r, NC_KEY_QUERY, ctx, e);
}

int nc_cache_key_params(struct nc_req *r, const struct nc_json *params, const struct nc_json *ctx,
                        int body, struct nc_cache_err *e)
{
    struct nc_json_err jerr;
    nc_buf_reset(&r->scratch);
    if (params->type != NC_JSON_OBJECT)
        return nc_cache_err_set(e, 400, "invalid_params", "params must be a JSON object.");
    if (nc_json_canonical(params, &r->scratch, &jerr) != 0)
        return nc_cache_err_set(
            e, 400, jerr.code == NC_JSON_ERR_NUMBER ? "invalid_number" : "invalid_params",
            jerr.msg);
    /* Params in a body have no text of their own: MAX_QUERY_BYTES applies
     * to their canonical form. */
    if (body && r->scratch.len > r->w->cfg->max_query_bytes)
        return too_long(e);
    return finish_key(r, NC_KEY_PARAMS, ctx, e);
}

int nc_cache_key_item(struct nc_req *r, const struct nc_json *q, const struct nc_json *params,
                      const struct nc_json *ctx, struct nc_cache_err *e)
{
    if ((q != NULL) == (params != NULL))
        return nc_cache_err_set(e, 400, "invalid_request",
                                "Give exactly one of q (a query text) and params (a JSON object).");
    if (q && q->type != NC_JSON_STRING)
        return nc_cache_err_set(e, 400, "invalid_request", "q must be a string.");
    if (q)
        return nc_cache_key_query(r, q->str, q->len, ctx, e);
    return nc_cache_key_params(r, params, ctx, 1, e);
}

int nc_cache_key_from_args(struct nc_req *r, struct nc_cache_err *e)
{
    static const char *const names[3] = {"q", "params", "ctx"};
    const struct nc_arg *a[3];
    if (nc_req_args(r, names, a, 3) != 0)
        return nc_cache_err_set(e, 400, "unknown_parameter",
                                "Only the query parameters q, params and ctx are accepted.");
    const struct nc_arg *q = a[0], *p = a[1], *c = a[2];
    if ((q != NULL) == (p != NULL))
        return nc_cache_err_set(e, 400, "invalid_request",
                                "Give exactly one of q (a query text) and params (a JSON object).");
    struct nc_json_doc *pdoc = NULL, *cdoc = NULL;
    int rc = -1;
    if (c && parse_arg(r, c, "invalid_ctx", &cdoc, e) != 0)
        goto out;
    const struct nc_json *ctx = cdoc ? nc_json_root(cdoc) : NULL;
    if (q)
        rc = nc_cache_key_query(r, q->value, q->value_len, ctx, e);
    else if (parse_arg(r, p, "invalid_params", &pdoc, e) == 0)
        rc = nc_cache_key_params(r, nc_json_root(pdoc), ctx, 0, e);
out:
    nc_json_doc_free(pdoc);
    nc_json_doc_free(cdoc);
    return rc;
}

int nc_cache_tag_key(const struct nc_req *r, const char *tag, size_t len, char out[NC_KEY_MAX])
{
    const struct nc_config *cfg = r->w->cfg;
    return nc_key_derive_mode(cfg->key_prefix, r->ns, NC_KEY_TAG, cfg->key_secret,
                              cfg->key_secret_len, tag, len, cfg->redis_mode == NC_REDIS_CLUSTER,
                              out);
}
