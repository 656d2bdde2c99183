/* recs.c - GET /products/recommendations: cache-aside in front of a slow
 * upstream (see recs.h).
 *
 * Entries are the service's own format: a one-line header then the body,
 *   "NC1 <stored_ms> <fresh_until_ms> <delta_ms> <status>\n<body>"
 * kept in Redis for fresh TTL + STALE_GRACE_SECONDS (404s: NEGATIVE_TTL, no
 * grace). Wall-clock milliseconds, because several instances share them.
 *
 * A miss becomes a flight: one per key in the whole process (a global
 * table), owned by the worker that created it. Requests for the same key on
 * any worker join it as waiters and stay suspended, holding no thread. The
 * owner takes a Redis lock (SET NX PX) so that other instances wait instead
 * of calling the upstream too; they are woken by a PUBLISH on the key's
 * channel, which a per-process subscriber thread receives (pattern
 * subscription on the namespace), with a slow poll only as a safety net.
 * Results reach waiters on other workers through those workers' mailboxes,
 * because only a connection's own worker may touch its request. */
#include "normcache/recs.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "normcache/clock.h"
#include "normcache/hash.h"
#include "normcache/req.h"
#include "normcache/key.h"
#include "normcache/log.h"
#include "normcache/counters.h"
#include "normcache/normalise.h"
#include "normcache/rand.h"
#include "normcache/store.h"
#include "normcache/utf8.h"

#define NS "recommendations"
#define LIMIT_DEFAULT 10
#define LIMIT_MAX 50
#define TABLE_SIZE 1024
#define POLL_MS 250 /* safety net while waiting for another instance */

/* ------------------------------------------------------------ results */

/* An answer shared by every request of a flight. Immutable once built;
 * freed by the last holder. */
struct result {
    atomic_int ref;
    int status; /* 200, 404 (negative), 502, 503, 504 */
    int stored; /* the entry was written */
    int bypass; /* Redis was not used */
    long long max_age_s;
    size_t len;
    char body[];
};

static struct result *result_new(int status, const char *body, size_t len)
{
    struct result *res = malloc(sizeof *res + len + 1);
    if (!res)
        return NULL;
    atomic_init(&res->ref, 1);
    res->status = status;
    res->stored = res->bypass = 0;
    res->max_age_s = 0;
    res->len = len;
    if (body && len)
        memcpy(res->body, body, len);
    res->body[len] = '\0';
    return res;
}

static void result_put(struct result *res)
{
    if (res && atomic_fetch_sub(&res->ref, 1) == 1)
        free(res);
}

/* A parsed entry (pointers into the caller's buffer). */
struct entry {
    long long stored_ms, fresh_until_ms, delta_ms;
    int status;
    const char *body;
    size_t len;
};

static int entry_parse(const char *p, size_t n, struct entry *e)
{
    const char *nl = memchr(p, '\n', n);
    if (!nl || n < 4 || memcmp(p, "NC1 ", 4) != 0)
        return -1;
    char hdr[128];
    size_t hl = (size_t)(nl - p);
    if (hl >= sizeof hdr)
        return -1;
    memcpy(hdr, p, hl);
    hdr[hl] = '\0';
    if (sscanf(hdr, "NC1 %lld %lld %lld %d", &e->stored_ms, &e->fresh_until_ms, &e->delta_ms,
               &e->status) != 4)
        return -1;
    e->body = nl + 1;
    e->len = n - hl - 1;
    return 0;
}

/* --------------------------------------------------------- per worker */

struct msg {
    int kind; /* MSG_DELIVER or MSG_WAKE */
    struct nc_req *req;
    struct result *res;
    struct flight *flight;
    int coalesced;
    struct msg *next;
};
enum { MSG_DELIVER, MSG_WAKE };

struct csock {
    int fd;
    uint32_t registered;
};

struct recs_worker {
    struct nc_worker *w;
    int epfd;
    CURLM *multi;
    int64_t curl_deadline; /* monotonic ms, -1: none */
    int mailfd;
    pthread_mutex_t mlock;
    struct msg *mhead, *mtail;
    struct flight *owned;
    int shutting_down;
};

/* ------------------------------------------------------------ flights */

enum fstate {
    F_LOCKING,  /* SET NX sent */
    F_FETCHING, /* upstream call running */
    F_STORING,  /* store script sent */
    F_WAITING,  /* another instance holds the lock */
    F_REREAD,   /* GET after a wake-up or timeout */
    F_DONE
};

struct waiter {
    struct nc_req *req;
    struct recs_worker *rw;
    struct waiter *next;
};

