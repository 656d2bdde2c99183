/*
 * stub.h - the upstream stub's internal header, shared by cmd/upstream-stub/
 * only (not part of libnormcache): its settings, its run-time state, the
 * per-request state of a parked request, and each file's entry points.
 *
 * The stub is a stand-in for the product service that normcache caches. It
 * answers GET /recommendations slowly (STUB_LATENCY_MS), deterministically
 * (catalogue.c: the body is derived from a hash of the query) and can be
 * told at run time to fail, to answer 404 or to hang (PUT /mode, mode.c), so
 * that tests and the benchmark can drive every upstream behaviour the cache
 * must survive. GET /stats counts the recommendation requests received,
 * which is how the stampede tests prove that 1000 callers made exactly one
 * upstream call.
 *
 * Threading model. One libmicrohttpd epoll thread serves every connection.
 * A slow request is never slept on: the access handler (routes.c) suspends
 * the connection and parks it (park.c) in a min-heap of wake-up times (or,
 * in "hang" mode, in a list released when the mode changes). A timer thread
 * pops due entries and resumes their connections; libmicrohttpd then calls
 * the access handler again, which queues the answer. So 1000 sleeping
 * requests cost 1000 small structs, not 1000 threads, and /stats answers at
 * once meanwhile.
 *
 * Lifetime of a parked request (struct stub_pending):
 *   NEW --suspend--> PARKED (in heap or hang list) --timer pops--> RESUMED
 *   --access handler called again--> answered --completed callback--> freed.
 * libmicrohttpd neither times out nor closes a suspended connection, so the
 * completed callback cannot run while an entry is PARKED or waiting in the
 * timer's batch; the callback still unlinks the entry under the lock, so that
 * no path can leave a freed entry reachable from the heap or the list.
 * The timer thread calls MHD_resume_connection() without holding our lock
 * (libmicrohttpd takes its own locks there; never nesting them under ours
 * rules out any lock-order inversion with callbacks it makes).
 *
 * Shutdown (SIGTERM/SIGINT, server.c): stop parking, resume every parked
 * request (answered 503), wait until none is left suspended (MHD_stop_daemon
 * must not see a suspended connection), stop the timer thread, stop the
 * daemon, exit 0.
 */
#ifndef STUB_H
#define STUB_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sys/socket.h>

#include <microhttpd.h>

#include "normcache/buf.h"

#define STUB_PROG "upstream-stub"

/* Bounds of the request and setting values this stub accepts. */
#define STUB_LATENCY_MAX_MS 3600000L /* an hour: longer is surely a typo */
#define STUB_LIMIT_DEFAULT 10
#define STUB_LIMIT_MAX 50
#define STUB_MODE_BODY_MAX 4096 /* PUT /mode bodies are a few dozen bytes */
#define STUB_CONN_LIMIT 4096    /* must exceed the 1000+ concurrent callers of the tests */
#define STUB_DRAIN_TIMEOUT_MS 5000
#define STUB_HUGE_BYTES (64ULL * 1024 * 1024) /* mode huge: far over any body limit */
#define STUB_TRICKLE_MS 1000                  /* mode trickle: one byte a second */

/* ---- config.c: settings from the environment ---- */

/* Filled by stub_config_load; owned by the caller (no heap memory). */
struct stub_config {
    unsigned port;
    struct sockaddr_storage addr; /* port filled in by stub_config_load */
    socklen_t addr_len;
    char addr_text[64]; /* as given, for the log */
    long latency_ms;
    double fail_rate;
};

/* Reads every STUB_* variable (unset: default). On the first bad value prints
 * one line naming it on stderr and returns -1; otherwise 0. */
int stub_config_load(struct stub_config *cfg);
/* --help text: every setting and route. */
void stub_config_usage(FILE *out);
/* Strict decimal integer: digits only (no sign, blanks or suffix), in
 * [min, max]. 0, or -1 leaving *out alone. */
int stub_parse_long(const char *s, long min, long max, long *out);

/* ---- log.c: one JSON line per event on stderr ---- */

/* msg may be NULL (no "msg" member); port < 0: no "port" member. */
void stub_log_port(const char *level, const char *event, const char *msg, long port);
void stub_log(const char *level, const char *event, const char *msg);
/* MHD_OPTION_EXTERNAL_LOGGER: libmicrohttpd's own errors as "mhd" lines. */
void stub_log_mhd(void *cls, const char *fmt, va_list ap);

/* ---- respond.c: JSON numbers and responses ---- */

/* Appends d spelled as the stub always spelled numbers (cJSON's way: an
 * int-valued double as an integer, else 15 significant digits, or 17 when 15
 * do not read back). 0, or -1 when memory runs out. */
int stub_json_number(struct nc_buf *out, double d);
/* Queues body (taken: freed here in every case) as application/json with
 * status. built is the 0/-1 result of building body: on -1 a fixed 500
 * "out of memory" is sent instead. allow: an Allow header, or NULL. */
enum MHD_Result stub_respond_json(struct MHD_Connection *conn, unsigned status, struct nc_buf *body,
                                  int built, const char *allow);
/* {"error": msg} with status. */
enum MHD_Result stub_respond_error(struct MHD_Connection *conn, unsigned status, const char *msg,
                                   const char *allow);

