/* breaker.h - a circuit breaker: after `threshold` consecutive failures it
 * opens for a cooldown, then lets exactly one probe through (half-open);
 * the probe's success closes it, its failure doubles the cooldown (up to
 * NC_BREAKER_MAX_COOLDOWN_MS) - unless the probe's connection was refused.
 *
 * Lock-free (atomics): one breaker is shared by every worker's connection to
 * the same Redis. The caller owns the struct (static or embedded); there is
 * nothing to free. Time is passed in, so tests drive it without sleeping. */
#ifndef NC_BREAKER_H
#define NC_BREAKER_H

#include <stdatomic.h>
#include <stdint.h>

#define NC_BREAKER_MAX_COOLDOWN_MS 30000
#define NC_BREAKER_REFUSED_RETRY_MS 250

enum nc_breaker_state { NC_BREAKER_CLOSED = 0, NC_BREAKER_OPEN, NC_BREAKER_HALF_OPEN };

struct nc_breaker {
    atomic_int state;       /* enum nc_breaker_state */
    atomic_int failures;    /* consecutive, while closed */
    atomic_int cooldown_ms; /* the current one */
    atomic_llong open_until_ms;
    atomic_int seen_up; /* the last outcome was a success */
    int threshold;
    int base_cooldown_ms;
};

void nc_breaker_init(struct nc_breaker *b, int threshold, int cooldown_ms);

/* May a call go out now? 0: yes; 1: yes, and it is the half-open probe
 * (report its outcome with probe=1); -1: no. */
int nc_breaker_allow(struct nc_breaker *b, int64_t now_ms);

void nc_breaker_success(struct nc_breaker *b, int probe);
void nc_breaker_failure(struct nc_breaker *b, int probe, int64_t now_ms);
/* The probe failed because its connection was refused (Redis not running):
 * the cooldown goes back to the base one, and the next probe comes after
 * NC_BREAKER_REFUSED_RETRY_MS (or the base cooldown if shorter). Such a probe
 * costs neither side anything, and a restarted Redis is then seen within
 * that retry of listening again, however long it was down. */
void nc_breaker_probe_refused(struct nc_breaker *b, int64_t now_ms);

/* The server behind the breaker changed (a Sentinel failover): the failures
 * counted were the old server's. The count is cleared and an open breaker
 * lets its probe through at the next allow(), at the base cooldown. */
void nc_breaker_probe_now(struct nc_breaker *b);

/* 1 while open or half-open. */
int nc_breaker_is_open(struct nc_breaker *b);
/* 1 when closed, no failure counted and the last outcome was a success:
 * the common case, in which a success has nothing to record. */
int nc_breaker_is_healthy(struct nc_breaker *b);
/* 1 when the last outcome was a success. */
int nc_breaker_seen_up(struct nc_breaker *b);

#endif
