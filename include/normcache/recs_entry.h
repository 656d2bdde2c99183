/* recs_entry.h - the stored form of a recommendations answer: a one-line
 * header, then the body,
 *   "NC1 <stored_ms> <fresh_until_ms> <delta_ms> <status>\n<body>"
 * Times are wall-clock milliseconds (several instances share entries);
 * delta_ms is how long the upstream call took (XFetch scales by it); status
 * is 200 (body = the upstream's JSON) or 404 (negative entry, no body).
 * Pure functions: no I/O, no global state. */
#ifndef NC_RECS_ENTRY_H
#define NC_RECS_ENTRY_H

#include <stddef.h>

#include "normcache/buf.h"

/* Longest accepted header line, newline excluded. */
#define NC_RECS_ENTRY_HDR_MAX 127

/* A parsed entry. body points into the parsed text (the caller's buffer). */
struct nc_recs_entry {
    long long stored_ms, fresh_until_ms, delta_ms;
    int status;
    const char *body;
    size_t len;
};

/* Parses p[0..n) (need not be NUL-terminated). 0, or -1 when it is not an
 * entry: no newline, wrong magic, a field that is not a plain decimal
 * integer, extra text in the header, a header longer than
 * NC_RECS_ENTRY_HDR_MAX, or a status other than 200/404. */
int nc_recs_entry_parse(const char *p, size_t n, struct nc_recs_entry *e);

/* Appends the entry for (stored, fresh_until, delta, status, body) to out
 * (the caller owns out). A 404 entry stores no body. 0, or -1 when memory
 * ran out (out may then hold a partial entry: reset it before reuse). */
int nc_recs_entry_build(struct nc_buf *out, long long stored_ms, long long fresh_until_ms,
                        long long delta_ms, int status, const char *body, size_t len);

#endif
