/* fuzz_jsonstr.c - nc_jsonstr_append, the writer of every JSON string the
 * service emits (log lines, problem documents, the JSON writers).
 *
 * Properties: the output always parses as one JSON string, whatever the
 * input bytes (plain mode replaces malformed UTF-8 with U+FFFD); for
 * well-formed UTF-8 both modes decode back to the input exactly, and
 * ASCII mode emits only printable ASCII. Input with NUL: the service's
 * parser refuses \u0000 by design, so only the shape is checked then. */
#include "fuzz.h"

#include "normcache/buf.h"
#include "normcache/json.h"
#include "normcache/jsonstr.h"
#include "normcache/utf8.h"

static void check(const char *s, size_t len, unsigned flags, int valid, int has_nul)
{
    struct nc_buf out;
    nc_buf_init(&out);
    int rc = nc_jsonstr_append(&out, s, len, flags);
    if ((flags & NC_JSONSTR_ASCII) && !valid) {
        FUZZ_CHECK(rc == -1);
        nc_buf_free(&out);
        return;
    }
    if (rc != 0)
        FUZZ_FAIL("nc_jsonstr_append failed");
    FUZZ_CHECK(out.len >= 2 && out.data[0] == '"' && out.data[out.len - 1] == '"');
    for (size_t i = 0; i < out.len; i++) {
        unsigned char c = (unsigned char)out.data[i];
        FUZZ_CHECK(c >= 0x20);
        if (flags & NC_JSONSTR_ASCII)
            FUZZ_CHECK(c < 0x7f);
    }
    if (!has_nul) {
        struct nc_json_doc *doc = NULL;
        struct nc_json_err err;
        if (nc_json_parse(out.data, out.len, 1, &doc, &err) != 0)
            FUZZ_FAIL("jsonstr output does not parse");
        const struct nc_json *v = nc_json_root(doc);
        FUZZ_CHECK(v->type == NC_JSON_STRING);
        if (valid)
            FUZZ_CHECK(fuzz_same(v->str, v->len, s, len));
        nc_json_doc_free(doc);
    }
    nc_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    int valid = nc_utf8_valid(s, size);
    int has_nul = size > 0 && memchr(s, '\0', size) != NULL;
    check(s, size, 0, valid, has_nul);
    check(s, size, NC_JSONSTR_ASCII, valid, has_nul);
    return 0;
}
