/* jsonstr.c - JSON string literals (see jsonstr.h). */
#include "normcache/jsonstr.h"

#include <stdint.h>
#include <string.h>

#include "normcache/utf8.h"

static const char jsonstr_hex[] = "0123456789abcdef";

/* The two-character escape for c (\" \\ \n \r \t \b \f), or 0. */
static char jsonstr_short(uint32_t c)
{
    switch (c) {
    case '"':
        return '"';
    case '\\':
        return '\\';
    case '\n':
        return 'n';
    case '\r':
        return 'r';
    case '\t':
        return 't';
    case '\b':
        return 'b';
    case '\f':
        return 'f';
    default:
        return 0;
    }
}

/* Writes \uXXXX at o; returns o + 6. */
static char *jsonstr_u(char *o, uint32_t u)
{
    *o++ = '\\';
    *o++ = 'u';
    *o++ = jsonstr_hex[(u >> 12) & 0xF];
    *o++ = jsonstr_hex[(u >> 8) & 0xF];
    *o++ = jsonstr_hex[(u >> 4) & 0xF];
    *o++ = jsonstr_hex[u & 0xF];
    return o;
}

int nc_jsonstr_append(struct nc_buf *out, const char *s, size_t len, unsigned flags)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + len;
    int ascii = (flags & NC_JSONSTR_ASCII) != 0;
    /* Most strings need no escape at all: one reservation, then copied in
     * one go (the access log writes several per request). */
    if (nc_buf_reserve(out, len + 2) != 0)
        return -1;
    const unsigned char *q = p;
    while (q < end && *q >= 0x20 && *q < 0x7F && *q != '"' && *q != '\\')
        q++;
    if (q == end) {
        char *o = out->data + out->len;
        o[0] = '"';
        if (len)
            memcpy(o + 1, s, len);
        o[len + 1] = '"';
        o[len + 2] = '\0';
        out->len += len + 2;
        return 0;
    }
    if (nc_buf_appendc(out, '"') != 0)
        return -1;
    while (p < end) {
        const unsigned char *run = p;
        if (ascii)
            while (p < end && *p >= 0x20 && *p < 0x7F && *p != '"' && *p != '\\')
                p++;
        else /* well-formed UTF-8 is part of the run */
            while (p < end && *p >= 0x20 && *p != '"' && *p != '\\') {
                uint32_t cp;
                size_t n = *p < 0x80 ? 1 : nc_utf8_decode(p, end, &cp);
                if (!n)
                    break;
                p += n;
            }
        if (p > run && nc_buf_append(out, run, (size_t)(p - run)) != 0)
            return -1;
        if (p >= end)
            break;
        char esc[12];
        char *o = esc;
        uint32_t cp = *p;
        size_t sl = 1;
        if (cp >= 0x80) {
            sl = nc_utf8_decode(p, end, &cp);
            if (!sl) {
                if (ascii)
                    return -1;
                sl = 1;
                cp = 0xFFFD;
            }
        }
        char c = jsonstr_short(cp);
        if (c) {
            *o++ = '\\';
            *o++ = c;
        } else if (cp < 0x20 || (ascii && cp >= 0x7F && cp < 0x10000)) {
            o = jsonstr_u(o, cp);
        } else if (ascii) { /* UTF-16 surrogate pair */
            uint32_t v = cp - 0x10000;
            o = jsonstr_u(jsonstr_u(o, 0xD800 + (v >> 10)), 0xDC00 + (v & 0x3FF));
        } else {
            o += nc_utf8_encode(o, cp);
        }
        p += sl;
        if (nc_buf_append(out, esc, (size_t)(o - esc)) != 0)
            return -1;
    }
    return nc_buf_appendc(out, '"');
}
