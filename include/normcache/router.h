/* router.h - the route table and libmicrohttpd's callbacks for one worker.
 *
 * Every request goes through the same checks in one order: framing (400),
 * route (404), authentication for /cache (401), method (405 with Allow),
 * query-string decoding (400); then the route's handler (req.h) runs. The
 * callbacks' cls is the worker (struct nc_worker *). */
#ifndef NC_ROUTER_H
#define NC_ROUTER_H

#include <microhttpd.h>

enum MHD_Result nc_router_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **req_cls);
void *nc_router_uri_log(void *cls, const char *uri, struct MHD_Connection *conn);
void nc_router_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe);
void nc_router_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code);

#endif
