/* req.c - the request object's life cycle, query arguments and answers
 * (see req.h).
 *
 * The request target is taken raw (nc_req_reset gets it from the URI log
 * callback) rather than from libmicrohttpd's decoded path and arguments:
 * its decoding turns %2F into a path separator and %00 into a string end,
 * and it cannot report a malformed escape or a duplicated argument. */
#include "normcache/req.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "normcache/clock.h"
#include "normcache/counters.h"
#include "normcache/jsonstr.h"
#include "normcache/log.h"
#include "normcache/pct.h"

struct nc_req *nc_req_new(struct nc_worker *w, struct MHD_Connection *conn)
{
    struct nc_req *r = calloc(1, sizeof *r);
    if (r) {
        r->w = w;
        r->conn = conn;
    }
    return r;
}

void nc_req_free(struct nc_req *r)
{
    if (!r)
        return;
    nc_req_end(r);
    nc_buf_free(&r->uri);
    nc_buf_free(&r->args_buf);
    nc_buf_free(&r->body);
    nc_buf_free(&r->scratch);
    nc_buf_free(&r->out);
    free(r);
}

int nc_req_reset(struct nc_req *r, const char *uri)
{
    r->handler = NULL;
    r->state = NC_REQ_NEW;
    r->route = NC_ROUTE_OTHER;
    r->counted = 0;
    r->takes_body = 0;
    r->outstanding = 0;
    r->method = NULL;
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
    r->flags = 0;
    r->ext = NULL;
    nc_buf_reset(&r->uri);
    nc_buf_reset(&r->args_buf);
    nc_buf_reset(&r->body);
    nc_buf_reset(&r->scratch);
    nc_buf_reset(&r->out);
    if (nc_buf_appends(&r->uri, uri) != 0)
        return -1;
    const char *q = strchr(r->uri.data, '?');
    r->path_len = q ? (size_t)(q - r->uri.data) : r->uri.len;
    return 0;
}

void nc_req_begin(struct nc_req *r, const char *method)
{
    r->method = method;
    r->t_start_us = nc_now_us();
    r->counted = 1;
    r->w->active++;
}

void nc_req_end(struct nc_req *r)
{
    if (r->counted) {
        r->w->active--;
        r->counted = 0;
    }
    if (r->handler && r->handler->done)
        r->handler->done(r);
    r->handler = NULL;
    r->state = NC_REQ_DONE;
}

/* ------------------------------------------------------ query arguments */

/* Form-decodes s[0..n) onto the end of out ('+' is a space) and NUL-
 * terminates it. Returns the decoded length, or -1 on a malformed escape. */
static long req_form_decode(struct nc_buf *out, const char *s, size_t n)
{
    if (nc_buf_reserve(out, n + 1))
        return -1;
    long o = nc_pct_decode(out->data + out->len, s, n, NC_PCT_FORM);
    if (o < 0)
        return -1;
    out->len += (size_t)o + 1; /* keep the NUL: strings stay separate */
    return o;
}

