/* rand.c - getrandom tokens and per-thread xoshiro256** (see rand.h). */
#include "normcache/rand.h"

#include <errno.h>
#include <sys/random.h>

#include "normcache/clock.h"
#include "normcache/hash.h"

int nc_rand_bytes(void *p, size_t n)
{
    unsigned char *o = p;
    while (n > 0) {
        ssize_t got = getrandom(o, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        o += got;
        n -= (size_t)got;
    }
    return 0;
}

int nc_rand_token(char *out, size_t cap)
{
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[16];
    if (cap < NC_RAND_TOKEN_LEN + 1 || nc_rand_bytes(raw, sizeof raw) != 0)
        return -1;
    /* 16 bytes = 128 bits = 21 full sextets + 2 bits. */
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < sizeof raw; i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = b64url[(acc >> bits) & 63];
        }
    }
    out[o++] = b64url[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    return 0;
}

static _Thread_local uint64_t rand_s[4];
static _Thread_local int rand_seeded;

static inline uint64_t rand_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static void rand_seed(void)
{
    if (nc_rand_bytes(rand_s, sizeof rand_s) != 0) {
        /* No kernel entropy (a seccomp filter?): jitter still only needs
         * threads to differ, which the clock and the stack address give. */
        uint64_t t = (uint64_t)nc_now_us();
        uintptr_t a = (uintptr_t)&t;
        for (int i = 0; i < 4; i++)
            rand_s[i] = nc_fnv1a64_more(t + (uint64_t)i, &a, sizeof a);
    }
    if (!(rand_s[0] | rand_s[1] | rand_s[2] | rand_s[3]))
        rand_s[0] = 1; /* the all-zero state is a fixed point */
    rand_seeded = 1;
}

uint64_t nc_rand_u64(void)
{
    if (!rand_seeded)
        rand_seed();
    uint64_t *s = rand_s;
    uint64_t r = rand_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rand_rotl(s[3], 45);
    return r;
}

double nc_rand_unit(void)
{
    return (double)(nc_rand_u64() >> 11) * 0x1.0p-53;
}
