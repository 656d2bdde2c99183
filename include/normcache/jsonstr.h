/* jsonstr.h - the one JSON string writer, used by the log, the config dump,
 * problem documents and the JSON writer / canonical form.
 *
 * Escapes as Python's json.dumps does: \" \\ \n \r \t \b \f, other control
 * characters as \u00XX (lowercase hex). */
#ifndef NC_JSONSTR_H
#define NC_JSONSTR_H

#include <stddef.h>

#include "normcache/buf.h"

enum {
    /* Python's ensure_ascii: everything outside ' '..'~' as \uXXXX (UTF-16
     * surrogate pairs above U+FFFF); malformed UTF-8 is an error. Without
     * it, well-formed UTF-8 is copied and each malformed byte becomes
     * U+FFFD, so the output is always valid JSON whatever the input. */
    NC_JSONSTR_ASCII = 1,
};

/* Appends s[0..len) as a JSON string literal, quotes included. Returns 0, or
 * -1 when memory runs out or (NC_JSONSTR_ASCII) s is not UTF-8; out may
 * then hold a partial literal. */
int nc_jsonstr_append(struct nc_buf *out, const char *s, size_t len, unsigned flags);

#endif
