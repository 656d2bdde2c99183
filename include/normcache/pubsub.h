/* pubsub.h - the process's one subscriber: a thread with a blocking Redis
 * connection that PSUBSCRIBEs to the patterns modules registered and hands
 * each message's channel to their callback.
 *
 * Used for wake-ups across instances (a rebuild or a write on another
 * instance ends a wait here). Callbacks run on the subscriber thread: they
 * must only hand the channel over (a mailbox, an eventfd), never touch a
 * worker's requests. Losing the connection loses messages; waiters keep a
 * slow poll as their safety net, and the thread reconnects. */
#ifndef NC_PUBSUB_H
#define NC_PUBSUB_H

#include <stddef.h>

#include "normcache/config.h"

/* channel is not NUL-terminated; ud is the caller's. */
typedef void nc_pubsub_fn(const char *channel, size_t len, void *ud);

/* Registers a pattern (copied) before nc_pubsub_start; at most 8. 0 or -1. */
int nc_pubsub_watch(const char *pattern, nc_pubsub_fn *fn, void *ud);
/* Before nc_pubsub_start: the thread also keeps near cache n coherent
 * (near_sync.h): on each connection it names itself normcache-inv (CLIENT
 * SETNAME), takes its CLIENT ID, SUBSCRIBEs to __redis__:invalidate and,
 * once subscribed, publishes the id (nc_near_sync_up); invalidation
 * messages drop keys or empty n; a lost connection makes the near cache
 * unusable and empties it (nc_near_sync_down). n must outlive the thread. */
struct nc_near;
void nc_pubsub_near(struct nc_near *n);
/* Starts the thread if any pattern is registered and Redis is enabled.
 * cfg must outlive it. Idempotent. A thread that cannot start is logged:
 * waiters then rely on their poll. */
void nc_pubsub_start(const struct nc_config *cfg);
/* Stops and joins the thread, and forgets the patterns. Idempotent. */
void nc_pubsub_stop(void);

#endif
