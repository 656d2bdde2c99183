/*
 * upstream-stub: a stand-in for the product service that normcache caches.
 *
 * It answers GET /recommendations slowly (STUB_LATENCY_MS), deterministically
 * (the body is derived from a hash of the query) and can be told at run time
 * to fail, to answer 404 or to hang (PUT /mode), so that tests and the
 * benchmark can drive every upstream behaviour the cache must survive.
 * GET /stats counts the recommendation requests received, which is how the
 * stampede tests prove that 1000 callers made exactly one upstream call.
 *
 * Threading model. One libmicrohttpd epoll thread serves every connection.
 * A slow request is never slept on: the access handler suspends the
 * connection and files it in a min-heap of wake-up times (or, in "hang" mode,
 * in a list released when the mode changes). A timer thread pops due entries
 * and resumes their connections; libmicrohttpd then calls the access handler
 * again, which queues the answer. So 1000 sleeping requests cost 1000 small
 * structs, not 1000 threads, and /stats answers at once meanwhile.
 *
 * Lifetime of a parked request (struct pending):
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
 * Shutdown (SIGTERM/SIGINT): stop parking, resume every parked request
 * (answered 503), wait until none is left suspended (MHD_stop_daemon must not
 * see a suspended connection), stop the timer thread, stop the daemon, exit 0.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cJSON.h>
#include <microhttpd.h>

#include "normcache/hash.h"

#define PROG "upstream-stub"

/* Bounds of the request and setting values this stub accepts. */
#define LATENCY_MAX_MS 3600000L /* an hour: longer is surely a typo */
#define LIMIT_DEFAULT 10
#define LIMIT_MAX 50
#define MODE_BODY_MAX 4096 /* PUT /mode bodies are a few dozen bytes */
#define CONN_LIMIT 4096    /* must exceed the 1000+ concurrent callers of the tests */
#define DRAIN_TIMEOUT_MS 5000

/* ===================================================================== */
/* Logging: one JSON line per event on stderr                            */
/* ===================================================================== */

/* port < 0: none. Scripts read the port of a STUB_PORT=0 stub from the "listening" line. */
static void log_port(const char *level, const char *event, const char *msg, long port)
{
    struct timespec ts;
    cJSON *line = cJSON_CreateObject();
    char *text;

    if (line == NULL)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    cJSON_AddNumberToObject(line, "ts", (double)ts.tv_sec + ts.tv_nsec / 1e9);
    cJSON_AddStringToObject(line, "level", level);
    cJSON_AddStringToObject(line, "component", PROG);
    cJSON_AddStringToObject(line, "event", event);
    if (msg != NULL)
        cJSON_AddStringToObject(line, "msg", msg);
    if (port >= 0)
        cJSON_AddNumberToObject(line, "port", (double)port);
    text = cJSON_PrintUnformatted(line);
    cJSON_Delete(line);
    if (text == NULL)
        return;
    fprintf(stderr, "%s\n", text);
    free(text);
}

static void log_line(const char *level, const char *event, const char *msg)
{
    log_port(level, event, msg, -1);
}

/* libmicrohttpd's own errors go into the same stream, one JSON line each. */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    size_t len;

    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    len = strlen(buf);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    log_line("warn", "mhd", buf);
}

/* ===================================================================== */
/* Settings: one table drives loading, validation and --help             */
/* ===================================================================== */

enum setting_type { SET_PORT, SET_ADDR, SET_LATENCY, SET_RATE };

struct setting {
    const char *name;
    enum setting_type type;
    const char *def;
    const char *accepted; /* what a valid value looks like, for errors and --help */
    const char *help;
};

