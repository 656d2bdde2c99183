/* buf.c - growable byte buffer (see buf.h). */
#include "normcache/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nc_buf_init(struct nc_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int nc_buf_reserve(struct nc_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1; /* room for the trailing NUL */
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int nc_buf_append(struct nc_buf *b, const void *p, size_t n)
{
    if (nc_buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int nc_buf_appends(struct nc_buf *b, const char *s)
{
    return nc_buf_append(b, s, strlen(s));
}

int nc_buf_appendc(struct nc_buf *b, char c)
{
    return nc_buf_append(b, &c, 1);
}

int nc_buf_append_int(struct nc_buf *b, long long v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    return nc_buf_append(b, tmp + i, sizeof tmp - i);
}

int nc_buf_printf(struct nc_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    // va_start is just above; the analyzer loses track through the macro.
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof small)
        return nc_buf_append(b, small, (size_t)n);
    if (nc_buf_reserve(b, (size_t)n) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void nc_buf_reset(struct nc_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void nc_buf_free(struct nc_buf *b)
{
    free(b->data);
    nc_buf_init(b);
}
