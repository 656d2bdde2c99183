/* test_near.c - the near cache: hits copy the value and its expiry out,
 * expired entries are never returned, bytes never exceed max_bytes with ten
 * times more keys than fit, S3-FIFO keeps a hot set through a scan of cold
 * keys (and readmits a ghost to main), the token rules close the
 * invalidation race, and threads doing everything at once on the same keys
 * only ever read a value written for that key, never one older than an
 * invalidation that had already been applied. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "normcache/buf.h"
#include "normcache/clock.h"
#include "normcache/near.h"

#define MIB (1024 * 1024)

static int64_t later(void)
{
    return nc_now_ms() + 600000;
}

static int put_now(struct nc_near *n, const char *key, const char *val)
{
    uint64_t t = nc_near_token(n, key, strlen(key));
    return nc_near_put(n, key, strlen(key), val, strlen(val), later(), t);
}

/* 1 when key is a hit (its value then in out). */
static int get_now(struct nc_near *n, const char *key, struct nc_buf *out)
{
    int64_t exp;
    return nc_near_get(n, key, strlen(key), nc_now_ms(), out, &exp);
}

static void test_put_get(void **state)
{
    (void)state;
    struct nc_near *n = nc_near_new(MIB, 4);
    assert_non_null(n);
    struct nc_buf out;
    nc_buf_init(&out);
    assert_int_equal(nc_buf_appends(&out, "left over"), 0);
    int64_t now = nc_now_ms(), exp = 0;

    assert_int_equal(nc_near_get(n, "k", 1, now, &out, &exp), 0);
    uint64_t t = nc_near_token(n, "k", 1);
    assert_int_equal(nc_near_put(n, "k", 1, "v\0x", 3, now + 5000, t), 1);
    assert_int_equal(nc_near_get(n, "k", 1, now, &out, &exp), 1);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.data, "v\0x", 3);
    assert_int_equal(exp, now + 5000);
    assert_int_equal(nc_near_get(n, "kk", 2, now, &out, &exp), 0);

    /* an empty value is a value */
    assert_int_equal(nc_near_put(n, "e", 1, "", 0, now + 5000, nc_near_token(n, "e", 1)), 1);
    assert_int_equal(nc_near_get(n, "e", 1, now, &out, &exp), 1);
    assert_int_equal(out.len, 0);

    /* a replacement: the new value, one entry, bytes follow */
    assert_int_equal(put_now(n, "k", "longer value"), 1);
    assert_int_equal(get_now(n, "k", &out), 1);
    assert_string_equal(out.data, "longer value");

    struct nc_near_stats st;
    nc_near_stats(n, &st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.bytes, 2 * NC_NEAR_ENTRY_OVERHEAD + 1 + 0 + 1 + strlen("longer value"));
    assert_int_equal(st.hits, 3);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.puts_dropped, 0);

    nc_buf_free(&out);
    nc_near_free(n);
    nc_near_free(NULL);
}

static void test_expiry(void **state)
{
    (void)state;
    struct nc_near *n = nc_near_new(MIB, 1);
    struct nc_buf out;
    nc_buf_init(&out);
    int64_t now = nc_now_ms(), exp;
    uint64_t t = nc_near_token(n, "k", 1);
    assert_int_equal(nc_near_put(n, "k", 1, "v", 1, now + 1000, t), 1);
    assert_int_equal(nc_near_get(n, "k", 1, now + 999, &out, &exp), 1);
    assert_int_equal(nc_near_get(n, "k", 1, now + 1000, &out, &exp), 0); /* expire <= now */
    struct nc_near_stats st;
    nc_near_stats(n, &st);
    assert_int_equal(st.entries, 0); /* the get reclaimed it */
    assert_int_equal(st.bytes, 0);
    /* gone for good, even for an earlier clock */
    assert_int_equal(nc_near_get(n, "k", 1, now, &out, &exp), 0);

    /* already expired: refused */
    assert_int_equal(nc_near_put(n, "x", 1, "v", 1, nc_now_ms() - 1, t), 0);
    nc_near_stats(n, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.puts_dropped, 1);
    nc_buf_free(&out);
    nc_near_free(n);
}