/* ---- catalogue.c: the deterministic recommendations body ---- */

/* Appends {"query": query, "items": [limit items]} to out. 0, or -1 when
 * memory runs out (out may then hold a partial body). */
int stub_catalogue_body(struct nc_buf *out, const char *query, int limit);

/* ---- shared state ---- */

enum stub_mode {
    STUB_MODE_OK,
    STUB_MODE_FAIL,
    STUB_MODE_NOTFOUND,
    STUB_MODE_HANG,
    /* faulty.c: the misbehaving answers of the fault-injection tests */
    STUB_MODE_GARBAGE,
    STUB_MODE_HUGE,
    STUB_MODE_TRUNCATE,
    STUB_MODE_TRICKLE
};
#define STUB_N_MODES 8

enum stub_phase { STUB_PHASE_NEW, STUB_PHASE_PARKED, STUB_PHASE_RESUMED };

/* Per-request state, in *req_cls: allocated by the first call of
 * stub_route, freed by stub_request_completed. */
struct stub_pending {
    struct MHD_Connection *conn;
    struct stub *st; /* the one instance (faulty.c's content readers need it) */
    enum stub_phase phase;
    bool counted;        /* included in stub.parked */
    bool drained;        /* resumed by shutdown: answer 503 */
    enum stub_mode mode; /* mode to answer by (taken at arrival, or at release from hang) */
    int64_t due_us;      /* monotonic time (nc_now_us) the latency has elapsed */
    int limit;
    size_t heap_idx; /* SIZE_MAX when not in the heap */
    bool in_hang;
    struct stub_pending *prev, *next; /* hang list */
    struct stub_pending *ready_next;  /* the timer thread's batch to resume */
    struct nc_buf body;               /* PUT /mode upload; truncate/trickle: the answer */
    bool body_too_big;
};

/* The one instance lives in main(); server.c sets it up and tears it down. */
struct stub {
    pthread_mutex_t lock; /* guards everything below but calls, daemon and timer */
    pthread_cond_t wake;  /* timer thread: heap changed, stopping or exiting */
    pthread_cond_t drained;
    enum stub_mode mode;
    long latency_ms;
    double fail_rate;
    bool stopping;
    bool timer_exit;
    struct stub_pending **heap; /* min-heap on due_us */
    size_t heap_len, heap_cap;
    struct stub_pending *hang_head;
    size_t parked; /* decided to suspend and not yet answered or freed */
    atomic_ulong calls;
    struct MHD_Daemon *daemon;
    pthread_t timer;
};

/* ---- park.c: parked requests, the timer thread, the drain ---- */

/* Caller holds lock. Reserves room for one more parked request, counts it
 * (shutdown then waits for it) and sets its due time. -1: out of memory. */
int stub_park_begin(struct stub *st, struct stub_pending *req, long latency_ms);
/* After MHD_suspend_connection: files req in the heap or the hang list and
 * wakes the timer. Takes the lock. */
void stub_park_file(struct stub *st, struct stub_pending *req);
/* Caller holds lock. Moves every hanging request to the heap, answering by
 * the current mode; each keeps its own due time. */
void stub_park_release_hang(struct stub *st);
/* Caller holds lock. req stops counting as parked. */
void stub_park_uncount(struct stub *st, struct stub_pending *req);
/* Completed callback: unlinks req from everything. Takes the lock. */
void stub_park_forget(struct stub *st, struct stub_pending *req);
/* The timer thread: 0 or -1. stop joins it. */
int stub_timer_start(struct stub *st);
void stub_timer_stop(struct stub *st);
/* Stop parking, resume everything parked (answered 503) and wait until no
 * connection is left suspended. 0, or -1 after STUB_DRAIN_TIMEOUT_MS. */
int stub_park_drain(struct stub *st);

/* ---- mode.c: GET and PUT /mode ---- */

extern const char *const stub_mode_names[STUB_N_MODES];
enum MHD_Result stub_mode_get(struct stub *st, struct stub_pending *req);
/* Final call of PUT /mode (req->body complete). */
enum MHD_Result stub_mode_put(struct stub *st, struct stub_pending *req);

/* ---- faulty.c: answers of the modes garbage, huge, truncate, trickle ---- */

/* Queues the answer of a misbehaving mode for a /recommendations request
 * whose latency is over. */
enum MHD_Result stub_fault_answer(struct stub *st, struct stub_pending *req, enum stub_mode mode);

/* ---- routes.c: libmicrohttpd callbacks ---- */

enum MHD_Result stub_route(void *cls, struct MHD_Connection *conn, const char *url,
                           const char *method, const char *version, const char *upload_data,
                           size_t *upload_data_size, void **req_cls);
void stub_request_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                            enum MHD_RequestTerminationCode toe);

/* ---- server.c: life cycle ---- */

/* Initialises st from cfg, starts the timer thread and the daemon, logs
 * "listening". Signals must already be blocked. 0, or -1 (logged; nothing
 * left running). */
int stub_start(struct stub *st, const struct stub_config *cfg);
/* Drains, stops the timer and the daemon, frees st. 0, or -1 when requests
 * did not drain in time (logged; the daemon is then left running, since
 * MHD_stop_daemon aborts on a suspended connection). */
int stub_stop(struct stub *st);

#endif
