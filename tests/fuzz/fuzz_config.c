/* fuzz_config.c - the settings' value parsers (config_parse.h), REDIS_URL
 * above all. The first input byte picks the parser, the rest (up to a NUL:
 * an environment value is a C string) is the value.
 *
 * Properties: every parser either succeeds with an output inside its
 * bounds (integers and doubles in range, ports 1..65535, db 0..15, strings
 * NUL-terminated within their buffer, namespaces valid and unique) or
 * fails with a non-empty message. */
#include "fuzz.h"

#include <math.h>

#include "normcache/config_parse.h"
#include "normcache/key.h"

static void check_str(const char *s, size_t cap)
{
    FUZZ_CHECK(memchr(s, '\0', cap) != NULL);
}

static void run(unsigned sel, const char *v)
{
    char err[256];
    err[0] = '\0';
    int rc = -1;
    switch (sel % 13) {
    case 0: {
        long long out = 0;
        rc = nc_config_parse_int(v, 1, 65535, &out, err, sizeof err);
        if (rc == 0)
            FUZZ_CHECK(out >= 1 && out <= 65535);
        long long wide = 0;
        if (nc_config_parse_int(v, -9223372036854775807LL - 1, 9223372036854775807LL, &wide, err,
                                sizeof err) == 0 &&
            rc == 0)
            FUZZ_CHECK(wide == out);
        break;
    }
    case 1: {
        double d = 0;
        rc = nc_config_parse_double(v, 0.0, 100.0, &d, err, sizeof err);
        if (rc == 0)
            FUZZ_CHECK(isfinite(d) && d >= 0.0 && d <= 100.0);
        break;
    }
    case 2: {
        int b = -1;
        rc = nc_config_parse_bool(v, &b, err, sizeof err);
        if (rc == 0)
            FUZZ_CHECK(b == 0 || b == 1);
        break;
    }
    case 3: {
        enum nc_norm_mode m;
        rc = nc_config_parse_norm(v, &m, err, sizeof err);
        if (rc == 0)
            FUZZ_CHECK(m == NC_NORM_TEXT || m == NC_NORM_BASIC);
        break;
    }
    case 4: {
        enum nc_log_level l;
        rc = nc_config_parse_log_level(v, &l, err, sizeof err);
        if (rc == 0)
            FUZZ_CHECK(l >= NC_LOG_DEBUG && l <= NC_LOG_ERROR);
        break;
    }
    case 5: {
        char out[64];
        rc = nc_config_parse_bind(v, out, sizeof out, err, sizeof err);
        if (rc == 0)
            check_str(out, sizeof out);
        break;
    }
    case 6: {
        char out[33];
        rc = nc_config_parse_prefix(v, out, sizeof out, err, sizeof err);
        if (rc == 0)
            FUZZ_CHECK(nc_ident_valid(out, strlen(out), NC_PREFIX_MAX));
        break;
    }
    case 7: {
        char out[512];
        rc = nc_config_parse_upstream_url(v, out, sizeof out, err, sizeof err);
        if (rc == 0) {
            check_str(out, sizeof out);
            FUZZ_CHECK(strncmp(out, "http://", 7) == 0 || strncmp(out, "https://", 8) == 0);
            size_t n = strlen(out), scheme = out[4] == 's' ? 8 : 7;
            FUZZ_CHECK(n > scheme && out[n - 1] != '/');
            FUZZ_CHECK(strchr("/?#:", out[scheme]) == NULL); /* a host follows the scheme */
        }
        break;
    }
    case 8: {
        struct nc_redis_url u;
        memset(&u, 0x55, sizeof u);
        rc = nc_config_parse_redis_url(v, &u, err, sizeof err);
        if (rc == 0) {
            check_str(u.host, sizeof u.host);
            check_str(u.user, sizeof u.user);
            check_str(u.password, sizeof u.password);
            FUZZ_CHECK(u.host[0] != '\0');
            FUZZ_CHECK(u.port >= 1 && u.port <= 65535);
            FUZZ_CHECK(u.db >= 0 && u.db <= 15);
            FUZZ_CHECK(u.nnodes >= 1 && u.nnodes <= NC_REDIS_NODES_MAX);
            FUZZ_CHECK(strcmp(u.nodes[0].host, u.host) == 0 && u.nodes[0].port == u.port);
            for (int i = 0; i < u.nnodes; i++) {
                check_str(u.nodes[i].host, sizeof u.nodes[i].host);
                FUZZ_CHECK(u.nodes[i].host[0] != '\0');
                FUZZ_CHECK(u.nodes[i].port >= 1 && u.nodes[i].port <= 65535);
            }
        }
        break;
    }
    case 9: {
        struct nc_ns_ttl out[NC_CONFIG_MAX_NS];
        int n = 0;
        rc = nc_config_parse_ns_ttl(v, out, NC_CONFIG_MAX_NS, &n, err, sizeof err);
        FUZZ_CHECK(n >= 0 && n <= NC_CONFIG_MAX_NS);
        if (rc == 0)
            for (int i = 0; i < n; i++) {
                FUZZ_CHECK(nc_ns_valid(out[i].ns, strlen(out[i].ns)));
                FUZZ_CHECK(out[i].ttl >= 1 && out[i].ttl <= NC_CONFIG_TTL_MAX);
                for (int j = 0; j < i; j++)
                    FUZZ_CHECK(strcmp(out[i].ns, out[j].ns) != 0);
            }
        break;
    }
    case 10: {
        struct nc_ns_norm out[NC_CONFIG_MAX_NS];
        int n = 0;
        rc = nc_config_parse_ns_norm(v, out, NC_CONFIG_MAX_NS, &n, err, sizeof err);
        FUZZ_CHECK(n >= 0 && n <= NC_CONFIG_MAX_NS);
        if (rc == 0)
            for (int i = 0; i < n; i++) {
                FUZZ_CHECK(nc_ns_valid(out[i].ns, strlen(out[i].ns)));
                FUZZ_CHECK(out[i].mode == NC_NORM_TEXT || out[i].mode == NC_NORM_BASIC);
                for (int j = 0; j < i; j++)
                    FUZZ_CHECK(strcmp(out[i].ns, out[j].ns) != 0);
            }
        break;
    }
    case 11: {
        char *tok[NC_CONFIG_MAX_TOKENS];
        size_t lens[NC_CONFIG_MAX_TOKENS];
        int n = 0;
        rc = nc_config_parse_tokens(v, tok, lens, NC_CONFIG_MAX_TOKENS, &n, err, sizeof err);
        FUZZ_CHECK(n >= 0 && n <= NC_CONFIG_MAX_TOKENS);
        for (int i = 0; i < n; i++) {
            FUZZ_CHECK(lens[i] > 0 && strlen(tok[i]) == lens[i]);
            for (size_t k = 0; k < lens[i]; k++)
                FUZZ_CHECK(tok[i][k] > ' ' && tok[i][k] < 0x7f && tok[i][k] != ',');
            free(tok[i]);
        }
        break;
    }
    default: {
        static const char *const names[3] = {"one", "two", "three"};
        int idx = -1;
        rc = nc_config_parse_word(v, names, 3, "one, two or three", &idx, err, sizeof err);
        if (rc == 0)
            FUZZ_CHECK(idx >= 0 && idx < 3 && strcmp(names[idx], v) == 0);
        break;
    }
    }
    if (rc != 0)
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *v = fuzz_strdup(data + 1, size - 1);
    run(data[0], v);
    free(v);
    return 0;
}
