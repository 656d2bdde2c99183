/* http.c - request lifecycle on libmicrohttpd: per-connection request
 * objects, the raw request target, routing, the checks every request gets
 * (framing, auth, method), and response helpers.
 *
 * The request target is taken raw from the URI log callback rather than
 * from libmicrohttpd's decoded path and arguments: its decoding turns %2F
 * into a path separator and %00 into a string end, and it cannot report a
 * malformed escape or a duplicated argument. */
#include "normcache/http.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "normcache/clock.h"
#include "normcache/jsonstr.h"
#include "normcache/log.h"
#include "normcache/pct.h"
#include "normcache/metrics.h"
#include "normcache/normalise.h"
#include "normcache/store.h"

/* ------------------------------------------------------ connection hooks */

static void req_free(struct nc_req *r)
{
    nc_buf_free(&r->uri);
    nc_buf_free(&r->args_buf);
    nc_buf_free(&r->body);
    nc_buf_free(&r->scratch);
    nc_buf_free(&r->out);
    free(r);
}

void nc_http_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                        enum MHD_ConnectionNotificationCode code)
{
    struct nc_worker *w = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        if (++w->conns > w->conns_peak)
            w->conns_peak = w->conns;
        struct nc_req *r = calloc(1, sizeof *r);
        if (r) {
            r->w = w;
            r->conn = conn;
        }
        *socket_ctx = r; /* NULL: the URI hook refuses the request */
    } else {
        w->conns--;
        if (*socket_ctx) {
            req_free(*socket_ctx);
            *socket_ctx = NULL;
        }
    }
}

void *nc_http_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct nc_req *r = ci ? ci->socket_context : NULL;
    if (!r)
        return NULL;
    /* Reset what the previous request on this connection left; keep the
     * buffers' memory. */
    r->state = NC_REQ_NEW;
    r->route = NC_ROUTE_OTHER;
    r->counted = 0;
    r->checked = 0;
    r->outstanding = 0;
    r->nargs = 0;
    r->body_too_large = 0;
    r->ns[0] = '\0';
    r->key[0] = '\0';
    r->keylen = 0;
    r->redis_failed = r->have_value = 0;
    r->num = r->deleted = 0;
    r->ttl = 0;
    r->cache = NULL;
    r->problem_code = NULL;
    r->status = 0;
    r->nhdr = 0;
    r->ext = NULL;
    nc_buf_reset(&r->uri);
    nc_buf_reset(&r->args_buf);
    nc_buf_reset(&r->body);
    nc_buf_reset(&r->scratch);
    nc_buf_reset(&r->out);
    if (nc_buf_appends(&r->uri, uri) != 0)
        return NULL;
    const char *q = strchr(r->uri.data, '?');
    r->path_len = q ? (size_t)(q - r->uri.data) : r->uri.len;
    return r;
}

void nc_http_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                       enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct nc_req *r = *req_cls;
    if (!r)
        return;
    if (r->counted) {
        r->w->active--;
        r->counted = 0;
    }
    if (r->ext && r->route == NC_ROUTE_RECOMMENDATIONS)
        nc_handle_recommendations(r, NULL, NULL); /* lets it detach */
    r->state = NC_REQ_DONE;
}

/* ------------------------------------------------------------- helpers */

void nc_req_header(struct nc_req *r, const char *name, const char *value)
{
    if (r->nhdr >= NC_MAX_EXTRA_HEADERS)
        return;
    r->hdr_name[r->nhdr] = name;
    snprintf(r->hdr_value[r->nhdr], sizeof r->hdr_value[0], "%s", value);
    r->nhdr++;
}

