/* req.h - the request object a handler works on: its decoded arguments,
 * its body, the answer being prepared, and the helpers that send it.
 *
 * No routing and no handler here (router.h picks the handler; each handler
 * has its own header). A handler answers with nc_req_reply() or
 * nc_req_problem(), or parks the request with nc_req_suspend() while it
 * waits for Redis or the upstream, and finishes after nc_req_resume().
 *
 * Ownership: one struct nc_req per connection (nc_req_new when
 * libmicrohttpd opens it, nc_req_free when it closes), reset and reused by
 * every request on that keep-alive connection, so the hot path allocates
 * nothing once buffers have grown. Response bodies live in r->out and are
 * handed to libmicrohttpd as persistent memory: they stay valid until the
 * request completes. */
#ifndef NC_REQ_H
#define NC_REQ_H

#include <microhttpd.h>
#include <stdint.h>

#include "normcache/buf.h"
#include "normcache/key.h"
#include "normcache/near_sync.h"
#include "normcache/worker.h"

enum nc_req_state {
    NC_REQ_NEW = 0, /* nothing seen yet */
    NC_REQ_BODY,    /* head accepted, body (if any) arriving */
    NC_REQ_WAITING, /* suspended on Redis or the upstream */
    NC_REQ_READY,   /* resumed: the handler's resume hook runs next */
    NC_REQ_DONE     /* a response is queued */
};

#define NC_MAX_ARGS 16
#define NC_MAX_EXTRA_HEADERS 12

struct nc_arg {
    const char *name, *value; /* decoded, NUL-terminated, in req->args_buf */
    size_t name_len, value_len;
};

struct nc_req;

/* A route's handler. Each hook returns what libmicrohttpd's access handler
 * returns (MHD_YES; MHD_NO only to drop a broken connection) and either
 * answers, suspends the request, or (head) lets it go on. */
struct nc_handler {
    /* The head is in (headers, arguments): may refuse the request before
     * its body is read. NULL: nothing to check. */
    enum MHD_Result (*head)(struct nc_req *r);
    /* The whole request is in (the body, if the route takes one, in
     * r->body). */
    enum MHD_Result (*start)(struct nc_req *r);
    /* After nc_req_resume(). NULL if the handler never suspends. */
    enum MHD_Result (*resume)(struct nc_req *r);
    /* The request ended, answered or aborted: release r->ext. NULL: none. */
    void (*done)(struct nc_req *r);
};

struct nc_req {
    struct nc_worker *w;
    struct MHD_Connection *conn;
    const struct nc_handler *handler;
    enum nc_req_state state;
    enum nc_route route;
    int counted;     /* counted in w->active: nc_req_end balances it */
    int takes_body;  /* the route reads a body into r->body */
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
    struct nc_near_read near_rd; /* a read that may fill the near cache (set where used) */
    /* The response being prepared. */
    const char *cache;        /* X-Cache value or NULL */
    const char *problem_code; /* for the access log */
    int status;
    const char *hdr_name[NC_MAX_EXTRA_HEADERS];
    char hdr_value[NC_MAX_EXTRA_HEADERS][96];
    int nhdr;
    int flags; /* route-specific marks, reset for every request */
    void *ext; /* route-specific state, released by handler->done */
    /* The connection, for router.c (kept across keep-alive requests). */
    struct nc_req *conn_prev, *conn_next; /* the worker's open connections */
    int64_t head_deadline_ms;             /* head complete by then, or 408; 0: not reading one */
    int64_t head_start_us;                /* when the head being read began */
    unsigned char ip[16];                 /* client address key (iplimit.h) */
    int ip_counted;                       /* counted in the per-address table */
    int dropped;                          /* nc_req_drop ran: libmicrohttpd closes it next */
    int uri_too_long;                     /* request target over nc_router_uri_max */
};

/* Allocates the request object of a new connection; NULL when out of
 * memory. Freed with nc_req_free (accepts NULL). */
struct nc_req *nc_req_new(struct nc_worker *w, struct MHD_Connection *conn);
void nc_req_free(struct nc_req *r);

/* Starts the next request on the connection: forgets the previous one
 * (keeping buffer memory) and takes the raw request target. 0, or -1 when
 * out of memory. */
int nc_req_reset(struct nc_req *r, const char *uri);
/* The head has arrived: starts the clock and counts the request as active
 * in its worker until nc_req_end. */
void nc_req_begin(struct nc_req *r, const char *method);
/* The request is over (answered or aborted): runs handler->done and
 * balances nc_req_begin. Safe to call twice. */
void nc_req_end(struct nc_req *r);

/* Splits and decodes the query string into r->args. 0, or -1 with *code
 * and *err (static texts for a 400). Decoded values may hold any byte:
 * callers check UTF-8 and NUL. */
int nc_req_parse_args(struct nc_req *r, const char **code, const char **err);
/* Finds the arguments named names[0..n) (out[i] NULL when absent).
 * Returns 0, or -1 when the request has an argument not in names. */
int nc_req_args(const struct nc_req *r, const char *const *names, const struct nc_arg **out, int n);

/* Request header value (first occurrence) or NULL. */
const char *nc_req_hdr(const struct nc_req *r, const char *name);
/* Adds a response header (value copied, truncated to 95 bytes). */
void nc_req_header(struct nc_req *r, const char *name, const char *value);

/* Suspends the connection while a Redis/upstream answer is awaited, and
 * resumes it when the answer is there (handler->resume then runs). */
void nc_req_suspend(struct nc_req *r);
void nc_req_resume(struct nc_req *r);

/* Queues r->out as the response with status and content type (NULL: no
 * Content-Type), counts and logs it. Returns the access handler's
 * result. */
enum MHD_Result nc_req_reply(struct nc_req *r, int status, const char *ctype);
/* nc_req_reply when built == 0, the result of building r->out; else a 500
 * problem: a body that could not be built is never sent truncated. */
enum MHD_Result nc_req_reply_built(struct nc_req *r, int built, int status, const char *ctype);
/* Replaces r->out with an RFC 9457 problem document and queues it. The
 * detail must never contain caller text (queries may be personal data). */
enum MHD_Result nc_req_problem(struct nc_req *r, int status, const char *code, const char *title,
                               const char *detail);

/* The head did not arrive within HTTP_HEADER_TIMEOUT_SECONDS: writes a 408
 * problem straight to the socket (libmicrohttpd has not begun an answer:
 * it is still reading the head), counts and logs it, then closes the
 * connection as nc_req_drop does. */
void nc_req_head_timeout(struct nc_req *r);
/* Shuts the connection's socket down after writing raw[0..len) to it (raw
 * may be NULL) without waiting: libmicrohttpd then sees the end of the
 * stream and closes the connection, calling the usual hooks. */
void nc_req_drop(struct nc_req *r, const char *raw, size_t len);

#endif