int nc_req_parse_args(struct nc_req *r, const char **code, const char **err)
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
            long nl = req_form_decode(&r->args_buf, p, (size_t)(nend - p));
            size_t vo = r->args_buf.len;
            long vl = nl < 0 ? -1
                             : req_form_decode(&r->args_buf, eq ? eq + 1 : seg_end,
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

int nc_req_args(const struct nc_req *r, const char *const *names, const struct nc_arg **out, int n)
{
    for (int k = 0; k < n; k++)
        out[k] = NULL;
    for (int i = 0; i < r->nargs; i++) {
        int k = 0;
        while (k < n && strcmp(r->args[i].name, names[k]) != 0)
            k++;
        if (k == n)
            return -1;
        out[k] = &r->args[i];
    }
    return 0;
}

/* ------------------------------------------------------------- headers */

const char *nc_req_hdr(const struct nc_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void nc_req_header(struct nc_req *r, const char *name, const char *value)
{
    if (r->nhdr >= NC_MAX_EXTRA_HEADERS)
        return;
    /* Copied (cut to fit) without printf: a hit sets several per request. */
    size_t n = strnlen(value, sizeof r->hdr_value[0] - 1);
    r->hdr_name[r->nhdr] = name;
    memcpy(r->hdr_value[r->nhdr], value, n);
    r->hdr_value[r->nhdr][n] = '\0';
    r->nhdr++;
}

/* ------------------------------------------------------------ suspend */

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

/* ------------------------------------------------------------- answers */

/* Longest value of a string field in an access line: every one is
 * escaped as JSON and cut here, whatever a handler put in it. */
#define REQ_LOG_FIELD_MAX 128

/* name: the member's name with its quotes, comma and colon (",\"ns\":"),
 * a literal. */
static int req_log_field_n(struct nc_buf *f, const char *name, size_t namelen, const char *v)
{
    if (!v || !*v)
        return 0;
    return nc_buf_append(f, name, namelen) ||
           nc_jsonstr_append(f, v, strnlen(v, REQ_LOG_FIELD_MAX), 0);
}
#define req_log_field(f, name, v) req_log_field_n(f, "" name, sizeof(name) - 1, v)

static void req_access_log(struct nc_req *r, int64_t t0_us)
{
    /* The worker's, reused by every request: no allocation per line, and
     * plain appends of known lengths rather than printf (this runs for
     * every request). */
    struct nc_buf *f = &r->w->logfields;
    nc_buf_reset(f);
    int64_t dur = nc_now_us() - t0_us;
    /* The method is logged as its label (GET, ..., OTHER), never as the
     * client's bytes; route names are identifiers. */
    const char *key = r->keylen ? r->key : NULL;
    if (nc_buf_append_lit(f, "\"method\":\"") == 0 &&
        nc_buf_appends(f, nc_method_label(r->method)) == 0 &&
        nc_buf_append_lit(f, "\",\"route\":\"") == 0 &&
        nc_buf_appends(f, nc_route_name(r->route)) == 0 &&
        nc_buf_append_lit(f, "\",\"status\":") == 0 && nc_buf_append_int(f, r->status) == 0 &&
        nc_buf_append_lit(f, ",\"dur_us\":") == 0 && nc_buf_append_int(f, dur) == 0 &&
        req_log_field(f, ",\"ns\":", r->ns) == 0 &&
        req_log_field(f, ",\"cache\":", r->cache) == 0 && req_log_field(f, ",\"key\":", key) == 0 &&
        req_log_field(f, ",\"code\":", r->problem_code) == 0)
        nc_log_write_batched(NC_LOG_INFO, "request", f->data);
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
    nc_counters_request(r->w->counters, r->route, r->method, status, nc_now_us() - r->t_start_us);
    if (r->w->cfg->log_requests && nc_log_enabled(NC_LOG_INFO))
        req_access_log(r, r->t_start_us);
    return ret;
}

enum MHD_Result nc_req_reply_built(struct nc_req *r, int built, int status, const char *ctype)
{
    if (built != 0)
        return nc_req_problem(r, 500, "internal", "Internal Error", "Out of memory.");
    return nc_req_reply(r, status, ctype);
}

/* An RFC 9457 problem document into out (replacing it). 0, or -1 when
 * memory runs out. */
static int req_problem_body(struct nc_buf *out, int status, const char *code, const char *title,
                            const char *detail)
{
    nc_buf_reset(out);
    return nc_buf_printf(out, "{\"type\":\"urn:normcache:problem:%s\",\"title\":", code) ||
           nc_jsonstr_append(out, title, strlen(title), 0) ||
           nc_buf_printf(out, ",\"status\":%d,\"detail\":", status) ||
           nc_jsonstr_append(out, detail, strlen(detail), 0) ||
           nc_buf_printf(out, ",\"code\":\"%s\"}", code);
}

enum MHD_Result nc_req_problem(struct nc_req *r, int status, const char *code, const char *title,
                               const char *detail)
{
    r->problem_code = code;
    if (req_problem_body(&r->out, status, code, title, detail))
        return MHD_NO; /* out of memory: drop the connection, never half an answer */
    return nc_req_reply(r, status, "application/problem+json");
}

void nc_req_drop(struct nc_req *r, const char *raw, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    r->dropped = 1;
    if (!ci)
        return;
    if (raw && len) {
        ssize_t w = send(ci->connect_fd, raw, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w; /* a full socket buffer: the client only sees the close */
    }
    shutdown(ci->connect_fd, SHUT_RDWR);
}

void nc_req_head_timeout(struct nc_req *r)
{
    static const char code[] = "request_timeout";
    struct nc_buf body, msg;
    nc_buf_init(&body);
    nc_buf_init(&msg);
    if (req_problem_body(&body, 408, code, "Request Timeout",
                         "The request head was not complete within "
                         "HTTP_HEADER_TIMEOUT_SECONDS.") == 0 &&
        nc_buf_printf(&msg,
                      "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/problem+json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      body.len) == 0 &&
        nc_buf_append(&msg, body.data, body.len) == 0)
        nc_req_drop(r, msg.data, msg.len);
    else
        nc_req_drop(r, NULL, 0);
    nc_buf_free(&body);
    nc_buf_free(&msg);
    /* The request never reached a handler: no method, no route. */
    r->method = NULL;
    r->route = NC_ROUTE_OTHER;
    r->ns[0] = '\0';
    r->keylen = 0;
    r->cache = NULL;
    r->status = 408;
    r->problem_code = code;
    nc_counters_request(r->w->counters, r->route, NULL, 408, nc_now_us() - r->head_start_us);
    if (r->w->cfg->log_requests && nc_log_enabled(NC_LOG_INFO))
        req_access_log(r, r->head_start_us);
}
