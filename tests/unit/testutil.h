/* testutil.h - helpers shared by the unit tests that load a config or talk
 * to a socket: a table standing in for the environment, a free loopback
 * port, and a connect probe. Header-only (static), like vectors.h. */
#ifndef NC_TEST_UTIL_H
#define NC_TEST_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
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

/* A throwaway redis-server on a free loopback port, in a temporary folder
 * of its own (tests never share or mock Redis). */
struct test_redis {
    pid_t pid;
    int port;
    char dir[64];
};

/* Starts it on port (0: a free one) and waits until it accepts connections
 * (at most 5 s). 0 or -1. */
static inline int test_redis_start_on(struct test_redis *t, int port_wanted)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/nc-test-redis-XXXXXX");
    if (!mkdtemp(t->dir))
        return -1;
    t->port = port_wanted ? port_wanted : test_free_port();
    char port[16];
    snprintf(port, sizeof port, "%d", t->port);
    t->pid = fork();
    if (t->pid == 0) {
        /* its start-up banner would mix with the test's own report */
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", t->dir, "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        int fd = test_connect(t->port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        usleep(10000);
    }
    fprintf(stderr, "redis-server did not start on port %d\n", t->port);
    return -1;
}

static inline int test_redis_start(struct test_redis *t)
{
    return test_redis_start_on(t, 0);
}

/* Stops it (also when stopped with SIGSTOP) and removes its folder. */
static inline int test_redis_stop(struct test_redis *t)
{
    if (t->pid > 0) {
        kill(t->pid, SIGCONT);
        kill(t->pid, SIGTERM);
        waitpid(t->pid, NULL, 0);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", t->dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
