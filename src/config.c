/* config.c - the settings table, environment loading and validation.
 *
 * One table row per variable: name, default, bounds, help. Loading, --help
 * and the start-up log all walk it, so a variable cannot be documented but
 * unread, or read but undocumented. Anything invalid is an error naming the
 * variable; nothing falls back silently to a default. */
#include "normcache/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "normcache/buf.h"
#include "normcache/jsonstr.h"
#include "normcache/key.h"
#include "normcache/pct.h"

enum nc_cfg_type { T_INT, T_BOOL, T_DOUBLE, T_CUSTOM };

struct nc_cfg_row;
typedef int nc_cfg_parse_fn(struct nc_config *cfg, const struct nc_cfg_row *row, const char *val,
                            char *err, size_t errlen);

struct nc_cfg_row {
    const char *name;
    const char *def; /* NULL: computed (see help) */
    enum nc_cfg_type type;
    long long min, max;
    size_t off;
    nc_cfg_parse_fn *parse;
    int secret;
    const char *help;
};

#define OFF(f) offsetof(struct nc_config, f)

static nc_cfg_parse_fn parse_bind, parse_redis_url, parse_ns_ttl, parse_prefix, parse_secret,
    parse_normalise, parse_ns_norm, parse_tokens, parse_log_level, parse_upstream_url;

