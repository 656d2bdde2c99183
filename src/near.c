/* near.c - the near cache (see near.h): shards of S3-FIFO queues, each
 * under its own mutex; drops and clears tracked by one sequence.
 *
 * A shard holds a fixed table of bucket chains, two FIFOs (small, main) of
 * entries, a ghost table and the drop marks of its stripes. Everything a
 * shard allocates once (its struct, buckets, ghost) comes out of its share
 * of max_bytes; what is left is its budget for entries, each costing
 * NC_NEAR_ENTRY_OVERHEAD plus its key and value bytes. */
#include "normcache/near.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "normcache/clock.h"
#include "normcache/hash.h"

#define NEAR_MAX_SHARDS 4096u
#define NEAR_STRIPES 64           /* drop marks per shard (a power of two) */
#define NEAR_BYTES_PER_BUCKET 256 /* one chain head per 256 budget bytes */
#define NEAR_BYTES_PER_GHOST 256  /* one ghost slot per 256 budget bytes */
#define NEAR_FREQ_MAX 3           /* the 2-bit frequency */
#define NEAR_SMALL_PERCENT 10     /* the small FIFO's share of a budget */

enum { NEAR_SMALL = 0, NEAR_MAIN = 1 };

/* Owned by its shard: one allocation, key then value in data. */
struct near_entry {
    struct near_entry *chain;       /* next in the bucket */
    struct near_entry *prev, *next; /* neighbours in its FIFO (prev: older) */
    uint64_t hash;
    int64_t expire_ms;
    uint32_t klen, vlen;
    uint8_t freq;  /* reads since insertion (small) or since the last pass (main) */
    uint8_t queue; /* NEAR_SMALL or NEAR_MAIN */
    char data[];
};

/* The cost counted for an entry (glibc's malloc adds at most 23 bytes to a
 * block, the bucket table is paid for separately). */
_Static_assert(sizeof(struct near_entry) + 24 <= NC_NEAR_ENTRY_OVERHEAD,
               "NC_NEAR_ENTRY_OVERHEAD covers the entry record and malloc's header");

/* head is the oldest entry (evicted first), tail the newest. */
struct near_fifo {
    struct near_entry *head, *tail;
    size_t bytes;
};

/* A ghost: a hash evicted from the small FIFO unread, remembered as a
 * 32-bit fingerprint (never 0) and the ghost clock at its eviction. */
struct near_ghost {
    uint32_t fp, stamp;
};

struct near_shard {
    pthread_mutex_t lock;
    uint64_t epoch; /* the clear this shard has applied */
    size_t budget, small_target, bytes;
    struct near_fifo fifo[2];
    struct near_entry **buckets; /* owned */
    size_t bmask;
    struct near_ghost *ghost; /* owned */
    uint32_t gmask, gclock;
    uint64_t hits, misses, evictions, invalidations, puts_dropped, entries;
    uint64_t stripe[NEAR_STRIPES]; /* the sequence of the last drop in each */
};

/* Each shard starts on a cache line of its own: two shards never share one. */
struct near_slot {
    alignas(64) struct near_shard s;
};

/* What every operation reads shares one cache line; seq, written by every
 * drop, has its own, so that drops do not slow every get down. */
struct nc_near {
    struct near_slot *slots; /* owned, nshards */
    unsigned nshards, shard_shift;
    atomic_uint_fast64_t clear_epoch; /* seq of the last clear */
    atomic_uint_fast64_t clears;
    alignas(64) atomic_uint_fast64_t seq; /* counts drops and clears: tokens */
};

/* The key's hash: FNV-1a (hash.h) with a final avalanche, so that the
 * shard (top bits), stripe, ghost slot and bucket (low bits) are all well
 * spread. */
