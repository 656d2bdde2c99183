/* normcache - entry point: flags, config, start, wait for a signal, stop. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "normcache/buf.h"
#include "normcache/config.h"
#include "normcache/log.h"
#include "normcache/server.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: normcache [--help | --version | --healthcheck]\n"
                 "Normalising HTTP cache in front of Redis. Configured by environment.\n\n");
    nc_config_print_help(out);
}

/* GET /healthz on the configured port, for container HEALTHCHECKs (no curl
 * in the runtime image). 0 when it answers 200 within two seconds. */
static int healthcheck(const struct nc_config *cfg)
{
    int v6 = strchr(cfg->bind_addr, ':') != NULL;
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 1;
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)cfg->port)};
    int unspecified = !strcmp(cfg->bind_addr, "0.0.0.0") || !strcmp(cfg->bind_addr, "::");
    if (v6)
        inet_pton(AF_INET6, unspecified ? "::1" : cfg->bind_addr, &a6.sin6_addr);
    else
        inet_pton(AF_INET, unspecified ? "127.0.0.1" : cfg->bind_addr, &a4.sin_addr);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int rc = v6 ? connect(fd, (struct sockaddr *)&a6, sizeof a6)
                : connect(fd, (struct sockaddr *)&a4, sizeof a4);
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    char buf[64] = {0};
    if (rc == 0 && write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        rc = n >= 12 && strncmp(buf + 9, "200", 3) == 0 ? 0 : 1;
    } else {
        rc = 1;
    }
    close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    int check = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("normcache %s\n", NC_VERSION);
            return 0;
        }
        if (!strcmp(argv[i], "--healthcheck")) {
            check = 1;
            continue;
        }
        fprintf(stderr, "normcache: unknown argument %s\n", argv[i]);
        usage(stderr);
        return 2;
    }

    struct nc_config cfg;
    char err[512];
    if (nc_config_load(&cfg, nc_config_environ, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "normcache: %s\n", err);
        nc_config_free(&cfg);
        return 2;
    }
    if (check) {
        int rc = healthcheck(&cfg);
        nc_config_free(&cfg);
        return rc;
    }
    nc_log_set_level(cfg.log_level);

    /* Before any thread exists: a write to a dead Redis must be an error
     * return, not a process kill; and only main takes the stop signals. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    struct nc_server *srv;
    if (nc_server_start(&cfg, &srv, err, sizeof err) != 0) {
        nc_logf(NC_LOG_ERROR, "cannot start: %s", err);
        nc_config_free(&cfg);
        return 1;
    }
    struct nc_buf desc;
    nc_buf_init(&desc);
    nc_buf_printf(&desc, "\"version\":\"%s\",\"port\":%d,\"config\":{", NC_VERSION,
                  nc_server_port(srv));
    nc_config_describe(&cfg, &desc);
    nc_buf_appendc(&desc, '}');
    nc_log_write(NC_LOG_INFO, "normcache started", desc.data);
    nc_buf_free(&desc);

    /* One signal starts the stop. The signals stay blocked in every thread,
     * so a second one during the grace period is ignored (not fatal): the
     * grace period already bounds the stop. */
    int sig = 0;
    sigwait(&stop, &sig);
    nc_logf(NC_LOG_INFO, "received %s: stopping (grace %d ms)",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", cfg.shutdown_grace_ms);
    nc_server_stop(srv);
    nc_log_write(NC_LOG_INFO, "normcache stopped", NULL);
    nc_config_free(&cfg);
    return 0;
}