static const struct setting settings[] = {
    {"STUB_PORT", SET_PORT, "8081", "an integer 0..65535 (0: any free port)",
     "TCP port to listen on"},
    {"STUB_BIND_ADDR", SET_ADDR, "127.0.0.1", "a numeric IPv4 or IPv6 address",
     "address to listen on"},
    {"STUB_LATENCY_MS", SET_LATENCY, "150", "an integer 0..3600000",
     "delay before each /recommendations answer (PUT /mode changes it)"},
    {"STUB_FAIL_RATE", SET_RATE, "0", "a number 0..1",
     "probability that a /recommendations answer in mode ok is a 500"},
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

struct stub_config {
    unsigned port;
    struct sockaddr_storage addr; /* port filled in by config_load */
    socklen_t addr_len;
    char addr_text[64]; /* as given, for the log */
    long latency_ms;
    double fail_rate;
};

/* Strict decimal integer: digits only (no sign, blanks or suffix), in [min, max]. */
static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    if (s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Strict probability: a finite decimal number in [0, 1], nothing around it. */
static int parse_rate(const char *s, double *out)
{
    char *end;
    double v;

    if ((s[0] < '0' || s[0] > '9') && s[0] != '.')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0.0 || v > 1.0)
        return -1;
    *out = v;
    return 0;
}

static int parse_addr(const char *s, struct stub_config *cfg)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)&cfg->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&cfg->addr;

    memset(&cfg->addr, 0, sizeof(cfg->addr));
    if (inet_pton(AF_INET, s, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        cfg->addr_len = sizeof(*in4);
        return 0;
    }
    if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        cfg->addr_len = sizeof(*in6);
        return 0;
    }
    return -1;
}

static int setting_apply(const struct setting *set, const char *value, struct stub_config *cfg)
{
    long v;

    switch (set->type) {
    case SET_PORT:
        if (parse_long(value, 0, 65535, &v) != 0)
            return -1;
        cfg->port = (unsigned)v;
        return 0;
    case SET_ADDR:
        if (strlen(value) >= sizeof(cfg->addr_text) || parse_addr(value, cfg) != 0)
            return -1;
        strcpy(cfg->addr_text, value);
        return 0;
    case SET_LATENCY:
        return parse_long(value, 0, LATENCY_MAX_MS, &cfg->latency_ms);
    case SET_RATE:
        return parse_rate(value, &cfg->fail_rate);
    }
    return -1;
}

/*
 * Read every setting from the environment (an unset variable takes its
 * default; a set but empty one is invalid, like any other bad value, so that
 * a typo never silently becomes a default). On the first bad value, print one
 * line naming it and return -1.
 */
static int config_load(struct stub_config *cfg)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *value = getenv(settings[i].name);

        if (value == NULL)
            value = settings[i].def;
        if (setting_apply(&settings[i], value, cfg) != 0) {
            fprintf(stderr, PROG ": invalid %s=\"%s\": expected %s\n", settings[i].name, value,
                    settings[i].accepted);
            return -1;
        }
    }
    if (cfg->addr.ss_family == AF_INET)
        ((struct sockaddr_in *)&cfg->addr)->sin_port = htons((uint16_t)cfg->port);
    else
        ((struct sockaddr_in6 *)&cfg->addr)->sin6_port = htons((uint16_t)cfg->port);
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: " PROG " [--help]\n\n"
                 "A stand-in for the product service behind normcache.\n\n"
                 "Environment:\n");
    for (size_t i = 0; i < N_SETTINGS; i++)
        fprintf(out, "  %-16s %s\n  %-16s default %s; %s\n", settings[i].name, settings[i].help, "",
                settings[i].def, settings[i].accepted);
    fprintf(out, "\nRoutes:\n"
                 "  GET /recommendations?query=<text>[&limit=1..50]   deterministic items\n"
                 "  GET /stats                  {\"calls\": N}, recommendation requests so far\n"
                 "  GET /mode, PUT /mode        {\"mode\": \"ok\"|\"fail\"|\"notfound\"|\"hang\",\n"
                 "                               \"latency_ms\": N, \"fail_rate\": 0..1}\n"
                 "  GET /healthz                200\n");
}

/* ===================================================================== */
/* Shared state                                                          */
/* ===================================================================== */

enum stub_mode { MODE_OK, MODE_FAIL, MODE_NOTFOUND, MODE_HANG };

static const char *const mode_names[] = {"ok", "fail", "notfound", "hang"};

enum phase { PHASE_NEW, PHASE_PARKED, PHASE_RESUMED };

/* Per-request state, in *req_cls; freed by request_completed. */
struct pending {
    struct MHD_Connection *conn;
    enum phase phase;
    bool counted;        /* included in stub.parked */
    bool drained;        /* resumed by shutdown: answer 503 */
    enum stub_mode mode; /* mode to answer by (taken at arrival, or at release from hang) */
    uint64_t due_ns;     /* monotonic time the latency has elapsed */
    int limit;
    size_t heap_idx; /* SIZE_MAX when not in the heap */
    bool in_hang;
    struct pending *prev, *next; /* hang list */
    struct pending *ready_next;  /* the timer thread's batch to resume */
    char *body;                  /* PUT /mode upload */
    size_t body_len;
    bool body_too_big;
};

