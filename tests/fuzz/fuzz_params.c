/* fuzz_params.c - params canonicalisation, as GET ?params= does it
 * (nc_json_parse with depth 32, then nc_json_canonical).
 *
 * Properties: the canonical form is ASCII JSON the parser accepts, it is
 * stable under re-parsing (canon(parse(canon(x))) == canon(x)), and it does
 * not depend on the order of object members (every object's members
 * reversed give the same text). */
#include "fuzz.h"

#include "normcache/buf.h"
#include "normcache/json.h"

#define PARAMS_DEPTH 32 /* cache.c's MAX_DEPTH */

/* Reverses the member order of every object in the tree. The tree is the
 * document's own (writable) memory; only the API hands it out as const. */
static void reverse_members(struct nc_json *v)
{
    if (v->type != NC_JSON_OBJECT && v->type != NC_JSON_ARRAY)
        return;
    for (struct nc_json *c = v->child; c; c = c->next)
        reverse_members(c);
    if (v->type != NC_JSON_OBJECT)
        return;
    struct nc_json *prev = NULL, *c = v->child;
    while (c) {
        struct nc_json *next = c->next;
        c->next = prev;
        prev = c;
        c = next;
    }
    v->child = prev;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nc_json_doc *doc = NULL;
    struct nc_json_err err;
    if (nc_json_parse((const char *)data, size, PARAMS_DEPTH, &doc, &err) != 0) {
        FUZZ_CHECK(doc == NULL);
        FUZZ_CHECK(err.code != NC_JSON_OK);
        return 0;
    }
    struct nc_buf c1, c2, c3;
    nc_buf_init(&c1);
    nc_buf_init(&c2);
    nc_buf_init(&c3);
    if (nc_json_canonical(nc_json_root(doc), &c1, &err) == 0) {
        for (size_t i = 0; i < c1.len; i++)
            FUZZ_CHECK((unsigned char)c1.data[i] >= 0x20 && (unsigned char)c1.data[i] < 0x7f);
        struct nc_json_doc *again = NULL;
        if (nc_json_parse(c1.data, c1.len, PARAMS_DEPTH, &again, &err) != 0)
            FUZZ_FAIL("the canonical form does not parse");
        if (nc_json_canonical(nc_json_root(again), &c2, &err) != 0)
            FUZZ_FAIL("the canonical form's canonical form fails");
        if (!fuzz_same(c1.data, c1.len, c2.data, c2.len))
            FUZZ_FAIL("canon(parse(canon(x))) != canon(x)");
        nc_json_doc_free(again);

        reverse_members((struct nc_json *)nc_json_root(doc));
        if (nc_json_canonical(nc_json_root(doc), &c3, &err) != 0)
            FUZZ_FAIL("reordered members fail to canonicalise");
        if (!fuzz_same(c1.data, c1.len, c3.data, c3.len))
            FUZZ_FAIL("the canonical form depends on member order");
    } else {
        FUZZ_CHECK(err.code == NC_JSON_ERR_NUMBER || err.code == NC_JSON_ERR_NOMEM);
    }
    nc_buf_free(&c1);
    nc_buf_free(&c2);
    nc_buf_free(&c3);
    nc_json_doc_free(doc);
    return 0;
}