struct flight {
    char key[NC_KEY_MAX];
    size_t keylen;
    char lockkey[NC_KEY_MAX + 8];
    struct recs_worker *owner;
    enum fstate state;
    int bypass;     /* Redis unusable: upstream only, nothing stored */
    int background; /* refresh for a stale/early entry: nobody waits */
    int counted;    /* holds an UPSTREAM_MAX_INFLIGHT slot */
    int have_lock;
    char token[40];
    char *query; /* normalised query sent upstream */
    int limit;
    struct waiter *waiters;  /* guarded by table_lock */
    struct result *stale;    /* a stale copy to fall back on, or NULL */
    int64_t deadline;        /* lock wait end (monotonic ms), 0: not waiting yet */
    long long min_stored_ms; /* a value stored before this is not an answer */
    int lock_failed;         /* the SET NX got no usable reply */
    int64_t next_poll;
    int64_t next_renew;
    int outstanding; /* Redis replies still to come */
    CURL *easy;
    struct nc_buf resp;
    int too_large;
    int64_t t_up_start;
    struct flight *hnext, *onext;
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct flight *table[TABLE_SIZE];
static atomic_int upstream_inflight;

static unsigned table_hash(const char *key)
{
    return (unsigned)(nc_fnv1a64(key, strlen(key)) % TABLE_SIZE);
}

/* Caller holds table_lock. */
static struct flight *table_find(const char *key)
{
    for (struct flight *f = table[table_hash(key)]; f; f = f->hnext)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

static void table_remove(struct flight *f)
{
    for (struct flight **p = &table[table_hash(f->key)]; *p; p = &(*p)->hnext)
        if (*p == f) {
            *p = f->hnext;
            return;
        }
}

/* ----------------------------------------------------- subscriber thread
 *
 * One blocking connection per process, PSUBSCRIBEd to the namespace. A
 * message names a key whose rebuild just finished (or failed); if a flight
 * here waits for it, its owner is woken through the mailbox. */

static pthread_t sub_thread;
static atomic_int sub_started, sub_stop;
static atomic_int sub_fd = -1; /* shutdown() on it wakes the thread */
static const struct nc_config *sub_cfg;

static void mailbox_post(struct recs_worker *rw, struct msg *m);

static void wake_waiting_flight(const char *key, size_t len)
{
    char k[NC_KEY_MAX];
    if (len >= sizeof k)
        return;
    memcpy(k, key, len);
    k[len] = '\0';
    pthread_mutex_lock(&table_lock);
    struct flight *f = table_find(k);
    if (f && f->state == F_WAITING) {
        struct msg *m = calloc(1, sizeof *m);
        if (m) {
            m->kind = MSG_WAKE;
            m->flight = f;
            mailbox_post(f->owner, m);
        }
    }
    pthread_mutex_unlock(&table_lock);
}

static void *sub_main(void *arg)
{
    (void)arg;
    const struct nc_config *cfg = sub_cfg;
    char pattern[NC_KEY_MAX];
    snprintf(pattern, sizeof pattern, "%s:%s:*", cfg->key_prefix, NS);
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
        struct timeval none = {0, 0}; /* block: nc_recs_worker_free() wakes it */
        redisSetTimeout(c, none);
        atomic_store(&sub_fd, c->fd);
        if (atomic_load(&sub_stop)) {
            atomic_store(&sub_fd, -1);
            redisFree(c);
            break;
        }
        redisReply *r = NULL;
        int ok = 1;
        if (cfg->redis_password[0]) {
            r = cfg->redis_user[0]
                    ? redisCommand(c, "AUTH %s %s", cfg->redis_user, cfg->redis_password)
                    : redisCommand(c, "AUTH %s", cfg->redis_password);
            ok = r && r->type != REDIS_REPLY_ERROR;
            if (r)
                freeReplyObject(r);
        }
        if (ok && redisAppendCommand(c, "PSUBSCRIBE %s", pattern) != REDIS_OK)
            ok = 0;
        while (ok && !atomic_load(&sub_stop)) {
            /* stays in this loop until the connection fails or we stop */
            void *rep = NULL;
            if (redisGetReply(c, &rep) != REDIS_OK)
                break;
            redisReply *m = rep;
            if (m && m->type == REDIS_REPLY_ARRAY && m->elements == 4 &&
                m->element[0]->type == REDIS_REPLY_STRING &&
                strcmp(m->element[0]->str, "pmessage") == 0 &&
                m->element[2]->type == REDIS_REPLY_STRING)
                wake_waiting_flight(m->element[2]->str, m->element[2]->len);
            freeReplyObject(m);
        }
        atomic_store(&sub_fd, -1);
        redisFree(c);
        if (!atomic_load(&sub_stop))
            usleep(100000); /* Redis went away: retry soon, not in a spin */
    }
    return NULL;
}

/* ------------------------------------------------------------ mailbox */

static void mailbox_post(struct recs_worker *rw, struct msg *m)
{
    pthread_mutex_lock(&rw->mlock);
    if (rw->mtail)
        rw->mtail->next = m;
    else
        rw->mhead = m;
    rw->mtail = m;
    pthread_mutex_unlock(&rw->mlock);
    uint64_t one = 1;
    ssize_t n = write(rw->mailfd, &one, sizeof one);
    (void)n;
}

/* ------------------------------------------------------- request state */

struct recs_req {
    struct result *res; /* set when a flight answers */
    int coalesced;
    int no_cache, only_if_cached;
    int limit;
    struct entry stale_entry; /* within r->out when have_stale */
    int have_stale;
};

static enum MHD_Result answer_result(struct nc_req *r, struct recs_req *rq);

/* Runs in the waiter's own worker. */
static void deliver_local(struct nc_req *r, struct result *res, int coalesced)
{
    struct recs_req *rq = r->ext;
    rq->res = res;
    rq->coalesced = coalesced;
    if (r->state == NC_REQ_WAITING)
        nc_req_resume(r);
}

static void flight_step(struct flight *f);
static void flight_finish(struct flight *f, struct result *res);
static void flight_maybe_free(struct flight *f);

static void mailbox_drain(struct recs_worker *rw)
{
    uint64_t v;
    ssize_t n = read(rw->mailfd, &v, sizeof v);
    (void)n;
    pthread_mutex_lock(&rw->mlock);
    struct msg *m = rw->mhead;
    rw->mhead = rw->mtail = NULL;
    pthread_mutex_unlock(&rw->mlock);
    while (m) {
        struct msg *next = m->next;
        if (m->kind == MSG_DELIVER)
            deliver_local(m->req, m->res, m->coalesced);
        else if (m->flight->state == F_WAITING)
            flight_step(m->flight); /* the owner is this worker */
        free(m);
        m = next;
    }
}

/* ------------------------------------------------------- upstream (curl) */

static int curl_sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *sockp)
{
    struct recs_worker *rw = userp;
    struct csock *cs = sockp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (cs) {
            if (cs->registered)
                epoll_ctl(rw->epfd, EPOLL_CTL_DEL, cs->fd, NULL);
            free(cs);
            curl_multi_assign(rw->multi, s, NULL);
        }
        return 0;
    }
    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs)
            return -1;
        cs->fd = s;
        curl_multi_assign(rw->multi, s, cs);
    }
    uint32_t ev = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    struct epoll_event e2 = {.events = ev, .data.ptr = cs};
    if (epoll_ctl(rw->epfd, cs->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &e2) == 0)
        cs->registered = ev ? ev : 1;
    return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct recs_worker *rw = userp;
    (void)multi;
    rw->curl_deadline = timeout_ms < 0 ? -1 : nc_now_ms() + timeout_ms;
    return 0;
}

