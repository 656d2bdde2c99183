/* test_key.c - key derivation (SHA-256 / HMAC-SHA256) and identifier
 * validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "normcache/key.h"

#define SECRET ((const unsigned char *)"k3y-secret")
#define SECRETLEN 10
#define RECS_SHA16 "1385bd6096cdda0c"
#define RECS_HMAC16 "67ef9578fe5202d5"

static void test_digest16_sha256(void **state)
{
    (void)state;
    char hex[17];
    /* python3 -c "import hashlib; print(hashlib.sha256(b'...').hexdigest()[:16])" */
    const char *q = "how do i open an account";
    assert_int_equal(nc_key_digest16(NULL, 0, q, strlen(q), hex), 0);
    assert_string_equal(hex, "7cbdc3d46cf23688");
    assert_int_equal(nc_key_digest16(NULL, 0, "", 0, hex), 0);
    assert_string_equal(hex, "e3b0c44298fc1c14");
    /* an empty secret means plain SHA-256 */
    assert_int_equal(nc_key_digest16(SECRET, 0, q, strlen(q), hex), 0);
    assert_string_equal(hex, "7cbdc3d46cf23688");
}

static void test_digest16_hmac(void **state)
{
    (void)state;
    char hex[17];
    /* Expected values computed once with:
     * python3 -c "import hmac, hashlib; print(hmac.new(KEY, MSG,
     *             hashlib.sha256).hexdigest()[:16])"
     * KEY=b'k3y-secret', MSG=b'how do i open an account'  -> 3c0227cbd4f01657
     * KEY=b'k3y-secret', MSG=b'{"a": 1, "b": 2}'          -> 4047c71893fbf93b
     * KEY=b'another',    MSG=b'how do i open an account'  -> a52860f7d58f8066
     * KEY=b'x' * 100,    MSG=b''                          -> f27e9d033f8afb8d */
    const char *q = "how do i open an account";
    const char *p = "{\"a\": 1, \"b\": 2}";
    assert_int_equal(nc_key_digest16(SECRET, SECRETLEN, q, strlen(q), hex), 0);
    assert_string_equal(hex, "3c0227cbd4f01657");
    assert_int_equal(nc_key_digest16(SECRET, SECRETLEN, p, strlen(p), hex), 0);
    assert_string_equal(hex, "4047c71893fbf93b");
    assert_int_equal(nc_key_digest16((const unsigned char *)"another", 7, q, strlen(q), hex), 0);
    assert_string_equal(hex, "a52860f7d58f8066");
    unsigned char longkey[100]; /* longer than the block size: hashed first */
    memset(longkey, 'x', sizeof longkey);
    assert_int_equal(nc_key_digest16(longkey, sizeof longkey, "", 0, hex), 0);
    assert_string_equal(hex, "f27e9d033f8afb8d");
}

static void test_key_derive(void **state)
{
    (void)state;
    char key[NC_KEY_MAX];
    const char *q = "how do i open an account";
    const char *p = "{\"a\": 1, \"b\": 2}";

    /* query key, no secret: what the Python reference writes */
    int n = nc_key_derive("fca", "faq", NC_KEY_QUERY, NULL, 0, q, strlen(q), key);
    assert_string_equal(key, "fca:faq:7cbdc3d46cf23688");
    assert_int_equal(n, (int)strlen(key));

    /* params key: "p:" before the digest (digest from params vectors) */
    n = nc_key_derive("fca", "faq", NC_KEY_PARAMS, NULL, 0, p, strlen(p), key);
    assert_string_equal(key, "fca:faq:p:d8497d9d82770a70");
    assert_int_equal(n, (int)strlen(key));

    /* with a secret: HMAC (values from test_digest16_hmac) */
    n = nc_key_derive("fca", "faq", NC_KEY_QUERY, SECRET, SECRETLEN, q, strlen(q), key);
    assert_string_equal(key, "fca:faq:3c0227cbd4f01657");
    n = nc_key_derive("fca", "faq", NC_KEY_PARAMS, SECRET, SECRETLEN, p, strlen(p), key);
    assert_string_equal(key, "fca:faq:p:4047c71893fbf93b");
    assert_int_equal(n, (int)strlen(key));
}

/* Recommendations: "r:" before the digest of "<normalised>\nlimit=<n>",
 * the key tests/integration/test_recs_basic.sh and the README pin. */
