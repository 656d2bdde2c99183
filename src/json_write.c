/* json_write.c - the compact writer: nc_json_compact, how stored values
 * are written back. Unlike the canonical form it keeps keys in input order
 * and numbers as spelled, and passes UTF-8 through (malformed bytes in a
 * hand-built tree become U+FFFD, see nc_jsonstr_append), so what a client
 * PUT is what a GET returns, minus whitespace.
 *
 * Recursion: once per nesting level of a tree from nc_json_parse, whose
 * max_depth bounds it. */
#include "normcache/json.h"
#include "normcache/jsonstr.h"

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
