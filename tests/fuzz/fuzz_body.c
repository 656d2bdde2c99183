/* fuzz_body.c - a PUT body: nc_json_parse with the cache's depth (33: the
 * body wraps value and params one level deeper than their limit of 32),
 * then nc_json_compact of the whole body and of its value member, as
 * put_start stores it.
 *
 * Properties: every accepted body re-serialises to JSON the parser accepts
 * and that compacts to itself (compact(parse(compact(x))) == compact(x));
 * the compact text has no raw control characters; a params member that
 * canonicalises gives a canonical text that parses. */
#include "fuzz.h"

#include "normcache/buf.h"
#include "normcache/json.h"

#define BODY_DEPTH 33

/* compact(v) parses (at depth) and compacts to itself. */
static void check_compact(const struct nc_json *v, int depth)
{
    struct nc_buf c1, c2;
    nc_buf_init(&c1);
    nc_buf_init(&c2);
    if (nc_json_compact(v, &c1) != 0)
        FUZZ_FAIL("compact of a parsed value fails");
    for (size_t i = 0; i < c1.len; i++)
        FUZZ_CHECK((unsigned char)c1.data[i] >= 0x20);
    struct nc_json_doc *again = NULL;
    struct nc_json_err err;
    if (nc_json_parse(c1.data, c1.len, depth, &again, &err) != 0)
        FUZZ_FAIL("the compact form does not parse");
    if (nc_json_compact(nc_json_root(again), &c2) != 0)
        FUZZ_FAIL("compact of the re-parsed value fails");
    if (!fuzz_same(c1.data, c1.len, c2.data, c2.len))
        FUZZ_FAIL("compact(parse(compact(x))) != compact(x)");
    nc_json_doc_free(again);
    nc_buf_free(&c1);
    nc_buf_free(&c2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nc_json_doc *doc = NULL;
    struct nc_json_err err;
    if (nc_json_parse((const char *)data, size, BODY_DEPTH, &doc, &err) != 0) {
        FUZZ_CHECK(doc == NULL);
        return 0;
    }
    const struct nc_json *root = nc_json_root(doc);
    check_compact(root, BODY_DEPTH);
    const struct nc_json *value = nc_json_get(root, "value");
    if (value)
        check_compact(value, BODY_DEPTH);
    const struct nc_json *params = nc_json_get(root, "params");
    if (params && params->type == NC_JSON_OBJECT) {
        struct nc_buf c;
        nc_buf_init(&c);
        if (nc_json_canonical(params, &c, &err) == 0) {
            struct nc_json_doc *p = NULL;
            if (nc_json_parse(c.data, c.len, BODY_DEPTH, &p, &err) != 0)
                FUZZ_FAIL("canonical params of a body do not parse");
            nc_json_doc_free(p);
        }
        nc_buf_free(&c);
    }
    nc_json_doc_free(doc);
    return 0;
}
