/* testutil.h - helpers shared by the unit tests that load a config or talk
 * to a socket: a table standing in for the environment, a free loopback
 * port, and a connect probe. Header-only (static), like vectors.h. */
#ifndef NC_TEST_UTIL_H
#define NC_TEST_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A NULL-terminated list of NAME, VALUE pairs stands in for the
 * environment (an nc_config_getenv_fn; ud is the list, may be NULL). */
static inline const char *test_kv_get(const char *name, void *ud)
{
    const char **kv = ud;
    for (; kv && kv[0]; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

/* A loopback TCP port nothing listens on right now, or -1. */
static inline int test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, len) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* A socket connected to 127.0.0.1:port, or -1. */
static inline int test_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

#endif