const char *nc_req_hdr(const struct nc_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const struct nc_arg *nc_req_arg(const struct nc_req *r, const char *name)
{
    for (int i = 0; i < r->nargs; i++)
        if (strcmp(r->args[i].name, name) == 0)
            return &r->args[i];
    return NULL;
}

void nc_req_suspend(struct nc_req *r)
{
    r->state = NC_REQ_WAITING;
    r->w->suspended++;
    MHD_suspend_connection(r->conn);
}

void nc_req_resume(struct nc_req *r)
{
    r->state = NC_REQ_READY;
    r->w->suspended--;
    MHD_resume_connection(r->conn);
}

static const char *route_name(enum nc_route rt)
{
    static const char *names[] = {"other",       "cache_get",       "cache_put", "cache_delete",
                                  "cache_flush", "recommendations", "health",    "metrics"};
    return names[rt];
}

static void access_log(struct nc_req *r)
{
    struct nc_buf f;
    nc_buf_init(&f);
    int64_t dur = nc_now_us() - r->t_start_us;
    if (nc_buf_printf(&f, "\"method\":\"%s\",\"route\":\"%s\",\"status\":%d,\"dur_us\":%lld",
                      r->method ? r->method : "", route_name(r->route), r->status,
                      (long long)dur) == 0 &&
        (!r->ns[0] || nc_buf_printf(&f, ",\"ns\":\"%s\"", r->ns) == 0) &&
        (!r->cache || nc_buf_printf(&f, ",\"cache\":\"%s\"", r->cache) == 0) &&
        (!r->keylen || nc_buf_printf(&f, ",\"key\":\"%s\"", r->key) == 0) &&
        (!r->problem_code || nc_buf_printf(&f, ",\"code\":\"%s\"", r->problem_code) == 0))
        nc_log_write(NC_LOG_INFO, "request", f.data);
    nc_buf_free(&f);
}

enum MHD_Result nc_req_reply(struct nc_req *r, int status, const char *ctype)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->out.len, r->out.data, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (r->keylen)
        MHD_add_response_header(resp, "X-Cache-Key", r->key);
    if (r->cache)
        MHD_add_response_header(resp, "X-Cache", r->cache);
    for (int i = 0; i < r->nhdr; i++)
        MHD_add_response_header(resp, r->hdr_name[i], r->hdr_value[i]);
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
    r->state = NC_REQ_DONE;
    nc_metrics_request(r->w->metrics, r->route, r->method, status, nc_now_us() - r->t_start_us);
    if (r->w->cfg->log_requests && nc_log_enabled(NC_LOG_INFO))
        access_log(r);
    return ret;
}

enum MHD_Result nc_req_problem(struct nc_req *r, int status, const char *code, const char *title,
                               const char *detail)
{
    nc_buf_reset(&r->out);
    r->problem_code = code;
    if (nc_buf_printf(&r->out, "{\"type\":\"urn:normcache:problem:%s\",\"title\":", code) ||
        nc_jsonstr_append(&r->out, title, strlen(title), 0) ||
        nc_buf_printf(&r->out, ",\"status\":%d,\"detail\":", status) ||
        nc_jsonstr_append(&r->out, detail, strlen(detail), 0) ||
        nc_buf_printf(&r->out, ",\"code\":\"%s\"}", code))
        return MHD_NO;
    return nc_req_reply(r, status, "application/problem+json");
}

/* ------------------------------------------------------ query arguments */

/* Form-decodes s[0..n) onto the end of out ('+' is a space) and NUL-
 * terminates it. Returns the decoded length, or -1 on a malformed escape. */
static long form_decode(struct nc_buf *out, const char *s, size_t n)
{
    if (nc_buf_reserve(out, n + 1))
        return -1;
    long o = nc_pct_decode(out->data + out->len, s, n, NC_PCT_FORM);
    if (o < 0)
        return -1;
    out->len += (size_t)o + 1; /* keep the NUL: strings stay separate */
    return o;
}

/* Splits the raw query into decoded arguments. 0, or -1 with *err. The
 * decoded strings may hold any byte: callers check UTF-8 and NUL. */