static void test_shards_rounded(void **state)
{
    (void)state;
    struct nc_near *n = nc_near_new(MIB, 3);
    unsigned seen = 0;
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        unsigned s = nc_near_shard(n, key, strlen(key));
        assert_true(s < 4);
        seen |= 1u << s;
    }
    assert_int_equal(seen, 0xF); /* four shards, all used */
    nc_near_free(n);

    n = nc_near_new(MIB, 0);
    assert_int_equal(nc_near_shard(n, "a", 1), 0);
    assert_int_equal(put_now(n, "a", "b"), 1);
    nc_near_free(n);
}

/* A key on another shard than key (nshards > 1). */
static void other_shard_key(struct nc_near *n, const char *key, char *other, size_t cap)
{
    unsigned s = nc_near_shard(n, key, strlen(key));
    for (int i = 0;; i++) {
        snprintf(other, cap, "other-%d", i);
        if (nc_near_shard(n, other, strlen(other)) != s)
            return;
    }
}

static void test_tokens(void **state)
{
    (void)state;
    struct nc_near *n = nc_near_new(MIB, 64);
    struct nc_buf out;
    nc_buf_init(&out);
    int64_t exp = later();
    struct nc_near_stats st;

    /* token, put: stored */
    uint64_t t = nc_near_token(n, "k", 1);
    assert_int_equal(nc_near_put(n, "k", 1, "v1", 2, exp, t), 1);
    assert_int_equal(get_now(n, "k", &out), 1);

    /* token, drop, put: refused (the invalidation overtook the reply) */
    t = nc_near_token(n, "k", 1);
    nc_near_drop(n, "k", 1);
    assert_int_equal(get_now(n, "k", &out), 0);
    assert_int_equal(nc_near_put(n, "k", 1, "v1", 2, exp, t), 0);
    assert_int_equal(get_now(n, "k", &out), 0);
    /* a token taken after the drop is good */
    t = nc_near_token(n, "k", 1);
    assert_int_equal(nc_near_put(n, "k", 1, "v2", 2, exp, t), 1);
    assert_int_equal(get_now(n, "k", &out), 1);
    assert_string_equal(out.data, "v2");

    /* token, clear, put: refused; the clear empties everything */
    assert_int_equal(put_now(n, "j", "w"), 1);
    t = nc_near_token(n, "k", 1);
    nc_near_clear(n);
    assert_int_equal(get_now(n, "k", &out), 0);
    assert_int_equal(get_now(n, "j", &out), 0);
    assert_int_equal(nc_near_put(n, "k", 1, "v1", 2, exp, t), 0);
    nc_near_stats(n, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(put_now(n, "k", "v3"), 1);

    /* a drop of another shard's key does not refuse */
    char other[32];
    other_shard_key(n, "k", other, sizeof other);
    t = nc_near_token(n, "k", 1);
    nc_near_drop(n, other, strlen(other));
    assert_int_equal(nc_near_put(n, "k", 1, "v4", 2, exp, t), 1);
    assert_int_equal(get_now(n, "k", &out), 1);
    assert_string_equal(out.data, "v4");

    /* a put, then the drop: gone */
    nc_near_drop(n, "k", 1);
    assert_int_equal(get_now(n, "k", &out), 0);

    /* this instance's own write (drop, token, put) with a read of the old
     * value in flight: the read's put is refused and cannot bring the old
     * value back; it removes the entry, which is only a miss */
    t = nc_near_token(n, "k", 1); /* the read is sent */
    nc_near_drop(n, "k", 1);      /* the write is acknowledged */
    assert_int_equal(put_now(n, "k", "v5"), 1);
    assert_int_equal(get_now(n, "k", &out), 1);
    assert_string_equal(out.data, "v5");
    assert_int_equal(nc_near_put(n, "k", 1, "old", 3, exp, t), 0); /* the read's reply */
    assert_int_equal(get_now(n, "k", &out), 0);

    /* a put refused as too large or already expired removes the older entry */
    assert_int_equal(put_now(n, "k", "v6"), 1);
    char *big = calloc(1, MIB);
    t = nc_near_token(n, "k", 1);
    assert_int_equal(nc_near_put(n, "k", 1, big, MIB / 2, exp, t), 0);
    free(big);
    assert_int_equal(get_now(n, "k", &out), 0);
    assert_int_equal(put_now(n, "k", "v7"), 1);
    t = nc_near_token(n, "k", 1);
    assert_int_equal(nc_near_put(n, "k", 1, "v8", 2, nc_now_ms() - 1, t), 0);
    assert_int_equal(get_now(n, "k", &out), 0);

    nc_near_stats(n, &st);
    assert_int_equal(st.puts_dropped, 5);
    assert_int_equal(st.invalidations, 5); /* four drops and a clear */
    nc_buf_free(&out);
    nc_near_free(n);
}

/* Ten times more bytes of keys than fit, in many shards: bytes never above
 * max_bytes, and the cache is actually used. Too large an entry is refused. */
static void test_byte_bound(void **state)
{
    (void)state;
    const size_t max = 256 * 1024;
    struct nc_near *n = nc_near_new(max, 8);
    char key[32], val[2048];
    memset(val, 'v', sizeof val);
    size_t offered = 0;
    unsigned seed = 7;
    struct nc_near_stats st;
    for (int i = 0; offered < 10 * max; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        size_t vlen = 100 + (size_t)rand_r(&seed) % 1900;
        assert_int_equal(put_now(n, key, "") >= 0, 1); /* an empty value first */
        uint64_t t = nc_near_token(n, key, strlen(key));
        assert_int_equal(nc_near_put(n, key, strlen(key), val, vlen, later(), t), 1);
        offered += NC_NEAR_ENTRY_OVERHEAD + strlen(key) + vlen;
        if (i % 50 == 0) {
            nc_near_stats(n, &st);
            assert_true(st.bytes <= max);
        }
    }
    nc_near_stats(n, &st);
    assert_true(st.bytes <= max);
    assert_true(st.bytes >= max / 2);
    assert_true(st.evictions > 0);
    assert_true(st.entries > 0);

    /* an entry larger than a shard's small FIFO: refused, nothing evicted */
    uint64_t before = st.evictions;
    uint64_t t = nc_near_token(n, "big", 3);
    char *big = calloc(1, max);
    assert_int_equal(nc_near_put(n, "big", 3, big, max / 8, later(), t), 0);
    free(big);
    nc_near_stats(n, &st);
    assert_int_equal(st.evictions, before);

    /* one shard, entries near the size limit (a tenth of the budget): one
     * entry too many would already exceed max_bytes */
    struct nc_near *one = nc_near_new(64 * 1024, 1);
    for (int i = 0; i < 130; i++) {
        snprintf(key, sizeof key, "big-%d", i);
        uint64_t tok = nc_near_token(one, key, strlen(key));
        char *v = calloc(1, 5000);
        assert_int_equal(nc_near_put(one, key, strlen(key), v, 5000, later(), tok), 1);
        free(v);
        nc_near_stats(one, &st);
        assert_true(st.bytes <= 64 * 1024);
    }
    assert_true(st.entries >= 10);
    nc_near_free(one);

    /* a cache too small for anything refuses everything */
    struct nc_near *tiny = nc_near_new(100, 4);
    assert_non_null(tiny);
    assert_int_equal(put_now(tiny, "a", "b"), 0);
    nc_near_stats(tiny, &st);
    assert_int_equal(st.bytes, 0);
    nc_near_free(tiny);
    nc_near_free(n);
}

#define HOT 100
#define VAL 200

static void hot_key(char *key, size_t cap, int i)
{
    snprintf(key, cap, "hot-%d", i);
}

/* One shard holding about 1000 entries: a hot set of 100, each read a few
 * times, then one pass over 10 000 cold keys (each missed then put, never
 * read again: 10 times the capacity). A plain FIFO or LRU would have
 * evicted every hot key (the last 1000 keys in are all cold); S3-FIFO keeps
 * the cold keys in its small FIFO and the hot set in main. */
static void test_scan_resistance(void **state)
{
    (void)state;
    const size_t cost = NC_NEAR_ENTRY_OVERHEAD + 12 + VAL;
    struct nc_near *n = nc_near_new(1000 * cost * 17 / 16, 1);
    struct nc_buf out;
    nc_buf_init(&out);
    char key[32], val[VAL];
    memset(val, 'h', sizeof val);
    int64_t exp = later();
    for (int i = 0; i < HOT; i++) {
        hot_key(key, sizeof key, i);
        assert_int_equal(nc_near_put(n, key, strlen(key), val, VAL, exp, 0), 1);
    }
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < HOT; i++) {
            hot_key(key, sizeof key, i);
            assert_int_equal(get_now(n, key, &out), 1);
        }
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "cold-%d", i);
        assert_int_equal(get_now(n, key, &out), 0);
        uint64_t t = nc_near_token(n, key, strlen(key));
        assert_int_equal(nc_near_put(n, key, strlen(key), val, VAL, exp, t), 1);
    }
    struct nc_near_stats st;
    nc_near_stats(n, &st);
    assert_true(st.evictions >= 9000); /* the scan did not fit */
    /* A plain FIFO holding as many entries would hold the last st.entries
     * keys put: all cold, as the scan put more than that after the hot set. */
    assert_true(st.entries < 10000);
    int hits = 0;
    for (int i = 0; i < HOT; i++) {
        hot_key(key, sizeof key, i);
        hits += get_now(n, key, &out);
    }
    print_message("hot hit ratio after the scan: %d %%\n", hits * 100 / HOT);
    assert_true(hits >= HOT * 9 / 10);
    nc_buf_free(&out);
    nc_near_free(n);
}

