/* json.c - strict RFC 8259 parser and the canonical/compact writers (see
 * json.h).
 *
 * Memory: a document is one malloc holding the doc header, the first few
 * nodes and a string pool of len+1 bytes; only documents with many values
 * need extra node blocks, each twice the size of the previous one. The pool
 * is big enough by construction: a decoded string never needs more bytes
 * than its quoted token (escapes only shrink, the closing quote pays for the
 * NUL), and a number needs its spelling plus a NUL, paid for by the byte
 * that ends it (or the extra byte when it ends the input).
 *
 * Recursion: the parser and both writers recurse once per nesting level,
 * and the parser refuses anything deeper than max_depth (capped at
 * JSON_DEPTH_CAP), so no input can exhaust the stack. */
#include "normcache/json.h"
#include "normcache/jsonstr.h"
#include "normcache/utf8.h"

#include <math.h>
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

static void json_seterr(struct nc_json_err *err, enum nc_json_errcode code, const char *msg)
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

static int key_cmp(const void *a, const void *b)
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
    qsort(ps->scratch, obj->count, sizeof *ps->scratch, key_cmp);
    for (i = 1; i < obj->count; i++)
        if (key_cmp(&ps->scratch[i - 1], &ps->scratch[i]) == 0)
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
        json_seterr(err, NC_JSON_ERR_NOMEM, "input too large");
        return -1;
    }
    struct nc_json_doc *doc = malloc(sizeof *doc + len + 1);
    if (!doc) {
        json_seterr(err, NC_JSON_ERR_NOMEM, "out of memory");
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

/* ------------------------------------------------------------------------
 * Canonical form: Python's json.dumps(v, sort_keys=True)
 * ------------------------------------------------------------------------ */

/* Python's repr(float): the shortest digit string that reads back as the
 * same double, printed positionally when the decimal exponent is in
 * [-4, 16) and in exponent form (two-digit minimum, explicit sign)
 * otherwise.
 *
 * %.*e gives the correctly rounded string for each precision; the first
 * precision whose string round-trips is the shortest. One trap: at a power
 * of two the gap to the next double below is half the gap above, so the
 * nearest string can fall just below the round-trip interval while the
 * string one unit higher is inside it. Python (David Gay's dtoa) finds that
 * one, so it is tried before adding a digit. out must hold 32 bytes. */
static void float_repr(double d, char *out)
{
    char tmp[40];
    char digits[24];
    int nd = 0, exp10 = 0;
    const char *sign = signbit(d) ? "-" : "";
    double a = fabs(d);

    if (d == 0) {
        sprintf(out, "%s0.0", sign);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, a);
        /* tmp is D[.DDD]e[+-]XX */
        const char *q = tmp;
        nd = 0;
        for (; *q != 'e'; q++)
            if (*q != '.')
                digits[nd++] = *q;
        digits[nd] = '\0';
        exp10 = atoi(q + 1);
        double back = strtod(tmp, NULL);
        if (back == a)
            break;
        if (back > a)
            continue;
        /* nearest string is below: try one unit in the last digit higher */
        int i = nd - 1;
        int up_exp = exp10;
        while (i >= 0 && digits[i] == '9')
            digits[i--] = '0';
        if (i < 0) {
            digits[0] = '1';
            up_exp++;
        } else {
            digits[i]++;
        }
        snprintf(tmp, sizeof tmp, "%c.%se%d", digits[0], nd > 1 ? digits + 1 : "0", up_exp);
        if (strtod(tmp, NULL) == a) {
            exp10 = up_exp;
            break;
        }
    }
    /* a carry above may have left trailing zeros */
    while (nd > 1 && digits[nd - 1] == '0')
        digits[--nd] = '\0';

    char *o = out + sprintf(out, "%s", sign);
    if (exp10 < -4 || exp10 >= 16) {
        *o++ = digits[0];
        if (nd > 1)
            o += sprintf(o, ".%s", digits + 1);
        sprintf(o, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 < 0) {
        o += sprintf(o, "0.");
        for (int i = 0; i < -exp10 - 1; i++)
            *o++ = '0';
        sprintf(o, "%s", digits);
    } else if (exp10 + 1 < nd) {
        memcpy(o, digits, (size_t)exp10 + 1);
        o += exp10 + 1;
        sprintf(o, ".%s", digits + exp10 + 1);
    } else {
        o += sprintf(o, "%s", digits);
        for (int i = 0; i < exp10 + 1 - nd; i++)
            *o++ = '0';
        sprintf(o, ".0");
    }
}

static int canon_number(const struct nc_json *v, struct nc_buf *out, struct nc_json_err *err)
{
    const char *s = v->str;
    if (!strpbrk(s, ".eE")) {
        /* An integer literal: Python keeps it exact, but other clients of
         * the same keys parse numbers as doubles, so only integers a double
         * holds exactly (|n| <= 2^53) are accepted. Compared as digit
         * strings: nothing to overflow. */
        const char *digits = s[0] == '-' ? s + 1 : s;
        size_t nd = strlen(digits);
        if (nd > 16 || (nd == 16 && strcmp(digits, "9007199254740992") > 0)) {
            json_seterr(err, NC_JSON_ERR_NUMBER, "integer beyond +-2^53");
            return -1;
        }
        if (strcmp(digits, "0") == 0) /* Python: int("-0") == 0 */
            return nc_buf_appendc(out, '0');
        return nc_buf_append(out, s, v->len);
    }
    /* strtod follows LC_NUMERIC; the service never calls setlocale(), so
     * the decimal point is '.'. Underflow to 0 or a subnormal is what
     * Python does too; only overflow has no exact key. */
    double d = strtod(s, NULL);
    if (isinf(d)) {
        json_seterr(err, NC_JSON_ERR_NUMBER, "number overflows a double");
        return -1;
    }
    char repr[40];
    float_repr(d, repr);
    return nc_buf_appends(out, repr);
}

static int canon_value(const struct nc_json *v, struct nc_buf *out, struct nc_json_err *err);

static int canon_object(const struct nc_json *v, struct nc_buf *out, struct nc_json_err *err)
{
    const struct nc_json *small[16];
    const struct nc_json **members = small;
    int rc = -1;

    if (v->count > sizeof small / sizeof small[0]) {
        members = malloc(v->count * sizeof *members);
        if (!members) {
            json_seterr(err, NC_JSON_ERR_NOMEM, "out of memory");
            return -1;
        }
    }
    size_t n = 0;
    for (const struct nc_json *c = v->child; c && n < v->count; c = c->next)
        members[n++] = c;
    /* UTF-8 byte order is code point order, which is how Python sorts str */
    qsort(members, n, sizeof *members, key_cmp);
    if (nc_buf_appendc(out, '{') != 0)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (i && nc_buf_append(out, ", ", 2) != 0)
            goto nomem;
        if (nc_jsonstr_append(out, members[i]->key, members[i]->keylen, NC_JSONSTR_ASCII) != 0 ||
            nc_buf_append(out, ": ", 2) != 0)
            goto nomem;
        if (canon_value(members[i], out, err) != 0)
            goto out;
    }
    if (nc_buf_appendc(out, '}') != 0)
        goto nomem;
    rc = 0;
    goto out;
nomem:
    json_seterr(err, NC_JSON_ERR_NOMEM, "out of memory");
out:
    if (members != small)
        free(members);
    return rc;
}

