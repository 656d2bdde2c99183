/* router.c - the route table and the libmicrohttpd callbacks (see
 * router.h).
 *
 * libmicrohttpd calls the access handler several times per request: once
 * with the head, once per body chunk, once when the body is complete, and
 * again after a resume. The router turns that into the handler's hooks
 * (req.h): head, start, resume, done. A response is queued only from the
 * final call on, never from the first — except a refusal, after which
 * libmicrohttpd closes the connection, which is right for a refused body —
 * because keep-alive is most of the throughput. */
#include "normcache/router.h"

#include <netinet/in.h>
#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>

#include "normcache/cache.h"
#include "normcache/clock.h"
#include "normcache/health.h"
#include "normcache/iplimit.h"
#include "normcache/log.h"
#include "normcache/metrics_http.h"
#include "normcache/recs.h"
#include "normcache/req.h"

struct route_method {
    const char *method;
    enum nc_route label;
    int takes_body;
};

struct route {
    const char *path;
    int dir;  /* matches "<path>/<something>" (and "<path>" alone, as a 404) */
    int auth; /* needs a bearer token when AUTH_TOKENS is set */
    const char *allow;
    enum nc_route other_label; /* for a 405 */
    struct route_method methods[5];
    const struct nc_handler *handler;
};

#define ROUTE_GET_HEAD(label)                                                                      \
    {                                                                                              \
        {"GET", (label), 0},                                                                       \
        {                                                                                          \
            "HEAD", (label), 0                                                                     \
        }                                                                                          \
    }

static const struct route router_routes[] = {
    {"/cache",
     1,
     1,
     "GET, HEAD, PUT, DELETE",
     NC_ROUTE_OTHER,
     {{"GET", NC_ROUTE_CACHE_GET, 0},
      {"HEAD", NC_ROUTE_CACHE_GET, 0},
      {"PUT", NC_ROUTE_CACHE_PUT, 1},
      {"DELETE", NC_ROUTE_CACHE_DELETE, 0},
      {"POST", NC_ROUTE_CACHE_MGET, 1}}, /* only on <ns>/_mget and <ns>/_mset */
     &nc_cache_handler},
    {"/products/recommendations", 0, 0, "GET, HEAD", NC_ROUTE_RECOMMENDATIONS,
     ROUTE_GET_HEAD(NC_ROUTE_RECOMMENDATIONS), &nc_recs_handler},
    {"/healthz", 0, 0, "GET, HEAD", NC_ROUTE_HEALTH, ROUTE_GET_HEAD(NC_ROUTE_HEALTH),
     &nc_health_handler},
    {"/readyz", 0, 0, "GET, HEAD", NC_ROUTE_HEALTH, ROUTE_GET_HEAD(NC_ROUTE_HEALTH),
     &nc_health_handler},
    {"/metrics", 0, 0, "GET, HEAD", NC_ROUTE_METRICS, ROUTE_GET_HEAD(NC_ROUTE_METRICS),
     &nc_metrics_handler},
};

/* ------------------------------------------------------ connection hooks */

size_t nc_router_uri_max(const struct nc_config *cfg)
{
    /* A MAX_QUERY_BYTES query percent-encoded (x3), plus the path and the
     * other parameters. */
    return 3 * cfg->max_query_bytes + 1024;
}

size_t nc_router_conn_memory(const struct nc_config *cfg)
{
    /* libmicrohttpd answers with its own HTML page when the request line or
     * the headers do not fit in the connection's memory: leave room beyond
     * both of our limits (and for its header records), so that the service
     * answers first, with a problem document. With the default
     * MAX_QUERY_BYTES this stays under 32 KiB, below which libmicrohttpd
     * takes the memory from malloc rather than one mmap per connection. */
    return nc_router_uri_max(cfg) + NC_ROUTER_HEADERS_MAX + 64 * NC_ROUTER_HEADERS_COUNT_MAX +
           4 * 1024;
}

/* Arms the head deadline: a head that began at now_us (a new connection,
 * a request line) must be complete within HTTP_HEADER_TIMEOUT_SECONDS of
 * it, or slack seconds more. */
static void router_arm(struct nc_req *r, int64_t now_us, int slack_s)
{
    int64_t d = now_us / 1000 + ((int64_t)r->w->cfg->header_timeout_s + slack_s) * 1000;
    if (!r->head_deadline_ms || d < r->head_deadline_ms) {
        r->head_deadline_ms = d;
        r->head_start_us = now_us;
    }
}

static socklen_t router_addr_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
                                     : (socklen_t)sizeof(struct sockaddr_in);
}

/* Accept policy: refuses, before anything is set up, a connection from an
 * address that already holds HTTP_MAX_CONNECTIONS_PER_IP. Only a check:
 * the count itself is taken when the connection opens (below), which is
 * exact even when two workers accept from one address at once. */
