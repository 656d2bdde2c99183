/* fuzz_upstream.c - the upstream's answer: upstream.c accepts a 200 body
 * only when nc_json_parse takes it at depth 1000 (validated, never
 * walked), then stores it in a recommendations entry that is read back
 * later.
 *
 * Properties: no crash at any depth (the recursion is bounded); an
 * accepted answer, stored with nc_recs_entry_build and read back with
 * nc_recs_entry_parse, is the same bytes and still validates; its compact
 * form parses. */
#include "fuzz.h"

#include "normcache/buf.h"
#include "normcache/json.h"
#include "normcache/recs_entry.h"

#define UPSTREAM_JSON_DEPTH 1000 /* src/recs/upstream.c */

static int json_valid(const char *body, size_t len)
{
    struct nc_json_doc *doc = NULL;
    int ok = nc_json_parse(body ? body : "", len, UPSTREAM_JSON_DEPTH, &doc, NULL) == 0;
    nc_json_doc_free(doc);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    struct nc_json_doc *doc = NULL;
    struct nc_json_err err;
    if (nc_json_parse(body, size, UPSTREAM_JSON_DEPTH, &doc, &err) != 0)
        return 0;
    struct nc_buf c;
    nc_buf_init(&c);
    if (nc_json_compact(nc_json_root(doc), &c) != 0 || !json_valid(c.data, c.len))
        FUZZ_FAIL("the compact form of an accepted answer does not validate");
    nc_json_doc_free(doc);

    struct nc_buf entry;
    nc_buf_init(&entry);
    if (nc_recs_entry_build(&entry, 1700000000000LL, 1700000300000LL, 150, 200, body, size) != 0)
        FUZZ_FAIL("entry build fails");
    struct nc_recs_entry e;
    if (nc_recs_entry_parse(entry.data, entry.len, &e) != 0)
        FUZZ_FAIL("a stored answer does not parse back");
    FUZZ_CHECK(e.status == 200 && fuzz_same(e.body, e.len, body, size));
    FUZZ_CHECK(json_valid(e.body, e.len));
    nc_buf_free(&entry);
    nc_buf_free(&c);
    return 0;
}
