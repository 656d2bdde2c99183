/* fuzz_query.c - the request target as libmicrohttpd hands it over (a C
 * string: path, then ?query), through nc_req_reset and nc_req_parse_args,
 * with no server (as tests/unit/test_req.c drives it).
 *
 * Properties: the path ends at the first '?'; on success at most
 * NC_MAX_ARGS arguments, each name and value NUL-terminated at its length
 * inside the request's buffer, names free of NUL and pairwise different;
 * on failure a code and a message that never quote the input. The request
 * object is reused for a second, different target (keep-alive), which
 * must forget the first. */
#include "fuzz.h"

#include "normcache/req.h"

static struct nc_worker worker;

static void check_target(struct nc_req *r, const char *uri)
{
    if (nc_req_reset(r, uri) != 0)
        FUZZ_FAIL("nc_req_reset failed");
    const char *q = strchr(uri, '?');
    FUZZ_CHECK(r->path_len == (q ? (size_t)(q - uri) : strlen(uri)));
    const char *code = NULL, *err = NULL;
    if (nc_req_parse_args(r, &code, &err) != 0) {
        FUZZ_CHECK(code != NULL && err != NULL);
        FUZZ_CHECK(
            strcmp(code, "too_many_parameters") == 0 || strcmp(code, "invalid_encoding") == 0 ||
            strcmp(code, "invalid_parameter") == 0 || strcmp(code, "duplicate_parameter") == 0);
        return;
    }
    FUZZ_CHECK(r->nargs >= 0 && r->nargs <= NC_MAX_ARGS);
    if (r->nargs == 0)
        return;
    const char *lo = r->args_buf.data, *hi = r->args_buf.data + r->args_buf.len;
    for (int i = 0; i < r->nargs; i++) {
        const struct nc_arg *a = &r->args[i];
        FUZZ_CHECK(a->name >= lo && a->name + a->name_len < hi);
        FUZZ_CHECK(a->value >= lo && a->value + a->value_len < hi);
        FUZZ_CHECK(a->name[a->name_len] == '\0' && a->value[a->value_len] == '\0');
        FUZZ_CHECK(strlen(a->name) == a->name_len);
        for (int j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(r->args[j].name, a->name) != 0);
    }
    /* lookup as the handlers do it */
    static const char *const names[2] = {"q", "params"};
    const struct nc_arg *found[2];
    int rc = nc_req_args(r, names, found, 2);
    int known = 0;
    for (int i = 0; i < r->nargs; i++)
        known += strcmp(r->args[i].name, "q") == 0 || strcmp(r->args[i].name, "params") == 0;
    FUZZ_CHECK((rc == 0) == (known == r->nargs));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* libmicrohttpd passes a C string: the target ends at a NUL */
    char *uri = fuzz_strdup(data, size);
    struct nc_req *r = nc_req_new(&worker, NULL);
    if (!r)
        abort();
    check_target(r, uri);
    /* the same connection's next request: the reversed target */
    size_t n = strlen(uri);
    for (size_t i = 0; i < n / 2; i++) {
        char t = uri[i];
        uri[i] = uri[n - 1 - i];
        uri[n - 1 - i] = t;
    }
    check_target(r, uri);
    nc_req_free(r);
    free(uri);
    return 0;
}