static size_t curl_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct flight *f = userdata;
    size_t n = size * nmemb;
    if (f->resp.len + n > f->owner->w->cfg->max_body_bytes) {
        f->too_large = 1;
        return 0; /* aborts the transfer */
    }
    return nc_buf_append(&f->resp, ptr, n) == 0 ? n : 0;
}

static void upstream_start(struct flight *f)
{
    struct recs_worker *rw = f->owner;
    const struct nc_config *cfg = rw->w->cfg;
    f->state = F_FETCHING;
    f->easy = curl_easy_init();
    char *q = f->easy ? curl_easy_escape(f->easy, f->query, 0) : NULL;
    struct nc_buf url;
    nc_buf_init(&url);
    if (!q || nc_buf_printf(&url, "%s/recommendations?query=%s&limit=%d", cfg->upstream_url, q,
                            f->limit) != 0) {
        curl_free(q);
        nc_buf_free(&url);
        struct result *res = result_new(502, NULL, 0);
        flight_finish(f, res);
        return;
    }
    curl_free(q);
    curl_easy_setopt(f->easy, CURLOPT_URL, url.data);
    nc_buf_free(&url);
    curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, curl_write_cb);
    curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
    curl_easy_setopt(f->easy, CURLOPT_TIMEOUT_MS, (long)cfg->upstream_timeout_ms);
    curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(f->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    f->t_up_start = nc_now_ms();
    if (curl_multi_add_handle(rw->multi, f->easy) != CURLM_OK) {
        curl_easy_cleanup(f->easy);
        f->easy = NULL;
        flight_finish(f, result_new(502, NULL, 0));
    }
}

/* -------------------------------------------------------- Redis steps */

static void on_flight_reply(void *priv, redisReply *reply);

struct fcmd {
    struct flight *f;
    int kind;
};
enum { C_LOCK, C_RECHECK, C_STORE, C_RENEW, C_RELEASE };

static int flight_cmd(struct flight *f, int kind, int argc, const char **argv, const size_t *lens)
{
    struct fcmd *c = malloc(sizeof *c);
    if (!c)
        return -1;
    c->f = f;
    c->kind = kind;
    if (nc_store_command(f->owner->w->store, on_flight_reply, c, argc, argv, lens) != 0) {
        free(c);
        return -1;
    }
    f->outstanding++;
    return 0;
}

static const char store_script[] =
    "if redis.call('GET', KEYS[2]) == ARGV[1] then "
    "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]); "
    "redis.call('DEL', KEYS[2]); redis.call('PUBLISH', KEYS[1], '1'); return 1 end "
    "return 0";
static const char release_script[] =
    "if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]); "
    "redis.call('PUBLISH', KEYS[1], '0') end return 1";
static const char renew_script[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                   "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";

/* Takes the lock and, in the same write, re-reads the value: a rebuild
 * that finished after this request's first read (its flight already gone
 * from the table) must not cause a second upstream call. The GET's reply
 * comes after the SET's and decides. */
static void lock_try(struct flight *f)
{
    const struct nc_config *cfg = f->owner->w->cfg;
    char px[16];
    int pl = snprintf(px, sizeof px, "%d", cfg->lock_ttl_ms);
    const char *argv[6] = {"SET", f->lockkey, f->token, "NX", "PX", px};
    size_t lens[6] = {3, strlen(f->lockkey), strlen(f->token), 2, 2, (size_t)pl};
    const char *gargv[2] = {"GET", f->key};
    size_t glens[2] = {3, f->keylen};
    f->state = F_LOCKING;
    f->lock_failed = 0;
    if (flight_cmd(f, C_LOCK, 6, argv, lens) != 0) {
        f->bypass = 1; /* Redis unusable: go straight to the upstream */
        upstream_start(f);
        return;
    }
    if (flight_cmd(f, C_RECHECK, 2, gargv, glens) != 0)
        f->lock_failed = 1; /* the SET's reply will still come; see C_LOCK */
}

static void lock_release(struct flight *f)
{
    if (!f->have_lock)
        return;
    f->have_lock = 0;
    const char *argv[6] = {"EVAL", release_script, "2", f->key, f->lockkey, f->token};
    size_t lens[6] = {4,         strlen(release_script), 1,
                      f->keylen, strlen(f->lockkey),     strlen(f->token)};
    flight_cmd(f, C_RELEASE, 6, argv, lens);
}

/* Another instance's rebuild did not produce a value in time. */
static void wait_gave_up(struct flight *f)
{
    if (f->stale) {
        struct result *res = f->stale;
        f->stale = NULL;
        flight_finish(f, res);
        return;
    }
    upstream_start(f); /* without the lock: the holder is gone or slow */
}

static struct result *result_from_entry(const struct entry *e, int64_t now_wall);

static void on_flight_reply(void *priv, redisReply *reply)
{
    struct fcmd *c = priv;
    struct flight *f = c->f;
    int kind = c->kind;
    free(c);
    /* f->outstanding still counts this reply until the end, so nothing
     * below (flight_finish in particular) can free the flight under us. */
    const struct nc_config *cfg = f->owner->w->cfg;
    switch (kind) {
    case C_LOCK:
        if (!reply || reply->type == REDIS_REPLY_ERROR)
            f->lock_failed = 1;
        else if (reply->type == REDIS_REPLY_STATUS) {
            f->have_lock = 1;
            f->next_renew = nc_now_ms() + cfg->lock_ttl_ms / 3;
        }
        if (f->lock_failed && f->outstanding == 1 && f->state == F_LOCKING) {
            /* the GET was never sent: nothing else will decide */
            f->bypass = 1;
            lock_release(f);
            upstream_start(f);
        }
        break;
    case C_RECHECK: {
        struct entry e;
        if (f->state != F_LOCKING)
            break;
        if (!reply || f->lock_failed) {
            f->bypass = 1;
            lock_release(f);
            upstream_start(f);
        } else if (reply->type == REDIS_REPLY_STRING &&
                   entry_parse(reply->str, reply->len, &e) == 0 &&
                   nc_wall_ms() < e.fresh_until_ms && e.stored_ms >= f->min_stored_ms) {
            /* Somebody (another instance, or a flight that just ended)
             * stored a fresh answer: use it. */
            lock_release(f);
            flight_finish(f, result_from_entry(&e, nc_wall_ms()));
        } else if (f->have_lock) {
            upstream_start(f);
        } else if (f->background) {
            flight_finish(f, NULL); /* another instance refreshes it */
        } else {
            /* Held elsewhere: wait for its PUBLISH (or the poll / limit).
             * Every poll tries the lock again, so a crashed holder costs at
             * most its lock's TTL. */
            int64_t now = nc_now_ms();
            if (!f->deadline)
                f->deadline = now + cfg->lock_wait_ms;
            if (now >= f->deadline) {
                wait_gave_up(f);
            } else {
                f->state = F_WAITING;
                f->next_poll = now + POLL_MS;
            }
        }
        break;
    }
    case C_STORE:
        if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)
            f->have_lock = 0; /* the script released it */
        break;
    default:
        break;
    }
    f->outstanding--;
    flight_maybe_free(f);
}