static void test_key_derive_recs(void **state)
{
    (void)state;
    char key[NC_KEY_MAX];
    /* python3: hashlib.sha256(b'running shoes\nlimit=10').hexdigest()[:16]
     *          hmac.new(b'k3y-secret', b'running shoes\nlimit=10',
     *                   hashlib.sha256).hexdigest()[:16] */
    const char *d = "running shoes\nlimit=10";
    char hex[17];
    assert_int_equal(nc_key_digest16(NULL, 0, d, strlen(d), hex), 0);
    int n = nc_key_derive("fca", "recommendations", NC_KEY_RECS, NULL, 0, d, strlen(d), key);
    assert_int_equal(n, (int)strlen(key));
    assert_string_equal(key, "fca:recommendations:r:" RECS_SHA16);
    assert_string_equal(hex, RECS_SHA16);
    n = nc_key_derive("fca", "recommendations", NC_KEY_RECS, SECRET, SECRETLEN, d, strlen(d), key);
    assert_int_equal(n, (int)strlen(key));
    assert_string_equal(key, "fca:recommendations:r:" RECS_HMAC16);
    /* same validation as the other kinds */
    assert_int_equal(nc_key_derive("f:a", "recommendations", NC_KEY_RECS, NULL, 0, d, 1, key), -1);
}

/* Cluster mode: the digest becomes a hash tag; mode 0 is byte for byte
 * nc_key_derive. */
static void test_key_derive_cluster(void **state)
{
    (void)state;
    char key[NC_KEY_MAX], plain[NC_KEY_MAX];
    const char *q = "how do i open an account";
    const char *p = "{\"a\": 1, \"b\": 2}";
    int n = nc_key_derive_mode("fca", "faq", NC_KEY_QUERY, NULL, 0, q, strlen(q), 1, key);
    assert_string_equal(key, "fca:faq:{7cbdc3d46cf23688}");
    assert_int_equal(n, (int)strlen(key));
    nc_key_derive_mode("fca", "faq", NC_KEY_PARAMS, NULL, 0, p, strlen(p), 1, key);
    assert_string_equal(key, "fca:faq:p:{d8497d9d82770a70}");
    nc_key_derive_mode("fca", "faq", NC_KEY_QUERY, SECRET, SECRETLEN, q, strlen(q), 1, key);
    assert_string_equal(key, "fca:faq:{3c0227cbd4f01657}");
    const char *d = "running shoes\nlimit=10";
    nc_key_derive_mode("fca", "recommendations", NC_KEY_RECS, NULL, 0, d, strlen(d), 1, key);
    assert_string_equal(key, "fca:recommendations:r:{" RECS_SHA16 "}");
    nc_key_derive_mode("fca", "faq", NC_KEY_TAG, NULL, 0, "product:1", 9, 1, key);
    assert_true(strncmp(key, "fca:faq:t:{", 11) == 0 && key[strlen(key) - 1] == '}');
    /* standalone: unchanged */
    for (int kind = NC_KEY_QUERY; kind <= NC_KEY_TAG; kind++) {
        int a = nc_key_derive("fca", "faq", kind, NULL, 0, q, strlen(q), plain);
        int b = nc_key_derive_mode("fca", "faq", kind, NULL, 0, q, strlen(q), 0, key);
        assert_int_equal(a, b);
        assert_string_equal(plain, key);
    }
    /* the longest cluster key still has room for ":lease" */
    char prefix[NC_PREFIX_MAX + 1], ns[NC_NS_MAX + 1];
    memset(prefix, 'P', NC_PREFIX_MAX);
    prefix[NC_PREFIX_MAX] = '\0';
    memset(ns, 'n', NC_NS_MAX);
    ns[NC_NS_MAX] = '\0';
    n = nc_key_derive_mode(prefix, ns, NC_KEY_PARAMS, NULL, 0, "{}", 2, 1, key);
    assert_int_equal(n, NC_PREFIX_MAX + 1 + NC_NS_MAX + 3 + 16 + 2);
    assert_true(n + 7 < NC_KEY_MAX);
    assert_int_equal(nc_key_derive_mode("f:a", "faq", NC_KEY_QUERY, NULL, 0, q, 1, 1, key), -1);
}

static void test_key_derive_longest(void **state)
{
    (void)state;
    char key[NC_KEY_MAX];
    char prefix[NC_PREFIX_MAX + 1], ns[NC_NS_MAX + 1];
    memset(prefix, 'P', NC_PREFIX_MAX);
    prefix[NC_PREFIX_MAX] = '\0';
    memset(ns, 'n', NC_NS_MAX);
    ns[NC_NS_MAX] = '\0';
    int n = nc_key_derive(prefix, ns, NC_KEY_PARAMS, NULL, 0, "{}", 2, key);
    assert_int_equal(n, NC_PREFIX_MAX + 1 + NC_NS_MAX + 3 + 16);
    assert_int_equal(strlen(key), (size_t)n);
    assert_true(n + 1 + 16 < NC_KEY_MAX); /* room for a suffix like ":lock" */
}

