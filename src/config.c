/* config.c - the settings table and its loader.
 *
 * One table row per variable: name, default, bounds, help. Loading, --help
 * and the start-up dump all walk it, so a variable cannot be documented but
 * unread, or read but undocumented. The value parsers live in
 * config_parse.c; this file turns their "expected ..." into an error naming
 * the variable (masking secrets), and holds the one getenv() of the
 * program. Anything invalid is an error; nothing falls back silently to a
 * default. */
#include "normcache/config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "normcache/buf.h"
#include "normcache/config_parse.h"
#include "normcache/jsonstr.h"

/* How a row's value is parsed, stored and shown. */
enum nc_cfg_kind {
    K_INT,  /* int field at off, min..max */
    K_SIZE, /* size_t field at off, min..max */
    K_BOOL, /* int field at off */
    K_DOUBLE,
    K_BIND,
    K_REDIS_URL,
    K_REDIS_MODE,
    K_SENTINEL_NAME,
    K_SENTINEL_PASSWORD,
    K_TOKENS,
    K_SECRET,
    K_PREFIX,
    K_NORM,
    K_NS_TTL,
    K_NS_NORM,
    K_UPSTREAM,
    K_LOG_LEVEL,
};

/* What an error message may show of a bad value. */
enum nc_cfg_mask {
    MASK_NONE,
    MASK_ALL,      /* never shown */
    MASK_USERINFO, /* hidden when it carries user:password@ */
};

struct nc_cfg_row {
    const char *name;
    const char *def; /* NULL: computed (see help) */
    enum nc_cfg_kind kind;
    long long min, max;
    size_t off;
    enum nc_cfg_mask mask;
    const char *help;
};

#define OFF(f) offsetof(struct nc_config, f)

