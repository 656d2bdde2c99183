/* fuzz_sentinel.c - what a sentinel (or a master) can feed the sentinel
 * client: +switch-master messages, and the replies to SENTINEL
 * get-master-addr-by-name and ROLE (sentinel.h). The first input byte picks
 * the parser; for replies the rest is RESP text, read by hiredis' own reader
 * as on a connection.
 *
 * Properties: a parsed address has a NUL-terminated host of printable
 * characters without blanks and a port 1..65535; a switch message about
 * our master, printed back ("<name> <old> <port> <host> <port>"), parses to
 * the same address; a refused reply always says why. */
#include "fuzz.h"

#include <hiredis/hiredis.h>

#include "normcache/sentinel.h"

static void check_host(const char *host)
{
    size_t n = strnlen(host, NC_SENTINEL_HOST_MAX);
    FUZZ_CHECK(n > 0 && n < NC_SENTINEL_HOST_MAX);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((unsigned char)host[i] > ' ' && (unsigned char)host[i] < 0x7f);
}

static void switch_msg(const uint8_t *data, size_t size)
{
    char host[NC_SENTINEL_HOST_MAX];
    int port = 0;
    int rc =
        nc_sentinel_parse_switch((const char *)data, size, "mymaster", host, sizeof host, &port);
    FUZZ_CHECK(rc >= -1 && rc <= 1);
    if (rc != 1)
        return;
    check_host(host);
    FUZZ_CHECK(port >= 1 && port <= 65535);
    char again[NC_SENTINEL_HOST_MAX + 64];
    int n = snprintf(again, sizeof again, "mymaster 10.0.0.1 1 %s %d", host, port);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof again);
    char host2[NC_SENTINEL_HOST_MAX];
    int port2 = 0;
    FUZZ_CHECK(
        nc_sentinel_parse_switch(again, (size_t)n, "mymaster", host2, sizeof host2, &port2) == 1);
    FUZZ_CHECK(port2 == port && strcmp(host2, host) == 0);
    /* Another master's name never matches. */
    FUZZ_CHECK(
        nc_sentinel_parse_switch(again, (size_t)n, "mymaster2", host2, sizeof host2, &port2) == 0);
}

static void reply_one(const redisReply *reply)
{
    char host[NC_SENTINEL_HOST_MAX], err[160];
    int port = 0;
    err[0] = '\0';
    if (nc_sentinel_parse_addr(reply, host, sizeof host, &port, err, sizeof err) == 0) {
        check_host(host);
        FUZZ_CHECK(port >= 1 && port <= 65535);
    } else {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL);
    }
    int m = nc_sentinel_role_is_master(reply);
    FUZZ_CHECK(m == 0 || m == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        fuzz_resp_each(data + 1, size - 1, reply_one);
    else
        switch_msg(data + 1, size - 1);
    return 0;
}