static const struct nc_cfg_row rows[] = {
    {"PORT", "8080", T_INT, 1, 65535, OFF(port), NULL, 0, "TCP port to listen on"},
    {"BIND_ADDR", "127.0.0.1", T_CUSTOM, 0, 0, 0, parse_bind, 0,
     "IPv4 or IPv6 address to bind (0.0.0.0 for all)"},
    {"THREADS", NULL, T_INT, 1, 256, OFF(threads), NULL, 0,
     "worker threads, each with its own event loop (default: 2 x cores)"},
    {"MAX_BODY_BYTES", "1048576", T_INT, 64, 67108864, OFF(max_body_bytes), NULL, 0,
     "largest accepted request body (413 beyond)"},
    {"MAX_QUERY_BYTES", "4096", T_INT, 16, 1048576, OFF(max_query_bytes), NULL, 0,
     "largest decoded q or params text"},
    {"HTTP_IDLE_TIMEOUT_SECONDS", "30", T_INT, 1, 3600, OFF(conn_timeout_s), NULL, 0,
     "idle HTTP connections are closed after this"},
    {"HTTP_MAX_CONNECTIONS", "4096", T_INT, 16, 100000, OFF(conn_limit), NULL, 0,
     "open HTTP connections per worker"},
    {"AUTH_TOKENS", "", T_CUSTOM, 0, 0, 0, parse_tokens, 1,
     "comma-separated bearer tokens for /cache/* (empty: no auth)"},
    {"REDIS_ENABLED", "true", T_BOOL, 0, 1, OFF(redis_enabled), NULL, 0,
     "false: never talk to Redis (reads bypass, writes are not stored)"},
    {"REDIS_URL", "redis://127.0.0.1:6379/0", T_CUSTOM, 0, 0, 0, parse_redis_url, 1,
     "redis://[user[:password]@]host[:port][/db]"},
    {"REDIS_CONNECT_TIMEOUT_MS", "200", T_INT, 1, 60000, OFF(redis_connect_timeout_ms), NULL, 0,
     "Redis connect timeout"},
    {"REDIS_TIMEOUT_MS", "100", T_INT, 1, 60000, OFF(redis_timeout_ms), NULL, 0,
     "Redis command timeout"},
    {"REDIS_BREAKER_FAILURES", "5", T_INT, 1, 1000, OFF(breaker_failures), NULL, 0,
     "consecutive Redis connect errors/timeouts that open the circuit breaker"},
    {"REDIS_BREAKER_COOLDOWN_MS", "1000", T_INT, 10, 30000, OFF(breaker_cooldown_ms), NULL, 0,
     "first breaker cooldown (doubles while probes fail, at most 30000)"},
    {"CACHE_TTL_SECONDS", "300", T_INT, 1, 31536000, OFF(ttl_s), NULL, 0,
     "default TTL of an entry"},
    {"CACHE_MAX_TTL_SECONDS", "86400", T_INT, 1, 31536000, OFF(max_ttl_s), NULL, 0,
     "largest TTL a PUT may ask for"},
    {"CACHE_NS_TTL", "", T_CUSTOM, 0, 0, 0, parse_ns_ttl, 0,
     "per-namespace TTLs, e.g. faq=600,recommendations=120"},
    {"KEY_PREFIX", "fca", T_CUSTOM, 0, 0, 0, parse_prefix, 0,
     "first segment of every key, [A-Za-z0-9_-]{1,32}"},
    {"KEY_HASH_SECRET", "", T_CUSTOM, 0, 0, 0, parse_secret, 1,
     "if set, keys use HMAC-SHA256 with this secret instead of SHA-256"},
    {"NORMALISE", "text", T_CUSTOM, 0, 0, 0, parse_normalise, 0,
     "text (NFKC casefold, punctuation trimmed) or basic (Python lower+split)"},
    {"CACHE_NS_NORMALISE", "", T_CUSTOM, 0, 0, 0, parse_ns_norm, 0,
     "per-namespace normalisation, e.g. legacy=basic"},
    {"UPSTREAM_URL", "http://127.0.0.1:8081", T_CUSTOM, 0, 0, 0, parse_upstream_url, 0,
     "base URL of the recommendations upstream"},
    {"UPSTREAM_TIMEOUT_MS", "2000", T_INT, 10, 600000, OFF(upstream_timeout_ms), NULL, 0,
     "upstream request timeout"},
    {"UPSTREAM_MAX_INFLIGHT", "64", T_INT, 1, 100000, OFF(upstream_max_inflight), NULL, 0,
     "concurrent upstream calls per instance, background refreshes included"},
    {"STALE_GRACE_SECONDS", "60", T_INT, 0, 86400, OFF(stale_grace_s), NULL, 0,
     "how long past its TTL a recommendation may be served stale"},
    {"NEGATIVE_TTL_SECONDS", "30", T_INT, 1, 86400, OFF(negative_ttl_s), NULL, 0,
     "how long an upstream 404 is cached"},
    {"TTL_JITTER_PCT", "10", T_INT, 0, 50, OFF(ttl_jitter_pct), NULL, 0,
     "random reduction of a recommendation's fresh TTL, in percent"},
    {"EARLY_REFRESH_BETA", "1", T_DOUBLE, 0, 100, OFF(early_refresh_beta), NULL, 0,
     "XFetch probabilistic early refresh factor (0: off)"},
    {"LOCK_TTL_MS", "3000", T_INT, 100, 600000, OFF(lock_ttl_ms), NULL, 0,
     "TTL of the cross-instance rebuild lock (renewed while held)"},
    {"LOCK_WAIT_MS", "2500", T_INT, 0, 600000, OFF(lock_wait_ms), NULL, 0,
     "how long a request waits for another instance's rebuild"},
    {"LOG_LEVEL", "info", T_CUSTOM, 0, 0, 0, parse_log_level, 0, "debug, info, warn or error"},
    {"LOG_REQUESTS", "true", T_BOOL, 0, 1, OFF(log_requests), NULL, 0,
     "one JSON access-log line per request"},
    {"SHUTDOWN_GRACE_MS", "10000", T_INT, 0, 600000, OFF(shutdown_grace_ms), NULL, 0,
     "how long in-flight requests may finish after SIGTERM"},
};

#define NROWS (sizeof rows / sizeof rows[0])

