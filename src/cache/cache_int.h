/* cache_int.h - what the /cache files share (src/cache/ only).
 *
 *   cache.c         the handler: head checks, dispatch, Redis plumbing
 *   cache_input.c   the key of an entry from q / params / ctx (query string
 *                   or body)
 *   cache_read.c    GET
 *   cache_write.c   PUT
 *   cache_delete.c  DELETE of one entry, flush of a namespace
 *
 * Reads and writes fail open: whatever goes wrong with Redis, a GET is a
 * 404 BYPASS and a PUT a 200 stored:false. Invalidations fail loudly (503),
 * because a caller that believes stale data is gone is worse off than one
 * that retries. */
#ifndef NC_CACHE_INT_H
#define NC_CACHE_INT_H

#include "normcache/json.h"
#include "normcache/key.h"
#include "normcache/req.h"
#include "normcache/store.h"

/* Nesting limit of params and ctx (the outermost object is level 1). */
#define NC_CACHE_MAX_DEPTH 32
/* Tags one entry may carry. */
#define NC_CACHE_MAX_TAGS 32

/* Each key function fills r->key (via r->scratch) and returns 0, or
 * queues a 4xx/500 answer, sets *ret to the handler's result and returns
 * -1. ctx may be NULL (no context: today's key). */
int nc_cache_key_query(struct nc_req *r, const char *q, size_t qlen, const struct nc_json *ctx,
                       enum MHD_Result *ret);
int nc_cache_key_params(struct nc_req *r, const struct nc_json *params, const struct nc_json *ctx,
                        enum MHD_Result *ret);
/* From the query string: ?q= or ?params=, exactly one, and ?ctx=. */
int nc_cache_key_from_args(struct nc_req *r, enum MHD_Result *ret);
enum MHD_Result nc_cache_too_long(struct nc_req *r);
/* The key of a tag's index in r's namespace (the tag hashed like a query)
 * into out; its length, or -1. */
int nc_cache_tag_key(const struct nc_req *r, const char *tag, size_t len, char out[NC_KEY_MAX]);

/* Sends a command whose callback will call nc_cache_settle(r). 0 or -1
 * (Redis disabled, down or breaker open: nothing was sent). */
int nc_cache_issue(struct nc_req *r, nc_store_cb *cb, int argc, const char **argv,
                   const size_t *lens);
/* Every callback ends here: the last outstanding reply resumes. */
void nc_cache_settle(struct nc_req *r);
/* Callback for an integer reply (PTTL, UNLINK): into r->num. */
void nc_cache_on_integer(void *priv, redisReply *reply);

enum MHD_Result nc_cache_get_start(struct nc_req *r);
enum MHD_Result nc_cache_get_finish(struct nc_req *r);
enum MHD_Result nc_cache_put_start(struct nc_req *r);
enum MHD_Result nc_cache_put_finish(struct nc_req *r);
enum MHD_Result nc_cache_delete_start(struct nc_req *r);
enum MHD_Result nc_cache_delete_finish(struct nc_req *r);

#endif
