/* config_parse.c - the value parsers behind the settings table (see
 * config_parse.h): numbers with bounds, booleans, words, addresses and URLs,
 * per-namespace maps and token lists. They know nothing of variable names or
 * the environment; config.c turns their "expected ..." into a line naming
 * the variable. */
#include "normcache/config_parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normcache/key.h"
#include "normcache/pct.h"

/* Whole-string decimal parse: strtoll alone would skip leading blanks,
 * stop at junk and saturate on overflow. */
static int whole_ll(const char *s, long long *out)
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

int nc_config_parse_int(const char *s, long long min, long long max, long long *out, char *err,
                        size_t errlen)
{
    long long v;
    if (whole_ll(s, &v) != 0 || v < min || v > max) {
        snprintf(err, errlen, "expected an integer from %lld to %lld", min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int nc_config_parse_double(const char *s, double min, double max, double *out, char *err,
                           size_t errlen)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(d) || d < min || d > max) {
        snprintf(err, errlen, "expected a number from %g to %g", min, max);
        return -1;
    }
    *out = d;
    return 0;
}

int nc_config_parse_bool(const char *s, int *out, char *err, size_t errlen)
{
    static const char *const names[] = {"false", "true", "0", "1", "no", "yes"};
    int i;
    if (nc_config_parse_word(s, names, 6, "true or false", &i, err, errlen) != 0)
        return -1;
    *out = i % 2;
    return 0;
}

int nc_config_parse_word(const char *s, const char *const *names, int n, const char *accepted,
                         int *out, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
    snprintf(err, errlen, "expected %s", accepted);
    return -1;
}

int nc_config_parse_norm(const char *s, enum nc_norm_mode *out, char *err, size_t errlen)
{
    static const char *const names[] = {"text", "basic"};
    int i;
    if (nc_config_parse_word(s, names, 2, "text or basic", &i, err, errlen) != 0)
        return -1;
    *out = i ? NC_NORM_BASIC : NC_NORM_TEXT;
    return 0;
}

int nc_config_parse_log_level(const char *s, enum nc_log_level *out, char *err, size_t errlen)
{
    /* In enum order. */
    static const char *const names[] = {"debug", "info", "warn", "error"};
    int i;
    if (nc_config_parse_word(s, names, 4, "debug, info, warn or error", &i, err, errlen) != 0)
        return -1;
    *out = (enum nc_log_level)i;
    return 0;
}

int nc_config_parse_bind(const char *s, char *out, size_t cap, char *err, size_t errlen)
{
    unsigned char tmp[16];
    size_t n = strlen(s);
    if (n >= cap || (inet_pton(AF_INET, s, tmp) != 1 && inet_pton(AF_INET6, s, tmp) != 1)) {
        snprintf(err, errlen, "expected an IPv4 or IPv6 address");
        return -1;
    }
    memcpy(out, s, n + 1);
    return 0;
}

int nc_config_parse_prefix(const char *s, char *out, size_t cap, char *err, size_t errlen)
{
    size_t n = strlen(s);
    if (n >= cap || !nc_ident_valid(s, n, NC_PREFIX_MAX)) {
        snprintf(err, errlen, "expected 1 to %d characters from [A-Za-z0-9_-]", NC_PREFIX_MAX);
        return -1;
    }
    memcpy(out, s, n + 1);
    return 0;
}

int nc_config_parse_upstream_url(const char *s, char *out, size_t cap, char *err, size_t errlen)
{
    size_t n = strlen(s);
    size_t scheme = strncmp(s, "http://", 7) == 0 ? 7 : strncmp(s, "https://", 8) == 0 ? 8 : 0;
    /* After the scheme comes the host: "http:///x" or "http://:81" has none. */
    if (!scheme || n == scheme || strchr("/?#:", s[scheme]) || n >= cap || strchr(s, ' ')) {
        snprintf(err, errlen, "expected an http:// or https:// base URL");
        return -1;
    }
    memcpy(out, s, n + 1);
    while (n > scheme && out[n - 1] == '/')
        out[--n] = '\0';
    return 0;
}

/* Percent-decodes a REDIS_URL user or password into dst[cap]; -1 on a bad
 * escape, %00, or when it does not fit. */
static int userinfo_decode(const char *src, size_t n, char *dst, size_t cap)
{
    return n < cap && nc_pct_decode(dst, src, n, NC_PCT_NO_NUL) >= 0 ? 0 : -1;
}

/* The number in s[0..n) into [min, max]. */
static int span_ll(const char *s, size_t n, long long min, long long max, int *out)
{
    char tmp[16];
    long long v;
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (whole_ll(tmp, &v) != 0 || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

/* One node "host[:port]" or "[v6][:port]" of s[0..n). */
static int parse_node(const char *p, const char *end, struct nc_redis_node *node)
{
    const char *portsep;
    const char *hstart = p, *hend;
    if (p < end && *p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb)
            return -1;
        hstart = p + 1;
        hend = rb;
        portsep = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
        if (!portsep && rb + 1 != end)
            return -1;
    } else {
        portsep = memchr(p, ':', (size_t)(end - p));
        hend = portsep ? portsep : end;
    }
    size_t hl = (size_t)(hend - hstart);
    if (hl == 0 || hl >= sizeof node->host)
        return -1;
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)hstart[i];
        if (!(isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':'))
            return -1;
    }
    memcpy(node->host, hstart, hl);
    node->host[hl] = '\0';
    node->port = 6379;
    if (portsep && span_ll(portsep + 1, (size_t)(end - portsep - 1), 1, 65535, &node->port) != 0)
        return -1;
    return 0;
}