/* ------------------------------------------------------- flight logic */

static void flight_step(struct flight *f)
{
    if (f->state == F_WAITING)
        lock_try(f);
}

static struct result *result_from_entry(const struct entry *e, int64_t now_wall)
{
    struct result *res;
    if (e->status == 404)
        res = result_new(404, NULL, 0);
    else
        res = result_new(200, e->body, e->len);
    if (res) {
        long long ttl = e->fresh_until_ms - e->stored_ms;
        res->max_age_s = ttl > 0 ? ttl / 1000 : 0;
        (void)now_wall;
    }
    return res;
}

/* Builds the stored entry and the answer from a finished upstream call. */
static void upstream_done(struct flight *f, CURLcode cc)
{
    struct recs_worker *rw = f->owner;
    const struct nc_config *cfg = rw->w->cfg;
    long http = 0;
    curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &http);
    int64_t delta = nc_now_ms() - f->t_up_start;
    curl_multi_remove_handle(rw->multi, f->easy);
    curl_easy_cleanup(f->easy);
    f->easy = NULL;

    int status;
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        status = 504;
        nc_counters_upstream(rw->w->counters, NC_UP_TIMEOUT);
    } else if (cc != CURLE_OK || f->too_large) {
        status = 502;
        nc_counters_upstream(rw->w->counters, NC_UP_ERROR);
    } else if (http == 404) {
        status = 404;
        nc_counters_upstream(rw->w->counters, NC_UP_OK);
    } else if (http >= 200 && http < 300) {
        cJSON *doc =
            cJSON_ParseWithLengthOpts(f->resp.data ? f->resp.data : "", f->resp.len, NULL, 0);
        status = doc ? 200 : 502;
        cJSON_Delete(doc);
        nc_counters_upstream(rw->w->counters, doc ? NC_UP_OK : NC_UP_ERROR);
    } else {
        status = 502;
        nc_counters_upstream(rw->w->counters, NC_UP_ERROR);
    }
    if (status >= 500) {
        nc_logf(NC_LOG_WARN, "upstream call for %s failed: %s (HTTP %ld)", f->key,
                cc != CURLE_OK ? curl_easy_strerror(cc)
                : f->too_large ? "answer too large"
                               : "bad answer",
                http);
        lock_release(f);
        if (f->stale) { /* stale-if-error */
            struct result *res = f->stale;
            f->stale = NULL;
            flight_finish(f, res);
        } else {
            flight_finish(f, f->background ? NULL : result_new(status, NULL, 0));
        }
        return;
    }

    /* Fresh TTL with jitter so that keys written together do not expire
     * together; negative entries live exactly NEGATIVE_TTL. */
    long long fresh_ms, px;
    if (status == 404) {
        fresh_ms = (long long)cfg->negative_ttl_s * 1000;
        px = fresh_ms;
    } else {
        double u = nc_rand_unit();
        long long ttl_ms = (long long)nc_config_ns_ttl(cfg, NS) * 1000;
        fresh_ms = (long long)((double)ttl_ms * (1.0 - u * cfg->ttl_jitter_pct / 100.0));
        if (fresh_ms < 1)
            fresh_ms = 1;
        px = fresh_ms + (long long)cfg->stale_grace_s * 1000;
    }
    int64_t now = nc_wall_ms();
    struct nc_buf ent;
    nc_buf_init(&ent);
    int rc = nc_buf_printf(&ent, "NC1 %lld %lld %lld %d\n", (long long)now,
                           (long long)now + fresh_ms, (long long)delta, status);
    if (status == 200)
        rc |= nc_buf_append(&ent, f->resp.data, f->resp.len);
    struct result *res =
        status == 200 ? result_new(200, f->resp.data, f->resp.len) : result_new(404, NULL, 0);
    if (res)
        res->max_age_s = fresh_ms / 1000;
    if (rc == 0 && !f->bypass) {
        char pxs[24];
        int pl = snprintf(pxs, sizeof pxs, "%lld", px);
        if (f->have_lock) {
            const char *argv[8] = {"EVAL",     store_script, "2",      f->key,
                                   f->lockkey, f->token,     ent.data, pxs};
            size_t lens[8] = {4,
                              strlen(store_script),
                              1,
                              f->keylen,
                              strlen(f->lockkey),
                              strlen(f->token),
                              ent.len,
                              (size_t)pl};
            if (flight_cmd(f, C_STORE, 8, argv, lens) == 0 && res)
                res->stored = 1;
        } else {
            /* No lock (the holder vanished): plain write, then wake others. */
            const char *argv[5] = {"SET", f->key, ent.data, "PX", pxs};
            size_t lens[5] = {3, f->keylen, ent.len, 2, (size_t)pl};
            const char *pargv[3] = {"PUBLISH", f->key, "1"};
            size_t plens[3] = {7, f->keylen, 1};
            if (flight_cmd(f, C_STORE, 5, argv, lens) == 0 && res)
                res->stored = 1;
            flight_cmd(f, C_STORE, 3, pargv, plens);
        }
    }
    if (res)
        res->bypass = f->bypass;
    nc_buf_free(&ent);
    /* Send the write now, before answering (possibly a thousand) waiters:
     * other instances are waiting for its PUBLISH. */
    nc_store_flush(rw->w->store);
    flight_finish(f, res);
}

