/* json_parse.c - the JSON parser: nc_json_parse, the document tree and its
 * arena (node allocation, nc_json_root, nc_json_get, nc_json_doc_free) and
 * parse error reporting. The canonical form is json_canon.c, the compact
 * writer json_write.c; both read the tree built here.
 *
 * Why this is the one JSON parser of the service (and its tools), rather
 * than a library such as cJSON: the API's 400 rules need what cJSON does
 * not give.
 *  - Duplicate keys: cJSON keeps them and lookups find the first; Python
 *    (which computed the key vectors) keeps the last, so one body would name
 *    two values. Here they are an error.
 *  - \u0000: cJSON accepts it and hands back a C string cut short at the
 *    NUL. Here it is an error.
 *  - Depth: cJSON has only its compile-time CJSON_NESTING_LIMIT; here the
 *    caller sets max_depth per call and gets its own error code.
 *  - Numbers: cJSON keeps only a double (2 and 2.0 look alike, 2^53+1 is
 *    silently rounded); here the spelling is kept so that the canonical form
 *    can follow Python and refuse numbers a double cannot hold.
 *  - Errors: cJSON returns NULL and a pointer into the input; here every
 *    failure has an nc_json_errcode (mapped to a problem document) and a
 *    message that never quotes the input.
 * The upstream's answers, PUT bodies, params and the stub's /mode bodies
 * all go through it; cJSON is no longer linked.
 *
 * Memory: a document is one malloc holding the doc header, the first few
 * nodes and a string pool of len+1 bytes; only documents with many values
 * need extra node blocks, each twice the size of the previous one. The pool
 * is big enough by construction: a decoded string never needs more bytes
 * than its quoted token (escapes only shrink, the closing quote pays for the
 * NUL), and a number needs its spelling plus a NUL, paid for by the byte
 * that ends it (or the extra byte when it ends the input).
 *
 * Recursion: the parser recurses once per nesting level and refuses
 * anything deeper than max_depth (capped at JSON_DEPTH_CAP), so no input
 * can exhaust the stack; the writers recurse over trees built here and so
 * inherit the bound. */
#include "normcache/json.h"
#include "normcache/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hard bound on recursion whatever the caller asks for: two small frames per
 * level stay far below a worker thread's stack. */
#define JSON_DEPTH_CAP 1000
/* Nodes that live inside the document's first allocation: enough for the
 * typical request body ({"q": ..., "value": ..., "ttl": ...}). */
#define JSON_FIRST_NODES 16
/* Objects with more members than this are checked for duplicate keys by
 * sorting instead of comparing every pair. */
#define JSON_DUP_LINEAR_MAX 8

struct json_block {
    struct json_block *next;
    size_t cap;
    size_t used;
    struct nc_json nodes[];
};

struct nc_json_doc {
    struct nc_json *root;
    struct json_block *blocks; /* extra node blocks, newest first */
    size_t first_used;
    size_t next_cap; /* size of the next node block */
    struct nc_json first[JSON_FIRST_NODES];
    /* the string pool follows the struct in the same allocation */
};

struct json_parser {
    const unsigned char *p;
    const unsigned char *start;
    const unsigned char *end;
    int depth;
    int max_depth;
    struct nc_json_doc *doc;
    char *pool;                     /* next free byte of the string pool */
    const struct nc_json **scratch; /* duplicate-key check, reused */
    size_t scratch_cap;
    struct nc_json_err *err;
};

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

void nc_json_seterr(struct nc_json_err *err, enum nc_json_errcode code, const char *msg)
{
    if (!err)
        return;
    err->code = code;
    snprintf(err->msg, sizeof err->msg, "%s", msg);
}

/* what is one of our literals; the offset helps find the fault without
 * quoting the input. */
static int parse_fail(struct json_parser *ps, enum nc_json_errcode code, const char *what)
{
    if (ps->err) {
        ps->err->code = code;
        snprintf(ps->err->msg, sizeof ps->err->msg, "%s at byte %zu", what,
                 (size_t)(ps->p - ps->start));
    }
    return -1;
}

/* ------------------------------------------------------------------------
 * Node allocation
 * ------------------------------------------------------------------------ */