static void set_err(char *err, size_t errlen, const struct nc_cfg_row *row, const char *val,
                    const char *accepted)
{
    snprintf(err, errlen, "config: %s=%s is invalid: expected %s", row->name,
             row->secret ? "(hidden)" : val, accepted);
}

/* Whole-string integer parse: no trailing junk, no silent overflow. */
static int parse_ll(const char *s, long long *out)
{
    if (!*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_bind(struct nc_config *cfg, const struct nc_cfg_row *row, const char *val,
                      char *err, size_t errlen)
{
    unsigned char tmp[16];
    if (strlen(val) >= sizeof cfg->bind_addr ||
        (inet_pton(AF_INET, val, tmp) != 1 && inet_pton(AF_INET6, val, tmp) != 1)) {
        set_err(err, errlen, row, val, "an IPv4 or IPv6 address");
        return -1;
    }
    strcpy(cfg->bind_addr, val);
    return 0;
}

/* Percent-decodes a REDIS_URL user or password into dst (size cap); -1 on
 * a bad escape, %00, or when it does not fit. */
static int userinfo_decode(const char *src, size_t n, char *dst, size_t cap)
{
    return n < cap && nc_pct_decode(dst, src, n, NC_PCT_NO_NUL) >= 0 ? 0 : -1;
}

static int parse_redis_url(struct nc_config *cfg, const struct nc_cfg_row *row, const char *val,
                           char *err, size_t errlen)
{
    const char *accepted = "redis://[user[:password]@]host[:port][/db] with port 1..65535 and "
                           "db 0..15";
    if (strncmp(val, "redis://", 8) != 0)
        goto bad;
    const char *p = val + 8;
    const char *slash = strchr(p, '/');
    const char *hostend = slash ? slash : p + strlen(p);
    const char *at = memrchr(p, '@', (size_t)(hostend - p));
    cfg->redis_user[0] = cfg->redis_password[0] = '\0';
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        if (userinfo_decode(p, (size_t)(uend - p), cfg->redis_user, sizeof cfg->redis_user) != 0)
            goto bad;
        if (colon && userinfo_decode(colon + 1, (size_t)(at - colon - 1), cfg->redis_password,
                                     sizeof cfg->redis_password) != 0)
            goto bad;
        p = at + 1;
    }
    const char *portsep;
    const char *hstart = p, *hend;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(hostend - p));
        if (!rb)
            goto bad;
        hstart = p + 1;
        hend = rb;
        portsep = rb + 1 < hostend && rb[1] == ':' ? rb + 1 : NULL;
        if (!portsep && rb + 1 != hostend)
            goto bad;
    } else {
        portsep = memchr(p, ':', (size_t)(hostend - p));
        hend = portsep ? portsep : hostend;
    }
    size_t hl = (size_t)(hend - hstart);
    if (hl == 0 || hl >= sizeof cfg->redis_host)
        goto bad;
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)hstart[i];
        if (!(isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':'))
            goto bad;
    }
    memcpy(cfg->redis_host, hstart, hl);
    cfg->redis_host[hl] = '\0';
    cfg->redis_port = 6379;
    if (portsep) {
        char tmp[16];
        size_t pl = (size_t)(hostend - portsep - 1);
        long long v;
        if (pl == 0 || pl >= sizeof tmp)
            goto bad;
        memcpy(tmp, portsep + 1, pl);
        tmp[pl] = '\0';
        if (parse_ll(tmp, &v) != 0 || v < 1 || v > 65535)
            goto bad;
        cfg->redis_port = (int)v;
    }
    cfg->redis_db = 0;
    if (slash && slash[1]) {
        long long v;
        if (parse_ll(slash + 1, &v) != 0 || v < 0 || v > 15)
            goto bad;
        cfg->redis_db = (int)v;
    }
    return 0;
bad:
    snprintf(err, errlen, "config: REDIS_URL=%s is invalid: expected %s",
             strchr(val, '@') ? "(hidden: contains credentials)" : val, accepted);
    (void)row;
    return -1;
}

