/* server.h - the worker threads: each runs one epoll loop holding its own
 * libmicrohttpd daemon (external epoll mode, sharing the port through
 * SO_REUSEPORT) and its own async Redis connection. */
#ifndef NC_SERVER_H
#define NC_SERVER_H

#include <stddef.h>

#include "normcache/config.h"

struct nc_server;

/* Binds and starts cfg->threads workers. Returns 0 and *out, or -1 with a
 * message in err (port in use, bad address, out of memory). cfg must
 * outlive the server. */
int nc_server_start(const struct nc_config *cfg, struct nc_server **out, char *err, size_t errlen);

/* Graceful stop: stop accepting, let in-flight requests finish for up to
 * SHUTDOWN_GRACE_MS, then answer every request still waiting (stale copy
 * or 503 shutting_down), close Redis connections, join the workers, free
 * (the phases: server.c). */
void nc_server_stop(struct nc_server *srv);

/* The port actually bound (useful with PORT=0). */
int nc_server_port(const struct nc_server *srv);

#endif
