/* pct.h - the one percent-decoder (RFC 3986 §2.1), for query strings and
 * the user-info part of REDIS_URL. */
#ifndef NC_PCT_H
#define NC_PCT_H

#include <stddef.h>

enum {
    NC_PCT_FORM = 1,   /* '+' is a space (application/x-www-form-urlencoded) */
    NC_PCT_NO_NUL = 2, /* %00 is malformed */
};

/* Decodes src[0..n) into dst, which has room for n + 1 bytes (decoding only
 * shrinks), and NUL-terminates it. Returns the decoded length, or -1 on a
 * truncated or non-hex escape (or %00 with NC_PCT_NO_NUL); dst is then
 * unspecified. */
long nc_pct_decode(char *dst, const char *src, size_t n, unsigned flags);

#endif
