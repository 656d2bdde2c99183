/* cache_int.h - what the /cache files share (src/cache/ only).
 *
 *   cache.c         the handler: head checks, dispatch, Redis plumbing
 *   cache_input.c   the key of an entry from q / params / ctx (query string
 *                   or body)
 *   cache_read.c    GET
 *   cache_write.c   PUT
 *   cache_delete.c  DELETE of one entry, of a tag's entries, flush
 *   cache_batch.c   POST _mget / _mset: many entries in one round trip
 *   cache_near.c    the near cache: GET hits, fills, writes' drops
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

/* Why an input was refused: the problem to answer (or, in a batch, to
 * name with the item's index). */
struct nc_cache_err {
    int status;       /* 400, 414, 500 */
    const char *code; /* the problem's code */
    char detail[200]; /* never quotes the caller's text */
};
/* Fills e; returns -1 (so `return nc_cache_err_set(...)` reads well). */
int nc_cache_err_set(struct nc_cache_err *e, int status, const char *code, const char *detail);
/* Answers e as an RFC 9457 problem. */
enum MHD_Result nc_cache_err_reply(struct nc_req *r, const struct nc_cache_err *e);

/* Each key function fills r->key (through r->scratch) and returns 0, or
 * fills e and returns -1. ctx may be NULL (no context: today's key). */
int nc_cache_key_query(struct nc_req *r, const char *q, size_t qlen, const struct nc_json *ctx,
                       struct nc_cache_err *e);
/* body: the params came in a body (MAX_QUERY_BYTES applies to their
 * canonical form; in a query string to their text, checked before). */
int nc_cache_key_params(struct nc_req *r, const struct nc_json *params, const struct nc_json *ctx,
                        int body, struct nc_cache_err *e);
/* A body's (or a batch item's) q or params, exactly one, and ctx. */
int nc_cache_key_item(struct nc_req *r, const struct nc_json *q, const struct nc_json *params,
                      const struct nc_json *ctx, struct nc_cache_err *e);
/* From the query string: ?q= or ?params=, exactly one, and ?ctx=. */
int nc_cache_key_from_args(struct nc_req *r, struct nc_cache_err *e);

/* The key of a tag's index in r's namespace (the tag hashed like a query)
 * into out; its length, or -1. */
int nc_cache_tag_key(const struct nc_req *r, const char *tag, size_t len, char out[NC_KEY_MAX]);

/* Sends a command whose callback (called with r) will call
 * nc_cache_settle(r). 0 or -1 (Redis disabled, down or breaker open:
 * nothing was sent). */
int nc_cache_issue(struct nc_req *r, nc_store_cb *cb, int argc, const char **argv,
                   const size_t *lens);
/* The same with a callback argument of the caller's (a batch item); the
 * callback must still end in nc_cache_settle(r). */
int nc_cache_issue_for(struct nc_req *r, nc_store_cb *cb, void *priv, int argc, const char **argv,
                       const size_t *lens);
/* The same to the i-th master (store.h: nc_store_masters), callback
 * argument r. */
int nc_cache_issue_master(struct nc_req *r, int i, nc_store_cb *cb, int argc, const char **argv,
                          const size_t *lens);
/* 1 in REDIS_MODE=cluster: no command may name keys of two slots. */
int nc_cache_cluster(const struct nc_req *r);
/* Every callback ends here: the last outstanding reply resumes. */
void nc_cache_settle(struct nc_req *r);
/* Callback for an integer reply (PTTL, UNLINK): into r->num. */
void nc_cache_on_integer(void *priv, redisReply *reply);
/* Callback that only settles r (a side command whose reply changes no
 * answer: the lease clear after a write). */
void nc_cache_on_settle(void *priv, redisReply *reply);

/* r->flags of the cache routes. */
enum {
    NC_CACHE_F_LEASE_RELEASE = 2, /* a DELETE that releases a lease */
    NC_CACHE_F_LEASE_LOST = 4,    /* the token no longer held the lease */
};

/* One entry to write (a PUT body, a _mset item): pointers into the parsed
 * document. */
struct nc_cache_item {
    const struct nc_json *q, *params, *ctx, *value, *ttl, *tags;
};
/* Sorts obj's members into it; 0, or -1 with e (not an object, unknown
 * member). */
int nc_cache_put_members(const struct nc_json *obj, struct nc_cache_item *it,
                         struct nc_cache_err *e);
/* Checks value, ttl and tags, and derives the key into r->key and the TTL
 * into r->ttl; 0, or -1 with e. */
int nc_cache_put_check(struct nc_req *r, const struct nc_cache_item *it, struct nc_cache_err *e);
/* One write. token NULL: unconditional (and it ends any outstanding lease
 * on the key, waking its waiters); else only while token holds the lease
 * (the reply is then the error LEASELOST). */
