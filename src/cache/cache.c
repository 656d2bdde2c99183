/* cache.c - the /cache/<ns> handler: the head checks every request gets,
 * dispatch by route, and the Redis plumbing the routes share (see
 * cache_int.h for the files). */
#include "normcache/cache.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "normcache/key.h"

#include "cache_int.h"

void nc_cache_on_settle(void *priv, redisReply *reply)
{
    (void)reply;
    nc_cache_settle(priv);
}

int nc_cache_issue_for(struct nc_req *r, nc_store_cb *cb, void *priv, int argc, const char **argv,
                       const size_t *lens)
{
    if (nc_store_command(r->w->store, cb, priv, argc, argv, lens) != 0)
        return -1;
    r->outstanding++;
    return 0;
}

int nc_cache_issue(struct nc_req *r, nc_store_cb *cb, int argc, const char **argv,
                   const size_t *lens)
{
    return nc_cache_issue_for(r, cb, r, argc, argv, lens);
}

int nc_cache_issue_master(struct nc_req *r, int i, nc_store_cb *cb, int argc, const char **argv,
                          const size_t *lens)
{
    if (nc_store_command_master(r->w->store, i, cb, r, argc, argv, lens) != 0)
        return -1;
    r->outstanding++;
    return 0;
}

int nc_cache_cluster(const struct nc_req *r)
{
    return r->w->cfg->redis_mode == NC_REDIS_CLUSTER;
}

/* Every callback ends here: the last outstanding reply resumes. */
void nc_cache_settle(struct nc_req *r)
{
    if (--r->outstanding == 0 && r->state == NC_REQ_WAITING)
        nc_req_resume(r);
}

void nc_cache_on_integer(void *priv, redisReply *reply)
{
    struct nc_req *r = priv;
    if (!reply)
        r->redis_failed = 1;
    else if (reply->type == REDIS_REPLY_INTEGER)
        r->num = reply->integer;
    else if (reply->type == REDIS_REPLY_ERROR)
        r->redis_failed = 2;
    nc_cache_settle(r);
}

static int ctype_is_json(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    return strncasecmp(ct, "application/json", n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static enum MHD_Result not_allowed(struct nc_req *r, const char *allow)
{
    nc_req_header(r, "Allow", allow);
    return nc_req_problem(r, 405, "method_not_allowed", "Method Not Allowed",
                          "This resource does not support the request method.");
}

/* Checks made once, before any body is read: the namespace (and for a
 * batch its operation), then for a body the media type and announced
 * size. */
static enum MHD_Result cache_head(struct nc_req *r)
{
    const char *ns = r->uri.data + 7; /* after "/cache/" */
    size_t rest = r->path_len - 7;
    const char *slash = memchr(ns, '/', rest);
    size_t nslen = slash ? (size_t)(slash - ns) : rest;
    size_t oplen = slash ? rest - nslen - 1 : 0;
    int mget = oplen == 5 && memcmp(slash + 1, "_mget", 5) == 0;
    int mset = oplen == 5 && memcmp(slash + 1, "_mset", 5) == 0;
    /* The method before the input (405 before 400), as on every route. */
    int post = r->route == NC_ROUTE_CACHE_MGET; /* the router's label for POST */
    if ((mget || mset) != post) {
        r->route = NC_ROUTE_OTHER;
        return not_allowed(r, post ? "GET, HEAD, PUT, DELETE" : "POST");
    }
    if (!nc_ns_valid(ns, nslen) || (slash && !mget && !mset))
        return nc_req_problem(r, 400, "invalid_namespace", "Bad Request",
                              "The namespace must match [A-Za-z0-9_-]{1,64}.");
    memcpy(r->ns, ns, nslen);
    r->ns[nslen] = '\0';
    if (mset)
        r->route = NC_ROUTE_CACHE_MSET;
    if (!r->takes_body)
        return MHD_YES;
    if (!ctype_is_json(nc_req_hdr(r, MHD_HTTP_HEADER_CONTENT_TYPE)))
        return nc_req_problem(r, 415, "unsupported_media_type", "Unsupported Media Type",
                              "Request bodies must be application/json.");
    const char *cl = nc_req_hdr(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > r->w->cfg->max_body_bytes) {
        /* Refused before a byte of it is read; the connection closes. */
        nc_req_header(r, "Connection", "close");
        return nc_req_problem(r, 413, "body_too_large", "Content Too Large",
                              "The body is larger than MAX_BODY_BYTES.");
    }
    return MHD_YES;
}

static enum MHD_Result cache_start(struct nc_req *r)
{
    switch (r->route) {
    case NC_ROUTE_CACHE_GET:
        return nc_cache_get_start(r);
    case NC_ROUTE_CACHE_PUT:
        return nc_cache_put_start(r);
    case NC_ROUTE_CACHE_MGET:
    case NC_ROUTE_CACHE_MSET:
        return nc_cache_batch_start(r);
    default:
        return nc_cache_delete_start(r);
    }
}

static enum MHD_Result cache_resume(struct nc_req *r)
{
    switch (r->route) {
    case NC_ROUTE_CACHE_GET:
        return r->ext ? nc_cache_lease_get_finish(r) : nc_cache_get_finish(r);
    case NC_ROUTE_CACHE_PUT:
        return nc_cache_put_finish(r);
    case NC_ROUTE_CACHE_MGET:
    case NC_ROUTE_CACHE_MSET:
        return nc_cache_batch_finish(r);
    default:
        return nc_cache_delete_finish(r);
    }
}

/* The request ended: free what its route kept in r->ext. */
static void cache_done(struct nc_req *r)
{
    if (r->route == NC_ROUTE_CACHE_MGET || r->route == NC_ROUTE_CACHE_MSET)
        nc_cache_batch_done(r);
    else if (r->route == NC_ROUTE_CACHE_GET)
        nc_cache_lease_free(r);
}

const struct nc_handler nc_cache_handler = {
    .head = cache_head,
    .start = cache_start,
    .resume = cache_resume,
    .done = cache_done,
};