static int parse_upstream_url(struct nc_config *cfg, const struct nc_cfg_row *row, const char *val,
                              char *err, size_t errlen)
{
    size_t n = strlen(val);
    int scheme = strncmp(val, "http://", 7) == 0 ? 7 : strncmp(val, "https://", 8) == 0 ? 8 : 0;
    if (!scheme || n == (size_t)scheme || n >= sizeof cfg->upstream_url || strchr(val, ' ')) {
        set_err(err, errlen, row, val, "an http:// or https:// base URL");
        return -1;
    }
    memcpy(cfg->upstream_url, val, n + 1);
    while (n > (size_t)scheme && cfg->upstream_url[n - 1] == '/')
        cfg->upstream_url[--n] = '\0'; /* we append "/recommendations" */
    return 0;
}

/* Splits "a=1,b=2" into pairs and hands each to fn. Empty string: no pairs. */
static int parse_pairs(struct nc_config *cfg, const struct nc_cfg_row *row, const char *val,
                       char *err, size_t errlen, const char *accepted,
                       int (*fn)(struct nc_config *, const char *ns, const char *v))
{
    if (!*val)
        return 0;
    char *copy = strdup(val);
    if (!copy) {
        snprintf(err, errlen, "config: out of memory");
        return -1;
    }
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || !nc_ns_valid(tok, (size_t)(eq - tok)) || !eq[1]) {
            rc = -1;
            break;
        }
        *eq = '\0';
        if (fn(cfg, tok, eq + 1) != 0) {
            rc = -1;
            break;
        }
    }
    /* ",," or a trailing comma is a malformed list, not an empty entry. */
    if (rc == 0 && (val[0] == ',' || val[strlen(val) - 1] == ',' || strstr(val, ",,")))
        rc = -1;
    free(copy);
    if (rc)
        set_err(err, errlen, row, val, accepted);
    return rc;
}

static int add_ns_ttl(struct nc_config *cfg, const char *ns, const char *v)
{
    long long t;
    if (cfg->n_ns_ttl >= NC_CONFIG_MAX_NS || parse_ll(v, &t) != 0 || t < 1 || t > 31536000)
        return -1;
    for (int i = 0; i < cfg->n_ns_ttl; i++)
        if (strcmp(cfg->ns_ttl[i].ns, ns) == 0)
            return -1;
    strcpy(cfg->ns_ttl[cfg->n_ns_ttl].ns, ns);
    cfg->ns_ttl[cfg->n_ns_ttl++].ttl = (int)t;
    return 0;
}

static int parse_ns_ttl(struct nc_config *cfg, const struct nc_cfg_row *row, const char *val,
                        char *err, size_t errlen)
{
    return parse_pairs(cfg, row, val, err, errlen,
                       "a comma-separated list of <namespace>=<seconds 1..31536000>, each "
                       "namespace once, at most 64",
                       add_ns_ttl);
}

static int norm_word(const char *v, enum nc_norm_mode *m)
{
    if (strcmp(v, "text") == 0)
        *m = NC_NORM_TEXT;
    else if (strcmp(v, "basic") == 0)
        *m = NC_NORM_BASIC;
    else
        return -1;
    return 0;
}

static int add_ns_norm(struct nc_config *cfg, const char *ns, const char *v)
{
    enum nc_norm_mode m;
    if (cfg->n_ns_norm >= NC_CONFIG_MAX_NS || norm_word(v, &m) != 0)
        return -1;
    for (int i = 0; i < cfg->n_ns_norm; i++)
        if (strcmp(cfg->ns_norm[i].ns, ns) == 0)
            return -1;
    strcpy(cfg->ns_norm[cfg->n_ns_norm].ns, ns);
    cfg->ns_norm[cfg->n_ns_norm++].mode = m;
    return 0;
}