struct stub {
    pthread_mutex_t lock; /* guards everything below but calls */
    pthread_cond_t wake;  /* timer thread: heap changed, stopping or exiting */
    pthread_cond_t drained;
    enum stub_mode mode;
    long latency_ms;
    double fail_rate;
    uint64_t rng; /* splitmix64 state for fail-rate draws */
    bool stopping;
    bool timer_exit;
    struct pending **heap; /* min-heap on due_ns */
    size_t heap_len, heap_cap;
    struct pending *hang_head;
    size_t parked; /* decided to suspend and not yet answered or freed */
    atomic_ulong calls;
};

static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* ---- min-heap of parked requests, keyed by due_ns; caller holds lock ---- */

static void heap_set(struct stub *st, size_t i, struct pending *p)
{
    st->heap[i] = p;
    p->heap_idx = i;
}

static void heap_sift_up(struct stub *st, size_t i)
{
    struct pending *p = st->heap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (st->heap[parent]->due_ns <= p->due_ns)
            break;
        heap_set(st, i, st->heap[parent]);
        i = parent;
    }
    heap_set(st, i, p);
}

static void heap_sift_down(struct stub *st, size_t i)
{
    struct pending *p = st->heap[i];

    for (;;) {
        size_t child = 2 * i + 1;

        if (child >= st->heap_len)
            break;
        if (child + 1 < st->heap_len && st->heap[child + 1]->due_ns < st->heap[child]->due_ns)
            child++;
        if (p->due_ns <= st->heap[child]->due_ns)
            break;
        heap_set(st, i, st->heap[child]);
        i = child;
    }
    heap_set(st, i, p);
}

/* Capacity is reserved before a request parks (heap_cap >= parked), so this cannot fail. */
static void heap_push(struct stub *st, struct pending *p)
{
    st->heap[st->heap_len] = p;
    p->heap_idx = st->heap_len++;
    heap_sift_up(st, p->heap_idx);
}

static void heap_remove(struct stub *st, struct pending *p)
{
    size_t i = p->heap_idx;
    struct pending *last = st->heap[--st->heap_len];

    p->heap_idx = SIZE_MAX;
    if (i == st->heap_len)
        return;
    heap_set(st, i, last);
    heap_sift_down(st, i);
    heap_sift_up(st, last->heap_idx);
}

/* Make room for one more parked request: the heap may have to hold them all at once. */
static int heap_reserve(struct stub *st, size_t need)
{
    struct pending **grown;
    size_t cap;

    if (st->heap_cap >= need)
        return 0;
    cap = st->heap_cap ? st->heap_cap * 2 : 256;
    while (cap < need)
        cap *= 2;
    grown = realloc(st->heap, cap * sizeof(*grown));
    if (grown == NULL)
        return -1;
    st->heap = grown;
    st->heap_cap = cap;
    return 0;
}

/* ---- hang list; caller holds lock ---- */

static void hang_push(struct stub *st, struct pending *p)
{
    p->prev = NULL;
    p->next = st->hang_head;
    if (st->hang_head != NULL)
        st->hang_head->prev = p;
    st->hang_head = p;
    p->in_hang = true;
}

static void hang_remove(struct stub *st, struct pending *p)
{
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        st->hang_head = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    p->in_hang = false;
}

/* A parked request stops counting: wake main if it waits for the last one. */
static void uncount(struct stub *st, struct pending *p)
{
    if (!p->counted)
        return;
    p->counted = false;
    if (--st->parked == 0)
        pthread_cond_broadcast(&st->drained);
}

/* ===================================================================== */
/* Timer thread: resumes requests whose latency has elapsed              */
/* ===================================================================== */

/*
 * Sleeps until the earliest due time (or a signal that the heap changed),
 * then resumes every due connection. While stopping, everything parked is
 * due at once and answered 503. Runs until timer_exit.
 */