static void curl_check_done(struct recs_worker *rw)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(rw->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct flight *f = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&f);
        if (f)
            upstream_done(f, m->data.result);
    }
}

/* Hands res to every waiter (res may be NULL only for background flights)
 * and retires the flight. Owner's thread only. */
static void flight_finish(struct flight *f, struct result *res)
{
    pthread_mutex_lock(&table_lock);
    table_remove(f);
    struct waiter *ws = f->waiters;
    f->waiters = NULL;
    pthread_mutex_unlock(&table_lock);
    f->state = F_DONE;
    if (f->counted) {
        atomic_fetch_sub(&upstream_inflight, 1);
        f->counted = 0;
    }
    if (!res && ws)
        res = result_new(502, NULL, 0);
    int first = 1;
    while (ws) {
        struct waiter *next = ws->next;
        if (res)
            atomic_fetch_add(&res->ref, 1);
        if (ws->rw == f->owner) {
            deliver_local(ws->req, res, !first);
        } else {
            struct msg *m = calloc(1, sizeof *m);
            if (m) {
                m->kind = MSG_DELIVER;
                m->req = ws->req;
                m->res = res;
                m->coalesced = !first;
                mailbox_post(ws->rw, m);
            }
        }
        first = 0;
        free(ws);
        ws = next;
    }
    result_put(res);
    flight_maybe_free(f);
}

static void flight_maybe_free(struct flight *f)
{
    if (f->state != F_DONE || f->outstanding || f->easy)
        return;
    struct recs_worker *rw = f->owner;
    for (struct flight **p = &rw->owned; *p; p = &(*p)->onext)
        if (*p == f) {
            *p = f->onext;
            break;
        }
    result_put(f->stale);
    nc_buf_free(&f->resp);
    free(f->query);
    free(f);
}

/* Joins the flight for key or starts one. Returns 0 (r is now a waiter, if
 * given), or -1 when the in-flight cap is reached (nothing started). */
static int flight_join(struct recs_worker *rw, struct nc_req *r, const char *key, const char *query,
                       size_t qlen, int limit, int background, const struct entry *stale,
                       long long min_stored_ms)
{
    const struct nc_config *cfg = rw->w->cfg;
    struct waiter *wt = NULL;
    if (r) {
        wt = calloc(1, sizeof *wt);
        if (!wt)
            return -1;
        wt->req = r;
        wt->rw = rw;
    }
    pthread_mutex_lock(&table_lock);
    struct flight *f = table_find(key);
    if (f) {
        if (wt) {
            /* appended at the tail: the first waiter is the one that asked */
            struct waiter **p = &f->waiters;
            while (*p)
                p = &(*p)->next;
            *p = wt;
            nc_counters_coalesced(rw->w->counters);
        }
        pthread_mutex_unlock(&table_lock);
        return 0;
    }
    if (atomic_fetch_add(&upstream_inflight, 1) >= cfg->upstream_max_inflight) {
        atomic_fetch_sub(&upstream_inflight, 1);
        pthread_mutex_unlock(&table_lock);
        free(wt);
        return -1;
    }
    f = calloc(1, sizeof *f);
    char *qcopy = f ? strndup(query, qlen) : NULL;
    if (!f || !qcopy || nc_rand_token(f->token, sizeof f->token) != 0) {
        atomic_fetch_sub(&upstream_inflight, 1);
        pthread_mutex_unlock(&table_lock);
        free(qcopy);
        free(f);
        free(wt);
        return -1;
    }
    f->counted = 1;
    snprintf(f->key, sizeof f->key, "%s", key);
    f->keylen = strlen(f->key);
    snprintf(f->lockkey, sizeof f->lockkey, "%s:lock", key);
    f->owner = rw;
    f->query = qcopy;
    f->limit = limit;
    f->background = background;
    f->min_stored_ms = min_stored_ms;
    f->waiters = wt;
    nc_buf_init(&f->resp);
    if (stale) {
        f->stale = result_new(stale->status == 404 ? 404 : 200, stale->body,
                              stale->status == 404 ? 0 : stale->len);
        if (f->stale) {
            long long ttl = stale->fresh_until_ms - stale->stored_ms;
            f->stale->max_age_s = ttl > 0 ? ttl / 1000 : 0;
        }
    }
    unsigned h = table_hash(f->key);
    f->hnext = table[h];
    table[h] = f;
    pthread_mutex_unlock(&table_lock);
    f->onext = rw->owned;
    rw->owned = f;
    if (!cfg->redis_enabled) {
        f->bypass = 1;
        upstream_start(f);
    } else {
        lock_try(f);
    }
    return 0;
}

/* ------------------------------------------------------------ handler */

/* Common headers of a 200/404 from cache or upstream. */
static void caching_headers(struct nc_req *r, long long max_age, long long age, const char *body,
                            size_t len)
{
    const struct nc_config *cfg = r->w->cfg;
    char v[96];
    snprintf(v, sizeof v, "max-age=%lld, stale-while-revalidate=%d, stale-if-error=%d", max_age,
             cfg->stale_grace_s, cfg->stale_grace_s);
    nc_req_header(r, "Cache-Control", v);
    snprintf(v, sizeof v, "%lld", age < 0 ? 0 : age);
    nc_req_header(r, "Age", v);
    if (body) {
        snprintf(v, sizeof v, "\"%016llx\"", (unsigned long long)nc_key_etag_hash(body, len));
        nc_req_header(r, "ETag", v);
    }
}

