/* near_sync.c - the near cache's tracking generation and invalidation
 * hooks (see near_sync.h). */
#include "normcache/near_sync.h"

#include <pthread.h>
#include <stdio.h>

#include "normcache/clock.h"
#include "normcache/conn.h"
#include "normcache/near.h"

static atomic_uint cur_gen;   /* 0: unusable */
static unsigned last_gen;     /* under id_lock: generations handed out */
static long long cur_id = -1; /* under id_lock */
static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;

unsigned nc_near_sync_gen(void)
{
    return atomic_load_explicit(&cur_gen, memory_order_acquire);
}

const atomic_uint *nc_near_sync_gen_ptr(void)
{
    return &cur_gen;
}

unsigned nc_near_sync_current(long long *id)
{
    pthread_mutex_lock(&id_lock);
    unsigned g = atomic_load(&cur_gen);
    if (g)
        *id = cur_id;
    pthread_mutex_unlock(&id_lock);
    return g;
}

unsigned nc_near_sync_up(struct nc_near *n, long long id)
{
    /* Emptied before the generation is usable: nothing read under an
     * earlier subscription survives it. */
    if (n)
        nc_near_clear(n);
    pthread_mutex_lock(&id_lock);
    if (++last_gen == 0)
        last_gen = 1; /* 0 stays "unusable" */
    cur_id = id;
    atomic_store_explicit(&cur_gen, last_gen, memory_order_release);
    unsigned g = last_gen;
    pthread_mutex_unlock(&id_lock);
    return g;
}

void nc_near_sync_down(struct nc_near *n)
{
    /* Unusable first: a put that passes its generation check after this
     * line carries a token older than the clear below, which refuses it. */
    pthread_mutex_lock(&id_lock);
    atomic_store_explicit(&cur_gen, 0, memory_order_release);
    cur_id = -1;
    pthread_mutex_unlock(&id_lock);
    if (n)
        nc_near_clear(n);
}

void nc_near_sync_key(struct nc_near *n, const char *key, size_t len)
{
    if (n)
        nc_near_drop(n, key, len);
}

void nc_near_sync_all(struct nc_near *n)
{
    if (n)
        nc_near_clear(n);
}

void nc_near_sync_reset(void)
{
    nc_near_sync_down(NULL);
}

int nc_near_sync_track(struct nc_conn *c, void *ud)
{
    unsigned *conn_gen = ud;
    long long id;
    unsigned g = nc_near_sync_current(&id);
    *conn_gen = 0;
    if (!g)
        return 0; /* unusable: no read fills the near cache anyway */
    char ids[24];
    int n = snprintf(ids, sizeof ids, "%lld", id);
    const char *argv[5] = {"CLIENT", "TRACKING", "on", "REDIRECT", ids};
    const size_t lens[5] = {6, 8, 2, 8, (size_t)n};
    if (nc_conn_send_internal(c, NULL, NULL, 5, argv, lens) != 0)
        return -1;
    *conn_gen = g;
    return 0;
}

void nc_near_read_begin(struct nc_near *n, const char *key, size_t klen, struct nc_near_read *rd)
{
    rd->gen = 0;
    rd->token = n ? nc_near_token(n, key, klen) : 0;
    rd->sent_ms = nc_now_ms();
}

void nc_near_read_sent(struct nc_near_read *rd, unsigned conn_gen)
{
    rd->gen = conn_gen;
}

int nc_near_read_put(struct nc_near *n, const struct nc_near_read *rd, unsigned conn_gen_now,
                     const char *key, size_t klen, const char *val, size_t vlen, int64_t expire_ms)
{
    if (!n || !rd->gen || rd->gen != conn_gen_now || rd->gen != nc_near_sync_gen())
        return 0;
    return nc_near_put(n, key, klen, val, vlen, expire_ms, rd->token) == 1;
}