static void *timer_main(void *arg)
{
    struct stub *st = arg;

    pthread_mutex_lock(&st->lock);
    while (!st->timer_exit) {
        uint64_t now = mono_ns();
        struct pending *batch = NULL;

        if (st->stopping) {
            while (st->hang_head != NULL) {
                struct pending *p = st->hang_head;

                hang_remove(st, p);
                p->drained = true;
                p->phase = PHASE_RESUMED;
                p->ready_next = batch;
                batch = p;
            }
        }
        while (st->heap_len > 0 && (st->stopping || st->heap[0]->due_ns <= now)) {
            struct pending *p = st->heap[0];

            heap_remove(st, p);
            if (st->stopping && p->due_ns > now)
                p->drained = true;
            p->phase = PHASE_RESUMED;
            p->ready_next = batch;
            batch = p;
        }
        if (batch != NULL) {
            /*
             * Resume outside our lock. Each connection is still suspended, so
             * it cannot be closed or freed before its own resume call; right
             * after that call it can be, so read the next link first.
             */
            pthread_mutex_unlock(&st->lock);
            while (batch != NULL) {
                struct pending *next = batch->ready_next;

                MHD_resume_connection(batch->conn);
                batch = next;
            }
            pthread_mutex_lock(&st->lock);
            continue;
        }
        if (st->heap_len > 0) {
            uint64_t due = st->heap[0]->due_ns;
            struct timespec ts = {.tv_sec = (time_t)(due / 1000000000u),
                                  .tv_nsec = (long)(due % 1000000000u)};

            pthread_cond_timedwait(&st->wake, &st->lock, &ts);
        } else {
            pthread_cond_wait(&st->wake, &st->lock);
        }
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

/* ===================================================================== */
/* Responses                                                             */
/* ===================================================================== */

/* Queue doc (consumed, may be NULL after a failed allocation) as JSON. */
static enum MHD_Result respond_json(struct MHD_Connection *conn, unsigned status, cJSON *doc,
                                    const char *allow)
{
    static const char oom[] = "{\"error\":\"out of memory\"}";
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char *text = doc != NULL ? cJSON_PrintUnformatted(doc) : NULL;

    cJSON_Delete(doc);
    if (text != NULL) {
        resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL)
            free(text);
    } else {
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        resp =
            MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
    }
    if (resp == NULL)
        return MHD_NO; /* nothing can be sent: drop the connection */
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") == MHD_NO ||
        (allow != NULL && MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow) == MHD_NO)) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result respond_error(struct MHD_Connection *conn, unsigned status, const char *msg,
                                     const char *allow)
{
    cJSON *doc = cJSON_CreateObject();

    if (doc != NULL && cJSON_AddStringToObject(doc, "error", msg) == NULL) {
        cJSON_Delete(doc);
        doc = NULL;
    }
    return respond_json(conn, status, doc, allow);
}

/* ===================================================================== */
/* Recommendations                                                       */
/* ===================================================================== */

static const char *const adjectives[] = {"Amber", "Brass",   "Cedar",  "Copper", "Dune",    "Ember",
                                         "Fjord", "Granite", "Harbor", "Indigo", "Juniper", "Linen",
                                         "Maple", "Nordic",  "Olive",  "Slate"};
static const char *const nouns[] = {"Kettle", "Lamp",   "Chair",  "Mug",   "Blanket", "Desk",
                                    "Shelf",  "Vase",   "Clock",  "Rug",   "Pillow",  "Stool",
                                    "Bowl",   "Mirror", "Basket", "Teapot"};

/*
 * The body for (query, limit). Items come from a generator seeded by the
 * query's hash, so a smaller limit gives a prefix of a larger one, and scores
 * fall strictly with the rank (each rank owns a 0.020-wide band).
 */
