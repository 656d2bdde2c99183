/* recs_int.h - what the recommendations files share (src/recs/ only).
 *
 *   entry.c    the stored format (include/normcache/recs_entry.h)
 *   flight.c   process-wide single flight: table, waiters, results,
 *              mailboxes to other workers
 *   rebuild.c  a flight's steps: Redis lock + re-read, waiting for another
 *              instance, storing the upstream's answer, renew, release
 *   upstream.c the upstream client: libcurl multi in the worker's epoll loop
 *   handler.c  GET /products/recommendations
 *   loop.c     the worker hooks of recs.h
 *
 * Threads: a flight belongs to the worker that created it (its owner) and
 * only that worker's thread runs its steps. Other threads touch a flight
 * only under the table lock, and only the fields marked so below. */
#ifndef NC_RECS_INT_H
#define NC_RECS_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "normcache/buf.h"
#include "normcache/req.h"
#include "normcache/key.h"
#include "normcache/recs_entry.h"

#define NC_RECS_NS "recommendations"
#define NC_RECS_POLL_MS 250 /* safety net while waiting for another instance */

/* ------------------------------------------------------------ results */

/* An answer shared by every request of a flight. Immutable once handed
 * out; reference-counted, freed by the last holder. */
struct nc_recs_result {
    atomic_int ref;
    int status;   /* 200, 404 (negative), 502, 503, 504 */
    int stored;   /* the entry was written */
    int bypass;   /* Redis was not used */
    int shutdown; /* status 503: the service is stopping (not the upstream's fault) */
    long long max_age_s;
    size_t len;
    char body[];
};

/* New result with one reference (body copied), or NULL (out of memory). */
struct nc_recs_result *nc_recs_result_new(int status, const char *body, size_t len);
/* The answer an entry read from Redis gives, or NULL (out of memory). */
struct nc_recs_result *nc_recs_result_from_entry(const struct nc_recs_entry *e);
void nc_recs_result_put(struct nc_recs_result *res); /* accepts NULL */

/* ------------------------------------------------------ per worker */

/* A mailbox message. A waiter is a message allocated when the request
 * joins (so that delivering it later cannot fail): MSG_DELIVER. A wake-up
 * from the subscriber thread names the flight by key, never by pointer:
 * the flight may be gone by the time the owner reads it. */
enum nc_recs_msg_kind { NC_RECS_MSG_DELIVER, NC_RECS_MSG_WAKE };
struct nc_recs_msg {
    enum nc_recs_msg_kind kind;
    struct nc_recs_worker *rw; /* DELIVER: the request's worker */
    struct nc_req *req;        /* DELIVER: touched only on rw's thread */
    struct nc_recs_result *res;
    int coalesced;
    char key[NC_KEY_MAX]; /* WAKE */
    struct nc_recs_msg *next;
};

struct nc_recs_worker {
    struct nc_worker *w;
    int epfd;
    CURLM *multi;
    int64_t curl_deadline; /* monotonic ms, -1: none */
    int mailfd;            /* eventfd; &mailfd is its epoll data.ptr */
    pthread_mutex_t mlock; /* guards mhead/mtail */
    struct nc_recs_msg *mhead, *mtail;
    struct nc_recs_flight *owned; /* this worker's flights (its thread only) */
    int shutting_down;            /* no new flight starts (its thread only) */
    /* upstream.c: sockets curl has let go of, freed at the next tick (an
     * event for one may still be in the epoll batch being dispatched) */
    struct csock *csock_dead;
};

/* ------------------------------------------------------------ flights */

enum nc_recs_fstate {
    F_LOCKING,  /* SET NX sent */
    F_FETCHING, /* upstream call running */
    F_STORING,  /* store script sent */
    F_WAITING,  /* another instance holds the lock */
    F_REREAD,   /* GET after a wake-up or timeout */
    F_DONE
};

/* Locking: fields marked [table] are read and written under the table
 * lock; [const] fields are set before the flight enters the table and
 * never change; [atomic] is read by the subscriber thread without the
 * owner's cooperation; everything else belongs to the owner's thread. */
