/* loop.c - the recommendations module's worker hooks (see recs.h): set-up
 * and tear-down of a worker's state, and its share of the epoll loop
 * (mailbox, upstream sockets, timers of the flights it owns). */
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "normcache/recs.h"
#include "recs_int.h"

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int nc_recs_worker_init(struct nc_worker *w, int epfd)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_init_once);
    struct nc_recs_worker *rw = calloc(1, sizeof *rw);
    if (!rw)
        return -1;
    rw->w = w;
    rw->epfd = epfd;
    rw->curl_deadline = -1;
    pthread_mutex_init(&rw->mlock, NULL);
    rw->mailfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->recs = rw;
    if (rw->mailfd < 0 || nc_recs_upstream_init(rw) != 0)
        return -1;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &rw->mailfd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, rw->mailfd, &e) != 0)
        return -1;
    if (w->cfg->redis_enabled)
        nc_recs_sub_watch(w->cfg);
    return 0;
}

void nc_recs_worker_shutdown(struct nc_worker *w)
{
    struct nc_recs_worker *rw = w->recs;
    if (!rw)
        return;
    rw->shutting_down = 1;
    /* Every flight still running ends now: its waiters here are resumed,
     * those on other workers get a message in their mailboxes. */
    struct nc_recs_flight *f = rw->owned;
    while (f) {
        struct nc_recs_flight *next = f->onext;
        nc_recs_upstream_abort(f);
        if (atomic_load(&f->state) != F_DONE)
            nc_recs_flight_abandon(f);
        f = next;
    }
}

void nc_recs_worker_drain(struct nc_worker *w)
{
    struct nc_recs_worker *rw = w->recs;
    if (rw)
        nc_recs_mailbox_drain(rw);
}

void nc_recs_worker_free(struct nc_worker *w)
{
    struct nc_recs_worker *rw = w->recs;
    if (!rw)
        return;
    while (rw->owned) {
        struct nc_recs_flight *f = rw->owned;
        f->outstanding = 0;
        atomic_store(&f->state, F_DONE);
        nc_recs_upstream_abort(f);
        nc_recs_flight_maybe_free(f);
    }
    struct nc_recs_msg *m = rw->mhead;
    while (m) {
        struct nc_recs_msg *next = m->next;
        nc_recs_result_put(m->res);
        free(m);
        m = next;
    }
    nc_recs_upstream_cleanup(rw);
    if (rw->mailfd >= 0)
        close(rw->mailfd);
    pthread_mutex_destroy(&rw->mlock);
    free(rw);
    w->recs = NULL;
}

void nc_recs_on_event(struct nc_worker *w, void *ptr, uint32_t events)
{
    struct nc_recs_worker *rw = w->recs;
    if (ptr == &rw->mailfd)
        nc_recs_mailbox_drain(rw);
    else
        nc_recs_upstream_on_event(rw, ptr, events);
}

void nc_recs_tick(struct nc_worker *w, int64_t now_ms)
{
    struct nc_recs_worker *rw = w->recs;
    nc_recs_upstream_tick(rw, now_ms);
    for (struct nc_recs_flight *f = rw->owned; f;) {
        struct nc_recs_flight *next = f->onext;
        enum nc_recs_fstate st = atomic_load(&f->state);
        if (st == F_WAITING && (now_ms >= f->next_poll || now_ms >= f->deadline))
            nc_recs_lock_try(f);
        else if (st == F_FETCHING && f->have_lock && now_ms >= f->next_renew)
            nc_recs_lock_renew(f, now_ms);
        f = next;
    }
}

int nc_recs_next_timeout_ms(struct nc_worker *w, int64_t now_ms)
{
    struct nc_recs_worker *rw = w->recs;
    int64_t dl = rw->curl_deadline;
    for (struct nc_recs_flight *f = rw->owned; f; f = f->onext) {
        int64_t d = -1;
        enum nc_recs_fstate st = atomic_load(&f->state);
        if (st == F_WAITING)
            d = f->next_poll < f->deadline ? f->next_poll : f->deadline;
        else if (st == F_FETCHING && f->have_lock)
            d = f->next_renew;
        if (d >= 0 && (dl < 0 || d < dl))
            dl = d;
    }
    if (dl < 0)
        return -1;
    return dl <= now_ms ? 0 : (int)(dl - now_ms);
}
