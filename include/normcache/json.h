/* json.h - the JSON tree, its strict parser and the two serialisations
 * normcache needs. One header, three modules:
 *   src/json_parse.c  nc_json_parse, nc_json_root, nc_json_get,
 *                     nc_json_doc_free (the tree and its arena)
 *   src/json_canon.c  nc_json_canonical (Python-compatible, for keys)
 *   src/json_write.c  nc_json_compact (stored values)
 *
 * This is the service's one JSON parser: cJSON cannot tell 2 from 2.0,
 * silently truncates strings at \u0000, accepts duplicate keys and has no
 * per-call depth limit or error codes (json_parse.c says more). The parser
 * is strict RFC 8259: it rejects trailing garbage, invalid UTF-8 (also
 * inside strings), lone surrogate escapes, \u0000 anywhere, duplicate object
 * keys and nesting deeper than max_depth (the outermost array/object is
 * level 1). Numbers keep their spelling so that the canonical form can
 * follow Python.
 *
 * Error messages never quote input text: it may be personal data. */
#ifndef NC_JSON_H
#define NC_JSON_H

#include <stddef.h>

#include "normcache/buf.h"

enum nc_json_type {
    NC_JSON_NULL,
    NC_JSON_FALSE,
    NC_JSON_TRUE,
    NC_JSON_NUMBER,
    NC_JSON_STRING,
    NC_JSON_ARRAY,
    NC_JSON_OBJECT
};

/* One value. All memory belongs to the document (an arena). */
struct nc_json {
    enum nc_json_type type;
    /* STRING: decoded UTF-8, NUL-terminated, no embedded NUL.
     * NUMBER: the number exactly as spelled in the input, NUL-terminated. */
    const char *str;
    size_t len;
    /* Set when this value is a member of an object: its decoded key. */
    const char *key;
    size_t keylen;
    /* ARRAY/OBJECT: first child, in input order; count children. */
    struct nc_json *child;
    size_t count;
    struct nc_json *next; /* next sibling */
};

enum nc_json_errcode {
    NC_JSON_OK = 0,
    NC_JSON_ERR_SYNTAX, /* not JSON, or trailing data */
    NC_JSON_ERR_DEPTH,  /* nested deeper than allowed */
    NC_JSON_ERR_DUPKEY, /* an object has the same key twice */
    NC_JSON_ERR_NUL,    /* \u0000 in a string or key */
    NC_JSON_ERR_UTF8,   /* invalid UTF-8 or lone surrogate */
    NC_JSON_ERR_NUMBER, /* (canonical only) number not exactly representable */
    NC_JSON_ERR_NOMEM
};

struct nc_json_err {
    enum nc_json_errcode code;
    char msg[128]; /* human-readable, never contains input text */
};

struct nc_json_doc;

/* Parses text[0..len) (need not be NUL-terminated). On success returns 0
 * and *out holds a document the caller frees with nc_json_doc_free(); every
 * nc_json and string in it lives as long as the document. On failure
 * returns -1, *out is NULL and err is filled (its message gives the byte
 * offset of the fault). max_depth above 1000 is treated as 1000, which
 * bounds the parser's recursion. err may be NULL. */
int nc_json_parse(const char *text, size_t len, int max_depth, struct nc_json_doc **out,
                  struct nc_json_err *err);
const struct nc_json *nc_json_root(const struct nc_json_doc *doc);
void nc_json_doc_free(struct nc_json_doc *doc); /* accepts NULL */

/* Member lookup by key (exact bytes); NULL when absent or obj not an object. */
const struct nc_json *nc_json_get(const struct nc_json *obj, const char *key);

/* Fills err (if not NULL) with code and a static message. */
void nc_json_seterr(struct nc_json_err *err, enum nc_json_errcode code, const char *msg);
/* qsort comparator of (const struct nc_json *) members by key, in code
 * point order (Python's sort order for str). */
int nc_json_key_cmp(const void *a, const void *b);

/* Appends Python's json.dumps(v, sort_keys=True) to out: separators ", " and
 * ": ", keys sorted by code point, ensure_ascii escaping (\uXXXX, surrogate
 * pairs above U+FFFF, \" \\ \n \r \t \b \f, other C0 and DEL as \u00XX),
 * integers (spelled without . e E) as Python ints, floats as Python's
 * repr (shortest round-trip). Returns 0, or -1 with err filled: an integer
 * beyond +-2^53 or a float that overflows a double is NC_JSON_ERR_NUMBER. */
int nc_json_canonical(const struct nc_json *v, struct nc_buf *out, struct nc_json_err *err);

/* Appends v as compact JSON (no whitespace, keys in input order, numbers as
 * spelled, minimal string escaping: \" \\ and C0 controls; UTF-8 and DEL
 * pass through; malformed UTF-8, possible only in a hand-built tree, becomes
 * U+FFFD). v may be any tree, not only a parsed one. Returns 0, or -1 on out
 * of memory or v NULL (out may then hold a partial text). */
int nc_json_compact(const struct nc_json *v, struct nc_buf *out);

#endif