enum MHD_Result nc_router_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct nc_worker *w = cls;
    unsigned char key[NC_IPLIMIT_KEY];
    if (!w->iplimit || nc_iplimit_key(addr, addrlen, key) != 0 || nc_iplimit_room(w->iplimit, key))
        return MHD_YES;
    nc_log_debug("connection refused: HTTP_MAX_CONNECTIONS_PER_IP reached");
    return MHD_NO;
}

static void router_conn_open(struct nc_worker *w, struct MHD_Connection *conn, struct nc_req *r)
{
    r->conn_next = w->conn_list;
    if (w->conn_list)
        w->conn_list->conn_prev = r;
    w->conn_list = r;
    router_arm(r, nc_now_us(), 0);
    if (!w->iplimit)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr ||
        nc_iplimit_key(ci->client_addr, router_addr_len(ci->client_addr), r->ip) != 0)
        return;
    if (nc_iplimit_acquire(w->iplimit, r->ip) == 0)
        r->ip_counted = 1;
    else
        nc_req_drop(r, NULL, 0); /* another worker took the last place */
}

static void router_conn_close(struct nc_worker *w, struct nc_req *r)
{
    if (r->ip_counted)
        nc_iplimit_release(w->iplimit, r->ip);
    r->ip_counted = 0;
    if (r->conn_prev)
        r->conn_prev->conn_next = r->conn_next;
    else
        w->conn_list = r->conn_next;
    if (r->conn_next)
        r->conn_next->conn_prev = r->conn_prev;
    r->conn_prev = r->conn_next = NULL;
}

void nc_router_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    struct nc_worker *w = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        if (++w->conns > w->conns_peak)
            w->conns_peak = w->conns;
        struct nc_req *r = nc_req_new(w, conn); /* NULL: the URI hook refuses it */
        if (r)
            router_conn_open(w, conn, r);
        *socket_ctx = r;
    } else {
        w->conns--;
        if (*socket_ctx)
            router_conn_close(w, *socket_ctx);
        nc_req_free(*socket_ctx);
        *socket_ctx = NULL;
    }
}

void nc_router_sweep(struct nc_worker *w, int64_t now_ms)
{
    if (now_ms < w->next_sweep_ms)
        return;
    w->next_sweep_ms = now_ms + 250;
    for (struct nc_req *r = w->conn_list; r; r = r->conn_next)
        if (r->head_deadline_ms && now_ms >= r->head_deadline_ms && !r->dropped) {
            r->head_deadline_ms = 0;
            nc_req_head_timeout(r);
        }
}

void *nc_router_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct nc_req *r = ci ? ci->socket_context : NULL;
    if (!r || r->dropped || nc_req_reset(r, uri) != 0)
        return NULL;
    /* A request line has arrived: its head must follow promptly, whatever
     * the keep-alive allowance (see nc_router_completed). */
    router_arm(r, nc_now_us(), 0);
    r->uri_too_long = r->uri.len > nc_router_uri_max(r->w->cfg);
    return r;
}

void nc_router_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct nc_req *r = *req_cls;
    if (!r)
        return;
    nc_req_end(r);
    /* The connection may carry another request. Waiting for it is what the
     * idle timeout bounds; a head that then trickles in is bounded by this
     * deadline (also re-armed, shorter, when its request line arrives). */
    r->head_deadline_ms = 0;
    router_arm(r, nc_now_us(), r->w->cfg->conn_timeout_s);
}

/* ---------------------------------------------------------- head checks */

struct hdr_scan {
    size_t bytes; /* header lines, as sent: "name: value\r\n" */
    int count;
    int content_length;
    int transfer_encoding;
    int te_chunked;
};

static enum MHD_Result router_scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                          const char *value)
{
    struct hdr_scan *h = cls;
    (void)kind;
    h->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
    h->count++;
    if (strcasecmp(key, "Content-Length") == 0)
        h->content_length++;
    else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        h->transfer_encoding++;
        h->te_chunked = value && strcasecmp(value, "chunked") == 0;
    }
    return MHD_YES;
}

/* Framing that a proxy in front might read differently. */
static int router_framing_ok(const struct hdr_scan *h)
{
    return !(h->content_length > 1 || h->transfer_encoding > 1 ||
             (h->content_length && h->transfer_encoding) ||
             (h->transfer_encoding && !h->te_chunked));
}

static int router_auth_ok(const struct nc_req *r)
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

/* The route whose path matches, or NULL; *bare is set for a directory
 * route's own path (nothing after it). */
static const struct route *router_match(const struct nc_req *r, int *bare)
{
    const char *path = r->uri.data;
    *bare = 0;
    for (size_t i = 0; i < sizeof router_routes / sizeof router_routes[0]; i++) {
        const struct route *rt = &router_routes[i];
        size_t n = strlen(rt->path);
        if (r->path_len < n || memcmp(path, rt->path, n) != 0)
            continue;
        if (r->path_len == n) {
            *bare = rt->dir;
            return rt;
        }
        if (rt->dir && path[n] == '/') {
            *bare = r->path_len == n + 1;
            return rt;
        }
    }
    return NULL;
}

