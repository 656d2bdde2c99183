/* conn.c - one async Redis connection with deadlines, lazy reconnect,
 * setup hooks and a circuit breaker (see conn.h).
 *
 * Replies come back in command order, so pending commands sit in a FIFO
 * ring: the head is always the oldest, and its deadline is the only one the
 * loop has to watch. hiredis' own callback list mirrors the ring; every
 * hiredis callback pops the head. */
#include "normcache/conn.h"

#include <errno.h>
#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "normcache/breaker.h"
#include "normcache/clock.h"
#include "normcache/counters.h"
#include "normcache/log.h"

enum conn_state { CONN_NONE, CONN_CONNECTING, CONN_READY };

struct pending {
    nc_conn_cb *cb;
    void *priv;
    int64_t deadline;
    int probe;    /* the half-open breaker probe: its outcome decides */
    int internal; /* AUTH, SELECT, setup hooks: an error reply fails the connection */
};

struct setup_hook {
    nc_conn_setup_fn *fn;
    void *ud;
    const atomic_uint *gen; /* NULL: runs at connect only */
    unsigned seen;          /* *gen when it last ran on this connection */
};

struct nc_conn {
    const struct nc_config *cfg;
    struct nc_breaker *brk;
    char host[256];
    int port;
    int db;
    int epfd;
    redisAsyncContext *ac;
    enum conn_state state;
    int64_t connect_deadline;
    int fd;
    int want_read, want_write;
    int out_armed;       /* a flush left data behind: wait for EPOLLOUT */
    int dropping;        /* inside drop_connection(): it counts the failure */
    int setup_failed;    /* setup refused: later replies are failures */
    int conn_refused;    /* the last connect failed at once (refused), not by timeout */
    uint32_t registered; /* events currently registered in epfd (0: none) */
    struct pending *ring;
    size_t cap, head, count;
    struct setup_hook hooks[NC_CONN_SETUP_MAX];
    int nhooks;
};

const char *nc_conn_host(const struct nc_conn *c)
{
    return c->host;
}
int nc_conn_port(const struct nc_conn *c)
{
    return c->port;
}
struct nc_breaker *nc_conn_breaker(const struct nc_conn *c)
{
    return c->brk;
}
int nc_conn_connected(const struct nc_conn *c)
{
    return c->ac != NULL;
}

/* ------------------------------------------------------------ epoll glue */

static void update_events(struct nc_conn *s)
{
    if (s->fd < 0)
        return;
    uint32_t ev = 0;
    if (s->want_read)
        ev |= EPOLLIN;
    /* Writes are batched: flush() writes once per pass, and only asks epoll
     * for EPOLLOUT when the socket could not take everything (or while the
     * non-blocking connect is still in progress). */
    if (s->want_write && (s->state == CONN_CONNECTING || s->out_armed))
        ev |= EPOLLOUT;
    if (ev == s->registered)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = s};
    int op = s->registered ? (ev ? EPOLL_CTL_MOD : EPOLL_CTL_DEL) : EPOLL_CTL_ADD;
    if (op == EPOLL_CTL_ADD && !ev)
        return;
    if (epoll_ctl(s->epfd, op, s->fd, &e) != 0) {
        /* Left as it was: the next change tries again, and a command that
         * waits for an event it never gets is cut by its deadline. */
        nc_logf(NC_LOG_ERROR, "epoll_ctl on redis socket: %s", strerror(errno));
        return;
    }
    s->registered = ev;
}

static void ev_add_read(void *p)
{
    struct nc_conn *s = p;
    s->want_read = 1;
    update_events(s);
}
static void ev_del_read(void *p)
{
    struct nc_conn *s = p;
    s->want_read = 0;
    update_events(s);
}
static void ev_add_write(void *p)
{
    struct nc_conn *s = p;
    s->want_write = 1;
    update_events(s);
}
static void ev_del_write(void *p)
{
    struct nc_conn *s = p;
    s->want_write = 0;
    s->out_armed = 0;
    update_events(s);
}
static void ev_cleanup(void *p)
{
    struct nc_conn *s = p;
    if (s->fd >= 0 && s->registered)
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->fd, NULL);
    s->registered = 0;
    s->want_read = s->want_write = s->out_armed = 0;
    s->fd = -1;
}

/* ------------------------------------------------------------ the ring */

