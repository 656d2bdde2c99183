/* cluster.c - a worker's Redis Cluster client under the store (see
 * cluster.h; the process-wide node table is cluster_nodes.c).
 *
 * A command is copied into a `struct ccmd` (argv and all) so that it can be
 * sent again after a redirect; the copy lives until its caller's callback
 * has run. */
#include "normcache/cluster.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "normcache/breaker.h"
#include "normcache/cluster_nodes.h"
#include "normcache/clock.h"
#include "normcache/log.h"
#include "normcache/slot.h"

#define REDIRECTS_MAX 2     /* a MOVED, then an ASK during a migration */
#define REFRESH_GAP_MS 100  /* at most one map refresh per worker per this */
#define LOAD_WAIT_MS_MIN 50 /* a command waits for the first map at least this */

/* ------------------------------------------------------ the worker's part */

struct ccmd {
    struct nc_cluster *c;
    nc_conn_cb *cb;
    void *priv;
    int slot; /* -1: keyless */
    int node; /* where it was last sent */
    int redirects;
    int64_t deadline; /* while waiting for the first map */
    struct ccmd *next;
    struct ccmd *parent; /* a split command's part */
    int parts;           /* a split command: parts not answered yet */
    int failed;
    long long sum;
    int argc;
    const char **argv;
    size_t *lens;
};

struct hook {
    nc_conn_setup_fn *fn;
    void *ud;
    const atomic_uint *gen;
};

struct nc_cluster {
    const struct nc_config *cfg;
    int epfd;
    int closing;
    uint16_t slot[NC_SLOTS]; /* global node index, or NC_SLOT_NONE */
    int have_map;
    int masters[NC_CLUSTER_NODES_MAX]; /* node indexes of the map's masters */
    int nmasters;
    unsigned rr;                                 /* keyless commands go round the masters */
    struct nc_conn *conns[NC_CLUSTER_NODES_MAX]; /* by node index, opened lazily */
    struct hook hooks[NC_CONN_SETUP_MAX];
    int nhooks;
    /* map loading */
    int loading;
    int load_tries;     /* candidates tried for the current load */
    unsigned load_next; /* the next candidate (rotating) */
    int load_node;      /* the node asked */
    int refresh_wanted;
    int64_t next_refresh_ms;
    struct nc_slot_map *tmp; /* parse buffer */
    struct ccmd *wait_head, *wait_tail;
};

static void on_reply(void *priv, redisReply *reply);
static int start_load(struct nc_cluster *c);

static struct nc_conn *conn_for(struct nc_cluster *c, int node)
{
    if (c->conns[node])
        return c->conns[node];
    struct nc_cluster_node *nd = nc_cluster_node_at(node);
    struct nc_conn *cn = nc_conn_new(c->cfg, nd->host, nd->port, 0, &nd->brk, c->epfd);
    if (!cn)
        return NULL;
    for (int i = 0; i < c->nhooks; i++)
        nc_conn_add_setup(cn, c->hooks[i].fn, c->hooks[i].ud, c->hooks[i].gen);
    c->conns[node] = cn;
    return cn;
}

static void want_refresh(struct nc_cluster *c)
{
    if (!c->closing)
        c->refresh_wanted = 1;
}

/* The caller's callback (or the split parent's sum), then the copy goes. */
static void finish(struct ccmd *m, redisReply *reply)
{
    struct ccmd *p = m->parent;
    if (p) {
        if (!reply || reply->type != REDIS_REPLY_INTEGER)
            p->failed = 1;
        else
            p->sum += reply->integer;
        free(m);
        if (--p->parts == 0) {
            redisReply sum = {.type = REDIS_REPLY_INTEGER, .integer = p->sum};
            p->cb(p->priv, p->failed ? NULL : &sum);
            free(p);
        }
        return;
    }
    if (m->cb)
        m->cb(m->priv, reply);
    free(m);
}

/* Sends m to node (-1: the slot's master, or any for a keyless command),
 * ASKING first when asking. 0, or -1 (m not sent, not freed). */
