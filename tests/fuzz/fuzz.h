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

#endif