static enum MHD_Result reply_body(struct nc_req *r, int status, const char *body, size_t len)
{
    const char *inm = nc_req_hdr(r, "If-None-Match");
    if (status == 200 && inm) {
        for (int i = 0; i < r->nhdr; i++)
            if (strcmp(r->hdr_name[i], "ETag") == 0 &&
                (strstr(inm, r->hdr_value[i]) || strcmp(inm, "*") == 0)) {
                nc_buf_reset(&r->out);
                return nc_req_reply(r, 304, NULL);
            }
    }
    if (status == 404)
        return nc_req_problem(r, 404, "not_found", "Not Found",
                              "The upstream has no recommendations for this query.");
    if (r->out.data && body >= r->out.data && body <= r->out.data + r->out.len) {
        /* the body sits after the entry header in the same buffer */
        memmove(r->out.data, body, len);
        r->out.len = len;
    } else {
        nc_buf_reset(&r->out);
        if (nc_buf_append(&r->out, body, len) != 0)
            return MHD_NO;
    }
    return nc_req_reply(r, status, "application/json");
}

/* Answer from an entry read from Redis (fresh or stale). */
static enum MHD_Result answer_entry(struct nc_req *r, const struct entry *e, int64_t now)
{
    long long remaining = e->fresh_until_ms - now; /* ms; negative when stale */
    int stale = remaining <= 0;
    char cs[96];
    long long ttl_s = remaining >= 0 ? remaining / 1000 : -((-remaining + 999) / 1000);
    snprintf(cs, sizeof cs, "normcache; hit; ttl=%lld", ttl_s);
    nc_req_header(r, "Cache-Status", cs);
    r->cache = stale ? "STALE" : "HIT";
    nc_counters_cache(r->w->counters, NS, stale ? NC_RES_STALE : NC_RES_HIT);
    long long fresh = e->fresh_until_ms - e->stored_ms;
    caching_headers(r, fresh / 1000, (now - e->stored_ms) / 1000, e->status == 200 ? e->body : NULL,
                    e->len);
    return reply_body(r, e->status == 404 ? 404 : 200, e->body, e->len);
}

static enum MHD_Result answer_result(struct nc_req *r, struct recs_req *rq)
{
    struct result *res = rq->res;
    if (!res)
        return nc_req_problem(r, 502, "upstream_error", "Bad Gateway",
                              "The upstream failed and no cached copy exists.");
    char cs[96];
    if (res->status >= 500) {
        snprintf(cs, sizeof cs, "normcache; fwd=%s%s", res->bypass ? "bypass" : "miss",
                 rq->coalesced ? "; collapsed" : "");
        nc_req_header(r, "Cache-Status", cs);
        r->cache = res->bypass ? "BYPASS" : "MISS";
        if (res->status == 504)
            return nc_req_problem(r, 504, "upstream_timeout", "Gateway Timeout",
                                  "The upstream did not answer in time.");
        if (res->status == 503) {
            nc_req_header(r, "Retry-After", "1");
            return nc_req_problem(r, 503, "upstream_busy", "Service Unavailable",
                                  "Too many upstream calls in flight; retry shortly.");
        }
        return nc_req_problem(r, 502, "upstream_error", "Bad Gateway",
                              "The upstream failed and no cached copy exists.");
    }
    if (res->bypass) {
        r->cache = "BYPASS";
        snprintf(cs, sizeof cs, "normcache; fwd=bypass%s", rq->coalesced ? "; collapsed" : "");
    } else {
        r->cache = "MISS";
        snprintf(cs, sizeof cs, "normcache; fwd=%s%s%s", rq->no_cache ? "request" : "miss",
                 res->stored ? "; stored" : "", rq->coalesced ? "; collapsed" : "");
    }
    nc_req_header(r, "Cache-Status", cs);
    nc_counters_cache(r->w->counters, NS, res->bypass ? NC_RES_BYPASS : NC_RES_MISS);
    caching_headers(r, res->max_age_s, 0, res->status == 200 ? res->body : NULL, res->len);
    return reply_body(r, res->status, res->body, res->len);
}

/* Parses query/limit; fills r->scratch with the normalised query and
 * r->key. 0, or queues a 400 and returns -1. */
static int parse_request(struct nc_req *r, struct recs_req *rq, enum MHD_Result *ret)
{
    const struct nc_config *cfg = r->w->cfg;
    const struct nc_arg *q = NULL, *lim = NULL;
    for (int i = 0; i < r->nargs; i++) {
        if (strcmp(r->args[i].name, "query") == 0)
            q = &r->args[i];
        else if (strcmp(r->args[i].name, "limit") == 0)
            lim = &r->args[i];
        else {
            *ret = nc_req_problem(r, 400, "unknown_parameter", "Bad Request",
                                  "Only query and limit are accepted.");
            return -1;
        }
    }
    if (!q) {
        *ret = nc_req_problem(r, 400, "missing_query", "Bad Request",
                              "The query parameter is required.");
        return -1;
    }
    rq->limit = LIMIT_DEFAULT;
    if (lim) {
        char *end;
        long v = lim->value_len && lim->value_len < 4 && lim->value[0] != '-' &&
                         lim->value[0] != '+' && lim->value[0] != ' '
                     ? strtol(lim->value, &end, 10)
                     : -1;
        if (v < 1 || v > LIMIT_MAX || (lim->value_len && *end)) {
            *ret = nc_req_problem(r, 400, "invalid_limit", "Bad Request",
                                  "limit must be an integer from 1 to 50.");
            return -1;
        }
        rq->limit = (int)v;
    }
    if (q->value_len > cfg->max_query_bytes) {
        *ret = nc_req_problem(r, 414, "query_too_long", "Query Too Long",
                              "The query text is longer than MAX_QUERY_BYTES.");
        return -1;
    }
    const char *err;
    if (memchr(q->value, '\0', q->value_len) || !nc_utf8_valid(q->value, q->value_len) ||
        nc_normalise(nc_config_ns_norm(cfg, NS), q->value, q->value_len, &r->scratch, &err) != 0) {
        *ret = nc_req_problem(r, 400, "invalid_utf8", "Bad Request",
                              "The query text is not valid UTF-8 or contains NUL.");
        return -1;
    }
    if (!r->scratch.len) {
        *ret = nc_req_problem(r, 400, "empty_query", "Bad Request",
                              "The query text is empty once normalised.");
        return -1;
    }
    /* The key covers everything that changes the answer: the normalised
     * query and the limit. */
    size_t qlen = r->scratch.len;
    if (nc_buf_printf(&r->scratch, "\nlimit=%d", rq->limit) != 0) {
        *ret = nc_req_problem(r, 500, "internal", "Internal Error", "Out of memory.");
        return -1;
    }
    strcpy(r->ns, NS);
    char hex[17];
    nc_key_digest16(cfg->key_secret, cfg->key_secret_len, r->scratch.data, r->scratch.len, hex);
    r->keylen = snprintf(r->key, sizeof r->key, "%s:%s:r:%s", cfg->key_prefix, NS, hex);
    r->scratch.len = qlen;
    r->scratch.data[qlen] = '\0';
    return 0;
}

