/* config_parse.h - the value parsers behind the settings table (config.c).
 *
 * Each parser takes one value as text and either fills its output and
 * returns 0, or returns -1 with a message in err saying what is accepted
 * ("expected an integer from 1 to 65535"). A message never repeats the
 * value: only the caller knows the variable's name and whether its value
 * may be shown (secrets), so it writes the full line. Whole-string parses:
 * no leading blanks, no trailing junk, no silent overflow or clamping. */
#ifndef NC_CONFIG_PARSE_H
#define NC_CONFIG_PARSE_H

#include <stddef.h>

#include "normcache/normalise.h"

/* Largest TTL a namespace may be given (one year, as CACHE_TTL_SECONDS). */
#define NC_CONFIG_MAX_NS 64
#define NC_CONFIG_MAX_TOKENS 32

enum nc_log_level { NC_LOG_DEBUG = 0, NC_LOG_INFO, NC_LOG_WARN, NC_LOG_ERROR };

struct nc_ns_ttl {
    char ns[65];
    int ttl;
};
struct nc_ns_norm {
    char ns[65];
    enum nc_norm_mode mode;
};

/* REDIS_MODE. */
enum nc_redis_mode { NC_REDIS_STANDALONE = 0, NC_REDIS_CLUSTER, NC_REDIS_SENTINEL };

#define NC_REDIS_NODES_MAX 16

/* One host:port of REDIS_URL's list (cluster seeds, sentinels). */
struct nc_redis_node {
    char host[256];
    int port;
};

/* REDIS_URL's parts. host and port are the first node's. */
struct nc_redis_url {
    char host[256];
    int port;
    char user[128];
    char password[256];
    int db;
    struct nc_redis_node nodes[NC_REDIS_NODES_MAX];
    int nnodes;
};

#define NC_CONFIG_TTL_MAX 31536000

/* Decimal integer in [min, max]. */
int nc_config_parse_int(const char *s, long long min, long long max, long long *out, char *err,
                        size_t errlen);
/* Finite number (strtod syntax) in [min, max]. */
int nc_config_parse_double(const char *s, double min, double max, double *out, char *err,
                           size_t errlen);
/* true/1/yes -> 1, false/0/no -> 0. */
int nc_config_parse_bool(const char *s, int *out, char *err, size_t errlen);
/* A word from names[0..n): *out is its index. accepted is the list for the
 * message, e.g. "debug, info, warn or error". */
int nc_config_parse_word(const char *s, const char *const *names, int n, const char *accepted,
                         int *out, char *err, size_t errlen);
/* "text" or "basic". */
int nc_config_parse_norm(const char *s, enum nc_norm_mode *out, char *err, size_t errlen);
/* "debug", "info", "warn" or "error". */
int nc_config_parse_log_level(const char *s, enum nc_log_level *out, char *err, size_t errlen);

/* A numeric IPv4 or IPv6 address, copied into out[cap]. */
int nc_config_parse_bind(const char *s, char *out, size_t cap, char *err, size_t errlen);
/* A key prefix, [A-Za-z0-9_-]{1,NC_PREFIX_MAX}, copied into out[cap]. */
int nc_config_parse_prefix(const char *s, char *out, size_t cap, char *err, size_t errlen);
/* http:// or https:// base URL, copied into out[cap] without trailing '/'
 * (the caller appends paths). */
int nc_config_parse_upstream_url(const char *s, char *out, size_t cap, char *err, size_t errlen);

/* redis://[user[:password]@]host[:port][,host[:port]...][/db]: user and
 * password are percent-decoded (%00 refused), a host may be an [IPv6]
 * literal, port is 1..65535 (default 6379), db 0..15 (default 0), at most
 * NC_REDIS_NODES_MAX hosts. Whether a list is allowed is the mode's rule
 * (config.c). On -1 the fields may be half written. */
int nc_config_parse_redis_url(const char *s, struct nc_redis_url *cfg, char *err, size_t errlen);
/* standalone, cluster or sentinel. */
int nc_config_parse_redis_mode(const char *s, enum nc_redis_mode *out, char *err, size_t errlen);

/* Per-namespace maps "ns=value,ns=value": each namespace a valid key
 * segment and given once, values 1..NC_CONFIG_TTL_MAX seconds (ns_ttl) or
 * text|basic (ns_norm). Entries are appended to out[*n], at most cap in
 * all. The empty string is the empty map; an empty entry (",,", a leading
 * or trailing comma) is an error. */
int nc_config_parse_ns_ttl(const char *s, struct nc_ns_ttl *out, int cap, int *n, char *err,
                           size_t errlen);
int nc_config_parse_ns_norm(const char *s, struct nc_ns_norm *out, int cap, int *n, char *err,
                            size_t errlen);

/* Comma-separated bearer tokens: each non-empty, printable ASCII without
 * spaces, at most cap in all. Each token is appended as a malloc'd copy to
 * out[*n] with its length in lens[*n]; the caller frees them (also after
 * -1, when the tokens before the fault stay counted in *n). The empty
 * string is no tokens. */
int nc_config_parse_tokens(const char *s, char **out, size_t *lens, int cap, int *n, char *err,
                           size_t errlen);

#endif