struct nc_cache_write {
    const char *key;
    size_t keylen;
    const char *value;
    size_t vlen;
    int ttl;
    const struct nc_json *tags; /* NULL or an array of valid tags */
    const char *token;
    size_t toklen;
};
/* Sends it: one SET ... EX (plus the lease clear), or one script for tags or
 * a token. 0 or -1 (nothing sent). cb(priv, reply) must end in
 * nc_cache_settle(r). */
int nc_cache_put_send(struct nc_req *r, const struct nc_cache_write *wr, nc_store_cb *cb,
                      void *priv);

enum MHD_Result nc_cache_get_start(struct nc_req *r);
enum MHD_Result nc_cache_get_finish(struct nc_req *r);
enum MHD_Result nc_cache_put_start(struct nc_req *r);
enum MHD_Result nc_cache_put_finish(struct nc_req *r);
enum MHD_Result nc_cache_delete_start(struct nc_req *r);
enum MHD_Result nc_cache_delete_finish(struct nc_req *r);
/* Leases (cache_lease.c). A token is [A-Za-z0-9_-]{22,NC_CACHE_LEASE_TOKEN_MAX}. */
#define NC_CACHE_LEASE_TOKEN_MAX 64
/* 1 when the request says Cache-Lease: acquire. */
int nc_cache_lease_wanted(const struct nc_req *r);
/* The Cache-Lease header as a token: 0 absent, 1 present (*tok, *len), -1
 * malformed (e: 400 invalid_lease). */
int nc_cache_lease_header(const struct nc_req *r, const char **tok, size_t *len,
                          struct nc_cache_err *e);
/* GET with Cache-Lease: acquire, once r->key is derived; and its answer
 * (from the resume hook). */
enum MHD_Result nc_cache_lease_get_start(struct nc_req *r);
enum MHD_Result nc_cache_lease_get_finish(struct nc_req *r);
void nc_cache_lease_free(struct nc_req *r);
/* Sends the removal of key's lease with its wake-up (after any write or
 * delete that did not go through a lease). cb(priv) must settle r. */
int nc_cache_lease_clear(struct nc_req *r, const char *key, size_t keylen, nc_store_cb *cb,
                         void *priv);
/* <key>:lease into out; its length or -1. */
int nc_cache_lease_key(const char *key, size_t keylen, char out[NC_KEY_MAX]);
/* The wake-up channel of key: <prefix>:_lease:<key>; its length. */
#define NC_CACHE_CHANNEL_MAX (NC_KEY_MAX + 48)
int nc_cache_lease_channel(const struct nc_config *cfg, const char *key,
                           char out[NC_CACHE_CHANNEL_MAX]);
/* Releases r->key's lease if token holds it: integer reply 1 or 0. */
int nc_cache_lease_release(struct nc_req *r, const char *token, size_t toklen, nc_store_cb *cb);
/* Counts a write refused because its lease was lost. */
void nc_cache_lease_lost(struct nc_req *r);

/* The near cache (cache_near.c); each does nothing without NEAR_CACHE.
 * A GET's near hit: 1 with the value in r->out, its remaining Redis TTL
 * (-1: none) and ETag hash; 0 a miss (or the near cache is unusable). */
int nc_cache_near_get(struct nc_req *r, long long *ttl_ms, uint64_t *etag);
/* The same for any key, the value into out (reset first). */
int nc_cache_near_lookup(struct nc_req *r, const char *key, size_t klen, struct nc_buf *out,
                         long long *ttl_ms, uint64_t *etag);
/* Around the Redis read of r->key: before it is issued, right after. */
void nc_cache_near_read_begin(struct nc_req *r);
void nc_cache_near_read_sent(struct nc_req *r);
/* The same for a read of key kept in rd (a batch item). */
void nc_cache_near_read_begin_for(struct nc_req *r, const char *key, size_t klen,
                                  struct nc_near_read *rd);
void nc_cache_near_read_sent_for(struct nc_req *r, struct nc_near_read *rd);
/* A Redis hit (value in r->out, PTTL pttl): into the near cache when the
 * read may fill it (near_sync.h), expiring at min(PTTL,
 * NEAR_CACHE_MAX_TTL_MS). */
void nc_cache_near_fill(struct nc_req *r, long long pttl, uint64_t etag);
/* The same for the read rd of key -> val (copied; r->scratch is used). */
void nc_cache_near_put(struct nc_req *r, const struct nc_near_read *rd, const char *key,
                       size_t klen, const char *val, size_t vlen, long long pttl, uint64_t etag);
/* This instance's writes, as their replies arrive (whatever they say: a
 * failed write may still have happened): drop one key, or everything (a
 * flush or tag delete). */
void nc_cache_near_drop(struct nc_req *r, const char *key, size_t keylen);
void nc_cache_near_clear(struct nc_req *r);

/* POST /cache/<ns>/_mget and _mset (r->route tells which). */
enum MHD_Result nc_cache_batch_start(struct nc_req *r);
enum MHD_Result nc_cache_batch_finish(struct nc_req *r);
/* Frees a batch's state (r->ext); any route may call it. */
void nc_cache_batch_done(struct nc_req *r);

#endif