static void parse_cache_control(const char *cc, struct recs_req *rq)
{
    if (!cc)
        return;
    /* Directive names are case-insensitive tokens separated by commas. */
    const char *p = cc;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *s = p;
        while (*p && *p != ',' && *p != '=' && *p != ' ')
            p++;
        size_t n = (size_t)(p - s);
        if (n == 8 && strncasecmp(s, "no-cache", 8) == 0)
            rq->no_cache = 1;
        else if (n == 14 && strncasecmp(s, "only-if-cached", 14) == 0)
            rq->only_if_cached = 1;
        while (*p && *p != ',')
            p++;
    }
}

static void on_read(void *priv, redisReply *reply)
{
    struct nc_req *r = priv;
    struct recs_req *rq = r->ext;
    if (!reply)
        r->redis_failed = 1;
    else if (reply->type == REDIS_REPLY_STRING) {
        nc_buf_reset(&r->out);
        if (nc_buf_append(&r->out, reply->str, reply->len) == 0 &&
            entry_parse(r->out.data, r->out.len, &rq->stale_entry) == 0)
            r->have_value = 1;
    }
    r->outstanding--;
    if (r->state == NC_REQ_WAITING)
        nc_req_resume(r);
}

/* Starts (or joins) the upstream flight for this request, or answers from
 * stale / 503 when the in-flight cap is hit. */
static enum MHD_Result go_upstream(struct nc_req *r, struct recs_req *rq, int bypass)
{
    struct recs_worker *rw = r->w->recs;
    const struct entry *stale = r->have_value ? &rq->stale_entry : NULL;
    (void)bypass;
    long long min_stored = rq->no_cache ? (long long)nc_wall_ms()
                           : stale      ? stale->stored_ms + 1
                                        : 0;
    if (flight_join(rw, r, r->key, r->scratch.data, r->scratch.len, rq->limit, 0, stale,
                    min_stored) != 0) {
        if (stale)
            return answer_entry(r, stale, nc_wall_ms());
        r->cache = "MISS";
        nc_req_header(r, "Retry-After", "1");
        nc_req_header(r, "Cache-Status", "normcache; detail=upstream-busy");
        return nc_req_problem(r, 503, "upstream_busy", "Service Unavailable",
                              "Too many upstream calls in flight; retry shortly.");
    }
    r->num = 1; /* phase: waiting for the flight */
    nc_req_suspend(r);
    return MHD_YES;
}

static enum MHD_Result after_read(struct nc_req *r, struct recs_req *rq)
{
    const struct nc_config *cfg = r->w->cfg;
    int64_t now = nc_wall_ms();
    if (r->have_value && !rq->no_cache) {
        const struct entry *e = &rq->stale_entry;
        int fresh = now < e->fresh_until_ms;
        if (fresh && e->status == 200 && cfg->early_refresh_beta > 0 && e->delta_ms > 0) {
            /* XFetch: refresh early with a probability that rises as expiry
             * nears, scaled by how long a rebuild takes. */
            double u = 1.0 - nc_rand_unit(); /* (0, 1]: log(0) is -inf */
            double gap = -(double)e->delta_ms * cfg->early_refresh_beta * log(u);
            if ((double)now + gap >= (double)e->fresh_until_ms)
                flight_join(r->w->recs, NULL, r->key, r->scratch.data, r->scratch.len, rq->limit, 1,
                            e, e->stored_ms + 1);
        } else if (!fresh && e->status == 200) {
            /* stale-while-revalidate: once per key (the flight table) */
            flight_join(r->w->recs, NULL, r->key, r->scratch.data, r->scratch.len, rq->limit, 1, e,
                        e->stored_ms + 1);
        }
        if (fresh || e->status == 200)
            return answer_entry(r, e, now);
    }
    if (rq->only_if_cached) {
        r->cache = "MISS";
        nc_req_header(r, "Cache-Status", "normcache; detail=only-if-cached");
        return nc_req_problem(r, 504, "not_cached", "Gateway Timeout",
                              "only-if-cached was asked and nothing is cached.");
    }
    return go_upstream(r, rq, r->redis_failed);
}

static void recs_done(struct nc_req *r)
{
    struct recs_req *rq = r->ext;
    if (rq) {
        result_put(rq->res);
        free(rq);
        r->ext = NULL;
    }
}

static enum MHD_Result recs_start(struct nc_req *r)
{
    struct recs_req *rq = calloc(1, sizeof *rq);
    if (!rq)
        return nc_req_problem(r, 503, "out_of_memory", "Service Unavailable", "Out of memory.");
    r->ext = rq;
    enum MHD_Result ret;
    if (parse_request(r, rq, &ret) != 0)
        return ret;
    parse_cache_control(nc_req_hdr(r, "Cache-Control"), rq);
    if (rq->no_cache && !rq->only_if_cached)
        return go_upstream(r, rq, 0);
    const char *argv[2] = {"GET", r->key};
    size_t lens[2] = {3, (size_t)r->keylen};
    if (nc_store_command(r->w->store, on_read, r, 2, argv, lens) != 0) {
        r->redis_failed = 1;
        return after_read(r, rq);
    }
    r->outstanding++;
    r->num = 0; /* phase: reading */
    nc_req_suspend(r);
    return MHD_YES;
}