static const struct nc_cfg_row rows[] = {
    {"PORT", "8080", K_INT, 1, 65535, OFF(port), MASK_NONE, "TCP port to listen on"},
    {"BIND_ADDR", "127.0.0.1", K_BIND, 0, 0, 0, MASK_NONE,
     "IPv4 or IPv6 address to bind (0.0.0.0 for all)"},
    {"THREADS", NULL, K_INT, 1, 256, OFF(threads), MASK_NONE,
     "worker threads, each with its own event loop (default: 2 x cores)"},
    {"MAX_BODY_BYTES", "1048576", K_SIZE, 64, 67108864, OFF(max_body_bytes), MASK_NONE,
     "largest accepted request body (413 beyond)"},
    {"MAX_QUERY_BYTES", "4096", K_SIZE, 16, 1048576, OFF(max_query_bytes), MASK_NONE,
     "largest decoded q or params text"},
    {"BATCH_MAX_ITEMS", "100", K_INT, 1, 10000, OFF(batch_max_items), MASK_NONE,
     "most items in one _mget or _mset call"},
    {"LEASE_TTL_MS", "30000", K_INT, 100, 3600000, OFF(lease_ttl_ms), MASK_NONE,
     "how long a cache lease holds when its holder neither writes nor releases it"},
    {"LEASE_WAIT_MS", "30000", K_INT, 0, 600000, OFF(lease_wait_ms), MASK_NONE,
     "how long a GET with Cache-Lease: acquire waits for another's lease"},
    {"HTTP_IDLE_TIMEOUT_SECONDS", "30", K_INT, 1, 3600, OFF(conn_timeout_s), MASK_NONE,
     "idle HTTP connections are closed after this"},
    {"HTTP_MAX_CONNECTIONS", "4096", K_INT, 16, 100000, OFF(conn_limit), MASK_NONE,
     "open HTTP connections per worker"},
    {"HTTP_HEADER_TIMEOUT_SECONDS", "10", K_INT, 1, 3600, OFF(header_timeout_s), MASK_NONE,
     "a request head not complete this long after it began gets 408 and its connection closes"},
    {"HTTP_MAX_CONNECTIONS_PER_IP", "0", K_INT, 0, 1000000, OFF(conn_limit_per_ip), MASK_NONE,
     "open connections per client address for the whole process (0: no limit)"},
    {"AUTH_TOKENS", "", K_TOKENS, 0, 0, 0, MASK_ALL,
     "comma-separated bearer tokens for /cache/* (empty: no auth)"},
    {"REDIS_ENABLED", "true", K_BOOL, 0, 1, OFF(redis_enabled), MASK_NONE,
     "false: never talk to Redis (reads bypass, writes are not stored)"},
    {"REDIS_MODE", "standalone", K_REDIS_MODE, 0, 0, 0, MASK_NONE,
     "standalone, cluster (the URL lists seed nodes) or sentinel (the URL lists sentinels)"},
    {"REDIS_URL", "redis://127.0.0.1:6379/0", K_REDIS_URL, 0, 0, 0, MASK_USERINFO,
     "redis://[user[:password]@]host[:port][,host[:port]...][/db] (a list in cluster and sentinel "
     "modes)"},
    {"REDIS_CONNECT_TIMEOUT_MS", "200", K_INT, 1, 60000, OFF(redis_connect_timeout_ms), MASK_NONE,
     "Redis connect timeout"},
    {"REDIS_TIMEOUT_MS", "100", K_INT, 1, 60000, OFF(redis_timeout_ms), MASK_NONE,
     "Redis command timeout"},
    {"REDIS_BREAKER_FAILURES", "5", K_INT, 1, 1000, OFF(breaker_failures), MASK_NONE,
     "consecutive Redis connect errors/timeouts that open the circuit breaker"},
    {"REDIS_BREAKER_COOLDOWN_MS", "1000", K_INT, 10, 30000, OFF(breaker_cooldown_ms), MASK_NONE,
     "first breaker cooldown (doubles while probes fail, at most 30000)"},
    {"REDIS_SENTINEL_MASTER", "", K_SENTINEL_NAME, 0, 0, 0, MASK_NONE,
     "REDIS_MODE=sentinel: the master's name at the sentinels REDIS_URL lists (required then)"},
    {"REDIS_SENTINEL_PASSWORD", "", K_SENTINEL_PASSWORD, 0, 0, 0, MASK_ALL,
     "the sentinels' own password (requirepass on the sentinels); empty: none"},
    {"CACHE_TTL_SECONDS", "300", K_INT, 1, 31536000, OFF(ttl_s), MASK_NONE,
     "default TTL of an entry"},
    {"CACHE_MAX_TTL_SECONDS", "86400", K_INT, 1, 31536000, OFF(max_ttl_s), MASK_NONE,
     "largest TTL a PUT may ask for"},
    {"CACHE_NS_TTL", "", K_NS_TTL, 0, 0, 0, MASK_NONE,
     "per-namespace TTLs, e.g. faq=600,recommendations=120"},
    {"KEY_PREFIX", "fca", K_PREFIX, 0, 0, 0, MASK_NONE,
     "first segment of every key, [A-Za-z0-9_-]{1,32}"},
    {"KEY_HASH_SECRET", "", K_SECRET, 0, 0, 0, MASK_ALL,
     "if set, keys use HMAC-SHA256 with this secret instead of SHA-256"},
    {"NORMALISE", "text", K_NORM, 0, 0, 0, MASK_NONE,
     "text (NFKC casefold, punctuation trimmed) or basic (Python lower+split)"},
    {"CACHE_NS_NORMALISE", "", K_NS_NORM, 0, 0, 0, MASK_NONE,
     "per-namespace normalisation, e.g. legacy=basic"},
    {"UPSTREAM_URL", "http://127.0.0.1:8081", K_UPSTREAM, 0, 0, 0, MASK_NONE,
     "base URL of the recommendations upstream"},
    {"UPSTREAM_TIMEOUT_MS", "2000", K_INT, 10, 600000, OFF(upstream_timeout_ms), MASK_NONE,
     "upstream request timeout"},
    {"UPSTREAM_MAX_INFLIGHT", "64", K_INT, 1, 100000, OFF(upstream_max_inflight), MASK_NONE,
     "concurrent upstream calls per instance, background refreshes included"},
    {"STALE_GRACE_SECONDS", "60", K_INT, 0, 86400, OFF(stale_grace_s), MASK_NONE,
     "how long past its TTL a recommendation may be served stale"},
    {"NEGATIVE_TTL_SECONDS", "30", K_INT, 1, 86400, OFF(negative_ttl_s), MASK_NONE,
     "how long an upstream 404 is cached"},
    {"TTL_JITTER_PCT", "10", K_INT, 0, 50, OFF(ttl_jitter_pct), MASK_NONE,
     "random reduction of a recommendation's fresh TTL, in percent"},
    {"EARLY_REFRESH_BETA", "1", K_DOUBLE, 0, 100, OFF(early_refresh_beta), MASK_NONE,
     "XFetch probabilistic early refresh factor (0: off)"},
    {"LOCK_TTL_MS", "3000", K_INT, 100, 600000, OFF(lock_ttl_ms), MASK_NONE,
     "TTL of the cross-instance rebuild lock (renewed while held)"},
    {"LOCK_WAIT_MS", "2500", K_INT, 0, 600000, OFF(lock_wait_ms), MASK_NONE,
     "how long a request waits for another instance's rebuild"},
    {"NEAR_CACHE", "false", K_BOOL, 0, 1, OFF(near_cache), MASK_NONE,
     "true: hot entries also served from process memory, kept coherent by Redis invalidations"},
    {"NEAR_CACHE_MAX_BYTES", "67108864", K_SIZE, 65536, 68719476736LL, OFF(near_max_bytes),
     MASK_NONE, "memory the near cache may hold (keys, values, overhead)"},
    {"NEAR_CACHE_MAX_TTL_MS", "5000", K_INT, 1, 3600000, OFF(near_max_ttl_ms), MASK_NONE,
     "longest a near-cache entry lives (never beyond its Redis TTL)"},
    {"LOG_LEVEL", "info", K_LOG_LEVEL, 0, 0, 0, MASK_NONE, "debug, info, warn or error"},
    {"LOG_REQUESTS", "true", K_BOOL, 0, 1, OFF(log_requests), MASK_NONE,
     "one JSON access-log line per request"},
    {"SHUTDOWN_GRACE_MS", "10000", K_INT, 0, 600000, OFF(shutdown_grace_ms), MASK_NONE,
     "how long in-flight requests may finish after SIGTERM"},
};

