/* cache.h - the /cache/<ns> handler: GET (hit/miss/bypass), PUT, DELETE of
 * one entry and flush of a namespace. */
#ifndef NC_CACHE_H
#define NC_CACHE_H

#include "normcache/req.h"

extern const struct nc_handler nc_cache_handler;

#endif
