/* breaker.c - the circuit breaker's state machine (see breaker.h).
 *
 * Transitions are compare-and-swap, so when several workers fail at once
 * exactly one of them opens the breaker (and logs it), and exactly one
 * becomes the probe when the cooldown ends. */
#include "normcache/breaker.h"

#include "normcache/log.h"

void nc_breaker_init(struct nc_breaker *b, int threshold, int cooldown_ms)
{
    atomic_init(&b->state, NC_BREAKER_CLOSED);
    atomic_init(&b->failures, 0);
    atomic_init(&b->cooldown_ms, cooldown_ms);
    atomic_init(&b->open_until_ms, 0);
    atomic_init(&b->seen_up, 1);
    b->threshold = threshold;
    b->base_cooldown_ms = cooldown_ms;
}

static void breaker_open(struct nc_breaker *b, int cooldown_ms, int64_t now_ms)
{
    atomic_store(&b->cooldown_ms, cooldown_ms);
    atomic_store(&b->open_until_ms, now_ms + cooldown_ms);
    atomic_store(&b->state, NC_BREAKER_OPEN);
}

int nc_breaker_allow(struct nc_breaker *b, int64_t now_ms)
{
    int st = atomic_load(&b->state);
    if (st == NC_BREAKER_CLOSED)
        return 0;
    if (st == NC_BREAKER_HALF_OPEN || now_ms < atomic_load(&b->open_until_ms))
        return -1;
    int expected = NC_BREAKER_OPEN;
    return atomic_compare_exchange_strong(&b->state, &expected, NC_BREAKER_HALF_OPEN) ? 1 : -1;
}

void nc_breaker_success(struct nc_breaker *b, int probe)
{
    atomic_store(&b->seen_up, 1);
    atomic_store(&b->failures, 0);
    if (probe || atomic_load(&b->state) != NC_BREAKER_CLOSED) {
        if (atomic_exchange(&b->state, NC_BREAKER_CLOSED) != NC_BREAKER_CLOSED)
            nc_logf(NC_LOG_INFO, "redis breaker closed: redis answers again");
        atomic_store(&b->cooldown_ms, b->base_cooldown_ms);
    }
}

void nc_breaker_failure(struct nc_breaker *b, int probe, int64_t now_ms)
{
    atomic_store(&b->seen_up, 0);
    if (probe) {
        int cd = atomic_load(&b->cooldown_ms) * 2;
        if (cd > NC_BREAKER_MAX_COOLDOWN_MS)
            cd = NC_BREAKER_MAX_COOLDOWN_MS;
        breaker_open(b, cd, now_ms);
        nc_logf(NC_LOG_WARN, "redis breaker probe failed: open for %d ms", cd);
        return;
    }
    int n = atomic_fetch_add(&b->failures, 1) + 1;
    int expected = NC_BREAKER_CLOSED;
    if (n >= b->threshold &&
        atomic_compare_exchange_strong(&b->state, &expected, NC_BREAKER_OPEN)) {
        breaker_open(b, b->base_cooldown_ms, now_ms);
        nc_logf(NC_LOG_WARN, "redis breaker open after %d consecutive failures: for %d ms", n,
                b->base_cooldown_ms);
    }
}

void nc_breaker_probe_refused(struct nc_breaker *b, int64_t now_ms)
{
    int retry = b->base_cooldown_ms < NC_BREAKER_REFUSED_RETRY_MS ? b->base_cooldown_ms
                                                                  : NC_BREAKER_REFUSED_RETRY_MS;
    atomic_store(&b->seen_up, 0);
    breaker_open(b, b->base_cooldown_ms, now_ms);
    atomic_store(&b->open_until_ms, now_ms + retry);
    nc_logf(NC_LOG_DEBUG, "redis breaker probe refused: next probe in %d ms", retry);
}

void nc_breaker_probe_now(struct nc_breaker *b)
{
    atomic_store(&b->failures, 0);
    if (atomic_load(&b->state) == NC_BREAKER_OPEN) {
        atomic_store(&b->cooldown_ms, b->base_cooldown_ms);
        atomic_store(&b->open_until_ms, 0);
    }
}

int nc_breaker_is_open(struct nc_breaker *b)
{
    return atomic_load(&b->state) != NC_BREAKER_CLOSED;
}

int nc_breaker_is_healthy(struct nc_breaker *b)
{
    return atomic_load(&b->state) == NC_BREAKER_CLOSED && !atomic_load(&b->failures) &&
           atomic_load(&b->seen_up);
}

int nc_breaker_seen_up(struct nc_breaker *b)
{
    return atomic_load(&b->seen_up);
}