#define NROWS (sizeof rows / sizeof rows[0])

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Copies the key secret (bytes, no terminator); empty means none. */
static int set_secret(struct nc_config *cfg, const char *val, char *why, size_t whylen)
{
    size_t n = strlen(val);
    free(cfg->key_secret);
    cfg->key_secret = NULL;
    cfg->key_secret_len = 0;
    if (!n)
        return 0;
    cfg->key_secret = malloc(n);
    if (!cfg->key_secret) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    memcpy(cfg->key_secret, val, n);
    cfg->key_secret_len = n;
    return 0;
}

/* Parses val into the row's field; -1 with "expected ..." in why. */
static int set_row(struct nc_config *cfg, const struct nc_cfg_row *r, const char *val, char *why,
                   size_t whylen)
{
    char *field = (char *)cfg + r->off;
    long long ll;
    switch (r->kind) {
    case K_INT:
        if (nc_config_parse_int(val, r->min, r->max, &ll, why, whylen) != 0)
            return -1;
        *(int *)field = (int)ll;
        return 0;
    case K_SIZE:
        if (nc_config_parse_int(val, r->min, r->max, &ll, why, whylen) != 0)
            return -1;
        *(size_t *)field = (size_t)ll;
        return 0;
    case K_BOOL:
        return nc_config_parse_bool(val, (int *)field, why, whylen);
    case K_DOUBLE: {
        double d;
        if (nc_config_parse_double(val, (double)r->min, (double)r->max, &d, why, whylen) != 0)
            return -1;
        memcpy(field, &d, sizeof d);
        return 0;
    }
    case K_BIND:
        return nc_config_parse_bind(val, cfg->bind_addr, sizeof cfg->bind_addr, why, whylen);
    case K_REDIS_URL: {
        struct nc_redis_url u;
        if (nc_config_parse_redis_url(val, &u, why, whylen) != 0)
            return -1;
        memcpy(cfg->redis_host, u.host, sizeof cfg->redis_host);
        memcpy(cfg->redis_user, u.user, sizeof cfg->redis_user);
        memcpy(cfg->redis_password, u.password, sizeof cfg->redis_password);
        cfg->redis_port = u.port;
        cfg->redis_db = u.db;
        memcpy(cfg->redis_nodes, u.nodes, sizeof cfg->redis_nodes);
        cfg->redis_nnodes = u.nnodes;
        explicit_bzero(u.password, sizeof u.password);
        return 0;
    }
    case K_REDIS_MODE:
        return nc_config_parse_redis_mode(val, &cfg->redis_mode, why, whylen);
    case K_SENTINEL_NAME:
        return nc_config_parse_sentinel_name(val, cfg->redis_sentinel_master,
                                             sizeof cfg->redis_sentinel_master, why, whylen);
    case K_SENTINEL_PASSWORD:
        if (strlen(val) >= sizeof cfg->redis_sentinel_password) {
            snprintf(why, whylen, "expected at most %zu bytes",
                     sizeof cfg->redis_sentinel_password - 1);
            return -1;
        }
        snprintf(cfg->redis_sentinel_password, sizeof cfg->redis_sentinel_password, "%s", val);
        return 0;
    case K_TOKENS:
        return nc_config_parse_tokens(val, cfg->auth_tokens, cfg->auth_token_lens,
                                      NC_CONFIG_MAX_TOKENS, &cfg->n_auth_tokens, why, whylen);
    case K_SECRET:
        return set_secret(cfg, val, why, whylen);
    case K_PREFIX:
        return nc_config_parse_prefix(val, cfg->key_prefix, sizeof cfg->key_prefix, why, whylen);
    case K_NORM:
        return nc_config_parse_norm(val, &cfg->normalise, why, whylen);
    case K_NS_TTL:
        return nc_config_parse_ns_ttl(val, cfg->ns_ttl, NC_CONFIG_MAX_NS, &cfg->n_ns_ttl, why,
                                      whylen);
    case K_NS_NORM:
        return nc_config_parse_ns_norm(val, cfg->ns_norm, NC_CONFIG_MAX_NS, &cfg->n_ns_norm, why,
                                       whylen);
    case K_UPSTREAM:
        return nc_config_parse_upstream_url(val, cfg->upstream_url, sizeof cfg->upstream_url, why,
                                            whylen);
    case K_LOG_LEVEL:
        return nc_config_parse_log_level(val, &cfg->log_level, why, whylen);
    }
    snprintf(why, whylen, "a known kind of setting (bug)");
    return -1;
}