static int ring_push(struct nc_conn *s, struct pending p)
{
    if (s->count == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        struct pending *r = malloc(ncap * sizeof *r);
        if (!r)
            return -1;
        for (size_t i = 0; i < s->count; i++)
            r[i] = s->ring[(s->head + i) % s->cap];
        free(s->ring);
        s->ring = r;
        s->cap = ncap;
        s->head = 0;
    }
    s->ring[(s->head + s->count) % s->cap] = p;
    s->count++;
    return 0;
}

static struct pending ring_pop(struct nc_conn *s)
{
    struct pending p = s->ring[s->head];
    s->head = (s->head + 1) % s->cap;
    s->count--;
    return p;
}

/* --------------------------------------------------------- connection */

/* A failed connect is a warning once; while Redis stays down (probes every
 * NC_BREAKER_REFUSED_RETRY_MS) the repeats are debug lines. */
static enum nc_log_level connect_log_level(struct nc_conn *s)
{
    return nc_breaker_seen_up(s->brk) ? NC_LOG_WARN : NC_LOG_DEBUG;
}

/* A refused connection is cheap to retry: the breaker keeps its base cooldown. */
static void probe_failed(struct nc_conn *s)
{
    if (s->conn_refused)
        nc_breaker_probe_refused(s->brk, nc_now_ms());
    else
        nc_breaker_failure(s->brk, 1, nc_now_ms());
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct nc_conn *s = privdata;
    if (!s->count)
        return; /* cannot happen: hiredis and the ring move together */
    struct pending p = ring_pop(s);
    redisReply *reply = r;
    if (reply && p.internal && reply->type == REDIS_REPLY_ERROR && !s->setup_failed) {
        /* AUTH, SELECT or a hook's command refused: this connection is useless. */
        nc_logf(NC_LOG_ERROR, "redis %s:%d refused connection setup: %.*s", s->host, s->port,
                (int)(reply->len > 200 ? 200 : reply->len), reply->str);
        s->setup_failed = 1;
        nc_counters_redis_error(NC_REDIS_ERR_CONNECT);
        nc_breaker_failure(s->brk, 0, nc_now_ms());
        redisAsyncDisconnect(ac);
    }
    if (s->setup_failed)
        reply = NULL; /* e.g. the NOAUTH errors that follow */
    if (reply) {
        if (p.probe || s->state != CONN_READY || !nc_breaker_is_healthy(s->brk))
            nc_breaker_success(s->brk, p.probe);
        s->state = CONN_READY;
    } else if (p.probe) {
        probe_failed(s);
    }
    if (p.cb)
        p.cb(p.priv, reply);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct nc_conn *s = ac->data;
    if (status != REDIS_OK) {
        /* hiredis frees the context right after this (without calling
         * on_disconnect, as it never connected). */
        nc_logf(connect_log_level(s), "redis connect failed: %s", ac->errstr);
        nc_counters_redis_error(NC_REDIS_ERR_CONNECT);
        s->ac = NULL;
        s->state = CONN_NONE;
        s->conn_refused = 1;
        nc_breaker_failure(s->brk, 0, nc_now_ms());
        return;
    }
    s->state = CONN_READY;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct nc_conn *s = ac->data;
    if (status != REDIS_OK && !s->dropping) {
        nc_logf(NC_LOG_WARN, "redis connection lost: %s", ac->errstr);
        nc_counters_redis_error(NC_REDIS_ERR_CONNECT);
        nc_breaker_failure(s->brk, 0, nc_now_ms());
    }
    s->ac = NULL;
    s->state = CONN_NONE;
}

/* Drops the connection; hiredis runs every pending callback with NULL. */
static void drop_connection(struct nc_conn *s, int failure)
{
    if (!s->ac)
        return;
    /* One failure per dropped connection, however many commands it held:
     * a single scheduling stall on a busy machine must not open the
     * breaker (that would turn a blip into a second of BYPASS). */
    if (failure)
        nc_breaker_failure(s->brk, 0, nc_now_ms());
    redisAsyncContext *ac = s->ac;
    s->dropping = 1;
    redisAsyncFree(ac); /* calls on_reply(NULL) per pending, then on_disconnect */
    s->dropping = 0;
    s->ac = NULL;
    s->state = CONN_NONE;
}