static int dispatch(struct nc_cluster *c, struct ccmd *m, int node, int asking)
{
    if (c->closing)
        return -1; /* a callback of the shutdown sending more */
    if (node < 0) {
        if (!c->nmasters)
            return -1;
        node = m->slot >= 0 ? c->slot[m->slot] : c->masters[c->rr++ % (unsigned)c->nmasters];
    }
    if (node == NC_SLOT_NONE) {
        want_refresh(c);
        return -1;
    }
    struct nc_conn *cn = conn_for(c, node);
    if (!cn)
        return -1;
    static const char *asking_argv[1] = {"ASKING"};
    static const size_t asking_len[1] = {6};
    if (asking && nc_conn_command(cn, NULL, NULL, 1, asking_argv, asking_len) != 0)
        return -1;
    m->node = node;
    if (nc_conn_command(cn, on_reply, m, m->argc, m->argv, m->lens) != 0) {
        want_refresh(c); /* refused (breaker open, no connection): the map may have moved */
        return -1;
    }
    return 0;
}

static int is_error(const redisReply *r, const char *prefix)
{
    size_t n = strlen(prefix);
    return r->type == REDIS_REPLY_ERROR && r->len >= n && memcmp(r->str, prefix, n) == 0;
}

static void on_reply(void *priv, redisReply *reply)
{
    struct ccmd *m = priv;
    struct nc_cluster *c = m->c;
    if (!reply) {
        want_refresh(c); /* a connection lost or timed out: the map may have moved */
        finish(m, NULL);
        return;
    }
    struct nc_redirect rd;
    if (reply->type == REDIS_REPLY_ERROR && !c->closing &&
        nc_slot_parse_redirect(reply->str, reply->len, &rd) == 0) {
        const char *host = rd.host[0] ? rd.host : nc_cluster_node_at(m->node)->host;
        int node = nc_cluster_node_get(c->cfg, host, rd.port);
        if (rd.kind == NC_REDIRECT_MOVED) {
            nc_cluster_nodes_count(NC_CLUSTER_STAT_MOVED);
            if (node >= 0)
                c->slot[rd.slot] = (uint16_t)node;
            want_refresh(c);
        } else {
            nc_cluster_nodes_count(NC_CLUSTER_STAT_ASK);
        }
        if (node >= 0 && m->redirects < REDIRECTS_MAX) {
            m->redirects++;
            if (dispatch(c, m, node, rd.kind == NC_REDIRECT_ASK) == 0)
                return;
        }
        finish(m, NULL);
        return;
    }
    if (is_error(reply, "CLUSTERDOWN") || is_error(reply, "TRYAGAIN")) {
        want_refresh(c);
        finish(m, NULL); /* the cluster, not the key: a failure, never a value */
        return;
    }
    finish(m, reply);
}

/* ------------------------------------------------------------ the map */

static void fail_waiting(struct nc_cluster *c, int64_t now_ms, int all)
{
    struct ccmd **pp = &c->wait_head;
    c->wait_tail = NULL;
    while (*pp) {
        struct ccmd *m = *pp;
        if (all || now_ms >= m->deadline) {
            *pp = m->next;
            finish(m, NULL);
        } else {
            c->wait_tail = m;
            pp = &m->next;
        }
    }
}

static void install_map(struct nc_cluster *c, const struct nc_slot_map *m)
{
    int idx[NC_SLOT_NODES_MAX] = {0};
    for (int i = 0; i < m->nnodes; i++)
        idx[i] = nc_cluster_node_get(c->cfg, m->nodes[i].host, m->nodes[i].port);
    c->nmasters = 0;
    for (int i = 0; i < m->nnodes; i++)
        if (idx[i] >= 0)
            c->masters[c->nmasters++] = idx[i];
    for (int s = 0; s < NC_SLOTS; s++)
        c->slot[s] = m->node[s] == NC_SLOT_NONE || idx[m->node[s]] < 0 ? NC_SLOT_NONE
                                                                       : (uint16_t)idx[m->node[s]];
    nc_cluster_nodes_set_masters(c->masters, c->nmasters);
    c->have_map = 1;
    /* Warm every master's connection (and its breaker's view for /readyz). */
    static const char *ping[1] = {"PING"};
    static const size_t ping_len[1] = {4};
    for (int k = 0; k < c->nmasters; k++) {
        struct nc_conn *cn = conn_for(c, c->masters[k]);
        if (cn && !nc_conn_connected(cn))
            nc_conn_command(cn, NULL, NULL, 1, ping, ping_len);
    }
}

