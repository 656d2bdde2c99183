/*
 * routes.c - request handling: which path and method does what, the
 * validation of /recommendations' parameters, and its fault modes (ok, fail,
 * notfound, hang, fail_rate; the others in faulty.c) once its latency is over. Slow answers are
 * parked (park.c) between the first call of the access handler and the
 * call after the timer resumes the connection.
 */
#include <stdlib.h>
#include <string.h>

#include "normcache/rand.h"

#include "stub.h"

/* Answer a recommendation request whose latency is over, per mode. */
static enum MHD_Result recommendations_answer(struct stub *st, struct stub_pending *req)
{
    enum stub_mode mode = req->mode;
    const char *query;
    struct nc_buf body;
    int built;
    double fail_rate;

    if (req->drained)
        return stub_respond_error(req->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    if (mode == STUB_MODE_OK) {
        pthread_mutex_lock(&st->lock);
        fail_rate = st->fail_rate;
        pthread_mutex_unlock(&st->lock);
        if (fail_rate > 0 && nc_rand_unit() < fail_rate)
            mode = STUB_MODE_FAIL;
    }
    switch (mode) {
    case STUB_MODE_OK:
        query = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "query");
        nc_buf_init(&body);
        built = stub_catalogue_body(&body, query != NULL ? query : "", req->limit);
        return stub_respond_json(req->conn, MHD_HTTP_OK, &body, built, NULL);
    case STUB_MODE_FAIL:
        return stub_respond_error(req->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "injected failure",
                                  NULL);
    case STUB_MODE_NOTFOUND:
        return stub_respond_error(req->conn, MHD_HTTP_NOT_FOUND, "not found", NULL);
    case STUB_MODE_HANG:
        break; /* never answered in hang mode: released requests carry the new mode */
    default:
        return stub_fault_answer(st, req, mode);
    }
    return stub_respond_error(req->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "hanging", NULL);
}

/*
 * First call for GET /recommendations: validate, then either answer at once
 * (no latency, not hanging) or suspend the connection and park it.
 */
