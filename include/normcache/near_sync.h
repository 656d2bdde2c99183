/* near_sync.h - what keeps the near cache (near.h) coherent with Redis:
 * the process-wide tracking generation, and the hooks the subscriber
 * thread (pubsub.h) calls for the invalidation channel.
 *
 * Redis client-side caching in RESP2 redirect mode: the subscriber
 * connection learns its CLIENT ID, SUBSCRIBEs to __redis__:invalidate and
 * then publishes that id with a new generation (nc_near_sync_up). Every data
 * connection runs CLIENT TRACKING on REDIRECT <id> before its next command
 * whenever the generation moved (store.c). A value read from Redis may go
 * into the near cache only when the connection it came through was
 * tracking the current generation when the read was sent.
 *
 * Generation 0 means unusable: before the first subscription, and from the
 * moment the invalidation connection is lost until it is back (its
 * messages for that time are gone): no near get, no put.
 *
 * State is process-wide (atomics; the id under a mutex, read only when a
 * connection sees a new generation). Every function: any thread. */
#ifndef NC_NEAR_SYNC_H
#define NC_NEAR_SYNC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct nc_near;

/* The current generation; 0 while unusable. One relaxed-acquire load. */
unsigned nc_near_sync_gen(void);
/* The generation counter itself, for a connection's setup hook that reruns
 * when it moves (conn.h). */
const atomic_uint *nc_near_sync_gen_ptr(void);
/* The current generation and the client id to redirect to; 0 (and *id
 * untouched) while unusable. */
unsigned nc_near_sync_current(long long *id);

/* The subscriber is subscribed as client id: the near cache is emptied
 * (whatever it holds may have missed invalidations) and a new generation
 * published. Returns it. */
unsigned nc_near_sync_up(struct nc_near *n, long long id);
/* The invalidation connection is lost: unusable first, then emptied. */
void nc_near_sync_down(struct nc_near *n);
/* An invalidation message: one key (drop), or all (a nil payload after
 * FLUSHALL/FLUSHDB). n may be NULL (no near cache: nothing to do). */
void nc_near_sync_key(struct nc_near *n, const char *key, size_t len);
void nc_near_sync_all(struct nc_near *n);

/* A Redis connection's setup hook (conn.h; registered with the
 * generation counter, nc_near_sync_gen_ptr): when the near cache is usable,
 * queues CLIENT TRACKING on REDIRECT <id> and sets *(unsigned *)ud to the
 * generation it tracks for; else sets it to 0. A refusal (the subscriber
 * has just reconnected as another client) fails the connection, which
 * reconnects under the new generation. */
struct nc_conn;
int nc_near_sync_track(struct nc_conn *c, void *ud);

/* One read from Redis that may fill the near cache. */
struct nc_near_read {
    uint64_t token;  /* nc_near_token, taken before the read was sent */
    unsigned gen;    /* the connection's tracking generation when sent; 0: no put */
    int64_t sent_ms; /* nc_now_ms when sent: a PTTL is counted from here */
};
/* Before the read is queued: takes the token (rd->gen = 0 until sent). */
void nc_near_read_begin(struct nc_near *n, const char *key, size_t klen, struct nc_near_read *rd);
/* Right after it was queued on a connection tracking conn_gen (0: none). */
void nc_near_read_sent(struct nc_near_read *rd, unsigned conn_gen);
/* The reply is in: puts key -> val (copied) expiring at expire_ms when the
 * connection still tracks the generation it was sent under (conn_gen_now),
 * that generation is current, and the token is still valid. 1 stored, 0
 * not. */
int nc_near_read_put(struct nc_near *n, const struct nc_near_read *rd, unsigned conn_gen_now,
                     const char *key, size_t klen, const char *val, size_t vlen, int64_t expire_ms);

/* Tests: back to unusable, generation counter kept. */
void nc_near_sync_reset(void);

#endif
