/* health.h - GET /healthz (the process serves) and GET /readyz (and whether
 * Redis answers a PING now). */
#ifndef NC_HEALTH_H
#define NC_HEALTH_H

#include "normcache/req.h"

extern const struct nc_handler nc_health_handler;

#endif