static uint64_t near_hash(const char *key, size_t klen)
{
    uint64_t h = nc_fnv1a64(key, klen);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static struct near_shard *near_shard_of(struct nc_near *n, uint64_t h)
{
    return &n->slots[n->nshards > 1 ? h >> n->shard_shift : 0].s;
}

static uint64_t *near_stripe(struct near_shard *s, uint64_t h)
{
    return &s->stripe[(h >> 26) & (NEAR_STRIPES - 1)];
}

static size_t near_cost(const struct near_entry *e)
{
    return NC_NEAR_ENTRY_OVERHEAD + (size_t)e->klen + e->vlen;
}

static size_t near_pow2_floor(size_t v)
{
    size_t p = 1;
    while (p <= v / 2)
        p *= 2;
    return p;
}

/* ---- FIFOs and the table (caller holds the shard lock) ---- */

static void fifo_push(struct near_fifo *q, struct near_entry *e)
{
    e->next = NULL;
    e->prev = q->tail;
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    q->bytes += near_cost(e);
}

static void fifo_unlink(struct near_fifo *q, struct near_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        q->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        q->tail = e->prev;
    e->prev = e->next = NULL;
    q->bytes -= near_cost(e);
}

/* The link that points at the entry for key (*link NULL when absent). */
static struct near_entry **near_find(struct near_shard *s, uint64_t h, const char *key, size_t klen)
{
    struct near_entry **link = &s->buckets[h & s->bmask];
    while (*link &&
           !((*link)->hash == h && (*link)->klen == klen && memcmp((*link)->data, key, klen) == 0))
        link = &(*link)->chain;
    return link;
}

/* Takes e (found at *link) out of the shard and frees it. */
static void near_remove_at(struct near_shard *s, struct near_entry **link)
{
    struct near_entry *e = *link;
    *link = e->chain;
    fifo_unlink(&s->fifo[e->queue], e);
    s->bytes -= near_cost(e);
    s->entries--;
    free(e);
}

static void near_remove(struct near_shard *s, struct near_entry *e)
{
    near_remove_at(s, near_find(s, e->hash, e->data, e->klen));
}

static void near_empty(struct near_shard *s)
{
    for (size_t i = 0; i <= s->bmask; i++)
        while (s->buckets[i]) {
            struct near_entry *e = s->buckets[i];
            s->buckets[i] = e->chain;
            free(e);
        }
    s->fifo[NEAR_SMALL] = (struct near_fifo){0};
    s->fifo[NEAR_MAIN] = (struct near_fifo){0};
    s->bytes = 0;
    s->entries = 0;
}

/* Applies a clear the shard has not seen yet (the lazy half of
 * nc_near_clear). Every locked operation starts with it. */
static void near_sync(struct nc_near *n, struct near_shard *s)
{
    uint64_t e = atomic_load(&n->clear_epoch);
    if (e != s->epoch) {
        near_empty(s);
        s->epoch = e;
    }
}

/* ---- the ghost table ---- */

static uint32_t ghost_fp(uint64_t h)
{
    return (uint32_t)(h >> 32) | 1u;
}

static struct near_ghost *ghost_slot(struct near_shard *s, uint64_t h)
{
    return &s->ghost[(h >> 8) & s->gmask];
}

static void ghost_add(struct near_shard *s, uint64_t h)
{
    struct near_ghost *g = ghost_slot(s, h);
    g->fp = ghost_fp(h);
    g->stamp = ++s->gclock;
}

/* Was h evicted unread recently (within the last gmask + 1 ghosts)? The
 * ghost is forgotten either way: it has done its work. */
static int ghost_take(struct near_shard *s, uint64_t h)
{
    struct near_ghost *g = ghost_slot(s, h);
    int hit = g->fp == ghost_fp(h) && s->gclock - g->stamp <= s->gmask;
    if (g->fp == ghost_fp(h))
        g->fp = 0;
    return hit;
}

/* ---- S3-FIFO eviction ---- */

/* Evicts the oldest entry of main, giving a second pass to every read one
 * on the way (its frequency decremented). */
static void evict_main(struct near_shard *s, int64_t now_ms)
{
    struct near_fifo *q = &s->fifo[NEAR_MAIN];
    while (q->head) {
        struct near_entry *e = q->head;
        if (e->freq > 0 && e->expire_ms > now_ms) {
            e->freq--;
            fifo_unlink(q, e);
            fifo_push(q, e);
            continue;
        }
        near_remove(s, e);
        s->evictions++;
        return;
    }
}

/* Takes the oldest entry off small: read since it came in, it moves to
 * main; otherwise it is evicted and its hash becomes a ghost. */
static void evict_small(struct near_shard *s, int64_t now_ms)
{
    struct near_entry *e = s->fifo[NEAR_SMALL].head;
    if (e->freq > 0 && e->expire_ms > now_ms) {
        fifo_unlink(&s->fifo[NEAR_SMALL], e);
        e->freq = 0;
        e->queue = NEAR_MAIN;
        fifo_push(&s->fifo[NEAR_MAIN], e);
        return;
    }
    ghost_add(s, e->hash);
    near_remove(s, e);
    s->evictions++;
}

/* Evicts until cost more bytes fit the budget (cost <= budget). */
static void near_make_room(struct near_shard *s, size_t cost)
{
    int64_t now_ms = 0;
    if (s->bytes + cost > s->budget)
        now_ms = nc_now_ms();
    while (s->bytes + cost > s->budget) {
        if (s->fifo[NEAR_SMALL].head &&
            (s->fifo[NEAR_SMALL].bytes > s->small_target || !s->fifo[NEAR_MAIN].head))
            evict_small(s, now_ms);
        else
            evict_main(s, now_ms);
    }
}

/* ---- the API ---- */

static int near_shard_init(struct near_shard *s, size_t share)
{
    size_t nb = near_pow2_floor(share / NEAR_BYTES_PER_BUCKET);
    size_t ng = near_pow2_floor(share / NEAR_BYTES_PER_GHOST);
    if (ng > UINT32_MAX / 2 + 1)
        ng = UINT32_MAX / 2 + 1;
    if (pthread_mutex_init(&s->lock, NULL) != 0)
        return -1;
    s->buckets = calloc(nb, sizeof *s->buckets);
    s->ghost = calloc(ng, sizeof *s->ghost);
    if (!s->buckets || !s->ghost)
        return -1;
    s->bmask = nb - 1;
    s->gmask = (uint32_t)(ng - 1);
    size_t fixed = sizeof(struct near_slot) + nb * sizeof *s->buckets + ng * sizeof *s->ghost;
    s->budget = share > fixed ? share - fixed : 0;
    s->small_target = s->budget / 100 * NEAR_SMALL_PERCENT;
    return 0;
}

struct nc_near *nc_near_new(size_t max_bytes, unsigned shards)
{
    unsigned ns = 1, shift = 64;
    while (ns < shards && ns < NEAR_MAX_SHARDS) {
        ns *= 2;
        shift--;
    }
    void *mem = NULL;
    if (posix_memalign(&mem, 64, sizeof(struct nc_near)) != 0)
        return NULL;
    struct nc_near *n = memset(mem, 0, sizeof *n);
    size_t share = (max_bytes > sizeof *n ? max_bytes - sizeof *n : 0) / ns;
    void *slots = NULL;
    if (posix_memalign(&slots, 64, ns * sizeof(struct near_slot)) != 0) {
        free(n);
        return NULL;
    }
    memset(slots, 0, ns * sizeof(struct near_slot));
    n->slots = slots;
    n->nshards = ns;
    n->shard_shift = shift;
    atomic_init(&n->seq, 0);
    atomic_init(&n->clear_epoch, 0);
    atomic_init(&n->clears, 0);
    for (unsigned i = 0; i < ns; i++)
        if (near_shard_init(&n->slots[i].s, share) != 0) {
            nc_near_free(n);
            return NULL;
        }
    return n;
}

void nc_near_free(struct nc_near *n)
{
    if (!n)
        return;
    for (unsigned i = 0; i < n->nshards; i++) {
        struct near_shard *s = &n->slots[i].s;
        if (s->buckets) {
            near_empty(s);
            pthread_mutex_destroy(&s->lock);
        }
        free(s->buckets);
        free(s->ghost);
    }
    free(n->slots);
    free(n);
}

uint64_t nc_near_token(struct nc_near *n, const char *key, size_t klen)
{
    /* One sequence for every key: a drop or clear that starts after this
     * load has a larger number than the token (see nc_near_put). */
    (void)key;
    (void)klen;
    return atomic_load(&n->seq);
}

int nc_near_get(struct nc_near *n, const char *key, size_t klen, int64_t now_ms, struct nc_buf *out,
                int64_t *expire_ms)
{
    uint64_t h = near_hash(key, klen);
    struct near_shard *s = near_shard_of(n, h);
    int hit = 0;
    pthread_mutex_lock(&s->lock);
    near_sync(n, s);
    struct near_entry **link = near_find(s, h, key, klen);
    struct near_entry *e = *link;
    if (e && e->expire_ms <= now_ms) {
        near_remove_at(s, link);
        e = NULL;
    }
    if (e) {
        nc_buf_reset(out);
        if (nc_buf_append(out, e->data + e->klen, e->vlen) == 0) {
            *expire_ms = e->expire_ms;
            if (e->freq < NEAR_FREQ_MAX)
                e->freq++;
            hit = 1;
        }
    }
    if (hit)
        s->hits++;
    else
        s->misses++;
    pthread_mutex_unlock(&s->lock);
    return hit;
}

int nc_near_put(struct nc_near *n, const char *key, size_t klen, const char *val, size_t vlen,
                int64_t expire_ms, uint64_t token)
{
    uint64_t h = near_hash(key, klen);
    struct near_shard *s = near_shard_of(n, h);
    size_t cost = NC_NEAR_ENTRY_OVERHEAD + klen + vlen;
    /* Allocated before the lock is taken: malloc and the copy stay out of
     * the critical section. */
    struct near_entry *e = NULL;
    int rc = 0;
    if (klen <= UINT32_MAX && vlen <= UINT32_MAX && cost <= s->small_target &&
        expire_ms > nc_now_ms()) {
        e = malloc(sizeof *e + klen + vlen);
        if (e) {
            e->hash = h;
            e->expire_ms = expire_ms;
            e->klen = (uint32_t)klen;
            e->vlen = (uint32_t)vlen;
            e->freq = 0;
            e->queue = NEAR_SMALL;
            memcpy(e->data, key, klen);
            if (vlen)
                memcpy(e->data + klen, val, vlen);
        } else {
            rc = -1;
        }
    }
    pthread_mutex_lock(&s->lock);
    near_sync(n, s);
    struct near_entry **link = near_find(s, h, key, klen);
    if (e && token >= atomic_load(&n->clear_epoch) && token >= *near_stripe(s, h)) {
        if (*link) { /* a replacement keeps the old entry's place in the policy */
            e->queue = (*link)->queue;
            e->freq = (*link)->freq;
            near_remove_at(s, link);
        } else if (ghost_take(s, h)) {
            e->queue = NEAR_MAIN;
        }
        near_make_room(s, cost);
        link = &s->buckets[h & s->bmask];
        e->chain = *link;
        *link = e;
        fifo_push(&s->fifo[e->queue], e);
        s->bytes += cost;
        s->entries++;
        e = NULL;
        rc = 1;
    } else {
        /* The refused value may be newer than the entry: the entry goes. */
        if (*link)
            near_remove_at(s, link);
        s->puts_dropped++;
    }
    pthread_mutex_unlock(&s->lock);
    free(e);
    return rc;
}

void nc_near_drop(struct nc_near *n, const char *key, size_t klen)
{
    uint64_t h = near_hash(key, klen);
    struct near_shard *s = near_shard_of(n, h);
    uint64_t seq = atomic_fetch_add(&n->seq, 1) + 1;
    pthread_mutex_lock(&s->lock);
    near_sync(n, s);
    uint64_t *mark = near_stripe(s, h);
    if (*mark < seq) /* two drops may take the lock out of order */
        *mark = seq;
    struct near_entry **link = near_find(s, h, key, klen);
    if (*link)
        near_remove_at(s, link);
    s->invalidations++;
    pthread_mutex_unlock(&s->lock);
}

void nc_near_clear(struct nc_near *n)
{
    uint64_t seq = atomic_fetch_add(&n->seq, 1) + 1;
    uint64_t cur = atomic_load(&n->clear_epoch);
    while (cur < seq && !atomic_compare_exchange_weak(&n->clear_epoch, &cur, seq))
        ;
    atomic_fetch_add(&n->clears, 1);
}

void nc_near_stats(struct nc_near *n, struct nc_near_stats *out)
{
    *out = (struct nc_near_stats){.invalidations = atomic_load(&n->clears)};
    for (unsigned i = 0; i < n->nshards; i++) {
        struct near_shard *s = &n->slots[i].s;
        pthread_mutex_lock(&s->lock);
        near_sync(n, s);
        out->hits += s->hits;
        out->misses += s->misses;
        out->evictions += s->evictions;
        out->invalidations += s->invalidations;
        out->puts_dropped += s->puts_dropped;
        out->bytes += s->bytes;
        out->entries += s->entries;
        pthread_mutex_unlock(&s->lock);
    }
}

unsigned nc_near_shard(const struct nc_near *n, const char *key, size_t klen)
{
    uint64_t h = near_hash(key, klen);
    return n->nshards > 1 ? (unsigned)(h >> n->shard_shift) : 0;
}
