/* sub.c - the process's subscriber thread: one blocking Redis connection,
 * PSUBSCRIBEd to the recommendations namespace. A message names a key
 * whose rebuild (on any instance) just finished or failed; a flight here
 * waiting for it is woken through its owner's mailbox (nc_recs_wake). */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "normcache/log.h"
#include "recs_int.h"

static pthread_t sub_thread;
static atomic_int sub_started, sub_stop;
static atomic_int sub_fd = -1; /* shutdown() on it wakes the thread */
static const struct nc_config *sub_cfg;

static int sub_auth(redisContext *c, const struct nc_config *cfg)
{
    if (!cfg->redis_password[0])
        return 1;
    redisReply *r = cfg->redis_user[0]
                        ? redisCommand(c, "AUTH %s %s", cfg->redis_user, cfg->redis_password)
                        : redisCommand(c, "AUTH %s", cfg->redis_password);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r)
        freeReplyObject(r);
    return ok;
}

/* Reads messages until the connection fails or we stop. */
static void sub_listen(redisContext *c)
{
    while (!atomic_load(&sub_stop)) {
        void *rep = NULL;
        if (redisGetReply(c, &rep) != REDIS_OK)
            return;
        redisReply *m = rep;
        if (m && m->type == REDIS_REPLY_ARRAY && m->elements == 4 &&
            m->element[0]->type == REDIS_REPLY_STRING &&
            strcmp(m->element[0]->str, "pmessage") == 0 &&
            m->element[2]->type == REDIS_REPLY_STRING)
            nc_recs_wake(m->element[2]->str, m->element[2]->len);
        freeReplyObject(m);
    }
}

static void *sub_main(void *arg)
{
    (void)arg;
    const struct nc_config *cfg = sub_cfg;
    char pattern[NC_KEY_MAX];
    snprintf(pattern, sizeof pattern, "%s:%s:*", cfg->key_prefix, NC_RECS_NS);
    while (!atomic_load(&sub_stop)) {
        struct timeval ct = {cfg->redis_connect_timeout_ms / 1000,
                             (cfg->redis_connect_timeout_ms % 1000) * 1000};
        redisContext *c = redisConnectWithTimeout(cfg->redis_host, cfg->redis_port, ct);
        if (!c || c->err) {
            if (c)
                redisFree(c);
            for (int i = 0; i < 10 && !atomic_load(&sub_stop); i++)
                usleep(100000);
            continue;
        }
        struct timeval none = {0, 0}; /* block: nc_recs_sub_stop() wakes it */
        redisSetTimeout(c, none);
        atomic_store(&sub_fd, c->fd);
        if (atomic_load(&sub_stop)) {
            atomic_store(&sub_fd, -1);
            redisFree(c);
            break;
        }
        if (sub_auth(c, cfg) && redisAppendCommand(c, "PSUBSCRIBE %s", pattern) == REDIS_OK)
            sub_listen(c);
        atomic_store(&sub_fd, -1);
        redisFree(c);
        if (!atomic_load(&sub_stop))
            usleep(100000); /* Redis went away: retry soon, not in a spin */
    }
    return NULL;
}

void nc_recs_sub_start(const struct nc_config *cfg)
{
    if (atomic_exchange(&sub_started, 1))
        return;
    sub_cfg = cfg;
    if (pthread_create(&sub_thread, NULL, sub_main, NULL) != 0) {
        /* Waiters still wake: the poll that is the safety net re-reads. */
        nc_logf(NC_LOG_WARN,
                "cannot start the subscriber thread: cross-instance wake-ups "
                "fall back to polling every %d ms",
                NC_RECS_POLL_MS);
        atomic_store(&sub_started, 0);
    }
}

void nc_recs_sub_stop(void)
{
    if (!atomic_exchange(&sub_started, 0))
        return;
    atomic_store(&sub_stop, 1);
    int fd = atomic_load(&sub_fd);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    pthread_join(sub_thread, NULL);
}
