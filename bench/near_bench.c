/* near_bench.c - micro benchmark of the near cache (near.h): operations per
 * second with 1 and 2 threads, 64 shards against 1 (one lock for all).
 *
 *   make build/near-bench && build/near-bench [SECONDS_PER_RUN]
 *
 * First the memory check: ten times more 1 KiB entries than fit offered to
 * a 64 MiB cache; prints the cache's byte count and the process's resident
 * set before and after. Then one line per run: 10 000 keys shaped like the
 * service's (35 bytes: prefix, namespace, 16 hex digits of a hash) with
 * 1 KiB values, all fitting a 64 MiB cache, each thread picking keys at
 * random. "get" is only hits; "90/10" is 90 % hits and 10 % token + put (a
 * replacement); "put+drop" alternates a put and a drop of the same key (an
 * instance's own write followed by its invalidation). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normcache/buf.h"
#include "normcache/clock.h"
#include "normcache/near.h"

#define KEYS 10000
#define VLEN 1024

enum mix { MIX_GET, MIX_90_10, MIX_PUT_DROP };

struct run {
    struct nc_near *n;
    enum mix mix;
    int64_t stop_ms;
    atomic_ullong ops;
    atomic_uint seed;
};

#define KLEN 35

static char keys[KEYS][KLEN + 1]; /* made once: snprintf would cost more than a get */

static void keys_init(void)
{
    for (int i = 0; i < KEYS; i++)
        snprintf(keys[i], sizeof keys[i], "normcache:products:%016x", (unsigned)i * 2654435761u);
}

static void *bench_thread(void *arg)
{
    struct run *r = arg;
    unsigned seed = atomic_fetch_add(&r->seed, 7919u);
    struct nc_buf out;
    nc_buf_init(&out);
    char val[VLEN];
    memset(val, 'v', sizeof val);
    unsigned long long ops = 0;
    int64_t exp_far = nc_now_ms() + 3600000, exp;
    for (;;) {
        for (int k = 0; k < 1024; k++) {
            const char *key = keys[rand_r(&seed) % KEYS];
            int op = rand_r(&seed) % 10;
            if (r->mix == MIX_GET || (r->mix == MIX_90_10 && op > 0)) {
                if (nc_near_get(r->n, key, KLEN, nc_now_ms(), &out, &exp) != 1)
                    abort();
            } else {
                uint64_t t = nc_near_token(r->n, key, KLEN);
                nc_near_put(r->n, key, KLEN, val, VLEN, exp_far, t);
                if (r->mix == MIX_PUT_DROP)
                    nc_near_drop(r->n, key, KLEN);
            }
        }
        ops += 1024;
        if (nc_now_ms() >= r->stop_ms)
            break;
    }
    atomic_fetch_add(&r->ops, ops);
    nc_buf_free(&out);
    return NULL;
}

static double bench_run(enum mix mix, int threads, unsigned shards, int seconds)
{
    struct run r = {.mix = mix};
    r.n = nc_near_new(64u << 20, shards);
    if (!r.n)
        return -1;
    atomic_init(&r.ops, 0);
    atomic_init(&r.seed, 1);
    char val[VLEN];
    memset(val, 'v', sizeof val);
    for (int i = 0; i < KEYS; i++) {
        if (nc_near_put(r.n, keys[i], KLEN, val, VLEN, nc_now_ms() + 3600000, 0) != 1)
            return -1;
    }
    pthread_t th[2];
    int64_t start = nc_now_us();
    r.stop_ms = nc_now_ms() + seconds * 1000;
    for (int i = 0; i < threads; i++)
        if (pthread_create(&th[i], NULL, bench_thread, &r) != 0)
            return -1;
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double secs = (double)(nc_now_us() - start) / 1e6;
    nc_near_free(r.n);
    return (double)atomic_load(&r.ops) / secs;
}

/* The process's resident set in KiB (VmRSS), or -1. */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

static int bench_memory(void)
{
    const size_t max = 64u << 20;
    long before = rss_kib();
    struct nc_near *n = nc_near_new(max, 64);
    if (!n)
        return -1;
    char key[40], val[VLEN];
    memset(val, 'v', sizeof val);
    size_t offered = 0;
    for (unsigned i = 0; offered < 10 * max; i++) {
        int klen = snprintf(key, sizeof key, "normcache:products:%016x", i);
        if (nc_near_put(n, key, (size_t)klen, val, VLEN, nc_now_ms() + 3600000, 0) < 0)
            return -1;
        offered += NC_NEAR_ENTRY_OVERHEAD + (size_t)klen + VLEN;
    }
    struct nc_near_stats st;
    nc_near_stats(n, &st);
    long after = rss_kib();
    printf("memory: max_bytes %zu KiB, offered %zu KiB; bytes %llu KiB in %llu entries; "
           "VmRSS %ld KiB -> %ld KiB (+%ld KiB)\n",
           max / 1024, offered / 1024, (unsigned long long)st.bytes / 1024,
           (unsigned long long)st.entries, before, after, after - before);
    nc_near_free(n);
    return 0;
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 2;
    if (seconds < 1)
        seconds = 1;
    keys_init();
    /* first, while the heap is fresh: the resident set then shows the cache */
    if (bench_memory() != 0) {
        fprintf(stderr, "near_bench: out of memory\n");
        return 1;
    }
    static const char *names[] = {"get", "90/10", "put+drop"};
    static const unsigned shard_counts[] = {64, 1};
    printf("%-9s %6s %7s %12s\n", "mix", "shards", "threads", "ops/s");
    for (int m = MIX_GET; m <= MIX_PUT_DROP; m++)
        for (int s = 0; s < 2; s++)
            for (int t = 1; t <= 2; t++) {
                double rate = bench_run((enum mix)m, t, shard_counts[s], seconds);
                if (rate < 0) {
                    fprintf(stderr, "near_bench: out of memory\n");
                    return 1;
                }
                printf("%-9s %6u %7d %12.0f\n", names[m], shard_counts[s], t, rate);
                fflush(stdout);
            }
    return 0;
}
