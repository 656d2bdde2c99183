/* config.h - the service's settings, read once from the environment at start
 * into one immutable struct and passed around as a const pointer.
 *
 * Every setting lives in one table (config.c) with its name, default, bounds
 * and help text; loading, validation, --help and the start-up log all walk
 * that table, so nothing else calls getenv(). The value parsers the table
 * uses are in config_parse.h. */
#ifndef NC_CONFIG_H
#define NC_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "normcache/config_parse.h"
#include "normcache/normalise.h"

struct nc_config {
    /* HTTP */
    int port;
    char bind_addr[64];
    int threads;
    size_t max_body_bytes;
    size_t max_query_bytes;
    int batch_max_items;   /* per _mget / _mset call */
    int lease_ttl_ms;      /* a lease's life in Redis */
    int lease_wait_ms;     /* a lease waiter's patience */
    int conn_timeout_s;    /* idle HTTP connections are closed after this */
    int conn_limit;        /* per worker */
    int header_timeout_s;  /* a request head must be complete within this */
    int conn_limit_per_ip; /* per client address, whole process; 0: none */
    char *auth_tokens[NC_CONFIG_MAX_TOKENS];
    size_t auth_token_lens[NC_CONFIG_MAX_TOKENS];
    int n_auth_tokens;
    /* Redis */
    int redis_enabled;
    enum nc_redis_mode redis_mode;
    /* REDIS_URL's hosts: the seeds (cluster), the sentinels, or the one
     * server (standalone: redis_nnodes is 1, the same as redis_host). */
    struct nc_redis_node redis_nodes[NC_REDIS_NODES_MAX];
    int redis_nnodes;
    char redis_host[256];
    int redis_port;
    char redis_user[128];
    char redis_password[256];
    int redis_db;
    int redis_connect_timeout_ms;
    int redis_timeout_ms;
    int breaker_failures;
    int breaker_cooldown_ms;
    char redis_sentinel_master[256];   /* sentinel mode: the master's name (required) */
    char redis_sentinel_password[256]; /* the sentinels' own requirepass; "": none */
    /* Cache */
    int ttl_s;
    int max_ttl_s;
    struct nc_ns_ttl ns_ttl[NC_CONFIG_MAX_NS];
    int n_ns_ttl;
    char key_prefix[33];
    unsigned char *key_secret;
    size_t key_secret_len;
    enum nc_norm_mode normalise;
    struct nc_ns_norm ns_norm[NC_CONFIG_MAX_NS];
    int n_ns_norm;
    /* Recommendations / upstream */
    char upstream_url[512];
    int upstream_timeout_ms;
    int upstream_max_inflight;
    int stale_grace_s;
    int negative_ttl_s;
    int ttl_jitter_pct;
    double early_refresh_beta;
    int lock_ttl_ms;
    int lock_wait_ms;
    /* Near cache (L1 in process memory) */
    int near_cache;
    size_t near_max_bytes;
    int near_max_ttl_ms;
    /* Operations */
    enum nc_log_level log_level;
    int log_requests;
    int shutdown_grace_ms;
};

/* Signature of the environment lookup (getenv in production; tests pass a
 * table). Returns NULL when the variable is not set. */
typedef const char *nc_config_getenv_fn(const char *name, void *ud);
/* The process environment (getenv), for production use. */
nc_config_getenv_fn nc_config_environ;

/* Fills cfg from the defaults and the environment. Returns 0, or -1 with a
 * one-line message in err naming the variable, the value (masked for
 * secrets) and what is accepted. cfg must be released with
 * nc_config_free() in both cases. */
int nc_config_load(struct nc_config *cfg, nc_config_getenv_fn *get, void *ud, char *err,
                   size_t errlen);
void nc_config_free(struct nc_config *cfg);

/* Effective TTL / normalisation for a namespace. */
int nc_config_ns_ttl(const struct nc_config *cfg, const char *ns);
enum nc_norm_mode nc_config_ns_norm(const struct nc_config *cfg, const char *ns);

/* --help text: every variable with default and help. */
void nc_config_print_help(FILE *out);
/* Appends the effective config as JSON members ("NAME":"value",...) with
 * secrets masked. */
struct nc_buf;
int nc_config_describe(const struct nc_config *cfg, struct nc_buf *out);

#endif
