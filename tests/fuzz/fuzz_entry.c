/* fuzz_entry.c - a recommendations entry read back from Redis
 * (nc_recs_entry_parse): Redis holds whatever anyone wrote under the key.
 *
 * Properties: an accepted entry has status 200 or 404 and a body inside
 * the input, right after the header's newline; building an entry from the
 * parsed fields and parsing it again gives the same fields (and the same
 * body for a 200). A cache value is returned as-is, so it has no parser. */
#include "fuzz.h"

#include "normcache/buf.h"
#include "normcache/recs_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct nc_recs_entry e;
    if (nc_recs_entry_parse(p, size, &e) != 0)
        return 0;
    FUZZ_CHECK(e.status == 200 || e.status == 404);
    FUZZ_CHECK(e.body > p && e.body <= p + size && e.body[-1] == '\n');
    FUZZ_CHECK(e.body + e.len == p + size);
    FUZZ_CHECK((size_t)(e.body - p) <= NC_RECS_ENTRY_HDR_MAX + 1);

    struct nc_buf b;
    nc_buf_init(&b);
    if (nc_recs_entry_build(&b, e.stored_ms, e.fresh_until_ms, e.delta_ms, e.status, e.body,
                            e.len) != 0)
        FUZZ_FAIL("rebuilding a parsed entry fails");
    struct nc_recs_entry e2;
    if (nc_recs_entry_parse(b.data, b.len, &e2) != 0)
        FUZZ_FAIL("a rebuilt entry does not parse");
    FUZZ_CHECK(e2.stored_ms == e.stored_ms && e2.fresh_until_ms == e.fresh_until_ms &&
               e2.delta_ms == e.delta_ms && e2.status == e.status);
    if (e.status == 200)
        FUZZ_CHECK(fuzz_same(e.body, e.len, e2.body, e2.len));
    else
        FUZZ_CHECK(e2.len == 0);
    nc_buf_free(&b);
    return 0;
}