static int parse_args(struct nc_req *r, const char **code, const char **err)
{
    if (r->path_len >= r->uri.len)
        return 0;
    const char *p = r->uri.data + r->path_len + 1;
    const char *end = r->uri.data + r->uri.len;
    /* Decode everything first: the buffer may move while it grows, so the
     * pointers are fixed afterwards from offsets. */
    size_t offs[NC_MAX_ARGS][2] = {{0, 0}};
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *seg_end = amp ? amp : end;
        if (seg_end > p) {
            if (r->nargs >= NC_MAX_ARGS) {
                *code = "too_many_parameters";
                *err = "The request has too many query parameters.";
                return -1;
            }
            const char *eq = memchr(p, '=', (size_t)(seg_end - p));
            const char *nend = eq ? eq : seg_end;
            size_t no = r->args_buf.len;
            long nl = form_decode(&r->args_buf, p, (size_t)(nend - p));
            size_t vo = r->args_buf.len;
            long vl = nl < 0 ? -1
                             : form_decode(&r->args_buf, eq ? eq + 1 : seg_end,
                                           eq ? (size_t)(seg_end - eq - 1) : 0);
            if (nl < 0 || vl < 0) {
                *code = "invalid_encoding";
                *err = "A query parameter has a malformed percent-escape.";
                return -1;
            }
            offs[r->nargs][0] = no;
            offs[r->nargs][1] = vo;
            r->args[r->nargs].name_len = (size_t)nl;
            r->args[r->nargs].value_len = (size_t)vl;
            r->nargs++;
        }
        p = seg_end + 1;
    }
    for (int i = 0; i < r->nargs; i++) {
        r->args[i].name = r->args_buf.data + offs[i][0];
        r->args[i].value = r->args_buf.data + offs[i][1];
        if (strlen(r->args[i].name) != r->args[i].name_len) {
            *code = "invalid_parameter";
            *err = "A query parameter name contains a NUL byte.";
            return -1;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(r->args[j].name, r->args[i].name) == 0) {
                *code = "duplicate_parameter";
                *err = "A query parameter is given more than once.";
                return -1;
            }
    }
    return 0;
}

/* -------------------------------------------------------------- routing */

struct hdr_scan {
    int content_length;
    int transfer_encoding;
    int te_chunked;
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct hdr_scan *h = cls;
    (void)kind;
    if (strcasecmp(key, "Content-Length") == 0)
        h->content_length++;
    else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        h->transfer_encoding++;
        h->te_chunked = value && strcasecmp(value, "chunked") == 0;
    }
    return MHD_YES;
}