int nc_config_parse_redis_url(const char *s, struct nc_redis_url *u, char *err, size_t errlen)
{
    if (strncmp(s, "redis://", 8) != 0)
        goto bad;
    const char *p = s + 8;
    const char *slash = strchr(p, '/');
    const char *hostend = slash ? slash : p + strlen(p);
    /* The last '@' before the path: a password may contain a raw '@'. */
    const char *at = memrchr(p, '@', (size_t)(hostend - p));
    u->user[0] = u->password[0] = '\0';
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        if (userinfo_decode(p, (size_t)(uend - p), u->user, sizeof u->user) != 0)
            goto bad;
        if (colon && userinfo_decode(colon + 1, (size_t)(at - colon - 1), u->password,
                                     sizeof u->password) != 0)
            goto bad;
        p = at + 1;
    }
    u->nnodes = 0;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(hostend - p));
        const char *end = comma ? comma : hostend;
        if (u->nnodes == NC_REDIS_NODES_MAX || parse_node(p, end, &u->nodes[u->nnodes]) != 0)
            goto bad;
        u->nnodes++;
        if (!comma)
            break;
        p = comma + 1;
    }
    memcpy(u->host, u->nodes[0].host, sizeof u->host);
    u->port = u->nodes[0].port;
    u->db = 0;
    if (slash && slash[1] && span_ll(slash + 1, strlen(slash + 1), 0, 15, &u->db) != 0)
        goto bad;
    return 0;
bad:
    snprintf(err, errlen,
             "expected redis://[user[:password]@]host[:port][,host[:port]...][/db] with port "
             "1..65535, db 0..15 and at most %d hosts",
             NC_REDIS_NODES_MAX);
    return -1;
}

int nc_config_parse_redis_mode(const char *s, enum nc_redis_mode *out, char *err, size_t errlen)
{
    /* In enum order. */
    static const char *const names[] = {"standalone", "cluster", "sentinel"};
    int i;
    if (nc_config_parse_word(s, names, 3, "standalone, cluster or sentinel", &i, err, errlen) != 0)
        return -1;
    *out = (enum nc_redis_mode)i;
    return 0;
}

/* Where a per-namespace map's entries go: out[*n], at most cap. */
struct ns_map {
    void *out;
    int cap;
    int *n;
};

/* Splits "a=1,b=2" and hands each namespace and value to add. */
static int each_pair(const char *s, struct ns_map *m,
                     int (*add)(struct ns_map *m, const char *ns, const char *v),
                     const char *accepted, char *err, size_t errlen)
{
    if (!*s)
        return 0;
    char *copy = strdup(s);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (char *p = copy;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        /* An empty entry (",,", a leading or trailing comma) has no '='. */
        char *eq = strchr(p, '=');
        if (!eq || !nc_ns_valid(p, (size_t)(eq - p)) || !eq[1] || *m->n >= m->cap) {
            rc = -1;
            break;
        }
        *eq = '\0';
        if (add(m, p, eq + 1) != 0) {
            rc = -1;
            break;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    free(copy);
    if (rc)
        snprintf(err, errlen, "expected %s", accepted);
    return rc;
}

static int add_ns_ttl(struct ns_map *m, const char *ns, const char *v)
{
    struct nc_ns_ttl *out = m->out;
    long long t;
    if (whole_ll(v, &t) != 0 || t < 1 || t > NC_CONFIG_TTL_MAX)
        return -1;
    for (int i = 0; i < *m->n; i++)
        if (strcmp(out[i].ns, ns) == 0)
            return -1;
    strcpy(out[*m->n].ns, ns); /* nc_ns_valid bounds it by sizeof ns */
    out[(*m->n)++].ttl = (int)t;
    return 0;
}

int nc_config_parse_ns_ttl(const char *s, struct nc_ns_ttl *out, int cap, int *n, char *err,
                           size_t errlen)
{
    char acc[160];
    snprintf(acc, sizeof acc,
             "a comma-separated list of <namespace>=<seconds 1..%d>, each namespace once, at "
             "most %d",
             NC_CONFIG_TTL_MAX, cap);
    struct ns_map m = {out, cap, n};
    return each_pair(s, &m, add_ns_ttl, acc, err, errlen);
}

static int add_ns_norm(struct ns_map *m, const char *ns, const char *v)
{
    struct nc_ns_norm *out = m->out;
    enum nc_norm_mode mode;
    char why[64];
    if (nc_config_parse_norm(v, &mode, why, sizeof why) != 0)
        return -1;
    for (int i = 0; i < *m->n; i++)
        if (strcmp(out[i].ns, ns) == 0)
            return -1;
    strcpy(out[*m->n].ns, ns); /* nc_ns_valid bounds it by sizeof ns */
    out[(*m->n)++].mode = mode;
    return 0;
}

int nc_config_parse_ns_norm(const char *s, struct nc_ns_norm *out, int cap, int *n, char *err,
                            size_t errlen)
{
    char acc[128];
    snprintf(acc, sizeof acc,
             "a comma-separated list of <namespace>=text|basic, each namespace once, at most %d",
             cap);
    struct ns_map m = {out, cap, n};
    return each_pair(s, &m, add_ns_norm, acc, err, errlen);
}

int nc_config_parse_tokens(const char *s, char **out, size_t *lens, int cap, int *n, char *err,
                           size_t errlen)
{
    if (!*s)
        return 0;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int ok = len > 0 && *n < cap;
        for (size_t i = 0; ok && i < len; i++)
            ok = p[i] > 0x20 && p[i] < 0x7f; /* token68-ish: printable, no spaces */
        if (!ok) {
            snprintf(err, errlen,
                     "expected a comma-separated list of at most %d non-empty printable tokens",
                     cap);
            return -1;
        }
        char *t = strndup(p, len);
        if (!t) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        out[*n] = t;
        lens[(*n)++] = len;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}