struct nc_recs_flight {
    char key[NC_KEY_MAX]; /* [const] */
    size_t keylen;        /* [const] */
    char lockkey[NC_KEY_MAX + 8];
    struct nc_recs_worker *owner;       /* [const] */
    _Atomic(enum nc_recs_fstate) state; /* [atomic] written by the owner only */
    struct nc_recs_msg *waiters;        /* [table] */
    struct nc_recs_flight *hnext;       /* [table] */
    int bypass;                         /* Redis unusable: upstream only, nothing stored */
    int background;                     /* refresh for a stale/early entry: nobody waits */
    int counted;                        /* holds an UPSTREAM_MAX_INFLIGHT slot */
    int have_lock;
    char token[40];
    char *query; /* normalised query sent upstream */
    int limit;
    struct nc_recs_result *stale; /* a stale copy to fall back on, or NULL */
    int64_t deadline;             /* lock wait end (monotonic ms), 0: not waiting yet */
    long long min_stored_ms;      /* a value stored before this is not an answer */
    int lock_failed;              /* the SET NX got no usable reply */
    int64_t next_poll;
    int64_t next_renew;
    int outstanding; /* Redis replies still to come */
    CURL *easy;
    struct nc_buf resp;
    int too_large;
    int64_t t_up_start;
    struct nc_recs_flight *onext; /* owner's list */
};

/* The table: process-wide, one flight per key. find/insert/remove need the
 * lock held (nc_recs_table_lock/unlock). */
void nc_recs_table_lock(void);
void nc_recs_table_unlock(void);
struct nc_recs_flight *nc_recs_table_find(const char *key);
void nc_recs_table_insert(struct nc_recs_flight *f);
void nc_recs_table_remove(struct nc_recs_flight *f);

/* Joins the flight for key or starts one (owned by rw). r, if given, waits
 * for the result: it is delivered through nc_recs_req_deliver(), possibly
 * before this returns. 0, -1 when the UPSTREAM_MAX_INFLIGHT cap is reached,
 * -2 when memory ran out or -3 when rw is shutting down (then nothing
 * started and r is not a waiter). */
int nc_recs_flight_join(struct nc_recs_worker *rw, struct nc_req *r, const char *key,
                        const char *query, size_t qlen, int limit, int background,
                        const struct nc_recs_entry *stale, long long min_stored_ms);
/* Hands res (ownership taken; NULL allowed) to every waiter and retires the
 * flight. Owner's thread only. */
void nc_recs_flight_finish(struct nc_recs_flight *f, struct nc_recs_result *res);
/* Frees a finished flight once no reply or transfer refers to it. */
void nc_recs_flight_maybe_free(struct nc_recs_flight *f);

/* Subscriber thread: a rebuild of key finished; wake its waiting flight. */
void nc_recs_wake(const char *key, size_t len);
/* Runs the worker's messages (its thread). */
void nc_recs_mailbox_drain(struct nc_recs_worker *rw);

/* ------------------------------------------------------ rebuild.c */

/* First step of a flight: SET NX the lock and re-read the key. */
void nc_recs_lock_try(struct nc_recs_flight *f);
/* Shutdown: releases the lock if held and finishes the flight with its
 * stale copy, else a 503 shutdown result (owner's thread; the upstream
 * transfer must be aborted first). */
void nc_recs_flight_abandon(struct nc_recs_flight *f);
/* Extends the lock while the upstream call runs. */
void nc_recs_lock_renew(struct nc_recs_flight *f, int64_t now_ms);
/* The upstream call ended: status is 200 or 404 (f->resp holds the body),
 * or 502/503/504. Stores the entry and finishes the flight. */
void nc_recs_flight_upstream_done(struct nc_recs_flight *f, int status, int64_t delta_ms);

/* ------------------------------------------------------ upstream.c */

int nc_recs_upstream_init(struct nc_recs_worker *rw);
void nc_recs_upstream_cleanup(struct nc_recs_worker *rw);
/* Starts the call for f (state F_FETCHING); failures finish the flight. */
void nc_recs_upstream_start(struct nc_recs_flight *f);
/* Stops f's transfer, if any, without finishing the flight. */
void nc_recs_upstream_abort(struct nc_recs_flight *f);
void nc_recs_upstream_on_event(struct nc_recs_worker *rw, void *ptr, uint32_t events);
void nc_recs_upstream_tick(struct nc_recs_worker *rw, int64_t now_ms);

/* ------------------------------------------------------ flight.c: wake-ups */

/* Registers the recommendations pattern with the process's subscriber
 * (pubsub.h; the server starts it once every worker is set up). 0 or -1. */
int nc_recs_sub_watch(const struct nc_config *cfg);

/* ------------------------------------------------------ handler.c */

/* A flight's result for r (r's worker's thread): resumes r if suspended.
 * res is the caller's reference, given to r (NULL: out of memory). */
void nc_recs_req_deliver(struct nc_req *r, struct nc_recs_result *res, int coalesced);

#endif