/* A key evicted from small unread and put again soon after is a ghost: it
 * goes to main and survives the next scan (without the ghost it would be
 * in small again and flushed). Ghosts are a direct-mapped table, so a few
 * may be overwritten by the scan's own: most, not all, come back. */
static void test_ghost_readmission(void **state)
{
    (void)state;
    const size_t cost = NC_NEAR_ENTRY_OVERHEAD + 12 + VAL;
    struct nc_near *n = nc_near_new(1000 * cost * 17 / 16, 1);
    struct nc_buf out;
    nc_buf_init(&out);
    char key[32], val[VAL];
    memset(val, 'g', sizeof val);
    int64_t exp = later();
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "ghost-%d", i);
        assert_int_equal(nc_near_put(n, key, strlen(key), val, VAL, exp, 0), 1);
    }
    /* about 1000 fit: the cache fills, then the oldest (the 20) leave */
    for (int i = 0; i < 1050; i++) {
        snprintf(key, sizeof key, "cold-%d", i);
        assert_int_equal(nc_near_put(n, key, strlen(key), val, VAL, exp, 0), 1);
    }
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "ghost-%d", i);
        assert_int_equal(get_now(n, key, &out), 0); /* evicted */
        assert_int_equal(nc_near_put(n, key, strlen(key), val, VAL, exp, 0), 1);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "scan-%d", i);
        assert_int_equal(nc_near_put(n, key, strlen(key), val, VAL, exp, 0), 1);
    }
    int hits = 0;
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "ghost-%d", i);
        hits += get_now(n, key, &out);
    }
    print_message("ghosts readmitted to main: %d of 20\n", hits);
    assert_true(hits >= 12);
    nc_buf_free(&out);
    nc_near_free(n);
}