static cJSON *recommendations_build(const char *query, int limit)
{
    uint64_t seed = nc_fnv1a64(query, strlen(query)) /* stable: one query, one body */;
    cJSON *root = cJSON_CreateObject();
    cJSON *items;

    if (root == NULL)
        return NULL;
    if (cJSON_AddStringToObject(root, "query", query) == NULL ||
        (items = cJSON_AddArrayToObject(root, "items")) == NULL)
        goto fail;
    for (int i = 0; i < limit; i++) {
        uint64_t r = splitmix64(&seed);
        char sku[32], name[64];
        cJSON *item = cJSON_CreateObject();

        if (item == NULL)
            goto fail;
        cJSON_AddItemToArray(items, item);
        snprintf(sku, sizeof(sku), "SKU-%08" PRIX64, r >> 32);
        snprintf(name, sizeof(name), "%s %s", adjectives[(r >> 4) & 15], nouns[(r >> 8) & 15]);
        if (cJSON_AddStringToObject(item, "sku", sku) == NULL ||
            cJSON_AddStringToObject(item, "name", name) == NULL ||
            cJSON_AddNumberToObject(item, "score",
                                    (double)(1000 - 20 * i - (int)(r % 20)) / 1000.0) == NULL)
            goto fail;
    }
    return root;
fail:
    cJSON_Delete(root);
    return NULL;
}

/* Answer a recommendation request whose latency is over, per mode. */
static enum MHD_Result recommendations_answer(struct stub *st, struct pending *req)
{
    enum stub_mode mode = req->mode;
    const char *query;

    if (req->drained)
        return respond_error(req->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    if (mode == MODE_OK) {
        pthread_mutex_lock(&st->lock);
        if (st->fail_rate > 0 &&
            (double)(splitmix64(&st->rng) >> 11) / 9007199254740992.0 < st->fail_rate)
            mode = MODE_FAIL;
        pthread_mutex_unlock(&st->lock);
    }
    switch (mode) {
    case MODE_OK:
        query = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "query");
        return respond_json(req->conn, MHD_HTTP_OK,
                            recommendations_build(query != NULL ? query : "", req->limit), NULL);
    case MODE_FAIL:
        return respond_error(req->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "injected failure", NULL);
    case MODE_NOTFOUND:
        return respond_error(req->conn, MHD_HTTP_NOT_FOUND, "not found", NULL);
    case MODE_HANG:
        break; /* never answered in hang mode: released requests carry the new mode */
    }
    return respond_error(req->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "hanging", NULL);
}

/*
 * First call for GET /recommendations: validate, then either answer at once
 * (no latency, not hanging) or suspend the connection and park it.
 */
static enum MHD_Result recommendations_arrive(struct stub *st, struct pending *req)
{
    const char *query = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "query");
    const char *limit = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "limit");
    long lim = LIMIT_DEFAULT;
    long latency_ms;

    if (query == NULL)
        return respond_error(req->conn, MHD_HTTP_BAD_REQUEST, "query is required", NULL);
    if (limit != NULL && parse_long(limit, 1, LIMIT_MAX, &lim) != 0)
        return respond_error(req->conn, MHD_HTTP_BAD_REQUEST, "limit must be an integer 1..50",
                             NULL);
    req->limit = (int)lim;

    pthread_mutex_lock(&st->lock);
    if (st->stopping) {
        pthread_mutex_unlock(&st->lock);
        return respond_error(req->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    }
    req->mode = st->mode;
    latency_ms = st->latency_ms;
    if (req->mode != MODE_HANG && latency_ms == 0) {
        pthread_mutex_unlock(&st->lock);
        return recommendations_answer(st, req);
    }
    if (heap_reserve(st, st->parked + 1) != 0) {
        pthread_mutex_unlock(&st->lock);
        return respond_error(req->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
    }
    /* Counted before suspending, so shutdown waits for it even if it parks late. */
    st->parked++;
    req->counted = true;
    req->due_ns = mono_ns() + (uint64_t)latency_ms * 1000000u;
    pthread_mutex_unlock(&st->lock);

    /* Suspend before the entry becomes visible: resuming a connection that is not
     * suspended yet is undefined behaviour in libmicrohttpd. */
    MHD_suspend_connection(req->conn);

    pthread_mutex_lock(&st->lock);
    req->phase = PHASE_PARKED;
    if (req->mode == MODE_HANG && st->mode != MODE_HANG)
        req->mode = st->mode; /* released in between: answer by the new mode */
    if (req->mode == MODE_HANG && !st->stopping)
        hang_push(st, req);
    else
        heap_push(st, req);
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->lock);
    return MHD_YES;
}

/* ===================================================================== */
/* Mode                                                                  */
/* ===================================================================== */

