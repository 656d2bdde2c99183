/* fuzz_normalise.c - nc_normalise in both modes: no crash, the result is
 * valid UTF-8 without NUL, and normalisation is idempotent:
 * n(n(x)) == n(x). */
#include "fuzz.h"

#include "normcache/buf.h"
#include "normcache/normalise.h"
#include "normcache/utf8.h"

static void check_mode(enum nc_norm_mode mode, const char *in, size_t len)
{
    struct nc_buf once, twice;
    nc_buf_init(&once);
    nc_buf_init(&twice);
    const char *err = NULL;
    if (nc_normalise(mode, in, len, &once, &err) == 0) {
        FUZZ_CHECK(once.len == 0 || memchr(once.data, '\0', once.len) == NULL);
        FUZZ_CHECK(nc_utf8_valid(once.data, once.len));
        /* the result is itself a valid query: normalising it changes nothing */
        const char *err2 = NULL;
        if (nc_normalise(mode, once.data ? once.data : "", once.len, &twice, &err2) != 0)
            FUZZ_FAIL("a normalised text is refused when normalised again");
        if (!fuzz_same(once.data, once.len, twice.data, twice.len))
            FUZZ_FAIL("normalisation is not idempotent");
    } else {
        FUZZ_CHECK(err != NULL);
    }
    nc_buf_free(&once);
    nc_buf_free(&twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_mode(NC_NORM_TEXT, (const char *)data, size);
    check_mode(NC_NORM_BASIC, (const char *)data, size);
    return 0;
}
