/* near.h - the process's near cache (L1): values read from Redis kept in
 * memory, bounded in bytes, shared by all workers.
 *
 * Sharded: a key's FNV-1a hash (hash.h) picks one of a power-of-two number
 * of shards, each with its own mutex, its own hash table and its own byte
 * budget (max_bytes / shards): no global lock on the hot path. A value is
 * copied out under the shard lock, so a hit never holds a reference.
 *
 * Bytes, not entries: an entry costs its key, its value and a fixed
 * per-entry overhead (NC_NEAR_ENTRY_OVERHEAD), and a shard never holds more
 * than its budget. A shard's fixed tables (hash buckets, ghosts, drop
 * marks: about 1/16 of its share) are paid for from its share of max_bytes
 * too, so the whole cache stays within max_bytes. An entry larger than the
 * small FIFO (a tenth of a shard's budget) is refused: with the defaults
 * (64 MiB, 64 shards) that is about 94 KiB.
 *
 * Eviction: S3-FIFO (Yang et al., SOSP'23). New keys enter a small FIFO
 * (~10 % of the shard's bytes); a key evicted from it that was read again
 * meanwhile moves to the main FIFO, otherwise it leaves and only its hash
 * is remembered as a ghost (a direct-mapped table of fingerprints that ages
 * like a FIFO of as many hashes as it has slots); a key put again while
 * its ghost is remembered is admitted straight to main. Main entries carry a 2-bit read frequency:
 * at the queue's head a read entry is reinserted with its count decremented, an unread one is
 * evicted. Why: a one-pass scan of cold keys flows through the small FIFO without touching the hot
 * set in main (plain FIFO or LRU would flush it); reads only bump a counter (no list moves, unlike
 * LRU), so the shard lock is held briefly; and it is a few queues and a table, simple enough to
 * review.
 *
 * Expiry: a get never returns an entry with expire_ms <= now; expired
 * entries are removed when a get finds them and by eviction.
 *
 * Coherence: one sequence counts every drop and clear. A token is its
 * value, read before the Redis read is sent. A drop takes the next number
 * and marks it on the key's stripe (1/64 of its shard, by hash); a clear
 * marks it as the clear epoch (one atomic every operation checks, so a clear
 * is O(1) and each shard empties itself when it next sees a new epoch). A
 * put whose token is older than its stripe's mark or the clear epoch is
 * refused: that closes the race in which an invalidation overtakes the
 * read's reply (the value read would be older than the invalidation). A
 * drop of another key on the same stripe refuses too: rare, and only a miss.
 *
 * Thread safety: every function may be called from any thread at once,
 * except nc_near_free. */
#ifndef NC_NEAR_H
#define NC_NEAR_H

#include <stddef.h>
#include <stdint.h>

#include "normcache/buf.h"

/* What an entry costs beyond its key and value bytes (its record, malloc's
 * header and rounding), counted in bytes and against the budget. */
#define NC_NEAR_ENTRY_OVERHEAD 96

struct nc_near;
struct nc_near_stats {
    uint64_t hits, misses, evictions, invalidations, puts_dropped;
    uint64_t bytes, entries;
};

/* max_bytes bounds everything an entry costs (key + value + overhead);
 * shards is rounded up to a power of two. NULL on OOM. Caller frees. */
struct nc_near *nc_near_new(size_t max_bytes, unsigned shards);
void nc_near_free(struct nc_near *n);
/* Coherence token: taken BEFORE the Redis read is sent; a put whose token
 * predates a drop of that key (or its shard), or a clear, is refused.
 * This closes the race where an invalidation overtakes the read's reply. */
uint64_t nc_near_token(struct nc_near *n, const char *key, size_t klen);
/* 1 = hit: the value is appended to out (after nc_buf_reset) and
 * *expire_ms (absolute, nc_now_ms clock) set; 0 = miss or expired. */
int nc_near_get(struct nc_near *n, const char *key, size_t klen, int64_t now_ms, struct nc_buf *out,
                int64_t *expire_ms);
/* Insert/replace (copied) unless the token is stale or the entry cannot
 * fit. 1 stored, 0 refused, -1 out of memory. A put refused (0 or -1)
 * also removes the key's entry, if any: it may be older than the value
 * refused. To store this instance's own write once Redis acknowledged it:
 * nc_near_drop, then nc_near_token, then nc_near_put, so that a read of
 * the old value still in flight (its token older than the drop) can no
 * longer be put over it. */
int nc_near_put(struct nc_near *n, const char *key, size_t klen, const char *val, size_t vlen,
                int64_t expire_ms, uint64_t token);
/* Drop one key (an invalidation, or this instance's own write/delete);
 * makes every outstanding token for it stale. Any thread. */
void nc_near_drop(struct nc_near *n, const char *key, size_t klen);
/* Drop everything (null invalidation, invalidation connection lost,
 * flush); every outstanding token becomes stale. Any thread. */
void nc_near_clear(struct nc_near *n);
/* Sums every shard's counters; bytes and entries count entries only.
 * invalidations counts drops and clears asked for, puts_dropped the puts
 * refused (stale token, too large, already expired, out of memory). */
void nc_near_stats(struct nc_near *n, struct nc_near_stats *out);
/* The shard that holds key, 0 .. shards-1 (tests, diagnostics). */
unsigned nc_near_shard(const struct nc_near *n, const char *key, size_t klen);

#endif