/* The current state as JSON; caller holds lock. */
static cJSON *mode_state(const struct stub *st)
{
    cJSON *doc = cJSON_CreateObject();

    if (doc == NULL)
        return NULL;
    if (cJSON_AddStringToObject(doc, "mode", mode_names[st->mode]) == NULL ||
        cJSON_AddNumberToObject(doc, "latency_ms", (double)st->latency_ms) == NULL ||
        cJSON_AddNumberToObject(doc, "fail_rate", st->fail_rate) == NULL) {
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

struct mode_change {
    bool has_mode, has_latency, has_rate;
    enum stub_mode mode;
    long latency_ms;
    double fail_rate;
};

/* Validate a PUT /mode body completely before anything changes. */
static int mode_parse(const char *body, size_t len, struct mode_change *chg, const char **err)
{
    cJSON *doc = cJSON_ParseWithLength(body, len);
    const cJSON *field;
    int rc = -1;

    memset(chg, 0, sizeof(*chg));
    if (!cJSON_IsObject(doc)) {
        *err = "body must be a JSON object";
        goto out;
    }
    cJSON_ArrayForEach(field, doc)
    {
        if (strcmp(field->string, "mode") == 0 && !chg->has_mode) {
            size_t m;

            for (m = 0; m < 4; m++)
                if (cJSON_IsString(field) && strcmp(field->valuestring, mode_names[m]) == 0)
                    break;
            if (m == 4) {
                *err = "mode must be one of ok, fail, notfound, hang";
                goto out;
            }
            chg->has_mode = true;
            chg->mode = (enum stub_mode)m;
        } else if (strcmp(field->string, "latency_ms") == 0 && !chg->has_latency) {
            double v = cJSON_GetNumberValue(field);

            if (!cJSON_IsNumber(field) || v != floor(v) || v < 0 || v > LATENCY_MAX_MS) {
                *err = "latency_ms must be an integer 0..3600000";
                goto out;
            }
            chg->has_latency = true;
            chg->latency_ms = (long)v;
        } else if (strcmp(field->string, "fail_rate") == 0 && !chg->has_rate) {
            double v = cJSON_GetNumberValue(field);

            if (!cJSON_IsNumber(field) || !(v >= 0.0 && v <= 1.0)) {
                *err = "fail_rate must be a number 0..1";
                goto out;
            }
            chg->has_rate = true;
            chg->fail_rate = v;
        } else {
            *err = "unknown or repeated field (accepted: mode, latency_ms, fail_rate)";
            goto out;
        }
    }
    rc = 0;
out:
    cJSON_Delete(doc);
    return rc;
}

/* Final call of PUT /mode: apply the change; leaving hang releases the hanging requests. */
static enum MHD_Result mode_put(struct stub *st, struct pending *req)
{
    struct mode_change chg;
    const char *err = NULL;
    enum stub_mode old;
    cJSON *state;

    if (req->body_too_big)
        return respond_error(req->conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large", NULL);
    if (mode_parse(req->body != NULL ? req->body : "", req->body_len, &chg, &err) != 0)
        return respond_error(req->conn, MHD_HTTP_BAD_REQUEST, err, NULL);

    pthread_mutex_lock(&st->lock);
    old = st->mode;
    if (chg.has_mode)
        st->mode = chg.mode;
    if (chg.has_latency)
        st->latency_ms = chg.latency_ms;
    if (chg.has_rate)
        st->fail_rate = chg.fail_rate;
    if (old == MODE_HANG && st->mode != MODE_HANG) {
        /* Each keeps its own due time: the latency read on arrival still applies. */
        while (st->hang_head != NULL) {
            struct pending *p = st->hang_head;

            hang_remove(st, p);
            p->mode = st->mode;
            heap_push(st, p);
        }
        pthread_cond_signal(&st->wake);
    }
    state = mode_state(st);
    pthread_mutex_unlock(&st->lock);
    return respond_json(req->conn, MHD_HTTP_OK, state, NULL);
}

/* ===================================================================== */
/* libmicrohttpd callbacks                                               */
/* ===================================================================== */

static int body_append(struct pending *req, const char *data, size_t len)
{
    char *grown;

    if (req->body_too_big || req->body_len + len > MODE_BODY_MAX) {
        req->body_too_big = true;
        return 0;
    }
    grown = realloc(req->body, req->body_len + len + 1);
    if (grown == NULL)
        return -1;
    memcpy(grown + req->body_len, data, len);
    req->body_len += len;
    grown[req->body_len] = '\0';
    req->body = grown;
    return 0;
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **req_cls)
{
    struct stub *st = cls;
    struct pending *req = *req_cls;
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    bool put = strcmp(method, MHD_HTTP_METHOD_PUT) == 0;
    cJSON *doc;

    (void)version;
    if (req == NULL) {
        req = calloc(1, sizeof(*req));
        if (req == NULL)
            return MHD_NO;
        req->conn = conn;
        req->heap_idx = SIZE_MAX;
        *req_cls = req;
        if (strcmp(url, "/recommendations") == 0) {
            /* Counted on arrival, whatever happens next: the stampede tests rely on it. */
            atomic_fetch_add(&st->calls, 1);
            if (!get)
                return respond_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
                                     "GET");
            return recommendations_arrive(st, req);
        }
        if (put && strcmp(url, "/mode") == 0)
            return MHD_YES; /* the body follows */
    }

    /* Reading phase unlocked is safe: the timer writes it before MHD_resume_connection,
     * and libmicrohttpd's own locking orders that before this call. */
    if (req->phase == PHASE_PARKED)
        return MHD_YES; /* not expected: libmicrohttpd does not call in while suspended */
    if (req->phase == PHASE_RESUMED) {
        /* A request drained at shutdown keeps counting until its 503 has
         * been sent (the completed callback): main stops the daemon only
         * then, or the answer could be cut off. */
        if (!req->drained) {
            pthread_mutex_lock(&st->lock);
            uncount(st, req);
            pthread_mutex_unlock(&st->lock);
        }
        req->phase = PHASE_NEW;
        return recommendations_answer(st, req);
    }

    if (strcmp(url, "/mode") == 0) {
        if (put) {
            if (*upload_data_size > 0) {
                int rc = body_append(req, upload_data, *upload_data_size);

                *upload_data_size = 0;
                return rc == 0 ? MHD_YES : MHD_NO;
            }
            return mode_put(st, req);
        }
        if (!get)
            return respond_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
                                 "GET, PUT");
        pthread_mutex_lock(&st->lock);
        doc = mode_state(st);
        pthread_mutex_unlock(&st->lock);
        return respond_json(conn, MHD_HTTP_OK, doc, NULL);
    }
    if (strcmp(url, "/stats") == 0) {
        if (!get)
            return respond_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed", "GET");
        doc = cJSON_CreateObject();
        if (doc != NULL &&
            cJSON_AddNumberToObject(doc, "calls", (double)atomic_load(&st->calls)) == NULL) {
            cJSON_Delete(doc);
            doc = NULL;
        }
        return respond_json(conn, MHD_HTTP_OK, doc, NULL);
    }
    if (strcmp(url, "/healthz") == 0) {
        if (!get)
            return respond_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed", "GET");
        doc = cJSON_CreateObject();
        if (doc != NULL && cJSON_AddStringToObject(doc, "status", "ok") == NULL) {
            cJSON_Delete(doc);
            doc = NULL;
        }
        return respond_json(conn, MHD_HTTP_OK, doc, NULL);
    }
    return respond_error(conn, MHD_HTTP_NOT_FOUND, "no such route", NULL);
}

/* Runs for answered and aborted requests alike; never while the connection is suspended. */
static void request_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct stub *st = cls;
    struct pending *req = *req_cls;

    (void)conn;
    (void)toe;
    if (req == NULL)
        return;
    pthread_mutex_lock(&st->lock);
    if (req->heap_idx != SIZE_MAX)
        heap_remove(st, req);
    if (req->in_hang)
        hang_remove(st, req);
    uncount(st, req);
    pthread_mutex_unlock(&st->lock);
    free(req->body);
    free(req);
    *req_cls = NULL;
}