/* Main's 2-bit frequency: of 800 keys in main, the 400 read again are
 * reinserted when they reach main's head and outlive the 400 unread ones
 * (a plain FIFO main would evict the oldest, the read ones first). */
static void test_main_second_chance(void **state)
{
    (void)state;
    const size_t cost = NC_NEAR_ENTRY_OVERHEAD + 12 + VAL;
    struct nc_near *n = nc_near_new(1000 * cost * 17 / 16, 1);
    struct nc_buf out;
    nc_buf_init(&out);
    char key[32], val[VAL];
    memset(val, 'm', sizeof val);
    int64_t exp = later();
    for (int i = 0; i < 800; i++) { /* read once in small: main */
        snprintf(key, sizeof key, "a-%d", i);
        assert_int_equal(nc_near_put(n, key, strlen(key), val, VAL, exp, 0), 1);
        assert_int_equal(get_now(n, key, &out), 1);
    }
    for (int i = 0; i < 600; i++) { /* never read: through small and out */
        snprintf(key, sizeof key, "c-%d", i);
        assert_int_equal(nc_near_put(n, key, strlen(key), val, VAL, exp, 0), 1);
    }
    for (int i = 0; i < 400; i++) { /* the first half read again in main */
        snprintf(key, sizeof key, "a-%d", i);
        assert_int_equal(get_now(n, key, &out), 1);
    }
    for (int i = 0; i < 700; i++) { /* newcomers read once: into main */
        snprintf(key, sizeof key, "d-%d", i);
        assert_int_equal(nc_near_put(n, key, strlen(key), val, VAL, exp, 0), 1);
        assert_int_equal(get_now(n, key, &out), 1);
    }
    int read = 0, unread = 0;
    for (int i = 0; i < 800; i++) {
        snprintf(key, sizeof key, "a-%d", i);
        if (get_now(n, key, &out))
            *(i < 400 ? &read : &unread) += 1;
    }
    print_message("main after 700 newcomers: %d of 400 read kept, %d of 400 unread\n", read,
                  unread);
    assert_true(read >= 360);
    assert_true(unread <= 40);
    nc_buf_free(&out);
    nc_near_free(n);
}

