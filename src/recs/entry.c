/* entry.c - build and parse the recommendations entry format (see
 * recs_entry.h). Pure: the Redis side lives in rebuild.c and handler.c. */
#include "normcache/recs_entry.h"

#include <limits.h>
#include <string.h>

#define MAGIC "NC1 "
#define MAGIC_LEN 4

/* One decimal field: optional '-', 1..19 digits, no overflow. Returns the
 * character after it, or NULL. */
static const char *parse_ll(const char *p, const char *end, long long *out)
{
    int neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9')
        return NULL;
    unsigned long long v = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > ((unsigned long long)LLONG_MAX - d) / 10)
            return NULL;
        v = v * 10 + d;
    }
    *out = neg ? -(long long)v : (long long)v;
    return p;
}

int nc_recs_entry_parse(const char *p, size_t n, struct nc_recs_entry *e)
{
    if (!p || n < MAGIC_LEN || memcmp(p, MAGIC, MAGIC_LEN) != 0)
        return -1;
    const char *nl = memchr(p, '\n', n);
    if (!nl || (size_t)(nl - p) > NC_RECS_ENTRY_HDR_MAX)
        return -1;
    long long f[4];
    const char *q = p + MAGIC_LEN;
    for (int i = 0; i < 4; i++) {
        if (i > 0) {
            if (q >= nl || *q != ' ')
                return -1;
            q++;
        }
        q = parse_ll(q, nl, &f[i]);
        if (!q)
            return -1;
    }
    if (q != nl || (f[3] != 200 && f[3] != 404))
        return -1;
    e->stored_ms = f[0];
    e->fresh_until_ms = f[1];
    e->delta_ms = f[2];
    e->status = (int)f[3];
    e->body = nl + 1;
    e->len = n - (size_t)(nl - p) - 1;
    return 0;
}

int nc_recs_entry_build(struct nc_buf *out, long long stored_ms, long long fresh_until_ms,
                        long long delta_ms, int status, const char *body, size_t len)
{
    if (nc_buf_printf(out, MAGIC "%lld %lld %lld %d\n", stored_ms, fresh_until_ms, delta_ms,
                      status) != 0)
        return -1;
    if (status == 404 || !len)
        return 0;
    return nc_buf_append(out, body, len);
}