static void on_slots(void *priv, redisReply *reply)
{
    struct nc_cluster *c = priv;
    c->loading = 0;
    if (c->closing)
        return;
    char err[128] = "no reply";
    const char *self = nc_cluster_node_at(c->load_node)->host;
    if (reply && nc_slot_parse_slots(reply, self, c->tmp, err, sizeof err) == 0) {
        install_map(c, c->tmp);
        c->load_tries = 0;
        struct ccmd *m = c->wait_head;
        c->wait_head = c->wait_tail = NULL;
        while (m) {
            struct ccmd *next = m->next;
            m->next = NULL;
            if (dispatch(c, m, -1, 0) != 0)
                finish(m, NULL);
            m = next;
        }
        return;
    }
    nc_logf(NC_LOG_WARN, "redis cluster: cannot load the slot map: %s", err);
    /* Another candidate, until each was tried once for this load. */
    if (start_load(c) != 0) {
        c->load_tries = 0;
        fail_waiting(c, 0, 1);
    }
}

/* Candidates: the current masters, then the seeds. */
static int candidate(struct nc_cluster *c, int k)
{
    if (k < c->nmasters)
        return c->masters[k];
    k -= c->nmasters;
    if (k < c->cfg->redis_nnodes)
        return nc_cluster_node_get(c->cfg, c->cfg->redis_nodes[k].host,
                                   c->cfg->redis_nodes[k].port);
    return -1;
}

/* Sends CLUSTER SLOTS to the next candidate that accepts it. */
static int start_load(struct nc_cluster *c)
{
    static const char *argv[2] = {"CLUSTER", "SLOTS"};
    static const size_t lens[2] = {7, 5};
    int ncand = c->nmasters + c->cfg->redis_nnodes;
    while (c->load_tries < ncand) {
        int node = candidate(c, (int)(c->load_next++ % (unsigned)ncand));
        c->load_tries++;
        struct nc_conn *cn = node >= 0 ? conn_for(c, node) : NULL;
        if (cn && nc_conn_command(cn, on_slots, c, 2, argv, lens) == 0) {
            c->loading = 1;
            c->load_node = node;
            return 0;
        }
    }
    return -1;
}

static void refresh_now(struct nc_cluster *c, int64_t now_ms)
{
    c->refresh_wanted = 0;
    c->next_refresh_ms = now_ms + REFRESH_GAP_MS;
    c->load_tries = 0;
    if (start_load(c) != 0)
        c->load_tries = 0;
}

/* ------------------------------------------------------------- the API */

struct nc_cluster *nc_cluster_new(const struct nc_config *cfg, int epfd)
{
    struct nc_cluster *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->tmp = malloc(sizeof *c->tmp);
    if (!c->tmp) {
        free(c);
        return NULL;
    }
    c->cfg = cfg;
    c->epfd = epfd;
    for (int s = 0; s < NC_SLOTS; s++)
        c->slot[s] = NC_SLOT_NONE;
    if (cfg->redis_enabled)
        refresh_now(c, nc_now_ms());
    return c;
}

void nc_cluster_free(struct nc_cluster *c)
{
    if (!c)
        return;
    c->closing = 1;
    fail_waiting(c, 0, 1);
    for (int i = 0; i < NC_CLUSTER_NODES_MAX; i++) {
        struct nc_conn *cn = c->conns[i];
        c->conns[i] = NULL; /* a callback run by the free finds it gone */
        nc_conn_free(cn);
    }
    free(c->tmp);
    free(c);
}

