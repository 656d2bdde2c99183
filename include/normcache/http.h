/* http.h - the per-request state shared by the server loop and the route
 * handlers, and the helpers that turn a result into an HTTP response.
 *
 * Ownership: one struct nc_req per connection (created when libmicrohttpd
 * opens it, freed when it closes) and reused by every request on that
 * keep-alive connection, so the hot path allocates nothing once buffers have
 * grown. Response bodies live in the request's buffers and are handed to
 * libmicrohttpd as persistent memory: they stay valid until the request
 * completes. */
#ifndef NC_HTTP_H
#define NC_HTTP_H

#include <microhttpd.h>
#include <stdint.h>

#include "normcache/buf.h"
#include "normcache/config.h"
#include "normcache/key.h"

struct nc_worker;
struct nc_store;

enum nc_route {
    NC_ROUTE_OTHER = 0,
    NC_ROUTE_CACHE_GET,
    NC_ROUTE_CACHE_PUT,
    NC_ROUTE_CACHE_DELETE,
    NC_ROUTE_CACHE_FLUSH,
    NC_ROUTE_RECOMMENDATIONS,
    NC_ROUTE_HEALTH,
    NC_ROUTE_METRICS,
    NC_ROUTE__COUNT
};

enum nc_req_state { NC_REQ_NEW = 0, NC_REQ_BODY, NC_REQ_WAITING, NC_REQ_READY, NC_REQ_DONE };

#define NC_MAX_ARGS 16
#define NC_MAX_EXTRA_HEADERS 12

struct nc_arg {
    const char *name, *value; /* decoded, NUL-terminated, in req->args_buf */
    size_t name_len, value_len;
};

struct nc_req {
    struct nc_worker *w;
    struct MHD_Connection *conn;
    enum nc_req_state state;
    enum nc_route route;
    int counted;     /* the handler saw it: on_completed must balance it */
    int checked;     /* the route's head checks ran (body routes) */
    int outstanding; /* Redis commands awaiting a reply */
    int64_t t_start_us;
    const char *method;
    /* Raw request target (path + query, still percent-encoded). */
    struct nc_buf uri;
    size_t path_len;        /* uri.data[0..path_len) is the path */
    struct nc_buf args_buf; /* decoded query arguments */
    struct nc_arg args[NC_MAX_ARGS];
    int nargs;
    struct nc_buf body; /* request body (PUT) */
    int body_too_large;
    struct nc_buf scratch; /* normalised / canonical text */
    struct nc_buf out;     /* response body */
    char ns[NC_NS_MAX + 1];
    char key[NC_KEY_MAX];
    int keylen;
    /* Filled by Redis callbacks. */
    int redis_failed;
    int have_value;
    long long num; /* PTTL, DEL count, ... */
    long long deleted;
    int ttl;
    char cursor[24];
    /* The response being prepared. */
    const char *cache;        /* X-Cache value or NULL */
    const char *problem_code; /* for the access log */
    int status;
    const char *hdr_name[NC_MAX_EXTRA_HEADERS];
    char hdr_value[NC_MAX_EXTRA_HEADERS][96];
    int nhdr;
    void *ext; /* route-specific state (recommendations) */
};

/* What a worker exposes to handlers. */
struct nc_worker {
    int id;
    const struct nc_config *cfg;
    struct nc_store *store;
    struct MHD_Daemon *daemon;
    int active;     /* requests the handler has seen and not completed */
    int suspended;  /* of which waiting on I/O */
    int conns;      /* open HTTP connections */
    int conns_peak; /* most open since memory was last given back */
    void *recs;     /* recommendations state for this worker */
    void *metrics;  /* per-worker counters */
};

/* Adds a response header (value copied, truncated to 95 bytes). */
void nc_req_header(struct nc_req *r, const char *name, const char *value);

/* Queues req->out as the response with status and content type. Returns
 * the MHD result the access handler should return. */
enum MHD_Result nc_req_reply(struct nc_req *r, int status, const char *ctype);
/* Replaces req->out with an RFC 9457 problem document and queues it. The
 * detail must never contain caller text (queries may be personal data). */
enum MHD_Result nc_req_problem(struct nc_req *r, int status, const char *code, const char *title,
                               const char *detail);

/* Suspends the connection while a Redis/upstream answer is awaited, and
 * resumes it when the answer is there (the handler then runs again). */
void nc_req_suspend(struct nc_req *r);
void nc_req_resume(struct nc_req *r);

/* Looks up a decoded query argument; NULL when absent. */
const struct nc_arg *nc_req_arg(const struct nc_req *r, const char *name);
/* Request header value (first occurrence) or NULL. */
const char *nc_req_hdr(const struct nc_req *r, const char *name);

/* Route handlers, one signature. Called on every handler pass once the
 * route is known; they look at r->state. */
typedef enum MHD_Result nc_handler_fn(struct nc_req *r, const char *upload, size_t *upload_size);
nc_handler_fn nc_handle_cache, nc_handle_recommendations, nc_handle_metrics;

/* Entry points used by server.c. */
enum MHD_Result nc_http_access(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls);
void *nc_http_uri_log(void *cls, const char *uri, struct MHD_Connection *conn);
void nc_http_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                       enum MHD_RequestTerminationCode toe);
void nc_http_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                        enum MHD_ConnectionNotificationCode code);

#endif