/* ---- threads ---- */

#define CONC_KEYS 200
#define CONC_THREADS 4

struct conc {
    struct nc_near *n;
    size_t max;
    int64_t stop_ms;
    atomic_int failures;
    atomic_ulong hits;
    unsigned seed;
};

/* key i's values: "k<i>|<len>|" then filler letters chosen by i, len the
 * whole value's length: a hit is checked byte for byte against its key. */
static size_t conc_value(char *val, size_t cap, int i, size_t len)
{
    int head = snprintf(val, cap, "k%d|%zu|", i, len);
    for (size_t j = (size_t)head; j < len; j++)
        val[j] = (char)('a' + i % 26);
    return len;
}

static int conc_check(const struct nc_buf *out, int i)
{
    char want[1024];
    size_t len =
        (size_t)strtoul(strchr(out->data, '|') ? strchr(out->data, '|') + 1 : "0", NULL, 10);
    if (len != out->len || len > sizeof want)
        return -1;
    conc_value(want, sizeof want, i, len);
    return memcmp(want, out->data, len) == 0 ? 0 : -1;
}

static void *conc_thread(void *arg)
{
    struct conc *c = arg;
    unsigned seed = __atomic_add_fetch(&c->seed, 7919u, __ATOMIC_RELAXED);
    struct nc_buf out;
    nc_buf_init(&out);
    char key[32], val[1024];
    for (unsigned long ops = 0;; ops++) {
        if (ops % 256 == 0 && nc_now_ms() >= c->stop_ms)
            break;
        int i = rand_r(&seed) % CONC_KEYS;
        int klen = snprintf(key, sizeof key, "key-%d", i);
        int op = rand_r(&seed) % 1000;
        int64_t now = nc_now_ms(), exp;
        if (op < 600) {
            if (nc_near_get(c->n, key, (size_t)klen, now, &out, &exp) == 1) {
                atomic_fetch_add(&c->hits, 1);
                if (conc_check(&out, i) != 0 || exp <= now)
                    atomic_fetch_add(&c->failures, 1);
            }
        } else if (op < 900) {
            uint64_t t = nc_near_token(c->n, key, (size_t)klen);
            size_t vlen = conc_value(val, sizeof val, i, 16 + (size_t)rand_r(&seed) % 1000);
            /* some entries expire while the test runs */
            int64_t ttl = op < 880 ? 60000 : 1 + rand_r(&seed) % 20;
            if (nc_near_put(c->n, key, (size_t)klen, val, vlen, now + ttl, t) < 0)
                atomic_fetch_add(&c->failures, 1);
        } else if (op < 999) {
            nc_near_drop(c->n, key, (size_t)klen);
        } else {
            nc_near_clear(c->n);
        }
        if (ops % 1024 == 0) {
            struct nc_near_stats st;
            nc_near_stats(c->n, &st);
            if (st.bytes > c->max)
                atomic_fetch_add(&c->failures, 1);
        }
    }
    nc_buf_free(&out);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    /* about a third of the key set fits: puts evict all the time */
    struct conc c = {.max = 96 * 1024, .seed = 1};
    c.n = nc_near_new(c.max, 4);
    atomic_init(&c.failures, 0);
    atomic_init(&c.hits, 0);
    c.stop_ms = nc_now_ms() + 1000;
    pthread_t th[CONC_THREADS];
    for (int i = 0; i < CONC_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, conc_thread, &c), 0);
    for (int i = 0; i < CONC_THREADS; i++)
        pthread_join(th[i], NULL);
    struct nc_near_stats st;
    nc_near_stats(c.n, &st);
    print_message("threads: %llu hits, %llu misses, %llu evictions, %llu refused\n",
                  (unsigned long long)st.hits, (unsigned long long)st.misses,
                  (unsigned long long)st.evictions, (unsigned long long)st.puts_dropped);
    assert_int_equal(atomic_load(&c.failures), 0);
    assert_true(st.bytes <= c.max);
    assert_true(atomic_load(&c.hits) > 0);
    assert_true(st.evictions > 0);
    nc_near_free(c.n);
}

