/* hash.h - the one non-cryptographic hash: 64-bit FNV-1a.
 *
 * For ETags, hash tables and the stub's deterministic catalogue: fast and
 * stable across runs and machines. Never a security boundary (keys use
 * SHA-256/HMAC, see key.h). */
#ifndef NC_HASH_H
#define NC_HASH_H

#include <stddef.h>
#include <stdint.h>

#define NC_FNV1A64_INIT 14695981039346656037ULL

/* Continues hash h over p[0..n); start from NC_FNV1A64_INIT. */
static inline uint64_t nc_fnv1a64_more(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static inline uint64_t nc_fnv1a64(const void *p, size_t n)
{
    return nc_fnv1a64_more(NC_FNV1A64_INIT, p, n);
}

#endif
