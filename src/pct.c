/* pct.c - percent-decoding (see pct.h). */
#include "normcache/pct.h"

static int pct_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20; /* ASCII lower case; leaves digits and most symbols alone */
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

long nc_pct_decode(char *dst, const char *src, size_t n, unsigned flags)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '+' && (flags & NC_PCT_FORM)) {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = pct_hexval((unsigned char)src[i + 1]);
            int lo = pct_hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            if (c == '\0' && (flags & NC_PCT_NO_NUL))
                return -1;
            i += 2;
        }
        dst[o++] = c;
    }
    dst[o] = '\0';
    return (long)o;
}
