/*
 * faulty.c - the /recommendations answers of the stub's misbehaving modes,
 * for the fault-injection tests (tests/integration/test_fault_upstream.sh):
 *
 *   garbage   200 application/json whose body is not JSON
 *   huge      200 application/json, a chunked body of STUB_HUGE_BYTES (a
 *             JSON string padded with 'a', generated as it is sent: the stub
 *             holds none of it)
 *   truncate  200 with the Content-Length of the whole body, half of it sent,
 *             then the connection is closed
 *   trickle   the normal body, one byte per STUB_TRICKLE_MS: between bytes
 *             the connection is suspended and parked like a slow request
 *             (park.c), so the stub's one thread stays free
 *
 * The content readers get the request (struct stub_pending) as their
 * closure: libmicrohttpd never calls them after the completed callback that
 * frees it.
 */
#include <string.h>
#include <sys/types.h>

#include "normcache/clock.h"

#include "stub.h"

static const char garbage_body[] = "<html><body>upstream says hello</body></html>\n";
static const char huge_head[] = "{\"pad\":\"";
static const char huge_tail[] = "\"}";

/* Queues resp (NULL: drop the connection) with a JSON Content-Type. */
static enum MHD_Result queue_json(struct MHD_Connection *conn, struct MHD_Response *resp)
{
    enum MHD_Result ret;

    if (resp == NULL)
        return MHD_NO;
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") == MHD_NO) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

static ssize_t huge_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    const uint64_t head = sizeof(huge_head) - 1, tail = sizeof(huge_tail) - 1;
    const uint64_t total = STUB_HUGE_BYTES;
    size_t n = 0;

    (void)cls;
    while (n < max && pos < total) {
        if (pos < head)
            buf[n] = huge_head[pos];
        else if (pos >= total - tail)
            buf[n] = huge_tail[pos - (total - tail)];
        else
            buf[n] = 'a';
        n++;
        pos++;
    }
    return n > 0 ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

/* truncate: the first half of req->body, then an error (the connection closes). */
static ssize_t truncate_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    const struct stub_pending *req = cls;
    uint64_t half = req->body.len / 2;
    size_t n;

    if (pos >= half)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    n = (size_t)(half - pos) < max ? (size_t)(half - pos) : max;
    memcpy(buf, req->body.data + pos, n);
    return (ssize_t)n;
}

/* trickle: one byte of req->body per STUB_TRICKLE_MS; parked in between. */
static ssize_t trickle_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stub_pending *req = cls;
    struct stub *st = req->st;
    int64_t now;

    if (req->phase == STUB_PHASE_RESUMED) {
        pthread_mutex_lock(&st->lock);
        if (!req->drained)
            stub_park_uncount(st, req);
        pthread_mutex_unlock(&st->lock);
        req->phase = STUB_PHASE_NEW;
    }
    if (req->drained)
        return MHD_CONTENT_READER_END_WITH_ERROR; /* shutting down: the drain waits for the close */
    if (pos >= req->body.len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    now = nc_now_us();
    if (now >= req->due_us && max > 0) {
        buf[0] = req->body.data[pos];
        req->due_us = now + (int64_t)STUB_TRICKLE_MS * 1000;
        return 1;
    }
    pthread_mutex_lock(&st->lock);
    if (st->stopping || stub_park_begin(st, req, (long)((req->due_us - now + 999) / 1000)) != 0) {
        pthread_mutex_unlock(&st->lock);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    pthread_mutex_unlock(&st->lock);
    MHD_suspend_connection(req->conn);
    stub_park_file(st, req);
    return 0;
}

enum MHD_Result stub_fault_answer(struct stub *st, struct stub_pending *req, enum stub_mode mode)
{
    struct MHD_Response *resp;
    const char *query;

    (void)st;
    switch (mode) {
    case STUB_MODE_GARBAGE:
        resp = MHD_create_response_from_buffer(sizeof(garbage_body) - 1, (void *)garbage_body,
                                               MHD_RESPMEM_PERSISTENT);
        return queue_json(req->conn, resp);
    case STUB_MODE_HUGE:
        resp =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, huge_read, NULL, NULL);
        return queue_json(req->conn, resp);
    case STUB_MODE_TRUNCATE:
    case STUB_MODE_TRICKLE:
        break;
    default:
        return stub_respond_error(req->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "no such fault", NULL);
    }
    query = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "query");
    nc_buf_free(&req->body);
    if (stub_catalogue_body(&req->body, query != NULL ? query : "", req->limit) != 0)
        return stub_respond_error(req->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
    req->due_us = 0; /* trickle: the first byte at once */
    resp = MHD_create_response_from_callback(
        req->body.len, 1024, mode == STUB_MODE_TRUNCATE ? truncate_read : trickle_read, req, NULL);
    return queue_json(req->conn, resp);
}