static enum MHD_Result recommendations_arrive(struct stub *st, struct stub_pending *req)
{
    const char *query = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "query");
    const char *limit = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "limit");
    long lim = STUB_LIMIT_DEFAULT;
    long latency_ms;

    if (query == NULL)
        return stub_respond_error(req->conn, MHD_HTTP_BAD_REQUEST, "query is required", NULL);
    if (limit != NULL && stub_parse_long(limit, 1, STUB_LIMIT_MAX, &lim) != 0)
        return stub_respond_error(req->conn, MHD_HTTP_BAD_REQUEST, "limit must be an integer 1..50",
                                  NULL);
    req->limit = (int)lim;

    pthread_mutex_lock(&st->lock);
    if (st->stopping) {
        pthread_mutex_unlock(&st->lock);
        return stub_respond_error(req->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    }
    req->mode = st->mode;
    latency_ms = st->latency_ms;
    if (req->mode != STUB_MODE_HANG && latency_ms == 0) {
        pthread_mutex_unlock(&st->lock);
        return recommendations_answer(st, req);
    }
    if (stub_park_begin(st, req, latency_ms) != 0) {
        pthread_mutex_unlock(&st->lock);
        return stub_respond_error(req->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
    }
    pthread_mutex_unlock(&st->lock);

    /* Suspend before the entry becomes visible: resuming a connection that is not
     * suspended yet is undefined behaviour in libmicrohttpd. */
    MHD_suspend_connection(req->conn);
    stub_park_file(st, req);
    return MHD_YES;
}

/* PUT /mode upload: beyond STUB_MODE_BODY_MAX the body is dropped (answered 413). */
static int body_append(struct stub_pending *req, const char *data, size_t len)
{
    if (req->body_too_big || req->body.len + len > STUB_MODE_BODY_MAX) {
        req->body_too_big = true;
        return 0;
    }
    return nc_buf_append(&req->body, data, len);
}

static enum MHD_Result respond_stats(struct stub *st, struct MHD_Connection *conn)
{
    struct nc_buf out;
    int built;

    nc_buf_init(&out);
    built = nc_buf_printf(&out, "{\"calls\":%lu}", atomic_load(&st->calls));
    return stub_respond_json(conn, MHD_HTTP_OK, &out, built, NULL);
}

static enum MHD_Result respond_health(struct MHD_Connection *conn)
{
    struct nc_buf out;
    int built;

    nc_buf_init(&out);
    built = nc_buf_appends(&out, "{\"status\":\"ok\"}");
    return stub_respond_json(conn, MHD_HTTP_OK, &out, built, NULL);
}

enum MHD_Result stub_route(void *cls, struct MHD_Connection *conn, const char *url,
                           const char *method, const char *version, const char *upload_data,
                           size_t *upload_data_size, void **req_cls)
{
    struct stub *st = cls;
    struct stub_pending *req = *req_cls;
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    bool put = strcmp(method, MHD_HTTP_METHOD_PUT) == 0;

    (void)version;
    if (req == NULL) {
        req = calloc(1, sizeof(*req));
        if (req == NULL)
            return MHD_NO;
        req->conn = conn;
        req->st = st;
        req->heap_idx = SIZE_MAX;
        nc_buf_init(&req->body);
        *req_cls = req;
        if (strcmp(url, "/recommendations") == 0) {
            /* Counted on arrival, whatever happens next: the stampede tests rely on it. */
            atomic_fetch_add(&st->calls, 1);
            if (!get)
                return stub_respond_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
                                          "GET");
            return recommendations_arrive(st, req);
        }
        if (put && strcmp(url, "/mode") == 0)
            return MHD_YES; /* the body follows */
    }

    /* Reading phase unlocked is safe: the timer writes it before MHD_resume_connection,
     * and libmicrohttpd's own locking orders that before this call. */
    if (req->phase == STUB_PHASE_PARKED)
        return MHD_YES; /* not expected: libmicrohttpd does not call in while suspended */
    if (req->phase == STUB_PHASE_RESUMED) {
        /* A request drained at shutdown keeps counting until its 503 has
         * been sent (the completed callback): the drain ends only then, or
         * the answer could be cut off. */
        if (!req->drained) {
            pthread_mutex_lock(&st->lock);
            stub_park_uncount(st, req);
            pthread_mutex_unlock(&st->lock);
        }
        req->phase = STUB_PHASE_NEW;
        return recommendations_answer(st, req);
    }

    if (strcmp(url, "/mode") == 0) {
        if (put) {
            if (*upload_data_size > 0) {
                int rc = body_append(req, upload_data, *upload_data_size);

                *upload_data_size = 0;
                return rc == 0 ? MHD_YES : MHD_NO;
            }
            return stub_mode_put(st, req);
        }
        if (!get)
            return stub_respond_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
                                      "GET, PUT");
        return stub_mode_get(st, req);
    }
    if (strcmp(url, "/stats") == 0) {
        if (!get)
            return stub_respond_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
                                      "GET");
        return respond_stats(st, conn);
    }
    if (strcmp(url, "/healthz") == 0) {
        if (!get)
            return stub_respond_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
                                      "GET");
        return respond_health(conn);
    }
    return stub_respond_error(conn, MHD_HTTP_NOT_FOUND, "no such route", NULL);
}

/* Runs for answered and aborted requests alike; never while the connection is suspended. */
void stub_request_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                            enum MHD_RequestTerminationCode toe)
{
    struct stub *st = cls;
    struct stub_pending *req = *req_cls;

    (void)conn;
    (void)toe;
    if (req == NULL)
        return;
    stub_park_forget(st, req);
    nc_buf_free(&req->body);
    free(req);
    *req_cls = NULL;
}
