/* near.c - the near cache (see near.h). A placeholder that caches nothing:
 * every get misses and every put is refused; the S3-FIFO shards follow. */
#include "normcache/near.h"

#include <stdlib.h>

struct nc_near {
    size_t max_bytes;
};

struct nc_near *nc_near_new(size_t max_bytes, unsigned shards)
{
    (void)shards;
    struct nc_near *n = calloc(1, sizeof *n);
    if (n)
        n->max_bytes = max_bytes;
    return n;
}

void nc_near_free(struct nc_near *n)
{
    free(n);
}

uint64_t nc_near_token(struct nc_near *n, const char *key, size_t klen)
{
    (void)n;
    (void)key;
    (void)klen;
    return 0;
}

int nc_near_get(struct nc_near *n, const char *key, size_t klen, int64_t now_ms, struct nc_buf *out,
                int64_t *expire_ms)
{
    (void)n;
    (void)key;
    (void)klen;
    (void)now_ms;
    (void)out;
    (void)expire_ms;
    return 0;
}

int nc_near_put(struct nc_near *n, const char *key, size_t klen, const char *val, size_t vlen,
                int64_t expire_ms, uint64_t token)
{
    (void)n;
    (void)key;
    (void)klen;
    (void)val;
    (void)vlen;
    (void)expire_ms;
    (void)token;
    return 0;
}

void nc_near_drop(struct nc_near *n, const char *key, size_t klen)
{
    (void)n;
    (void)key;
    (void)klen;
}

void nc_near_clear(struct nc_near *n)
{
    (void)n;
}

void nc_near_stats(struct nc_near *n, struct nc_near_stats *out)
{
    (void)n;
    *out = (struct nc_near_stats){0};
}
