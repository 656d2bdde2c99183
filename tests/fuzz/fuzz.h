/* fuzz.h - shared helpers of the libFuzzer targets (tests/fuzz/fuzz_*.c).
 *
 * Each target checks properties, not only "no crash": a broken property
 * calls FUZZ_FAIL, which prints where and aborts, so libFuzzer saves the
 * input as a crash file. */
#ifndef NC_FUZZ_H
#define NC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_FAIL(what)                                                                            \
    do {                                                                                           \
        fprintf(stderr, "fuzz property broken at %s:%d: %s\n", __FILE__, __LINE__, what);          \
        abort();                                                                                   \
    } while (0)

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            FUZZ_FAIL(#cond);                                                                      \
    } while (0)

/* A NUL-terminated copy of data[0..size) (the caller frees it); aborts
 * when memory runs out, which libFuzzer reports. */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* 1 when a[0..alen) equals b[0..blen). */
static inline int fuzz_same(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* hiredis 0.14 allocates the elements an aggregate header ('*N') names
 * before any arrives (later versions cap N). The replies these targets
 * parse come from Redis or a sentinel, not from a client, so an input
 * naming more than 9999 elements is skipped, not reported as OOM. */
static inline int fuzz_resp_small(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (d[i] != '*')
            continue;
        size_t j = i + 1, digits = 0;
        while (j < n && d[j] >= '0' && d[j] <= '9')
            j++, digits++;
        if (digits > 4)
            return 0;
    }
    return 1;
}

/* Feeds data[0..size) to a hiredis reader and hands each of the first 8
 * complete replies to fn, which must not free it. */
typedef void fuzz_reply_fn(const redisReply *reply);
static inline void fuzz_resp_each(const uint8_t *data, size_t size, fuzz_reply_fn *fn)
{
    if (!fuzz_resp_small(data, size))
        return;
    redisReader *rd = redisReaderCreate();
    if (!rd)
        abort();
    if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK) {
        for (int i = 0; i < 8; i++) {
            void *reply = NULL;
            if (redisReaderGetReply(rd, &reply) != REDIS_OK || !reply)
                break;
            fn(reply);
            freeReplyObject(reply);
        }
    }
    redisReaderFree(rd);
}

#endif