/* The race rules under threads: a writer thread plays Redis and its
 * invalidations (bump key k's version, then nc_near_drop, then mark the
 * version acknowledged) and now and then a FLUSHALL (nc_near_clear);
 * readers miss, take a token, read the current version and put it. A hit
 * must never be older than a version whose drop had returned before the
 * get began: a put of a read that the drop overtook is refused. */
#define COH_KEYS 16

struct coh {
    struct nc_near *n;
    int64_t stop_ms;
    atomic_ulong truth[COH_KEYS], acked[COH_KEYS];
    atomic_int failures;
    atomic_ulong stale_refused, hits;
};

static void *coh_writer(void *arg)
{
    struct coh *c = arg;
    unsigned seed = 99;
    char key[16];
    for (unsigned long ops = 0; nc_now_ms() < c->stop_ms; ops++) {
        int k = rand_r(&seed) % COH_KEYS;
        int klen = snprintf(key, sizeof key, "c%d", k);
        unsigned long v = atomic_fetch_add(&c->truth[k], 1) + 1;
        nc_near_drop(c->n, key, (size_t)klen);
        atomic_store(&c->acked[k], v);
        if (ops % 500 == 499)
            nc_near_clear(c->n);
        if (ops % 8 == 0)
            sched_yield();
    }
    return NULL;
}

static void *coh_reader(void *arg)
{
    struct coh *c = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    struct nc_buf out;
    nc_buf_init(&out);
    char key[16], val[64];
    while (nc_now_ms() < c->stop_ms) {
        int k = rand_r(&seed) % COH_KEYS;
        int klen = snprintf(key, sizeof key, "c%d", k);
        unsigned long acked = atomic_load(&c->acked[k]);
        int64_t exp;
        if (nc_near_get(c->n, key, (size_t)klen, nc_now_ms(), &out, &exp) == 1) {
            atomic_fetch_add(&c->hits, 1);
            int got_k = -1;
            unsigned long got_v = 0;
            if (sscanf(out.data, "c%d=%lu", &got_k, &got_v) != 2 || got_k != k || got_v < acked)
                atomic_fetch_add(&c->failures, 1);
            continue;
        }
        uint64_t t = nc_near_token(c->n, key, (size_t)klen); /* the read is sent */
        unsigned long v = atomic_load(&c->truth[k]);         /* Redis answers */
        if (rand_r(&seed) % 4 == 0)
            sched_yield(); /* the reply is slow: let invalidations overtake it */
        int vlen = snprintf(val, sizeof val, "c%d=%lu", k, v);
        int rc = nc_near_put(c->n, key, (size_t)klen, val, (size_t)vlen, nc_now_ms() + 60000, t);
        if (rc < 0)
            atomic_fetch_add(&c->failures, 1);
        else if (rc == 0)
            atomic_fetch_add(&c->stale_refused, 1);
    }
    nc_buf_free(&out);
    return NULL;
}

static void test_threads_coherence(void **state)
{
    (void)state;
    static struct coh c;
    memset(&c, 0, sizeof c);
    c.n = nc_near_new(MIB, 4);
    c.stop_ms = nc_now_ms() + 1000;
    pthread_t th[4];
    assert_int_equal(pthread_create(&th[0], NULL, coh_writer, &c), 0);
    for (int i = 1; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, coh_reader, &c), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    print_message("coherence: %lu hits, %lu puts refused as stale\n", atomic_load(&c.hits),
                  atomic_load(&c.stale_refused));
    assert_int_equal(atomic_load(&c.failures), 0);
    assert_true(atomic_load(&c.hits) > 0);
    nc_near_free(c.n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get),           cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_shards_rounded),    cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_byte_bound),        cmocka_unit_test(test_scan_resistance),
        cmocka_unit_test(test_ghost_readmission), cmocka_unit_test(test_main_second_chance),
        cmocka_unit_test(test_threads),           cmocka_unit_test(test_threads_coherence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