int nc_cluster_add_setup(struct nc_cluster *c, nc_conn_setup_fn *fn, void *ud,
                         const atomic_uint *gen)
{
    if (c->nhooks == NC_CONN_SETUP_MAX)
        return -1;
    c->hooks[c->nhooks++] = (struct hook){fn, ud, gen};
    for (int i = 0; i < NC_CLUSTER_NODES_MAX; i++)
        if (c->conns[i] && nc_conn_add_setup(c->conns[i], fn, ud, gen) != 0)
            return -1;
    return 0;
}

/* Where the key is: 1 (most commands), 3 (EVAL/EVALSHA/FCALL with keys),
 * or -1 (keyless). */
static int key_index(int argc, const char **argv, const size_t *lens)
{
    static const char *const keyless[] = {"PING",   "ECHO",   "INFO",   "CLUSTER", "CLIENT",
                                          "SCAN",   "SCRIPT", "DBSIZE", "TIME",    "FUNCTION",
                                          "CONFIG", "ASKING", "PUBLISH"};
    if (argc < 2)
        return -1;
    for (size_t i = 0; i < sizeof keyless / sizeof keyless[0]; i++)
        if (lens[0] == strlen(keyless[i]) && strncasecmp(argv[0], keyless[i], lens[0]) == 0)
            return -1;
    if ((lens[0] == 4 && strncasecmp(argv[0], "EVAL", 4) == 0) ||
        (lens[0] == 7 && strncasecmp(argv[0], "EVALSHA", 7) == 0) ||
        (lens[0] == 5 && strncasecmp(argv[0], "FCALL", 5) == 0))
        return argc > 3 && lens[2] > 0 && argv[2][0] != '0' ? 3 : -1;
    return 1;
}

static int is_splittable(const char **argv, const size_t *lens)
{
    static const char *const multi[] = {"UNLINK", "DEL", "EXISTS", "TOUCH"};
    for (size_t i = 0; i < sizeof multi / sizeof multi[0]; i++)
        if (lens[0] == strlen(multi[i]) && strncasecmp(argv[0], multi[i], lens[0]) == 0)
            return 1;
    return 0;
}

static struct ccmd *copy_cmd(struct nc_cluster *c, nc_conn_cb *cb, void *priv, int argc,
                             const char **argv, const size_t *lens)
{
    size_t bytes = sizeof(struct ccmd) + (size_t)argc * (sizeof(char *) + sizeof(size_t));
    for (int i = 0; i < argc; i++)
        bytes += lens[i];
    struct ccmd *m = calloc(1, bytes);
    if (!m)
        return NULL;
    m->c = c;
    m->cb = cb;
    m->priv = priv;
    m->argc = argc;
    m->argv = (const char **)(m + 1);
    m->lens = (size_t *)(m->argv + argc);
    char *p = (char *)(m->lens + argc);
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i], lens[i]);
        m->argv[i] = p;
        m->lens[i] = lens[i];
        p += lens[i];
    }
    int k = key_index(argc, argv, lens);
    m->slot = k < 0 ? -1 : (int)nc_slot_of(argv[k], lens[k]);
    return m;
}

/* Sends m now, or queues it for the first map. 0, or -1 (m freed, its
 * callback not run). */
static int submit(struct nc_cluster *c, struct ccmd *m)
{
    if (c->have_map || c->closing) {
        if (dispatch(c, m, -1, 0) == 0)
            return 0;
        free(m);
        return -1;
    }
    if (!c->loading && start_load(c) != 0) {
        c->load_tries = 0;
        free(m);
        return -1;
    }
    int wait =
        c->cfg->redis_timeout_ms < LOAD_WAIT_MS_MIN ? LOAD_WAIT_MS_MIN : c->cfg->redis_timeout_ms;
    m->deadline = nc_now_ms() + wait;
    if (c->wait_tail)
        c->wait_tail->next = m;
    else
        c->wait_head = m;
    c->wait_tail = m;
    return 0;
}