static int parse_ns_norm(struct nc_config *cfg, const struct nc_cfg_row *row, const char *val,
                         char *err, size_t errlen)
{
    return parse_pairs(cfg, row, val, err, errlen,
                       "a comma-separated list of <namespace>=text|basic, each namespace once",
                       add_ns_norm);
}

static int parse_normalise(struct nc_config *cfg, const struct nc_cfg_row *row, const char *val,
                           char *err, size_t errlen)
{
    if (norm_word(val, &cfg->normalise) != 0) {
        set_err(err, errlen, row, val, "text or basic");
        return -1;
    }
    return 0;
}

static int parse_log_level(struct nc_config *cfg, const struct nc_cfg_row *row, const char *val,
                           char *err, size_t errlen)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(val, names[i]) == 0) {
            cfg->log_level = (enum nc_log_level)i;
            return 0;
        }
    set_err(err, errlen, row, val, "debug, info, warn or error");
    return -1;
}

static int parse_prefix(struct nc_config *cfg, const struct nc_cfg_row *row, const char *val,
                        char *err, size_t errlen)
{
    size_t n = strlen(val);
    if (!nc_ident_valid(val, n, NC_PREFIX_MAX)) {
        set_err(err, errlen, row, val, "1 to 32 characters from [A-Za-z0-9_-]");
        return -1;
    }
    memcpy(cfg->key_prefix, val, n + 1);
    return 0;
}

static int parse_secret(struct nc_config *cfg, const struct nc_cfg_row *row, const char *val,
                        char *err, size_t errlen)
{
    (void)row;
    size_t n = strlen(val);
    free(cfg->key_secret);
    cfg->key_secret = NULL;
    cfg->key_secret_len = 0;
    if (!n)
        return 0;
    cfg->key_secret = malloc(n);
    if (!cfg->key_secret) {
        snprintf(err, errlen, "config: out of memory");
        return -1;
    }
    memcpy(cfg->key_secret, val, n);
    cfg->key_secret_len = n;
    return 0;
}

