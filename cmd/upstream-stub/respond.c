/*
 * respond.c - the stub's JSON answers: how a number is spelled, and queuing
 * a built body (or a fixed "out of memory" 500 when building failed) with
 * its Content-Type and Allow headers.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "normcache/jsonstr.h"

#include "stub.h"

/*
 * The stub's bodies used to be printed by cJSON: numbers keep its spelling
 * ("1", not "1.0"; "0.987") so that a body keeps the exact bytes it had.
 */
int stub_json_number(struct nc_buf *out, double d)
{
    char tmp[32];
    double back = 0;

    if (!isfinite(d))
        return nc_buf_appends(out, "null");
    if (d >= INT_MIN && d <= INT_MAX && d == (double)(int)d)
        return nc_buf_printf(out, "%d", (int)d);
    snprintf(tmp, sizeof(tmp), "%1.15g", d);
    if (sscanf(tmp, "%lg", &back) != 1 || fabs(back - d) > fmax(fabs(back), fabs(d)) * DBL_EPSILON)
        snprintf(tmp, sizeof(tmp), "%1.17g", d);
    return nc_buf_appends(out, tmp);
}

enum MHD_Result stub_respond_json(struct MHD_Connection *conn, unsigned status, struct nc_buf *body,
                                  int built, const char *allow)
{
    static const char oom[] = "{\"error\":\"out of memory\"}";
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (built == 0 && body->len > 0) {
        /* MHD frees the data with free(): the buffer's memory is malloc'd. */
        resp = MHD_create_response_from_buffer(body->len, body->data, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL)
            nc_buf_free(body);
        nc_buf_init(body);
    } else {
        nc_buf_free(body);
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

enum MHD_Result stub_respond_error(struct MHD_Connection *conn, unsigned status, const char *msg,
                                   const char *allow)
{
    struct nc_buf body;
    int built;

    nc_buf_init(&body);
    built = nc_buf_appends(&body, "{\"error\":") == 0 &&
                    nc_jsonstr_append(&body, msg, strlen(msg), 0) == 0 &&
                    nc_buf_appendc(&body, '}') == 0
                ? 0
                : -1;
    return stub_respond_json(conn, status, &body, built, allow);
}
