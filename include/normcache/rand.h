/* rand.h - randomness: unguessable tokens from the kernel, and a fast
 * per-thread generator for jitter and early-refresh draws.
 *
 * Tokens (locks, leases) must not be predictable by another client, so they
 * come from getrandom(2). Jitter needs no secrecy but must not share state
 * between threads (rand() does, behind a lock), so each thread has its own
 * xoshiro256** generator, seeded from getrandom on first use. */
#ifndef NC_RAND_H
#define NC_RAND_H

#include <stddef.h>
#include <stdint.h>

/* 128 random bits as base64url without padding: 22 characters. */
#define NC_RAND_TOKEN_LEN 22

/* Fills p[0..n) from getrandom(2). 0, or -1 if the kernel refused. */
int nc_rand_bytes(void *p, size_t n);

/* Writes a NUL-terminated token of NC_RAND_TOKEN_LEN characters from
 * [A-Za-z0-9_-] into out (cap >= NC_RAND_TOKEN_LEN + 1). 0 or -1. */
int nc_rand_token(char *out, size_t cap);

/* This thread's generator: uniform 64 bits, and a double in [0, 1). */
uint64_t nc_rand_u64(void);
double nc_rand_unit(void);

#endif
