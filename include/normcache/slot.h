/* slot.h - the Redis Cluster protocol's pure parts: the hash slot of a key
 * (CRC16-XMODEM mod 16384, hash tags honoured), the MOVED/ASK redirect
 * parser, and the CLUSTER SLOTS reply parser into a slot map.
 *
 * No I/O and no state: the cluster client (cluster.c) owns the map it
 * fills. Thread-safe. */
#ifndef NC_SLOT_H
#define NC_SLOT_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#define NC_SLOTS 16384
#define NC_SLOT_NODES_MAX 64 /* masters a map can name */
#define NC_SLOT_NONE 0xFFFF  /* a slot no master serves */
#define NC_SLOT_HOST_MAX 256

/* CRC16-CCITT (XMODEM: poly 0x1021, init 0), as the cluster spec. */
uint16_t nc_crc16(const void *buf, size_t len);

/* The slot of key[0..len): CRC16 of the hash tag - the text between the
 * first '{' and the next '}' when that text is not empty - or of the
 * whole key, mod 16384. */
unsigned nc_slot_of(const char *key, size_t len);

enum nc_redirect_kind { NC_REDIRECT_MOVED = 1, NC_REDIRECT_ASK = 2 };

struct nc_redirect {
    enum nc_redirect_kind kind;
    unsigned slot;
    char host[NC_SLOT_HOST_MAX]; /* "" when the node sent no endpoint: the one that replied */
    int port;
};

/* Parses an error reply's text "MOVED <slot> <host>:<port>" or "ASK ...";
 * the host may be an IPv6 address (the last ':' ends it) or bracketed.
 * Returns 0, or -1 when s is not a well-formed redirect. */
int nc_slot_parse_redirect(const char *s, size_t len, struct nc_redirect *out);

struct nc_slot_node {
    char host[NC_SLOT_HOST_MAX];
    int port;
};

/* Which master serves each slot: node[slot] indexes nodes[] (or is
 * NC_SLOT_NONE). */
struct nc_slot_map {
    uint16_t node[NC_SLOTS];
    struct nc_slot_node nodes[NC_SLOT_NODES_MAX];
    int nnodes;
};

/* Fills m from a CLUSTER SLOTS reply: an array of [start, end, [host,
 * port, id, ...], replicas...]. An empty host means self_host (the node
 * that answered); "?" (unknown endpoint) leaves that range unserved.
 * Returns 0, or -1 with a reason in err when the reply is malformed, names
 * more than NC_SLOT_NODES_MAX masters or serves no slot at all. */
int nc_slot_parse_slots(const redisReply *r, const char *self_host, struct nc_slot_map *m,
                        char *err, size_t errlen);

/* Index of host:port in m->nodes, adding it if new: -1 when full. */
int nc_slot_map_node(struct nc_slot_map *m, const char *host, int port);

#endif