static int push_internal(struct nc_conn *s, nc_conn_cb *cb, void *priv, int argc, const char **argv,
                         const size_t *lens)
{
    /* Setup commands go first in the same buffer; their deadline is the
     * connect deadline plus a command timeout (or a command timeout from
     * now on a live connection). */
    int64_t dl = nc_now_ms() + s->cfg->redis_timeout_ms;
    if (s->state == CONN_CONNECTING && dl < s->connect_deadline + s->cfg->redis_timeout_ms)
        dl = s->connect_deadline + s->cfg->redis_timeout_ms;
    if (ring_push(s, (struct pending){cb, priv, dl, 0, 1}) != 0)
        return -1;
    if (redisAsyncCommandArgv(s->ac, on_reply, s, argc, argv, lens) != REDIS_OK) {
        s->count--;
        return -1;
    }
    return 0;
}

int nc_conn_send_internal(struct nc_conn *c, nc_conn_cb *cb, void *priv, int argc,
                          const char **argv, const size_t *argvlen)
{
    if (!c->ac)
        return -1;
    return push_internal(c, cb, priv, argc, argv, argvlen);
}

static int run_hook(struct nc_conn *s, struct setup_hook *h)
{
    if (h->gen)
        h->seen = atomic_load(h->gen);
    return h->fn(s, h->ud);
}

static int start_connection(struct nc_conn *s)
{
    const struct nc_config *cfg = s->cfg;
    redisAsyncContext *ac = redisAsyncConnect(s->host, s->port);
    s->conn_refused = 0;
    if (!ac)
        return -1;
    if (ac->err) {
        s->conn_refused = 1;
        nc_logf(connect_log_level(s), "redis connect failed: %s", ac->errstr);
        nc_counters_redis_error(NC_REDIS_ERR_CONNECT);
        redisAsyncFree(ac);
        nc_breaker_failure(s->brk, 0, nc_now_ms());
        return -1;
    }
    ac->data = s;
    s->ac = ac;
    s->fd = ac->c.fd;
    s->registered = 0;
    s->want_read = s->want_write = s->out_armed = 0;
    s->setup_failed = 0;
    s->state = CONN_CONNECTING;
    s->connect_deadline = nc_now_ms() + cfg->redis_connect_timeout_ms;
    ac->ev.data = s;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* The socket is writable once the connect completes. */
    s->want_write = 1;
    update_events(s);
    if (cfg->redis_password[0]) {
        /* AUTH [user] password: the password is always the last one. */
        int argc = cfg->redis_user[0] ? 3 : 2;
        const char *argv[3] = {"AUTH", cfg->redis_user, cfg->redis_password};
        size_t lens[3] = {4, strlen(cfg->redis_user), strlen(cfg->redis_password)};
        argv[argc - 1] = cfg->redis_password;
        lens[argc - 1] = lens[2];
        if (push_internal(s, NULL, NULL, argc, argv, lens) != 0)
            goto fail;
    }
    if (s->db) {
        char db[16];
        int n = snprintf(db, sizeof db, "%d", s->db);
        const char *argv[2] = {"SELECT", db};
        const size_t lens[2] = {6, (size_t)n};
        if (push_internal(s, NULL, NULL, 2, argv, lens) != 0)
            goto fail;
    }
    for (int i = 0; i < s->nhooks; i++)
        if (run_hook(s, &s->hooks[i]) != 0)
            goto fail;
    return 0;
fail:
    drop_connection(s, 0);
    return -1;
}

struct nc_conn *nc_conn_new(const struct nc_config *cfg, const char *host, int port, int db,
                            struct nc_breaker *brk, int epfd)
{
    struct nc_conn *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = cfg;
    s->brk = brk;
    snprintf(s->host, sizeof s->host, "%s", host);
    s->port = port;
    s->db = db;
    s->epfd = epfd;
    s->fd = -1;
    return s;
}

void nc_conn_free(struct nc_conn *s)
{
    if (!s)
        return;
    drop_connection(s, 0);
    free(s->ring);
    free(s);
}

int nc_conn_add_setup(struct nc_conn *c, nc_conn_setup_fn *fn, void *ud, const atomic_uint *gen)
{
    if (c->nhooks == NC_CONN_SETUP_MAX)
        return -1;
    c->hooks[c->nhooks++] = (struct setup_hook){fn, ud, gen, gen ? atomic_load(gen) : 0};
    return 0;
}

