/* recs.c - GET /products/recommendations (see recs.h). */
#include "normcache/recs.h"

#include "normcache/http.h"

int nc_recs_worker_init(struct nc_worker *w, int epfd)
{
    (void)w;
    (void)epfd;
    return 0;
}

void nc_recs_worker_shutdown(struct nc_worker *w)
{
    (void)w;
}

void nc_recs_worker_free(struct nc_worker *w)
{
    (void)w;
}

void nc_recs_on_event(struct nc_worker *w, void *ptr, uint32_t events)
{
    (void)w;
    (void)ptr;
    (void)events;
}

void nc_recs_tick(struct nc_worker *w, int64_t now_ms)
{
    (void)w;
    (void)now_ms;
}

int nc_recs_next_timeout_ms(struct nc_worker *w, int64_t now_ms)
{
    (void)w;
    (void)now_ms;
    return -1;
}

enum MHD_Result nc_handle_recommendations(struct nc_req *r, const char *upload, size_t *size)
{
    (void)upload;
    if (!size)
        return MHD_YES; /* completion notice */
    return nc_req_problem(r, 501, "not_implemented", "Not Implemented",
                          "The recommendations endpoint is not built yet.");
}
