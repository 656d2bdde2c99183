/* upstream.c - the recommendations upstream client: one libcurl multi
 * handle per worker, driven by the worker's epoll loop (sockets registered
 * with data.ptr = a struct csock, timers through curl_deadline). A call's
 * outcome is classified here (200 with valid JSON, 404, or 502/504) and
 * handed to rebuild.c. */
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "normcache/clock.h"
#include "normcache/json.h"
#include "normcache/log.h"
#include "normcache/counters.h"
#include "recs_int.h"

/* The upstream's JSON is only validated, never walked: the parser's depth
 * limit is its maximum. */
#define UPSTREAM_JSON_DEPTH 1000

/* A socket of curl's in the worker's epoll set. fd is -1 once curl has
 * removed it: the struct then waits on rw->csock_dead until the next tick,
 * because epoll_wait may already have returned an event carrying its
 * address in the batch being dispatched (freeing it at once was a
 * use-after-free found by make asan). */
struct csock {
    int fd;
    uint32_t registered;
    struct csock *next_dead;
};

static void free_dead_socks(struct nc_recs_worker *rw)
{
    while (rw->csock_dead) {
        struct csock *cs = rw->csock_dead;
        rw->csock_dead = cs->next_dead;
        free(cs);
    }
}

static int curl_sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *sockp)
{
    struct nc_recs_worker *rw = userp;
    struct csock *cs = sockp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (cs) {
            if (cs->registered)
                epoll_ctl(rw->epfd, EPOLL_CTL_DEL, cs->fd, NULL);
            cs->fd = -1;
            cs->next_dead = rw->csock_dead;
            rw->csock_dead = cs;
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
    struct nc_recs_worker *rw = userp;
    (void)multi;
    rw->curl_deadline = timeout_ms < 0 ? -1 : nc_now_ms() + timeout_ms;
    return 0;
}

static size_t curl_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct nc_recs_flight *f = userdata;
    size_t n = size * nmemb;
    if (f->resp.len + n > f->owner->w->cfg->max_body_bytes) {
        f->too_large = 1;
        return 0; /* aborts the transfer */
    }
    return nc_buf_append(&f->resp, ptr, n) == 0 ? n : 0;
}

int nc_recs_upstream_init(struct nc_recs_worker *rw)
{
    rw->curl_deadline = -1;
    rw->multi = curl_multi_init();
    if (!rw->multi)
        return -1;
    curl_multi_setopt(rw->multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb);
    curl_multi_setopt(rw->multi, CURLMOPT_SOCKETDATA, rw);
    curl_multi_setopt(rw->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(rw->multi, CURLMOPT_TIMERDATA, rw);
    curl_multi_setopt(rw->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    return 0;
}

void nc_recs_upstream_cleanup(struct nc_recs_worker *rw)
{
    if (rw->multi)
        curl_multi_cleanup(rw->multi);
    rw->multi = NULL;
    free_dead_socks(rw);
}

void nc_recs_upstream_abort(struct nc_recs_flight *f)
{
    if (!f->easy)
        return;
    curl_multi_remove_handle(f->owner->multi, f->easy);
    curl_easy_cleanup(f->easy);
    f->easy = NULL;
}

void nc_recs_upstream_start(struct nc_recs_flight *f)
{
    struct nc_recs_worker *rw = f->owner;
    const struct nc_config *cfg = rw->w->cfg;
    atomic_store(&f->state, F_FETCHING);
    f->easy = curl_easy_init();
    char *q = f->easy ? curl_easy_escape(f->easy, f->query, 0) : NULL;
    struct nc_buf url;
    nc_buf_init(&url);
    int rc = q ? nc_buf_printf(&url, "%s/recommendations?query=%s&limit=%d", cfg->upstream_url, q,
                               f->limit)
               : -1;
    curl_free(q);
    if (rc != 0) {
        nc_buf_free(&url);
        nc_recs_upstream_abort(f);
        nc_recs_flight_upstream_done(f, 502, 0);
        return;
    }
    curl_easy_setopt(f->easy, CURLOPT_URL, url.data);
    nc_buf_free(&url); /* libcurl copied it */
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
        nc_recs_flight_upstream_done(f, 502, 0);
    }
}

/* 1 when body[0..len) is JSON. */
static int json_valid(const char *body, size_t len)
{
    struct nc_json_doc *doc = NULL;
    int ok = nc_json_parse(body ? body : "", len, UPSTREAM_JSON_DEPTH, &doc, NULL) == 0;
    nc_json_doc_free(doc);
    return ok;
}

static void transfer_done(struct nc_recs_flight *f, CURLcode cc)
{
    struct nc_recs_worker *rw = f->owner;
    long http = 0;
    curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &http);
    int64_t delta = nc_now_ms() - f->t_up_start;
    nc_recs_upstream_abort(f);

    int status;
    enum nc_upstream_result m;
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        status = 504;
        m = NC_UP_TIMEOUT;
    } else if (cc != CURLE_OK || f->too_large) {
        status = 502;
        m = NC_UP_ERROR;
    } else if (http == 404) {
        status = 404;
        m = NC_UP_OK;
    } else if (http >= 200 && http < 300 && json_valid(f->resp.data, f->resp.len)) {
        status = 200;
        m = NC_UP_OK;
    } else {
        status = 502;
        m = NC_UP_ERROR;
    }
    nc_counters_upstream(rw->w->counters, m);
    if (status >= 500)
        nc_logf(NC_LOG_WARN, "upstream call for %s failed: %s (HTTP %ld)", f->key,
                cc != CURLE_OK ? curl_easy_strerror(cc)
                : f->too_large ? "answer too large"
                               : "bad answer",
                http);
    nc_recs_flight_upstream_done(f, status, delta);
}

static void check_done(struct nc_recs_worker *rw)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(rw->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct nc_recs_flight *f = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&f);
        if (f)
            transfer_done(f, m->data.result);
    }
}

void nc_recs_upstream_on_event(struct nc_recs_worker *rw, void *ptr, uint32_t events)
{
    struct csock *cs = ptr;
    if (cs->fd < 0)
        return; /* removed by an earlier event of the same batch */
    int flags = (events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                (events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                (events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    int running;
    curl_multi_socket_action(rw->multi, cs->fd, flags, &running);
    check_done(rw);
}

void nc_recs_upstream_tick(struct nc_recs_worker *rw, int64_t now_ms)
{
    if (rw->curl_deadline >= 0 && now_ms >= rw->curl_deadline) {
        int running;
        rw->curl_deadline = -1;
        curl_multi_socket_action(rw->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_done(rw);
    }
    /* After the batch's events: no event can name these any more. */
    free_dead_socks(rw);
}