static int auth_ok(const struct nc_req *r)
{
    const struct nc_config *cfg = r->w->cfg;
    if (!cfg->n_auth_tokens)
        return 1;
    const char *h = nc_req_hdr(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    const char *tok = h + 7;
    size_t n = strlen(tok);
    int ok = 0;
    /* Every token is compared, in constant time per token, so timing does
     * not tell which one (or which prefix) matched. */
    for (int i = 0; i < cfg->n_auth_tokens; i++)
        if (cfg->auth_token_lens[i] == n)
            ok |= CRYPTO_memcmp(cfg->auth_tokens[i], tok, n) == 0;
    return ok;
}

static int path_is(const struct nc_req *r, const char *p)
{
    size_t n = strlen(p);
    return r->path_len == n && memcmp(r->uri.data, p, n) == 0;
}

static enum MHD_Result method_not_allowed(struct nc_req *r, const char *allow)
{
    nc_req_header(r, "Allow", allow);
    return nc_req_problem(r, 405, "method_not_allowed", "Method Not Allowed",
                          "This resource does not support the request method.");
}

static enum MHD_Result reply_health(struct nc_req *r, int ready)
{
    nc_buf_reset(&r->out);
    if (!ready) {
        nc_buf_appends(&r->out, "{\"status\":\"ok\"}");
        return nc_req_reply(r, 200, "application/json");
    }
    const char *redis = !r->w->cfg->redis_enabled ? "disabled" : r->redis_failed ? "down" : "up";
    nc_buf_printf(&r->out, "{\"status\":\"ok\",\"redis\":\"%s\"}", redis);
    return nc_req_reply(r, 200, "application/json");
}

static void on_ping(void *priv, redisReply *reply)
{
    struct nc_req *r = priv;
    r->redis_failed = !reply || reply->type == REDIS_REPLY_ERROR;
    nc_req_resume(r);
}

/* /readyz asks Redis now (a PING through this worker's connection, within
 * REDIS_TIMEOUT_MS) rather than reporting what the last request saw. */
static enum MHD_Result readyz(struct nc_req *r)
{
    static const char *argv[1] = {"PING"};
    static const size_t lens[1] = {4};
    if (r->state == NC_REQ_READY || !r->w->cfg->redis_enabled)
        return reply_health(r, 1);
    if (nc_store_command(r->w->store, on_ping, r, 1, argv, lens) != 0) {
        r->redis_failed = 1;
        return reply_health(r, 1);
    }
    nc_req_suspend(r);
    return MHD_YES;
}

/* Route handlers run on every later call: body chunks, the final call, and
 * the call after a resume. A response is queued only from the final call
 * on, never from the first (libmicrohttpd would then close the connection,
 * and keep-alive is most of the throughput). */
static enum MHD_Result dispatch(struct nc_req *r, const char *upload, size_t *upload_size)
{
    switch (r->route) {
    case NC_ROUTE_HEALTH:
        if (!r->checked) {
            r->checked = 1;
            return MHD_YES;
        }
        if (r->state == NC_REQ_WAITING)
            return MHD_YES;
        if (*upload_size) {
            *upload_size = 0;
            return MHD_YES;
        }
        return path_is(r, "/readyz") ? readyz(r) : reply_health(r, 0);
    case NC_ROUTE_METRICS:
        return nc_handle_metrics(r, upload, upload_size);
    case NC_ROUTE_RECOMMENDATIONS:
        return nc_handle_recommendations(r, upload, upload_size);
    default:
        return nc_handle_cache(r, upload, upload_size);
    }
}

/* First pass: everything that can be decided from the request head. */
static enum MHD_Result first_pass(struct nc_req *r, const char *method, const char *upload,
                                  size_t *upload_size)
{
    r->method = method;
    r->t_start_us = nc_now_us();
    r->counted = 1;
    r->w->active++;

    /* Framing the way a proxy in front might read it differently is
     * refused outright, and the connection is not reused. */
    struct hdr_scan h = {0, 0, 0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, scan_header, &h);
    if (h.content_length > 1 || h.transfer_encoding > 1 ||
        (h.content_length && h.transfer_encoding) || (h.transfer_encoding && !h.te_chunked)) {
        nc_req_header(r, "Connection", "close");
        return nc_req_problem(r, 400, "bad_framing", "Bad Request",
                              "Conflicting or unsupported Content-Length/Transfer-Encoding.");
    }

    const char *path = r->uri.data;
    int is_cache =
        r->path_len >= 6 && memcmp(path, "/cache", 6) == 0 && (r->path_len == 6 || path[6] == '/');
    if (is_cache) {
        if (!auth_ok(r)) {
            nc_req_header(r, "WWW-Authenticate", "Bearer realm=\"normcache\"");
            return nc_req_problem(r, 401, "unauthorized", "Unauthorized",
                                  "A valid bearer token is required.");
        }
        if (r->path_len <= 7)
            return nc_req_problem(r, 404, "not_found", "Not Found", "No such resource.");
        if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
            r->route = NC_ROUTE_CACHE_GET;
        else if (strcmp(method, "PUT") == 0)
            r->route = NC_ROUTE_CACHE_PUT;
        else if (strcmp(method, "DELETE") == 0)
            r->route = NC_ROUTE_CACHE_DELETE;
        else
            return method_not_allowed(r, "GET, HEAD, PUT, DELETE");
    } else if (path_is(r, "/healthz") || path_is(r, "/readyz")) {
        r->route = NC_ROUTE_HEALTH;
        if (strcmp(method, "GET") && strcmp(method, "HEAD"))
            return method_not_allowed(r, "GET, HEAD");
    } else if (path_is(r, "/metrics")) {
        r->route = NC_ROUTE_METRICS;
        if (strcmp(method, "GET") && strcmp(method, "HEAD"))
            return method_not_allowed(r, "GET, HEAD");
    } else if (path_is(r, "/products/recommendations")) {
        r->route = NC_ROUTE_RECOMMENDATIONS;
        if (strcmp(method, "GET") && strcmp(method, "HEAD"))
            return method_not_allowed(r, "GET, HEAD");
    } else {
        return nc_req_problem(r, 404, "not_found", "Not Found", "No such resource.");
    }

    const char *code, *err;
    if (parse_args(r, &code, &err) != 0)
        return nc_req_problem(r, 400, code, "Bad Request", err);
    r->state = NC_REQ_BODY;
    return dispatch(r, upload, upload_size);
}

enum MHD_Result nc_http_access(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    (void)cls;
    (void)url;
    (void)version;
    struct nc_req *r = *req_cls;
    if (!r)
        return MHD_NO; /* out of memory when the connection opened */
    r->conn = conn;
    if (r->state == NC_REQ_NEW)
        return first_pass(r, method, upload, upload_size);
    if (r->state == NC_REQ_DONE) {
        /* A response is queued; swallow whatever body is still coming. */
        *upload_size = 0;
        return MHD_YES;
    }
    return dispatch(r, upload, upload_size);
}