int nc_cluster_command(struct nc_cluster *c, nc_conn_cb *cb, void *priv, int argc,
                       const char **argv, const size_t *argvlen)
{
    if (argc > 2 && is_splittable(argv, argvlen)) {
        /* One part per key, summed: keys of a SCAN page are in many slots. */
        struct ccmd *p = copy_cmd(c, cb, priv, 0, argv, argvlen);
        if (!p)
            return -1;
        p->parts = 1; /* held until every part is out */
        for (int i = 1; i < argc; i++) {
            const char *pargv[2] = {argv[0], argv[i]};
            const size_t plens[2] = {argvlen[0], argvlen[i]};
            struct ccmd *m = copy_cmd(c, NULL, NULL, 2, pargv, plens);
            if (!m) {
                p->failed = 1;
                continue;
            }
            m->parent = p;
            p->parts++;
            if (submit(c, m) != 0) { /* m is freed */
                p->parts--;
                p->failed = 1;
            }
        }
        if (p->parts == 1) { /* nothing went out: the caller fails open now */
            free(p);
            return -1;
        }
        p->parts--; /* the hold; parts are answered later, never in here */
        return 0;
    }
    struct ccmd *m = copy_cmd(c, cb, priv, argc, argv, argvlen);
    if (!m)
        return -1;
    return submit(c, m);
}

int nc_cluster_masters(const struct nc_cluster *c)
{
    return c->nmasters;
}

int nc_cluster_command_master(struct nc_cluster *c, int i, nc_conn_cb *cb, void *priv, int argc,
                              const char **argv, const size_t *argvlen)
{
    if (i < 0 || i >= c->nmasters)
        return -1;
    struct ccmd *m = copy_cmd(c, cb, priv, argc, argv, argvlen);
    if (!m)
        return -1;
    m->redirects = REDIRECTS_MAX; /* a node's own keys: nothing to follow */
    if (dispatch(c, m, c->masters[i], 0) != 0) {
        free(m);
        return -1;
    }
    return 0;
}

int nc_cluster_on_event(struct nc_cluster *c, void *ptr, uint32_t events)
{
    int n = nc_cluster_node_count();
    for (int i = 0; i < n; i++)
        if (c->conns[i] && ptr == (void *)c->conns[i]) {
            nc_conn_on_event(c->conns[i], events);
            return 1;
        }
    return 0;
}

void nc_cluster_flush(struct nc_cluster *c)
{
    int n = nc_cluster_node_count();
    for (int i = 0; i < n; i++)
        if (c->conns[i])
            nc_conn_flush(c->conns[i]);
}

void nc_cluster_tick(struct nc_cluster *c, int64_t now_ms)
{
    int n = nc_cluster_node_count();
    for (int i = 0; i < n; i++)
        if (c->conns[i])
            nc_conn_tick(c->conns[i], now_ms);
    if (c->wait_head)
        fail_waiting(c, now_ms, 0);
    /* A master another worker found dead (its breaker is shared): this
     * worker's map may route to it too, even if it sent nothing since. */
    for (int k = 0; k < c->nmasters && !c->refresh_wanted; k++)
        if (nc_breaker_is_open(&nc_cluster_node_at(c->masters[k])->brk))
            want_refresh(c);
    if (c->refresh_wanted && !c->loading && now_ms >= c->next_refresh_ms)
        refresh_now(c, now_ms);
}

int nc_cluster_next_timeout_ms(const struct nc_cluster *c, int64_t now_ms)
{
    int64_t t = -1;
    int n = nc_cluster_node_count();
    for (int i = 0; i < n; i++) {
        int ct = c->conns[i] ? nc_conn_next_timeout_ms(c->conns[i], now_ms) : -1;
        if (ct >= 0 && (t < 0 || ct < t))
            t = ct;
    }
    for (const struct ccmd *m = c->wait_head; m; m = m->next) {
        int64_t wt = m->deadline <= now_ms ? 0 : m->deadline - now_ms;
        if (t < 0 || wt < t)
            t = wt;
    }
    if (c->refresh_wanted && !c->loading) {
        int64_t rt = c->next_refresh_ms <= now_ms ? 0 : c->next_refresh_ms - now_ms;
        if (t < 0 || rt < t)
            t = rt;
    }
    return (int)t;
}