static int load_row(struct nc_config *cfg, const struct nc_cfg_row *r, const char *val, char *err,
                    size_t errlen)
{
    char why[256];
    if (set_row(cfg, r, val, why, sizeof why) == 0)
        return 0;
    const char *shown = val;
    if (r->mask == MASK_ALL)
        shown = "(hidden)";
    else if (r->mask == MASK_USERINFO && strchr(val, '@'))
        shown = "(hidden: contains credentials)";
    snprintf(err, errlen, "config: %s=%s is invalid: %s", r->name, shown, why);
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

/* Rules that tie two settings together, checked once all are read. */
static int check_cross(const struct nc_config *cfg, char *err, size_t errlen)
{
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
    /* REDIS_URL's value may hold a password: these messages never show it. */
    if (cfg->redis_mode == NC_REDIS_STANDALONE && cfg->redis_nnodes > 1) {
        snprintf(err, errlen,
                 "config: REDIS_URL is invalid with REDIS_MODE=standalone: expected one host "
                 "(a list of %d is for REDIS_MODE=cluster or sentinel)",
                 cfg->redis_nnodes);
        return -1;
    }
    if (cfg->redis_mode == NC_REDIS_CLUSTER && cfg->redis_db != 0) {
        snprintf(err, errlen,
                 "config: REDIS_URL is invalid with REDIS_MODE=cluster: expected database 0 "
                 "(a cluster has no other), not /%d",
                 cfg->redis_db);
        return -1;
    }
    if (cfg->redis_mode == NC_REDIS_SENTINEL && !cfg->redis_sentinel_master[0]) {
        snprintf(err, errlen,
                 "config: REDIS_SENTINEL_MASTER is required with REDIS_MODE=sentinel: expected "
                 "the master's name at the sentinels");
        return -1;
    }
    if (cfg->near_cache && cfg->redis_mode == NC_REDIS_CLUSTER) {
        snprintf(err, errlen,
                 "config: NEAR_CACHE=true is invalid with REDIS_MODE=cluster: expected false "
                 "(its invalidations would need one connection per node)");
        return -1;
    }
    if (cfg->lock_wait_ms > 0 && cfg->lock_ttl_ms < 100) {
        snprintf(err, errlen, "config: LOCK_TTL_MS=%d is invalid: expected at least 100",
                 cfg->lock_ttl_ms);
        return -1;
    }
    return 0;
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
        /* Set but empty is parsed too: for lists and secrets it means
         * "none", for numbers and words it is a mistake, not a default. */
        const char *v = get(r->name, ud);
        if (v && load_row(cfg, r, v, err, errlen) != 0)
            return -1;
    }
    return check_cross(cfg, err, errlen);
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

static const char *norm_name(enum nc_norm_mode m)
{
    return m == NC_NORM_BASIC ? "basic" : "text";
}

/* The effective value of row r as text, secrets masked. */
static void show_row(const struct nc_config *cfg, const struct nc_cfg_row *r, char *v, size_t vlen)
{
    const char *field = (const char *)cfg + r->off;
    size_t o = 0;
    v[0] = '\0';
    switch (r->kind) {
    case K_INT:
        snprintf(v, vlen, "%d", *(const int *)field);
        break;
    case K_SIZE:
        snprintf(v, vlen, "%zu", *(const size_t *)field);
        break;
    case K_BOOL:
        snprintf(v, vlen, "%s", *(const int *)field ? "true" : "false");
        break;
    case K_DOUBLE: {
        double d;
        memcpy(&d, field, sizeof d);
        snprintf(v, vlen, "%g", d);
    } break;
    case K_BIND:
        snprintf(v, vlen, "%s", cfg->bind_addr);
        break;
    case K_REDIS_URL:
        o = (size_t)snprintf(v, vlen, "redis://%s%s%s", cfg->redis_user,
                             cfg->redis_password[0] ? ":***" : "",
                             cfg->redis_user[0] || cfg->redis_password[0] ? "@" : "");
        for (int k = 0; k < cfg->redis_nnodes && o < vlen - 280; k++) {
            const struct nc_redis_node *nd = &cfg->redis_nodes[k];
            int v6 = strchr(nd->host, ':') != NULL;
            o += (size_t)snprintf(v + o, vlen - o, "%s%s%s%s:%d", k ? "," : "", v6 ? "[" : "",
                                  nd->host, v6 ? "]" : "", nd->port);
        }
        snprintf(v + o, vlen - o, "/%d", cfg->redis_db);
        break;
    case K_REDIS_MODE: {
        static const char *const modes[] = {"standalone", "cluster", "sentinel"};
        snprintf(v, vlen, "%s", modes[cfg->redis_mode]);
    } break;
    case K_SENTINEL_NAME:
        snprintf(v, vlen, "%s", cfg->redis_sentinel_master);
        break;
    case K_SENTINEL_PASSWORD:
        snprintf(v, vlen, "%s", cfg->redis_sentinel_password[0] ? "***" : "");
        break;
    case K_TOKENS:
        snprintf(v, vlen, "%s", cfg->n_auth_tokens ? "***" : "");
        break;
    case K_SECRET:
        snprintf(v, vlen, "%s", cfg->key_secret_len ? "***" : "");
        break;
    case K_PREFIX:
        snprintf(v, vlen, "%s", cfg->key_prefix);
        break;
    case K_NORM:
        snprintf(v, vlen, "%s", norm_name(cfg->normalise));
        break;
    case K_NS_TTL:
        for (int k = 0; k < cfg->n_ns_ttl && o < vlen - 80; k++)
            o += (size_t)snprintf(v + o, vlen - o, "%s%s=%d", k ? "," : "", cfg->ns_ttl[k].ns,
                                  cfg->ns_ttl[k].ttl);
        break;
    case K_NS_NORM:
        for (int k = 0; k < cfg->n_ns_norm && o < vlen - 80; k++)
            o += (size_t)snprintf(v + o, vlen - o, "%s%s=%s", k ? "," : "", cfg->ns_norm[k].ns,
                                  norm_name(cfg->ns_norm[k].mode));
        break;
    case K_UPSTREAM:
        snprintf(v, vlen, "%s", cfg->upstream_url);
        break;
    case K_LOG_LEVEL:
        snprintf(v, vlen, "%s", level_names[cfg->log_level]);
        break;
    }
}

int nc_config_describe(const struct nc_config *cfg, struct nc_buf *out)
{
    char v[600];
    for (size_t i = 0; i < NROWS; i++) {
        const struct nc_cfg_row *r = &rows[i];
        show_row(cfg, r, v, sizeof v);
        if ((i && nc_buf_appendc(out, ',')) ||
            nc_jsonstr_append(out, r->name, strlen(r->name), 0) || nc_buf_appendc(out, ':') ||
            nc_jsonstr_append(out, v, strlen(v), 0))
            return -1;
    }
    return 0;
}