/* ===================================================================== */
/* Start-up and shutdown                                                 */
/* ===================================================================== */

/* 1000+ concurrent clients need 1000+ descriptors: take all the hard limit allows. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_line("warn", "rlimit", strerror(errno));
}

static int stub_init(struct stub *st, const struct stub_config *cfg)
{
    pthread_condattr_t attr;

    memset(st, 0, sizeof(*st));
    st->mode = MODE_OK;
    st->latency_ms = cfg->latency_ms;
    st->fail_rate = cfg->fail_rate;
    st->rng = mono_ns() ^ ((uint64_t)getpid() << 32);
    atomic_init(&st->calls, 0);
    if (pthread_mutex_init(&st->lock, NULL) != 0)
        return -1;
    /* The timer's deadlines are monotonic, so its condition variable must be too. */
    if (pthread_condattr_init(&attr) != 0)
        goto fail_lock;
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&st->wake, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        goto fail_lock;
    }
    if (pthread_cond_init(&st->drained, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        pthread_cond_destroy(&st->wake);
        goto fail_lock;
    }
    pthread_condattr_destroy(&attr);
    return 0;
fail_lock:
    pthread_mutex_destroy(&st->lock);
    return -1;
}

static void stub_destroy(struct stub *st)
{
    free(st->heap);
    pthread_cond_destroy(&st->drained);
    pthread_cond_destroy(&st->wake);
    pthread_mutex_destroy(&st->lock);
}