/* Appends one command to the connection (which must exist). */
static int queue(struct nc_conn *s, nc_conn_cb *cb, void *priv, int argc, const char **argv,
                 const size_t *argvlen, int probe)
{
    int64_t dl = nc_now_ms() + s->cfg->redis_timeout_ms;
    if (s->state == CONN_CONNECTING && dl < s->connect_deadline + s->cfg->redis_timeout_ms)
        dl = s->connect_deadline + s->cfg->redis_timeout_ms;
    if (ring_push(s, (struct pending){cb, priv, dl, probe, 0}) != 0)
        return -1;
    if (redisAsyncCommandArgv(s->ac, on_reply, s, argc, argv, argvlen) != REDIS_OK) {
        s->count--; /* undo the push: hiredis did not take it */
        return -1;
    }
    return 0;
}

/* The half-open probe is the conn's own PING, so that no caller's request
 * waits on a Redis that may still hang. */
static void send_probe(struct nc_conn *s)
{
    static const char *argv[1] = {"PING"};
    static const size_t lens[1] = {4};
    if ((!s->ac && start_connection(s) != 0) || queue(s, NULL, NULL, 1, argv, lens, 1) != 0)
        probe_failed(s);
}

/* Hooks whose generation moved run again before the caller's command. */
static int rerun_hooks(struct nc_conn *s)
{
    for (int i = 0; i < s->nhooks; i++) {
        struct setup_hook *h = &s->hooks[i];
        if (h->gen && atomic_load(h->gen) != h->seen && run_hook(s, h) != 0) {
            drop_connection(s, 0);
            return -1;
        }
    }
    return 0;
}

int nc_conn_command(struct nc_conn *c, nc_conn_cb *cb, void *priv, int argc, const char **argv,
                    const size_t *argvlen)
{
    if (nc_breaker_is_open(c->brk)) {
        /* Open (or half-open): nothing is attempted for callers; when the
         * cooldown is over, one worker sends the probe. */
        if (nc_breaker_allow(c->brk, nc_now_ms()) == 1)
            send_probe(c);
        return -1;
    }
    if (!c->ac) {
        if (start_connection(c) != 0)
            return -1;
    } else if (c->nhooks && rerun_hooks(c) != 0) {
        return -1;
    }
    return queue(c, cb, priv, argc, argv, argvlen, 0);
}

void nc_conn_on_event(struct nc_conn *s, uint32_t events)
{
    if (!s->ac)
        return;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        redisAsyncHandleRead(s->ac);
    if (s->ac && (events & EPOLLOUT))
        redisAsyncHandleWrite(s->ac);
}

void nc_conn_flush(struct nc_conn *s)
{
    /* While connecting, hiredis must not write before the socket reports
     * writable (it would take the connect as done). */
    if (!s->ac || s->state == CONN_CONNECTING || !s->want_write)
        return;
    redisAsyncHandleWrite(s->ac);
    if (s->ac && s->want_write && !s->out_armed) {
        s->out_armed = 1; /* socket full: let epoll say when it drains */
        update_events(s);
    }
}

void nc_conn_tick(struct nc_conn *s, int64_t now_ms)
{
    if (!s->ac)
        return;
    int expired = (s->state == CONN_CONNECTING && now_ms >= s->connect_deadline) ||
                  (s->count && now_ms >= s->ring[s->head].deadline);
    if (!expired)
        return;
    nc_logf(NC_LOG_WARN, "redis %s timed out: dropping the connection",
            s->state == CONN_CONNECTING ? "connect" : "command");
    nc_counters_redis_error(s->state == CONN_CONNECTING ? NC_REDIS_ERR_CONNECT
                                                        : NC_REDIS_ERR_TIMEOUT);
    /* A pending probe's failure is counted in on_reply(NULL). */
    drop_connection(s, 1);
}

int nc_conn_next_timeout_ms(const struct nc_conn *s, int64_t now_ms)
{
    if (!s->ac)
        return -1;
    int64_t dl = INT64_MAX;
    if (s->state == CONN_CONNECTING)
        dl = s->connect_deadline;
    if (s->count && s->ring[s->head].deadline < dl)
        dl = s->ring[s->head].deadline;
    if (dl == INT64_MAX)
        return -1;
    return dl <= now_ms ? 0 : (int)(dl - now_ms);
}
