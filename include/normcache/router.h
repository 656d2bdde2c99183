/* router.h - the route table and libmicrohttpd's callbacks for one worker.
 *
 * Every request goes through the same checks in one order: framing (400),
 * route (404), authentication for /cache (401), method (405 with Allow),
 * query-string decoding (400); then the route's handler (req.h) runs. The
 * callbacks' cls is the worker (struct nc_worker *). */
#ifndef NC_ROUTER_H
#define NC_ROUTER_H

#include <microhttpd.h>
#include <stdint.h>

#include "normcache/config.h"
#include "normcache/worker.h"

/* Largest header block (every "name: value" line) and most header fields
 * the service accepts: 431 problem beyond. */
#define NC_ROUTER_HEADERS_MAX 8192
#define NC_ROUTER_HEADERS_COUNT_MAX 100
/* Longest request target (path and query, as sent): 414 problem beyond. */
size_t nc_router_uri_max(const struct nc_config *cfg);
/* The connection memory to give libmicrohttpd
 * (MHD_OPTION_CONNECTION_MEMORY_LIMIT): room for both limits above, so
 * that the service, not the library, refuses what exceeds them. */
size_t nc_router_conn_memory(const struct nc_config *cfg);

enum MHD_Result nc_router_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **req_cls);
void *nc_router_uri_log(void *cls, const char *uri, struct MHD_Connection *conn);
void nc_router_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe);
/* Accept policy (MHD_start_daemon's apc): HTTP_MAX_CONNECTIONS_PER_IP. */
enum MHD_Result nc_router_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
/* Called by the worker's loop every pass: closes (with a 408) the
 * connections whose request head is overdue. Cheap between its checks,
 * which run at most every 250 ms. */
void nc_router_sweep(struct nc_worker *w, int64_t now_ms);
void nc_router_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code);

#endif
