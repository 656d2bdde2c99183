/* json_canon.c - the canonical form of a parsed JSON value:
 * nc_json_canonical, which writes Python's json.dumps(v, sort_keys=True),
 * float_repr (Python's repr(float)) and the number checks that refuse what
 * a double cannot hold. Cache keys are digests of this text, so it must
 * match Python byte for byte (tests/data/params-canonical.jsonl).
 *
 * Recursion: once per nesting level of a tree from nc_json_parse, whose
 * max_depth bounds it. */
#include "normcache/json.h"
#include "normcache/jsonstr.h"
#include "normcache/utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
            nc_json_seterr(err, NC_JSON_ERR_NUMBER, "integer beyond +-2^53");
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
        nc_json_seterr(err, NC_JSON_ERR_NUMBER, "number overflows a double");
        return -1;
    }
    char repr[40];
    float_repr(d, repr);
    return nc_buf_appends(out, repr);
}

static int canon_value(const struct nc_json *v, struct nc_buf *out, struct nc_json_err *err);

/* A string or key, ensure_ascii. Parsed trees hold valid UTF-8; a
 * hand-built one may not, and that is not an out-of-memory. */
static int canon_string(const char *s, size_t len, struct nc_buf *out, struct nc_json_err *err)
{
    if (nc_jsonstr_append(out, s, len, NC_JSONSTR_ASCII) == 0)
        return 0;
    if (nc_utf8_valid(s, len))
        nc_json_seterr(err, NC_JSON_ERR_NOMEM, "out of memory");
    else
        nc_json_seterr(err, NC_JSON_ERR_UTF8, "string is not valid UTF-8");
    return -1;
}

static int canon_object(const struct nc_json *v, struct nc_buf *out, struct nc_json_err *err)
{
    const struct nc_json *small[16];
    const struct nc_json **members = small;
    int rc = -1;

    if (v->count > sizeof small / sizeof small[0]) {
        members = malloc(v->count * sizeof *members);
        if (!members) {
            nc_json_seterr(err, NC_JSON_ERR_NOMEM, "out of memory");
            return -1;
        }
    }
    size_t n = 0;
    for (const struct nc_json *c = v->child; c && n < v->count; c = c->next)
        members[n++] = c;
    qsort(members, n, sizeof *members, nc_json_key_cmp);
    if (nc_buf_appendc(out, '{') != 0)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (i && nc_buf_append(out, ", ", 2) != 0)
            goto nomem;
        if (canon_string(members[i]->key, members[i]->keylen, out, err) != 0)
            goto out;
        if (nc_buf_append(out, ": ", 2) != 0)
            goto nomem;
        if (canon_value(members[i], out, err) != 0)
            goto out;
    }
    if (nc_buf_appendc(out, '}') != 0)
        goto nomem;
    rc = 0;
    goto out;
nomem:
    nc_json_seterr(err, NC_JSON_ERR_NOMEM, "out of memory");
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
        return canon_string(v->str, v->len, out, err);
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
    nc_json_seterr(err, NC_JSON_ERR_NOMEM, "out of memory");
    return -1;
}

int nc_json_canonical(const struct nc_json *v, struct nc_buf *out, struct nc_json_err *err)
{
    if (err) {
        err->code = NC_JSON_OK;
        err->msg[0] = '\0';
    }
    if (!v) {
        nc_json_seterr(err, NC_JSON_ERR_SYNTAX, "no value");
        return -1;
    }
    return canon_value(v, out, err);
}
