/* iplimit.c - connections per client address for the whole process (see
 * iplimit.h): a chained hash table under one mutex. */
#include "normcache/iplimit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "normcache/hash.h"

#define IPLIMIT_BUCKETS 4096 /* a power of two */

struct iplimit_entry {
    unsigned char key[NC_IPLIMIT_KEY];
    int count;
    struct iplimit_entry *next;
};

struct nc_iplimit {
    pthread_mutex_t lock;
    int cap;
    struct iplimit_entry *buckets[IPLIMIT_BUCKETS];
};

struct nc_iplimit *nc_iplimit_new(int cap)
{
    struct nc_iplimit *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    pthread_mutex_init(&t->lock, NULL);
    t->cap = cap < 1 ? 1 : cap;
    return t;
}

void nc_iplimit_free(struct nc_iplimit *t)
{
    if (!t)
        return;
    for (int i = 0; i < IPLIMIT_BUCKETS; i++)
        while (t->buckets[i]) {
            struct iplimit_entry *e = t->buckets[i];
            t->buckets[i] = e->next;
            free(e);
        }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

int nc_iplimit_key(const struct sockaddr *sa, socklen_t len, unsigned char key[NC_IPLIMIT_KEY])
{
    if (!sa)
        return -1;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        memset(key, 0, 10);
        key[10] = key[11] = 0xFF;
        memcpy(key + 12, &a->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, NC_IPLIMIT_KEY);
        return 0;
    }
    return -1;
}

/* The entry's link in its bucket chain (*link NULL when absent). Caller
 * holds the lock. */
static struct iplimit_entry **iplimit_find(struct nc_iplimit *t,
                                           const unsigned char key[NC_IPLIMIT_KEY])
{
    struct iplimit_entry **link =
        &t->buckets[nc_fnv1a64(key, NC_IPLIMIT_KEY) & (IPLIMIT_BUCKETS - 1)];
    while (*link && memcmp((*link)->key, key, NC_IPLIMIT_KEY) != 0)
        link = &(*link)->next;
    return link;
}

int nc_iplimit_count(struct nc_iplimit *t, const unsigned char key[NC_IPLIMIT_KEY])
{
    pthread_mutex_lock(&t->lock);
    struct iplimit_entry *e = *iplimit_find(t, key);
    int n = e ? e->count : 0;
    pthread_mutex_unlock(&t->lock);
    return n;
}

int nc_iplimit_room(struct nc_iplimit *t, const unsigned char key[NC_IPLIMIT_KEY])
{
    return nc_iplimit_count(t, key) < t->cap;
}

int nc_iplimit_acquire(struct nc_iplimit *t, const unsigned char key[NC_IPLIMIT_KEY])
{
    int rc = -1;
    pthread_mutex_lock(&t->lock);
    struct iplimit_entry **link = iplimit_find(t, key);
    if (*link) {
        if ((*link)->count < t->cap) {
            (*link)->count++;
            rc = 0;
        }
    } else {
        struct iplimit_entry *e = calloc(1, sizeof *e);
        if (e) {
            memcpy(e->key, key, NC_IPLIMIT_KEY);
            e->count = 1;
            *link = e;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void nc_iplimit_release(struct nc_iplimit *t, const unsigned char key[NC_IPLIMIT_KEY])
{
    pthread_mutex_lock(&t->lock);
    struct iplimit_entry **link = iplimit_find(t, key);
    struct iplimit_entry *e = *link;
    if (e && --e->count <= 0) {
        *link = e->next;
        free(e);
    }
    pthread_mutex_unlock(&t->lock);
}