/* Invalid identifiers never reach a key (they would widen a SCAN pattern). */
static void test_key_derive_rejects_bad_idents(void **state)
{
    (void)state;
    char key[NC_KEY_MAX];
    char longns[NC_NS_MAX + 2];
    memset(longns, 'n', NC_NS_MAX + 1);
    longns[NC_NS_MAX + 1] = '\0';
    assert_int_equal(nc_key_derive("fca", "fa*", NC_KEY_QUERY, NULL, 0, "a", 1, key), -1);
    assert_int_equal(nc_key_derive("fca", "", NC_KEY_QUERY, NULL, 0, "a", 1, key), -1);
    assert_int_equal(nc_key_derive("f:a", "faq", NC_KEY_QUERY, NULL, 0, "a", 1, key), -1);
    assert_int_equal(nc_key_derive("fca", longns, NC_KEY_QUERY, NULL, 0, "a", 1, key), -1);
    assert_int_equal(nc_key_derive(NULL, "faq", NC_KEY_QUERY, NULL, 0, "a", 1, key), -1);
}

static void test_ns_valid(void **state)
{
    (void)state;
    static const char *good[] = {"faq", "a", "A-z_0-9", "recommendations", "-", "_", "FAQ2"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(nc_ns_valid(good[i], strlen(good[i])));

    static const char *bad[] = {"",    ":",     "faq:x", "*",   "fa*", "?",    "[",   "]",
                                "[a]", "\\",    "/",     "a/b", "a b", " ",    "a.b", "%2A",
                                "é",   "faq\n", "a\"",   "{a}", "a+b", "a\tb", "~",   "a@b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (nc_ns_valid(bad[i], strlen(bad[i])))
            fail_msg("accepted namespace case %zu", i);

    /* length: 64 ok, 65 rejected */
    char ns[66];
    memset(ns, 'a', sizeof ns);
    assert_true(nc_ns_valid(ns, 64));
    assert_false(nc_ns_valid(ns, 65));
    assert_true(nc_ns_valid(ns, 1));
    assert_false(nc_ns_valid(ns, 0));

    /* length-bounded: an embedded NUL is not a terminator */
    assert_false(nc_ns_valid("faq\0x", 5));
    assert_true(nc_ns_valid("faq\0x", 3));

    /* prefixes use the same rule with their own bound */
    assert_true(nc_ident_valid(ns, 32, NC_PREFIX_MAX));
    assert_false(nc_ident_valid(ns, 33, NC_PREFIX_MAX));
    assert_false(nc_ident_valid(NULL, 0, NC_PREFIX_MAX));
}

static void test_tags(void **state)
{
    (void)state;
    assert_true(nc_tag_valid("product:123", 11));
    assert_true(nc_tag_valid("a.b-c_D:9", 9));
    assert_false(nc_tag_valid("", 0));
    assert_false(nc_tag_valid("no space", 8));
    assert_false(nc_tag_valid("star*", 5));
    assert_false(nc_tag_valid("q?", 2));
    assert_false(nc_tag_valid("\xc3\xa9", 2));
    char t[NC_TAG_MAX + 1];
    memset(t, 'x', sizeof t);
    assert_true(nc_tag_valid(t, NC_TAG_MAX));
    assert_false(nc_tag_valid(t, NC_TAG_MAX + 1));
    /* python3 -c "import hashlib; print(hashlib.sha256(b'product:123').hexdigest()[:16])" */
    char key[NC_KEY_MAX];
    assert_true(nc_key_derive("fca", "faq", NC_KEY_TAG, NULL, 0, "product:123", 11, key) > 0);
    assert_string_equal(key, "fca:faq:t:efde0f60cd514f14");
    assert_int_equal(nc_key_derive("fca", "faq", (enum nc_key_kind)9, NULL, 0, "x", 1, key), -1);
}

/* The ETag value is printf's "\"%016llx\"" byte for byte. */
static void test_etag_format(void **state)
{
    (void)state;
    const uint64_t hs[] = {0, 1, 0xaaf1759a24badc47ULL, 0x0123456789abcdefULL, UINT64_MAX};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
        char want[32], got[NC_KEY_ETAG_LEN + 1];
        snprintf(want, sizeof want, "\"%016llx\"", (unsigned long long)hs[i]);
        nc_key_etag_format(hs[i], got);
        assert_string_equal(got, want);
    }
}

/* A thread's digest context is reused: many keys in a row, SHA-256 and
 * HMAC interleaved, give what fresh contexts give (values above). */
static void test_digest16_reuse(void **state)
{
    (void)state;
    char a[17], b[17];
    assert_int_equal(nc_key_digest16(NULL, 0, "what is the capital of france", 29, a), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(nc_key_digest16((const unsigned char *)"k3y", 3, "x", 1, b), 0);
        assert_int_equal(nc_key_digest16(NULL, 0, "what is the capital of france", 29, b), 0);
        assert_string_equal(a, b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest16_sha256),
        cmocka_unit_test(test_digest16_hmac),
        cmocka_unit_test(test_key_derive),
        cmocka_unit_test(test_key_derive_recs),
        cmocka_unit_test(test_key_derive_longest),
        cmocka_unit_test(test_key_derive_cluster),
        cmocka_unit_test(test_key_derive_rejects_bad_idents),
        cmocka_unit_test(test_ns_valid),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_etag_format),
        cmocka_unit_test(test_digest16_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
