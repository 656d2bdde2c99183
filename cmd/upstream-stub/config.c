/*
 * config.c - the stub's settings: one table of STUB_* environment variables
 * drives loading, validation and --help. A bad value is one stderr line
 * naming the variable, the value and what is accepted.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "stub.h"

enum setting_type { SET_PORT, SET_ADDR, SET_LATENCY, SET_RATE };

struct setting {
    const char *name;
    enum setting_type type;
    const char *def;
    const char *accepted; /* what a valid value looks like, for errors and --help */
    const char *help;
};

static const struct setting settings[] = {
    {"STUB_PORT", SET_PORT, "8081", "an integer 0..65535 (0: any free port)",
     "TCP port to listen on"},
    {"STUB_BIND_ADDR", SET_ADDR, "127.0.0.1", "a numeric IPv4 or IPv6 address",
     "address to listen on"},
    {"STUB_LATENCY_MS", SET_LATENCY, "150", "an integer 0..3600000",
     "delay before each /recommendations answer (PUT /mode changes it)"},
    {"STUB_FAIL_RATE", SET_RATE, "0", "a number 0..1",
     "probability that a /recommendations answer in mode ok is a 500"},
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

int stub_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    if (s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Strict probability: a finite decimal number in [0, 1], nothing around it. */
static int parse_rate(const char *s, double *out)
{
    char *end;
    double v;

    if ((s[0] < '0' || s[0] > '9') && s[0] != '.')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0.0 || v > 1.0)
        return -1;
    *out = v;
    return 0;
}

static int parse_addr(const char *s, struct stub_config *cfg)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)&cfg->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&cfg->addr;

    memset(&cfg->addr, 0, sizeof(cfg->addr));
    if (inet_pton(AF_INET, s, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        cfg->addr_len = sizeof(*in4);
        return 0;
    }
    if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        cfg->addr_len = sizeof(*in6);
        return 0;
    }
    return -1;
}

static int setting_apply(const struct setting *set, const char *value, struct stub_config *cfg)
{
    long v;

    switch (set->type) {
    case SET_PORT:
        if (stub_parse_long(value, 0, 65535, &v) != 0)
            return -1;
        cfg->port = (unsigned)v;
        return 0;
    case SET_ADDR:
        if (strlen(value) >= sizeof(cfg->addr_text) || parse_addr(value, cfg) != 0)
            return -1;
        strcpy(cfg->addr_text, value);
        return 0;
    case SET_LATENCY:
        return stub_parse_long(value, 0, STUB_LATENCY_MAX_MS, &cfg->latency_ms);
    case SET_RATE:
        return parse_rate(value, &cfg->fail_rate);
    }
    return -1;
}

/*
 * An unset variable takes its default; a set but empty one is invalid, like
 * any other bad value, so that a typo never silently becomes a default.
 */
int stub_config_load(struct stub_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *value = getenv(settings[i].name);

        if (value == NULL)
            value = settings[i].def;
        if (setting_apply(&settings[i], value, cfg) != 0) {
            fprintf(stderr, STUB_PROG ": invalid %s=\"%s\": expected %s\n", settings[i].name, value,
                    settings[i].accepted);
            return -1;
        }
    }
    if (cfg->addr.ss_family == AF_INET)
        ((struct sockaddr_in *)&cfg->addr)->sin_port = htons((uint16_t)cfg->port);
    else
        ((struct sockaddr_in6 *)&cfg->addr)->sin6_port = htons((uint16_t)cfg->port);
    return 0;
}

void stub_config_usage(FILE *out)
{
    fprintf(out, "usage: " STUB_PROG " [--help]\n\n"
                 "A stand-in for the product service behind normcache.\n\n"
                 "Environment:\n");
    for (size_t i = 0; i < N_SETTINGS; i++)
        fprintf(out, "  %-16s %s\n  %-16s default %s; %s\n", settings[i].name, settings[i].help, "",
                settings[i].def, settings[i].accepted);
    fprintf(out, "\nRoutes:\n"
                 "  GET /recommendations?query=<text>[&limit=1..50]   deterministic items\n"
                 "  GET /stats                  {\"calls\": N}, recommendation requests so far\n"
                 "  GET /mode, PUT /mode        {\"mode\": "
                 "\"ok\"|\"fail\"|\"notfound\"|\"hang\"|\"garbage\"\n"
                 "                               |\"huge\"|\"truncate\"|\"trickle\",\n"
                 "                               \"latency_ms\": N, \"fail_rate\": 0..1}\n"
                 "  GET /healthz                200\n");
}