static enum MHD_Result router_not_found(struct nc_req *r)
{
    return nc_req_problem(r, 404, "not_found", "Not Found", "No such resource.");
}

/* First call: everything that can be decided from the request head. */
static enum MHD_Result router_head(struct nc_req *r, const char *method)
{
    nc_req_begin(r, method);
    if (r->w->stopping) {
        /* A request on a connection kept alive across the stop signal:
         * refused like a new connection would be, and the connection
         * closed, so the client goes elsewhere. */
        nc_req_header(r, "Connection", "close");
        nc_req_header(r, "Retry-After", "1");
        return nc_req_problem(r, 503, "shutting_down", "Service Unavailable",
                              "The service is shutting down; retry (on another instance).");
    }
    r->head_deadline_ms = 0; /* the head is complete */
    /* The size of the message first: below libmicrohttpd's own limits
     * (nc_router_conn_memory), so that these are problem documents too. */
    if (r->uri_too_long) {
        nc_req_header(r, "Connection", "close");
        return nc_req_problem(
            r, 414, "uri_too_long", "URI Too Long",
            "The request target is longer than 3 x MAX_QUERY_BYTES + 1024 bytes.");
    }
    struct hdr_scan h = {0, 0, 0, 0, 0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, router_scan_header, &h);
    if (h.bytes > NC_ROUTER_HEADERS_MAX || h.count > NC_ROUTER_HEADERS_COUNT_MAX) {
        nc_req_header(r, "Connection", "close");
        return nc_req_problem(r, 431, "headers_too_large", "Request Header Fields Too Large",
                              "The request has more than 100 header fields or 8192 bytes of them.");
    }
    if (!router_framing_ok(&h)) {
        nc_req_header(r, "Connection", "close");
        return nc_req_problem(r, 400, "bad_framing", "Bad Request",
                              "Conflicting or unsupported Content-Length/Transfer-Encoding.");
    }
    int bare;
    const struct route *rt = router_match(r, &bare);
    if (!rt)
        return router_not_found(r);
    /* Authentication before anything else about /cache, so that a caller
     * without a token learns nothing (not even which paths exist). */
    if (rt->auth && !router_auth_ok(r)) {
        nc_req_header(r, "WWW-Authenticate", "Bearer realm=\"normcache\"");
        return nc_req_problem(r, 401, "unauthorized", "Unauthorized",
                              "A valid bearer token is required.");
    }
    if (bare)
        return router_not_found(r);
    const struct route_method *m = NULL;
    for (size_t i = 0; i < sizeof rt->methods / sizeof rt->methods[0] && rt->methods[i].method; i++)
        if (strcmp(method, rt->methods[i].method) == 0)
            m = &rt->methods[i];
    if (!m) {
        r->route = rt->other_label;
        nc_req_header(r, "Allow", rt->allow);
        return nc_req_problem(r, 405, "method_not_allowed", "Method Not Allowed",
                              "This resource does not support the request method.");
    }
    r->route = m->label;
    r->takes_body = m->takes_body;
    const char *code, *err;
    if (nc_req_parse_args(r, &code, &err) != 0)
        return nc_req_problem(r, 400, code, "Bad Request", err);
    r->handler = rt->handler;
    r->state = NC_REQ_BODY;
    if (r->handler->head)
        return r->handler->head(r);
    return MHD_YES;
}

/* A body chunk: kept for routes that read one (up to MAX_BODY_BYTES; a
 * chunked body that grows past it is read to its end and refused),
 * otherwise dropped. */
static enum MHD_Result router_body(struct nc_req *r, const char *upload, size_t *upload_size)
{
    if (r->takes_body && !r->body_too_large) {
        if (r->body.len + *upload_size > r->w->cfg->max_body_bytes)
            r->body_too_large = 1;
        else if (nc_buf_append(&r->body, upload, *upload_size) != 0)
            return MHD_NO;
    }
    *upload_size = 0;
    return MHD_YES;
}

enum MHD_Result nc_router_access(void *cls, struct MHD_Connection *conn, const char *url,
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
    switch (r->state) {
    case NC_REQ_NEW:
        return router_head(r, method);
    case NC_REQ_BODY:
        if (*upload_size)
            return router_body(r, upload, upload_size);
        if (r->body_too_large) {
            nc_req_header(r, "Connection", "close");
            return nc_req_problem(r, 413, "body_too_large", "Content Too Large",
                                  "The body is larger than MAX_BODY_BYTES.");
        }
        return r->handler->start(r);
    case NC_REQ_READY:
        return r->handler->resume ? r->handler->resume(r) : MHD_NO;
    case NC_REQ_WAITING:
        return MHD_YES; /* a spurious call while suspended */
    case NC_REQ_DONE:
    default:
        /* A response is queued; swallow whatever body is still coming. */
        *upload_size = 0;
        return MHD_YES;
    }
}