static struct nc_json *node_new(struct json_parser *ps)
{
    struct nc_json_doc *doc = ps->doc;
    struct nc_json *n;
    if (doc->first_used < JSON_FIRST_NODES) {
        n = &doc->first[doc->first_used++];
    } else {
        struct json_block *b = doc->blocks;
        if (!b || b->used == b->cap) {
            size_t cap = doc->next_cap;
            b = malloc(sizeof *b + cap * sizeof(struct nc_json));
            if (!b)
                return NULL;
            b->next = doc->blocks;
            b->cap = cap;
            b->used = 0;
            doc->blocks = b;
            doc->next_cap = cap * 2;
        }
        n = &b->nodes[b->used++];
    }
    memset(n, 0, sizeof *n);
    return n;
}

void nc_json_doc_free(struct nc_json_doc *doc)
{
    if (!doc)
        return;
    struct json_block *b = doc->blocks;
    while (b) {
        struct json_block *next = b->next;
        free(b);
        b = next;
    }
    free(doc);
}

const struct nc_json *nc_json_root(const struct nc_json_doc *doc)
{
    return doc ? doc->root : NULL;
}

/* ------------------------------------------------------------------------
 * Parser
 * ------------------------------------------------------------------------ */

static void skip_ws(struct json_parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

static int hex4(const unsigned char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Parses the string token at ps->p (which is at the opening quote) into the
 * pool; *s and *len receive the decoded, NUL-terminated text. */
static int parse_string(struct json_parser *ps, const char **s, size_t *len)
{
    char *out = ps->pool;
    char *o = out;
    ps->p++; /* opening quote */
    for (;;) {
        /* Copy the run of plain ASCII in one go: most strings are nothing
         * else. */
        const unsigned char *run = ps->p;
        while (ps->p < ps->end && *ps->p >= 0x20 && *ps->p < 0x80 && *ps->p != '"' &&
               *ps->p != '\\')
            ps->p++;
        if (ps->p > run) {
            memcpy(o, run, (size_t)(ps->p - run));
            o += ps->p - run;
        }
        if (ps->p >= ps->end)
            return parse_fail(ps, NC_JSON_ERR_SYNTAX, "unterminated string");
        unsigned char c = *ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c == 0)
            return parse_fail(ps, NC_JSON_ERR_NUL, "NUL byte in string");
        if (c < 0x20)
            return parse_fail(ps, NC_JSON_ERR_SYNTAX, "control character in string");
        if (c >= 0x80) {
            uint32_t cp;
            size_t n = nc_utf8_decode(ps->p, ps->end, &cp);
            if (!n)
                return parse_fail(ps, NC_JSON_ERR_UTF8, "invalid UTF-8 in string");
            memcpy(o, ps->p, n);
            o += n;
            ps->p += n;
            continue;
        }
        /* backslash */
        if (ps->end - ps->p < 2)
            return parse_fail(ps, NC_JSON_ERR_SYNTAX, "unterminated string");
        /* The one-character escapes, by the character after the backslash. */
        static const char simple[256] = {['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
                                         ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t'};
        unsigned char e = ps->p[1];
        if (simple[e]) {
            *o++ = simple[e];
            ps->p += 2;
            continue;
        }
        if (e != 'u')
            return parse_fail(ps, NC_JSON_ERR_SYNTAX, "invalid escape in string");
        uint32_t cp;
        if (ps->end - ps->p < 6 || hex4(ps->p + 2, &cp) != 0)
            return parse_fail(ps, NC_JSON_ERR_SYNTAX, "invalid \\u escape in string");
        if (cp == 0)
            return parse_fail(ps, NC_JSON_ERR_NUL, "\\u0000 in string");
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return parse_fail(ps, NC_JSON_ERR_UTF8, "lone low surrogate escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (ps->end - ps->p < 12 || ps->p[6] != '\\' || ps->p[7] != 'u' ||
                hex4(ps->p + 8, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                return parse_fail(ps, NC_JSON_ERR_UTF8, "lone high surrogate escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            ps->p += 12;
        } else {
            ps->p += 6;
        }
        /* An escape is at least as long as the UTF-8 it stands for (6 bytes
         * for <= 3, 12 for 4), so the pool cannot overflow. */
        o += nc_utf8_encode(o, cp);
    }
    *o = '\0';
    *s = out;
    *len = (size_t)(o - out);
    ps->pool = o + 1;
    return 0;
}

static int parse_number(struct json_parser *ps, struct nc_json *v)
{
    const unsigned char *s = ps->p;
    const unsigned char *p = s;
    const unsigned char *end = ps->end;
    if (p < end && *p == '-')
        p++;
    if (p >= end)
        goto bad;
    if (*p == '0') {
        p++;
        /* RFC 8259: no leading zeros ("01" would otherwise be trailing data
         * after "0", reported as syntax all the same) */
        if (p < end && *p >= '0' && *p <= '9')
            goto bad;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        goto bad;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            goto bad;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            goto bad;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    size_t n = (size_t)(p - s);
    memcpy(ps->pool, s, n);
    ps->pool[n] = '\0';
    v->type = NC_JSON_NUMBER;
    v->str = ps->pool;
    v->len = n;
    ps->pool += n + 1;
    ps->p = p;
    return 0;
bad:
    ps->p = p;
    return parse_fail(ps, NC_JSON_ERR_SYNTAX, "invalid number");
}

/* Python sorts str keys by code point; UTF-8 byte order is code point
 * order, so a byte compare (shorter prefix first) is exactly that. */
int nc_json_key_cmp(const void *a, const void *b)
{
    const struct nc_json *x = *(const struct nc_json *const *)a;
    const struct nc_json *y = *(const struct nc_json *const *)b;
    size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    return (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

/* Duplicate keys make the value ambiguous (cJSON keeps the first, Python
 * the last), so they are refused. Small objects compare every pair; larger
 * ones sort a pointer array, keeping a hostile 100k-key object O(n log n). */
static int check_dupkeys(struct json_parser *ps, const struct nc_json *obj)
{
    if (obj->count < 2)
        return 0;
    if (obj->count <= JSON_DUP_LINEAR_MAX) {
        for (const struct nc_json *a = obj->child; a; a = a->next)
            for (const struct nc_json *b = a->next; b; b = b->next)
                if (a->keylen == b->keylen && memcmp(a->key, b->key, a->keylen) == 0)
                    return parse_fail(ps, NC_JSON_ERR_DUPKEY, "duplicate object key");
        return 0;
    }
    if (obj->count > ps->scratch_cap) {
        const struct nc_json **s = realloc(ps->scratch, obj->count * sizeof *s);
        if (!s)
            return parse_fail(ps, NC_JSON_ERR_NOMEM, "out of memory");
        ps->scratch = s;
        ps->scratch_cap = obj->count;
    }
    size_t i = 0;
    for (const struct nc_json *c = obj->child; c; c = c->next)
        ps->scratch[i++] = c;
    qsort(ps->scratch, obj->count, sizeof *ps->scratch, nc_json_key_cmp);
    for (i = 1; i < obj->count; i++)
        if (nc_json_key_cmp(&ps->scratch[i - 1], &ps->scratch[i]) == 0)
            return parse_fail(ps, NC_JSON_ERR_DUPKEY, "duplicate object key");
    return 0;
}

static int parse_value(struct json_parser *ps, struct nc_json *v);

static int parse_container(struct json_parser *ps, struct nc_json *v, int is_object)
{
    unsigned char close = is_object ? '}' : ']';
    if (++ps->depth > ps->max_depth)
        return parse_fail(ps, NC_JSON_ERR_DEPTH, "nesting too deep");
    v->type = is_object ? NC_JSON_OBJECT : NC_JSON_ARRAY;
    ps->p++; /* [ or { */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ps->depth--;
        return 0;
    }
    struct nc_json *tail = NULL;
    for (;;) {
        const char *key = NULL;
        size_t keylen = 0;
        skip_ws(ps);
        if (is_object) {
            if (ps->p >= ps->end || *ps->p != '"')
                return parse_fail(ps, NC_JSON_ERR_SYNTAX, "expected object key");
            if (parse_string(ps, &key, &keylen) != 0)
                return -1;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return parse_fail(ps, NC_JSON_ERR_SYNTAX, "expected ':'");
            ps->p++;
        }
        struct nc_json *c = node_new(ps);
        if (!c)
            return parse_fail(ps, NC_JSON_ERR_NOMEM, "out of memory");
        if (parse_value(ps, c) != 0)
            return -1;
        c->key = key;
        c->keylen = keylen;
        if (tail)
            tail->next = c;
        else
            v->child = c;
        tail = c;
        v->count++;
        skip_ws(ps);
        if (ps->p >= ps->end)
            return parse_fail(ps, NC_JSON_ERR_SYNTAX, "unterminated container");
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == close) {
            ps->p++;
            break;
        }
        return parse_fail(ps, NC_JSON_ERR_SYNTAX,
                          is_object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    ps->depth--;
    return is_object ? check_dupkeys(ps, v) : 0;
}

static int parse_literal(struct json_parser *ps, struct nc_json *v, const char *word,
                         enum nc_json_type type)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return parse_fail(ps, NC_JSON_ERR_SYNTAX, "invalid literal");
    ps->p += n;
    v->type = type;
    return 0;
}

static int parse_value(struct json_parser *ps, struct nc_json *v)
{
    skip_ws(ps);
    if (ps->p >= ps->end)
        return parse_fail(ps, NC_JSON_ERR_SYNTAX, "unexpected end of input");
    switch (*ps->p) {
    case '{':
        return parse_container(ps, v, 1);
    case '[':
        return parse_container(ps, v, 0);
    case '"':
        v->type = NC_JSON_STRING;
        return parse_string(ps, &v->str, &v->len);
    case 't':
        return parse_literal(ps, v, "true", NC_JSON_TRUE);
    case 'f':
        return parse_literal(ps, v, "false", NC_JSON_FALSE);
    case 'n':
        return parse_literal(ps, v, "null", NC_JSON_NULL);
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
            return parse_number(ps, v);
        return parse_fail(ps, NC_JSON_ERR_SYNTAX, "unexpected character");
    }
}

int nc_json_parse(const char *text, size_t len, int max_depth, struct nc_json_doc **out,
                  struct nc_json_err *err)
{
    struct json_parser ps;
    int rc = -1;

    *out = NULL;
    if (err) {
        err->code = NC_JSON_OK;
        err->msg[0] = '\0';
    }
    if (len > SIZE_MAX - sizeof(struct nc_json_doc) - 1) {
        nc_json_seterr(err, NC_JSON_ERR_NOMEM, "input too large");
        return -1;
    }
    struct nc_json_doc *doc = malloc(sizeof *doc + len + 1);
    if (!doc) {
        nc_json_seterr(err, NC_JSON_ERR_NOMEM, "out of memory");
        return -1;
    }
    doc->root = NULL;
    doc->blocks = NULL;
    doc->first_used = 0;
    doc->next_cap = 64;

    memset(&ps, 0, sizeof ps);
    ps.start = ps.p = (const unsigned char *)text;
    ps.end = ps.start + len;
    ps.max_depth = max_depth < 0 ? 0 : max_depth > JSON_DEPTH_CAP ? JSON_DEPTH_CAP : max_depth;
    ps.doc = doc;
    ps.pool = (char *)(doc + 1);
    ps.err = err;

    struct nc_json *root = node_new(&ps);
    if (parse_value(&ps, root) != 0)
        goto out;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        parse_fail(&ps, NC_JSON_ERR_SYNTAX, "trailing data after JSON value");
        goto out;
    }
    doc->root = root;
    *out = doc;
    doc = NULL;
    rc = 0;
out:
    free(ps.scratch);
    nc_json_doc_free(doc);
    return rc;
}

const struct nc_json *nc_json_get(const struct nc_json *obj, const char *key)
{
    if (!obj || obj->type != NC_JSON_OBJECT || !key)
        return NULL;
    size_t n = strlen(key);
    for (const struct nc_json *c = obj->child; c; c = c->next)
        if (c->keylen == n && memcmp(c->key, key, n) == 0)
            return c;
    return NULL;
}
