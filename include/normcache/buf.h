/* buf.h - growable byte buffer used for building keys, bodies and JSON.
 *
 * Ownership: the caller owns the struct; nc_buf_free() releases data. Every
 * function that grows the buffer returns 0, or -1 when memory runs out (the
 * buffer is then left as it was). data is always NUL-terminated when len>0
 * or after any successful append, so it can be passed to C string APIs. */
#ifndef NC_BUF_H
#define NC_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct nc_buf {
    char *data;
    size_t len;
    size_t cap;
};

void nc_buf_init(struct nc_buf *b);
int nc_buf_reserve(struct nc_buf *b, size_t extra);
int nc_buf_append(struct nc_buf *b, const void *p, size_t n);
int nc_buf_appends(struct nc_buf *b, const char *s);
int nc_buf_appendc(struct nc_buf *b, char c);
/* A string literal, its length known at compile time (no strlen). */
#define nc_buf_append_lit(b, lit) nc_buf_append((b), "" lit, sizeof(lit) - 1)
/* v in decimal, as printf's %lld writes it (without its cost). */
int nc_buf_append_int(struct nc_buf *b, long long v);
int nc_buf_printf(struct nc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Forget the contents but keep the memory for reuse. */
void nc_buf_reset(struct nc_buf *b);
void nc_buf_free(struct nc_buf *b);

#endif
