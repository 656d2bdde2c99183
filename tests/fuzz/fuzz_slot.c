/* fuzz_slot.c - what a Redis Cluster node can feed the cluster client: the
 * MOVED/ASK redirect parser and the CLUSTER SLOTS reply parser (slot.h).
 * The first input byte picks the parser; for CLUSTER SLOTS the rest is RESP
 * text, read into replies by hiredis' own reader as on a connection.
 *
 * Properties: a redirect parses to a slot below 16384, a port 1..65535 and
 * a NUL-terminated host, and printing it back ("MOVED <slot> <host>:<port>")
 * parses to the same; a slot map names at most NC_SLOT_NODES_MAX masters,
 * every slot is unserved or names one of them, and the parse fails with a
 * message or succeeds - never half. nc_slot_of stays below 16384. */
#include "fuzz.h"

#include <hiredis/hiredis.h>

#include "normcache/slot.h"

static void redirect(const uint8_t *data, size_t size)
{
    struct nc_redirect r;
    FUZZ_CHECK(nc_slot_of((const char *)data, size) < NC_SLOTS);
    if (nc_slot_parse_redirect((const char *)data, size, &r) != 0)
        return;
    FUZZ_CHECK(r.kind == NC_REDIRECT_MOVED || r.kind == NC_REDIRECT_ASK);
    FUZZ_CHECK(r.slot < NC_SLOTS);
    FUZZ_CHECK(r.port >= 1 && r.port <= 65535);
    FUZZ_CHECK(memchr(r.host, '\0', sizeof r.host) != NULL);
    char again[400];
    int n = snprintf(again, sizeof again, "%s %u %s:%d",
                     r.kind == NC_REDIRECT_MOVED ? "MOVED" : "ASK", r.slot, r.host, r.port);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof again);
    struct nc_redirect r2;
    FUZZ_CHECK(nc_slot_parse_redirect(again, (size_t)n, &r2) == 0);
    FUZZ_CHECK(r2.kind == r.kind && r2.slot == r.slot && r2.port == r.port);
    FUZZ_CHECK(strcmp(r2.host, r.host) == 0);
}

static struct nc_slot_map map;

static void slots_one(const redisReply *reply)
{
    char err[128];
    err[0] = '\0';
    if (nc_slot_parse_slots(reply, "self", &map, err, sizeof err) == 0) {
        FUZZ_CHECK(map.nnodes >= 1 && map.nnodes <= NC_SLOT_NODES_MAX);
        for (int s = 0; s < NC_SLOTS; s++)
            FUZZ_CHECK(map.node[s] == NC_SLOT_NONE || map.node[s] < map.nnodes);
        for (int k = 0; k < map.nnodes; k++) {
            FUZZ_CHECK(map.nodes[k].port >= 1 && map.nodes[k].port <= 65535);
            FUZZ_CHECK(memchr(map.nodes[k].host, '\0', NC_SLOT_HOST_MAX) != NULL);
            FUZZ_CHECK(map.nodes[k].host[0] != '\0');
        }
    } else {
        FUZZ_CHECK(err[0] != '\0');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        fuzz_resp_each(data + 1, size - 1, slots_one);
    else
        redirect(data + 1, size - 1);
    return 0;
}
