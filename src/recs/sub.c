/* sub.c - cross-instance wake-ups for recommendations: the process's
 * subscriber (pubsub.c) watches the recommendations namespace; a message's
 * channel is a key whose rebuild (on any instance) just finished or failed,
 * and a flight here waiting for it is woken through its owner's mailbox
 * (nc_recs_wake). */
#include <stdio.h>

#include "normcache/pubsub.h"
#include "recs_int.h"

static void sub_on_message(const char *channel, size_t len, void *ud)
{
    (void)ud;
    nc_recs_wake(channel, len);
}

int nc_recs_sub_watch(const struct nc_config *cfg)
{
    char pattern[NC_KEY_MAX];
    snprintf(pattern, sizeof pattern, "%s:%s:*", cfg->key_prefix, NC_RECS_NS);
    return nc_pubsub_watch(pattern, sub_on_message, NULL);
}
