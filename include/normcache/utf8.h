/* utf8.h - the one UTF-8 decoder and encoder.
 *
 * Strict RFC 3629: overlong forms, surrogates, values above U+10FFFF, stray
 * continuation bytes and truncated sequences are all malformed. Used by the
 * normaliser, the JSON parser and writer, and the request checks. */
#ifndef NC_UTF8_H
#define NC_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Longest encoding of one code point. */
#define NC_UTF8_MAX 4

/* Decodes one sequence at p (p < end): returns its length and sets *cp, or
 * returns 0 when it is not well-formed (*cp is then unspecified). */
size_t nc_utf8_decode(const unsigned char *p, const unsigned char *end, uint32_t *cp);

/* Encodes cp (<= U+10FFFF, not a surrogate) at o, which has room for
 * NC_UTF8_MAX bytes; returns the number of bytes written. */
size_t nc_utf8_encode(char *o, uint32_t cp);

/* 1 when s[0..len) is well-formed UTF-8, else 0. NUL is valid UTF-8: callers
 * that refuse it check for it themselves. */
int nc_utf8_valid(const char *s, size_t len);

#endif