/* Resume everything parked and wait until no connection is left suspended. */
static int stub_drain(struct stub *st)
{
    uint64_t deadline = mono_ns() + (uint64_t)DRAIN_TIMEOUT_MS * 1000000u;
    struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000u),
                          .tv_nsec = (long)(deadline % 1000000000u)};
    int rc = 0;

    pthread_mutex_lock(&st->lock);
    st->stopping = true;
    pthread_cond_signal(&st->wake);
    while (st->parked > 0 && rc == 0)
        if (pthread_cond_timedwait(&st->drained, &st->lock, &ts) == ETIMEDOUT)
            rc = -1;
    if (st->parked == 0)
        rc = 0;
    pthread_mutex_unlock(&st->lock);
    return rc;
}

static void timer_stop(struct stub *st, pthread_t timer)
{
    pthread_mutex_lock(&st->lock);
    st->timer_exit = true;
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->lock);
    pthread_join(timer, NULL);
}

static void log_listening(struct MHD_Daemon *daemon, const char *addr)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info != NULL ? info->port : 0u;
    char msg[128];

    snprintf(msg, sizeof(msg), "listening on %s port %u", addr, port);
    log_port("info", "listening", msg, (long)port);
}

int main(int argc, char **argv)
{
    struct stub_config cfg;
    struct stub st;
    struct MHD_Daemon *daemon;
    pthread_t timer;
    sigset_t sigs;
    int sig = 0;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, PROG ": unknown argument \"%s\" (try --help)\n", argv[i]);
        return 2;
    }
    memset(&cfg, 0, sizeof(cfg));
    if (config_load(&cfg) != 0)
        return 2;
    raise_nofile();
    if (stub_init(&st, &cfg) != 0) {
        log_line("error", "init", "cannot create locks");
        return 1;
    }

    /* Block the stop signals before any thread exists, so that every thread inherits
     * the mask and only sigwait below receives them. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (pthread_create(&timer, NULL, timer_main, &st) != 0) {
        log_line("error", "init", "cannot start the timer thread");
        stub_destroy(&st);
        return 1;
    }
    if (cfg.addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    daemon = MHD_start_daemon(
        flags, (uint16_t)cfg.port, NULL, NULL, handle_request, &st, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_logger, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&cfg.addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned)CONN_LIMIT, MHD_OPTION_NOTIFY_COMPLETED, request_completed, &st, MHD_OPTION_END);
    if (daemon == NULL) {
        char msg[96];

        snprintf(msg, sizeof(msg), "cannot listen on %s port %u", cfg.addr_text, cfg.port);
        log_line("error", "listen", msg);
        timer_stop(&st, timer);
        stub_destroy(&st);
        return 1;
    }
    log_listening(daemon, cfg.addr_text);

    while (sig != SIGINT && sig != SIGTERM)
        if (sigwait(&sigs, &sig) != 0)
            break;
    log_line("info", "stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");

    if (stub_drain(&st) != 0) {
        /* MHD_stop_daemon aborts on a suspended connection: leave without it. */
        log_line("error", "stopping", "suspended requests did not drain in time");
        return 1;
    }
    timer_stop(&st, timer);
    MHD_stop_daemon(daemon);
    stub_destroy(&st);
    log_line("info", "stopped", NULL);
    return 0;
}