static int parse_tokens(struct nc_config *cfg, const struct nc_cfg_row *row, const char *val,
                        char *err, size_t errlen)
{
    if (!*val)
        return 0;
    const char *p = val;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        int ok = n > 0 && cfg->n_auth_tokens < NC_CONFIG_MAX_TOKENS;
        for (size_t i = 0; ok && i < n; i++)
            ok = p[i] > 0x20 && p[i] < 0x7f; /* token68-ish: printable, no spaces */
        if (!ok) {
            set_err(err, errlen, row, val,
                    "a comma-separated list of at most 32 non-empty printable tokens");
            return -1;
        }
        char *t = strndup(p, n);
        if (!t) {
            snprintf(err, errlen, "config: out of memory");
            return -1;
        }
        cfg->auth_tokens[cfg->n_auth_tokens] = t;
        cfg->auth_token_lens[cfg->n_auth_tokens++] = n;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

static int load_row(struct nc_config *cfg, const struct nc_cfg_row *r, const char *val, char *err,
                    size_t errlen)
{
    char *base = (char *)cfg;
    switch (r->type) {
    case T_INT: {
        long long v;
        if (parse_ll(val, &v) != 0 || v < r->min || v > r->max) {
            char acc[96];
            snprintf(acc, sizeof acc, "an integer from %lld to %lld", r->min, r->max);
            set_err(err, errlen, r, val, acc);
            return -1;
        }
        if (r->off == OFF(max_body_bytes) || r->off == OFF(max_query_bytes))
            *(size_t *)(base + r->off) = (size_t)v;
        else
            *(int *)(base + r->off) = (int)v;
        return 0;
    }
    case T_BOOL: {
        int v;
        if (!strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes"))
            v = 1;
        else if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no"))
            v = 0;
        else {
            set_err(err, errlen, r, val, "true or false");
            return -1;
        }
        *(int *)(base + r->off) = v;
        return 0;
    }
    case T_DOUBLE: {
        char *end;
        errno = 0;
        double d = strtod(val, &end);
        if (!*val || *end || errno || !isfinite(d) || d < (double)r->min || d > (double)r->max) {
            char acc[96];
            snprintf(acc, sizeof acc, "a number from %lld to %lld", r->min, r->max);
            set_err(err, errlen, r, val, acc);
            return -1;
        }
        memcpy(base + r->off, &d, sizeof d);
        return 0;
    }
    case T_CUSTOM:
        return r->parse(cfg, r, val, err, errlen);
    }
    return -1;
}

const char *nc_config_environ(const char *name, void *ud)
{
    (void)ud;
    return getenv(name);
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > 64 ? 128 : (int)n * 2;
}

int nc_config_load(struct nc_config *cfg, nc_config_getenv_fn *get, void *ud, char *err,
                   size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    err[0] = '\0';
    cfg->threads = default_threads();
    for (size_t i = 0; i < NROWS; i++) {
        const struct nc_cfg_row *r = &rows[i];
        if (r->def && load_row(cfg, r, r->def, err, errlen) != 0)
            return -1; /* a bad built-in default is a bug; say so loudly */
        const char *v = get(r->name, ud);
        if (!v)
            continue;
        /* A list or secret that is set but empty means "none"; for numbers
         * and words an empty value is a mistake, not a default. */
        if (r->type == T_CUSTOM && r->def && !*r->def && !*v) {
            if (load_row(cfg, r, v, err, errlen) != 0)
                return -1;
            continue;
        }
        if (load_row(cfg, r, v, err, errlen) != 0)
            return -1;
    }
    if (cfg->ttl_s > cfg->max_ttl_s) {
        snprintf(err, errlen,
                 "config: CACHE_TTL_SECONDS=%d is invalid: expected at most "
                 "CACHE_MAX_TTL_SECONDS (%d)",
                 cfg->ttl_s, cfg->max_ttl_s);
        return -1;
    }
    for (int i = 0; i < cfg->n_ns_ttl; i++)
        if (cfg->ns_ttl[i].ttl > cfg->max_ttl_s) {
            snprintf(err, errlen,
                     "config: CACHE_NS_TTL entry %s=%d is invalid: expected at most "
                     "CACHE_MAX_TTL_SECONDS (%d)",
                     cfg->ns_ttl[i].ns, cfg->ns_ttl[i].ttl, cfg->max_ttl_s);
            return -1;
        }
    if (cfg->lock_wait_ms > 0 && cfg->lock_ttl_ms < 100) {
        snprintf(err, errlen, "config: LOCK_TTL_MS=%d is invalid: expected at least 100",
                 cfg->lock_ttl_ms);
        return -1;
    }
    return 0;
}

void nc_config_free(struct nc_config *cfg)
{
    for (int i = 0; i < cfg->n_auth_tokens; i++)
        free(cfg->auth_tokens[i]);
    cfg->n_auth_tokens = 0;
    free(cfg->key_secret);
    cfg->key_secret = NULL;
    cfg->key_secret_len = 0;
}

int nc_config_ns_ttl(const struct nc_config *cfg, const char *ns)
{
    for (int i = 0; i < cfg->n_ns_ttl; i++)
        if (strcmp(cfg->ns_ttl[i].ns, ns) == 0)
            return cfg->ns_ttl[i].ttl;
    return cfg->ttl_s;
}

enum nc_norm_mode nc_config_ns_norm(const struct nc_config *cfg, const char *ns)
{
    for (int i = 0; i < cfg->n_ns_norm; i++)
        if (strcmp(cfg->ns_norm[i].ns, ns) == 0)
            return cfg->ns_norm[i].mode;
    return cfg->normalise;
}

void nc_config_print_help(FILE *out)
{
    fprintf(out, "Environment variables (defaults in config/normcache.env):\n");
    for (size_t i = 0; i < NROWS; i++) {
        const struct nc_cfg_row *r = &rows[i];
        fprintf(out, "  %-26s default %-26s %s\n", r->name,
                r->def ? (*r->def ? r->def : "(empty)") : "(computed)", r->help);
    }
}

int nc_config_describe(const struct nc_config *cfg, struct nc_buf *out)
{
    static const char *levels[] = {"debug", "info", "warn", "error"};
    char v[600];
    int first = 1;
    for (size_t i = 0; i < NROWS; i++) {
        const struct nc_cfg_row *r = &rows[i];
        const char *base = (const char *)cfg;
        switch (r->type) {
        case T_INT:
            if (r->off == OFF(max_body_bytes) || r->off == OFF(max_query_bytes))
                snprintf(v, sizeof v, "%zu", *(const size_t *)(base + r->off));
            else
                snprintf(v, sizeof v, "%d", *(const int *)(base + r->off));
            break;
        case T_BOOL:
            snprintf(v, sizeof v, "%s", *(const int *)(base + r->off) ? "true" : "false");
            break;
        case T_DOUBLE: {
            double d;
            memcpy(&d, base + r->off, sizeof d);
            snprintf(v, sizeof v, "%g", d);
        } break;
        case T_CUSTOM:
            if (r->parse == parse_bind)
                snprintf(v, sizeof v, "%s", cfg->bind_addr);
            else if (r->parse == parse_redis_url)
                snprintf(v, sizeof v, "redis://%s%s%s%s%s:%d/%d", cfg->redis_user,
                         cfg->redis_password[0] ? ":***" : "",
                         cfg->redis_user[0] || cfg->redis_password[0] ? "@" : "",
                         strchr(cfg->redis_host, ':') ? "[" : "", cfg->redis_host, cfg->redis_port,
                         cfg->redis_db);
            else if (r->parse == parse_tokens)
                snprintf(v, sizeof v, "%s", cfg->n_auth_tokens ? "***" : "");
            else if (r->parse == parse_secret)
                snprintf(v, sizeof v, "%s", cfg->key_secret_len ? "***" : "");
            else if (r->parse == parse_prefix)
                snprintf(v, sizeof v, "%s", cfg->key_prefix);
            else if (r->parse == parse_normalise)
                snprintf(v, sizeof v, "%s", cfg->normalise == NC_NORM_BASIC ? "basic" : "text");
            else if (r->parse == parse_log_level)
                snprintf(v, sizeof v, "%s", levels[cfg->log_level]);
            else if (r->parse == parse_upstream_url)
                snprintf(v, sizeof v, "%s", cfg->upstream_url);
            else if (r->parse == parse_ns_ttl || r->parse == parse_ns_norm) {
                size_t o = 0;
                v[0] = '\0';
                int n = r->parse == parse_ns_ttl ? cfg->n_ns_ttl : cfg->n_ns_norm;
                for (int k = 0; k < n && o < sizeof v - 80; k++) {
                    if (r->parse == parse_ns_ttl)
                        o += (size_t)snprintf(v + o, sizeof v - o, "%s%s=%d", k ? "," : "",
                                              cfg->ns_ttl[k].ns, cfg->ns_ttl[k].ttl);
                    else
                        o += (size_t)snprintf(
                            v + o, sizeof v - o, "%s%s=%s", k ? "," : "", cfg->ns_norm[k].ns,
                            cfg->ns_norm[k].mode == NC_NORM_BASIC ? "basic" : "text");
                }
            } else
                v[0] = '\0';
            break;
        }
        if ((!first && nc_buf_appendc(out, ',')) ||
            nc_jsonstr_append(out, r->name, strlen(r->name), 0) || nc_buf_appendc(out, ':') ||
            nc_jsonstr_append(out, v, strlen(v), 0))
            return -1;
        first = 0;
    }
    return 0;
}