static int canon_value(const struct nc_json *v, struct nc_buf *out, struct nc_json_err *err)
{
    int rc = -1;
    switch (v->type) {
    case NC_JSON_NULL:
        rc = nc_buf_append(out, "null", 4);
        break;
    case NC_JSON_FALSE:
        rc = nc_buf_append(out, "false", 5);
        break;
    case NC_JSON_TRUE:
        rc = nc_buf_append(out, "true", 4);
        break;
    case NC_JSON_NUMBER:
        return canon_number(v, out, err);
    case NC_JSON_STRING:
        rc = nc_jsonstr_append(out, v->str, v->len, NC_JSONSTR_ASCII);
        break;
    case NC_JSON_ARRAY:
        if (nc_buf_appendc(out, '[') != 0)
            break;
        for (const struct nc_json *c = v->child; c; c = c->next) {
            if (c != v->child && nc_buf_append(out, ", ", 2) != 0)
                goto nomem;
            if (canon_value(c, out, err) != 0)
                return -1;
        }
        rc = nc_buf_appendc(out, ']');
        break;
    case NC_JSON_OBJECT:
        return canon_object(v, out, err);
    }
    if (rc == 0)
        return 0;
nomem:
    json_seterr(err, NC_JSON_ERR_NOMEM, "out of memory");
    return -1;
}

int nc_json_canonical(const struct nc_json *v, struct nc_buf *out, struct nc_json_err *err)
{
    if (err) {
        err->code = NC_JSON_OK;
        err->msg[0] = '\0';
    }
    if (!v) {
        json_seterr(err, NC_JSON_ERR_SYNTAX, "no value");
        return -1;
    }
    return canon_value(v, out, err);
}

/* ------------------------------------------------------------------------
 * Compact form: stored values
 * ------------------------------------------------------------------------ */

int nc_json_compact(const struct nc_json *v, struct nc_buf *out)
{
    if (!v)
        return -1;
    switch (v->type) {
    case NC_JSON_NULL:
        return nc_buf_append(out, "null", 4);
    case NC_JSON_FALSE:
        return nc_buf_append(out, "false", 5);
    case NC_JSON_TRUE:
        return nc_buf_append(out, "true", 4);
    case NC_JSON_NUMBER:
        return nc_buf_append(out, v->str, v->len);
    case NC_JSON_STRING:
        return nc_jsonstr_append(out, v->str, v->len, 0);
    case NC_JSON_ARRAY:
    case NC_JSON_OBJECT: {
        int obj = v->type == NC_JSON_OBJECT;
        if (nc_buf_appendc(out, obj ? '{' : '[') != 0)
            return -1;
        for (const struct nc_json *c = v->child; c; c = c->next) {
            if (c != v->child && nc_buf_appendc(out, ',') != 0)
                return -1;
            if (obj && (nc_jsonstr_append(out, c->key, c->keylen, 0) != 0 ||
                        nc_buf_appendc(out, ':') != 0))
                return -1;
            if (nc_json_compact(c, out) != 0)
                return -1;
        }
        return nc_buf_appendc(out, obj ? '}' : ']');
    }
    }
    return -1;
}
