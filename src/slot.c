/* slot.c - hash slots, redirects and CLUSTER SLOTS (see slot.h). */
#include "normcache/slot.h"

#include <stdio.h>
#include <string.h>

uint16_t nc_crc16(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

unsigned nc_slot_of(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t rest = len - (size_t)(open - key) - 1;
        const char *close = memchr(open + 1, '}', rest);
        if (close && close > open + 1)
            return nc_crc16(open + 1, (size_t)(close - open - 1)) & (NC_SLOTS - 1);
    }
    return nc_crc16(key, len) & (NC_SLOTS - 1);
}

/* Decimal digits s[0..n) into [min, max]. */
static int parse_uint(const char *s, size_t n, long min, long max, long *out)
{
    if (n == 0 || n > 6)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int host_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == ':' || c == '%'))
            return 0;
    }
    return 1;
}

int nc_slot_parse_redirect(const char *s, size_t len, struct nc_redirect *out)
{
    const char *end = s + len;
    const char *p;
    if (len > 6 && memcmp(s, "MOVED ", 6) == 0) {
        out->kind = NC_REDIRECT_MOVED;
        p = s + 6;
    } else if (len > 4 && memcmp(s, "ASK ", 4) == 0) {
        out->kind = NC_REDIRECT_ASK;
        p = s + 4;
    } else {
        return -1;
    }
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    long v;
    if (!sp || parse_uint(p, (size_t)(sp - p), 0, NC_SLOTS - 1, &v) != 0)
        return -1;
    out->slot = (unsigned)v;
    const char *ep = sp + 1; /* endpoint: host:port, [v6]:port, v6:port or :port */
    if (ep >= end)
        return -1;
    const char *colon = NULL;
    for (const char *q = end; q > ep; q--)
        if (q[-1] == ':') {
            colon = q - 1;
            break;
        }
    if (!colon || parse_uint(colon + 1, (size_t)(end - colon - 1), 1, 65535, &v) != 0)
        return -1;
    out->port = (int)v;
    const char *hs = ep, *he = colon;
    if (he - hs >= 2 && *hs == '[' && he[-1] == ']') {
        hs++;
        he--;
        if (he == hs)
            return -1;
    }
    size_t hl = (size_t)(he - hs);
    if (hl >= sizeof out->host || !host_ok(hs, hl))
        return -1;
    memcpy(out->host, hs, hl);
    out->host[hl] = '\0';
    return 0;
}

int nc_slot_map_node(struct nc_slot_map *m, const char *host, int port)
{
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].port == port && strcmp(m->nodes[i].host, host) == 0)
            return i;
    if (m->nnodes == NC_SLOT_NODES_MAX || strlen(host) >= NC_SLOT_HOST_MAX)
        return -1;
    snprintf(m->nodes[m->nnodes].host, NC_SLOT_HOST_MAX, "%s", host);
    m->nodes[m->nnodes].port = port;
    return m->nnodes++;
}

int nc_slot_parse_slots(const redisReply *r, const char *self_host, struct nc_slot_map *m,
                        char *err, size_t errlen)
{
    for (int i = 0; i < NC_SLOTS; i++)
        m->node[i] = NC_SLOT_NONE;
    m->nnodes = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "CLUSTER SLOTS: not an array");
        return -1;
    }
    int served = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (!e || e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER) {
            snprintf(err, errlen, "CLUSTER SLOTS: malformed range %zu", i);
            return -1;
        }
        long long lo = e->element[0]->integer, hi = e->element[1]->integer;
        const redisReply *n = e->element[2];
        if (lo < 0 || hi >= NC_SLOTS || lo > hi || n->type != REDIS_REPLY_ARRAY ||
            n->elements < 2 || n->element[0]->type != REDIS_REPLY_STRING ||
            n->element[1]->type != REDIS_REPLY_INTEGER || n->element[1]->integer < 1 ||
            n->element[1]->integer > 65535) {
            snprintf(err, errlen, "CLUSTER SLOTS: malformed range %zu", i);
            return -1;
        }
        const char *host = n->element[0]->str;
        size_t hl = n->element[0]->len;
        if (hl == 1 && host[0] == '?')
            continue; /* unknown endpoint: nobody to send these slots to */
        if (hl == 0) {
            host = self_host;
            hl = strlen(self_host);
        }
        if (hl >= NC_SLOT_HOST_MAX || !host_ok(host, hl) || memchr(host, '\0', hl)) {
            snprintf(err, errlen, "CLUSTER SLOTS: bad host in range %zu", i);
            return -1;
        }
        char h[NC_SLOT_HOST_MAX];
        memcpy(h, host, hl);
        h[hl] = '\0';
        int idx = nc_slot_map_node(m, h, (int)n->element[1]->integer);
        if (idx < 0) {
            snprintf(err, errlen, "CLUSTER SLOTS: more than %d masters", NC_SLOT_NODES_MAX);
            return -1;
        }
        for (long long s = lo; s <= hi; s++)
            m->node[s] = (uint16_t)idx;
        served = 1;
    }
    if (!served) {
        snprintf(err, errlen, "CLUSTER SLOTS: no slot served");
        return -1;
    }
    return 0;
}