static enum MHD_Result recs_resume(struct nc_req *r)
{
    struct recs_req *rq = r->ext;
    if (r->num == 0)
        return after_read(r, rq);
    return answer_result(r, rq);
}

const struct nc_handler nc_recs_handler = {
    .start = recs_start,
    .resume = recs_resume,
    .done = recs_done,
};

/* --------------------------------------------------------- loop hooks */

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int nc_recs_worker_init(struct nc_worker *w, int epfd)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_init_once);
    struct recs_worker *rw = calloc(1, sizeof *rw);
    if (!rw)
        return -1;
    rw->w = w;
    rw->epfd = epfd;
    rw->curl_deadline = -1;
    pthread_mutex_init(&rw->mlock, NULL);
    rw->mailfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    rw->multi = curl_multi_init();
    w->recs = rw;
    if (rw->mailfd < 0 || !rw->multi)
        return -1;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &rw->mailfd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, rw->mailfd, &e) != 0)
        return -1;
    curl_multi_setopt(rw->multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb);
    curl_multi_setopt(rw->multi, CURLMOPT_SOCKETDATA, rw);
    curl_multi_setopt(rw->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(rw->multi, CURLMOPT_TIMERDATA, rw);
    curl_multi_setopt(rw->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    if (w->cfg->redis_enabled && !atomic_exchange(&sub_started, 1)) {
        sub_cfg = w->cfg;
        if (pthread_create(&sub_thread, NULL, sub_main, NULL) != 0)
            atomic_store(&sub_started, 0);
    }
    return 0;
}

void nc_recs_worker_shutdown(struct nc_worker *w)
{
    struct recs_worker *rw = w->recs;
    if (!rw)
        return;
    rw->shutting_down = 1;
    /* Upstream calls still running: fail them so waiters get answers. */
    struct flight *f = rw->owned;
    while (f) {
        struct flight *next = f->onext;
        if (f->easy) {
            curl_multi_remove_handle(rw->multi, f->easy);
            curl_easy_cleanup(f->easy);
            f->easy = NULL;
        }
        if (f->state != F_DONE)
            flight_finish(f, f->background ? NULL : result_new(503, NULL, 0));
        f = next;
    }
    mailbox_drain(rw);
}

void nc_recs_worker_free(struct nc_worker *w)
{
    struct recs_worker *rw = w->recs;
    if (!rw)
        return;
    if (atomic_exchange(&sub_started, 0)) {
        atomic_store(&sub_stop, 1);
        int fd = atomic_load(&sub_fd);
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
        pthread_join(sub_thread, NULL);
    }
    while (rw->owned) {
        struct flight *f = rw->owned;
        f->outstanding = 0;
        f->state = F_DONE;
        if (f->easy) {
            curl_multi_remove_handle(rw->multi, f->easy);
            curl_easy_cleanup(f->easy);
            f->easy = NULL;
        }
        flight_maybe_free(f);
    }
    struct msg *m = rw->mhead;
    while (m) {
        struct msg *next = m->next;
        result_put(m->res);
        free(m);
        m = next;
    }
    if (rw->multi)
        curl_multi_cleanup(rw->multi);
    if (rw->mailfd >= 0)
        close(rw->mailfd);
    pthread_mutex_destroy(&rw->mlock);
    free(rw);
    w->recs = NULL;
}

void nc_recs_on_event(struct nc_worker *w, void *ptr, uint32_t events)
{
    struct recs_worker *rw = w->recs;
    if (ptr == &rw->mailfd) {
        mailbox_drain(rw);
        return;
    }
    struct csock *cs = ptr;
    int flags = (events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                (events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                (events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    int running;
    curl_multi_socket_action(rw->multi, cs->fd, flags, &running);
    curl_check_done(rw);
}

void nc_recs_tick(struct nc_worker *w, int64_t now_ms)
{
    struct recs_worker *rw = w->recs;
    if (rw->curl_deadline >= 0 && now_ms >= rw->curl_deadline) {
        int running;
        rw->curl_deadline = -1;
        curl_multi_socket_action(rw->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        curl_check_done(rw);
    }
    const struct nc_config *cfg = w->cfg;
    for (struct flight *f = rw->owned; f;) {
        struct flight *next = f->onext;
        if (f->state == F_WAITING && (now_ms >= f->next_poll || now_ms >= f->deadline))
            lock_try(f);
        else if (f->state == F_FETCHING && f->have_lock && now_ms >= f->next_renew) {
            char px[16];
            int pl = snprintf(px, sizeof px, "%d", cfg->lock_ttl_ms);
            const char *argv[6] = {"EVAL", renew_script, "1", f->lockkey, f->token, px};
            size_t lens[6] = {
                4, strlen(renew_script), 1, strlen(f->lockkey), strlen(f->token), (size_t)pl};
            flight_cmd(f, C_RENEW, 6, argv, lens);
            f->next_renew = now_ms + cfg->lock_ttl_ms / 3;
        }
        f = next;
    }
}

int nc_recs_next_timeout_ms(struct nc_worker *w, int64_t now_ms)
{
    struct recs_worker *rw = w->recs;
    int64_t dl = rw->curl_deadline;
    for (struct flight *f = rw->owned; f; f = f->onext) {
        int64_t d = -1;
        if (f->state == F_WAITING)
            d = f->next_poll < f->deadline ? f->next_poll : f->deadline;
        else if (f->state == F_FETCHING && f->have_lock)
            d = f->next_renew;
        if (d >= 0 && (dl < 0 || d < dl))
            dl = d;
    }
    if (dl < 0)
        return -1;
    return dl <= now_ms ? 0 : (int)(dl - now_ms);
}
