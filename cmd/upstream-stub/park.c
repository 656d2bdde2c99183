/*
 * park.c - parking of delayed requests: a min-heap of suspended connections
 * keyed by due time, the list of requests held in "hang" mode, the timer
 * thread that resumes them when due, and the shutdown drain. Every structure
 * here is guarded by stub.lock (see stub.h for a parked request's life).
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "normcache/clock.h"

#include "stub.h"

/* An absolute CLOCK_MONOTONIC time for the condition variables (see stub_start). */
static struct timespec mono_timespec(int64_t us)
{
    struct timespec ts = {.tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000};

    return ts;
}

/* ---- min-heap of parked requests, keyed by due_us; caller holds lock ---- */

static void heap_set(struct stub *st, size_t i, struct stub_pending *p)
{
    st->heap[i] = p;
    p->heap_idx = i;
}

static void heap_sift_up(struct stub *st, size_t i)
{
    struct stub_pending *p = st->heap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (st->heap[parent]->due_us <= p->due_us)
            break;
        heap_set(st, i, st->heap[parent]);
        i = parent;
    }
    heap_set(st, i, p);
}

static void heap_sift_down(struct stub *st, size_t i)
{
    struct stub_pending *p = st->heap[i];

    for (;;) {
        size_t child = 2 * i + 1;

        if (child >= st->heap_len)
            break;
        if (child + 1 < st->heap_len && st->heap[child + 1]->due_us < st->heap[child]->due_us)
            child++;
        if (p->due_us <= st->heap[child]->due_us)
            break;
        heap_set(st, i, st->heap[child]);
        i = child;
    }
    heap_set(st, i, p);
}

/* Capacity is reserved before a request parks (heap_cap >= parked), so this cannot fail. */
static void heap_push(struct stub *st, struct stub_pending *p)
{
    st->heap[st->heap_len] = p;
    p->heap_idx = st->heap_len++;
    heap_sift_up(st, p->heap_idx);
}

static void heap_remove(struct stub *st, struct stub_pending *p)
{
    size_t i = p->heap_idx;
    struct stub_pending *last = st->heap[--st->heap_len];

    p->heap_idx = SIZE_MAX;
    if (i == st->heap_len)
        return;
    heap_set(st, i, last);
    heap_sift_down(st, i);
    heap_sift_up(st, last->heap_idx);
}

/* Make room for one more parked request: the heap may have to hold them all at once. */
static int heap_reserve(struct stub *st, size_t need)
{
    struct stub_pending **grown;
    size_t cap;

    if (st->heap_cap >= need)
        return 0;
    cap = st->heap_cap ? st->heap_cap * 2 : 256;
    while (cap < need)
        cap *= 2;
    grown = realloc(st->heap, cap * sizeof(*grown));
    if (grown == NULL)
        return -1;
    st->heap = grown;
    st->heap_cap = cap;
    return 0;
}

/* ---- hang list; caller holds lock ---- */

static void hang_push(struct stub *st, struct stub_pending *p)
{
    p->prev = NULL;
    p->next = st->hang_head;
    if (st->hang_head != NULL)
        st->hang_head->prev = p;
    st->hang_head = p;
    p->in_hang = true;
}

static void hang_remove(struct stub *st, struct stub_pending *p)
{
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        st->hang_head = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    p->in_hang = false;
}

/* ---- parking ---- */

int stub_park_begin(struct stub *st, struct stub_pending *req, long latency_ms)
{
    if (heap_reserve(st, st->parked + 1) != 0)
        return -1;
    /* Counted before suspending, so shutdown waits for it even if it parks late. */
    st->parked++;
    req->counted = true;
    req->due_us = nc_now_us() + (int64_t)latency_ms * 1000;
    return 0;
}

void stub_park_file(struct stub *st, struct stub_pending *req)
{
    pthread_mutex_lock(&st->lock);
    req->phase = STUB_PHASE_PARKED;
    if (req->mode == STUB_MODE_HANG && st->mode != STUB_MODE_HANG)
        req->mode = st->mode; /* released in between: answer by the new mode */
    if (req->mode == STUB_MODE_HANG && !st->stopping)
        hang_push(st, req);
    else
        heap_push(st, req);
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->lock);
}

void stub_park_release_hang(struct stub *st)
{
    /* Each keeps its own due time: the latency read on arrival still applies. */
    while (st->hang_head != NULL) {
        struct stub_pending *p = st->hang_head;

        hang_remove(st, p);
        p->mode = st->mode;
        heap_push(st, p);
    }
    pthread_cond_signal(&st->wake);
}

/* A parked request stops counting: wake the drain if it waits for the last one. */
void stub_park_uncount(struct stub *st, struct stub_pending *req)
{
    if (!req->counted)
        return;
    req->counted = false;
    if (--st->parked == 0)
        pthread_cond_broadcast(&st->drained);
}

void stub_park_forget(struct stub *st, struct stub_pending *req)
{
    pthread_mutex_lock(&st->lock);
    if (req->heap_idx != SIZE_MAX)
        heap_remove(st, req);
    if (req->in_hang)
        hang_remove(st, req);
    stub_park_uncount(st, req);
    pthread_mutex_unlock(&st->lock);
}

/* ---- timer thread: resumes requests whose latency has elapsed ---- */

/*
 * Sleeps until the earliest due time (or a signal that the heap changed),
 * then resumes every due connection. While stopping, everything parked is
 * due at once and answered 503. Runs until timer_exit.
 */
static void *timer_main(void *arg)
{
    struct stub *st = arg;

    pthread_mutex_lock(&st->lock);
    while (!st->timer_exit) {
        int64_t now = nc_now_us();
        struct stub_pending *batch = NULL;

        if (st->stopping) {
            while (st->hang_head != NULL) {
                struct stub_pending *p = st->hang_head;

                hang_remove(st, p);
                p->drained = true;
                p->phase = STUB_PHASE_RESUMED;
                p->ready_next = batch;
                batch = p;
            }
        }
        while (st->heap_len > 0 && (st->stopping || st->heap[0]->due_us <= now)) {
            struct stub_pending *p = st->heap[0];

            heap_remove(st, p);
            if (st->stopping && p->due_us > now)
                p->drained = true;
            p->phase = STUB_PHASE_RESUMED;
            p->ready_next = batch;
            batch = p;
        }
        if (batch != NULL) {
            /*
             * Resume outside our lock. Each connection is still suspended, so
             * it cannot be closed or freed before its own resume call; right
             * after that call it can be, so read the next link first.
             */
            pthread_mutex_unlock(&st->lock);
            while (batch != NULL) {
                struct stub_pending *next = batch->ready_next;

                MHD_resume_connection(batch->conn);
                batch = next;
            }
            pthread_mutex_lock(&st->lock);
            continue;
        }
        if (st->heap_len > 0) {
            struct timespec ts = mono_timespec(st->heap[0]->due_us);

            pthread_cond_timedwait(&st->wake, &st->lock, &ts);
        } else {
            pthread_cond_wait(&st->wake, &st->lock);
        }
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

int stub_timer_start(struct stub *st)
{
    return pthread_create(&st->timer, NULL, timer_main, st) == 0 ? 0 : -1;
}

void stub_timer_stop(struct stub *st)
{
    pthread_mutex_lock(&st->lock);
    st->timer_exit = true;
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->lock);
    pthread_join(st->timer, NULL);
}

int stub_park_drain(struct stub *st)
{
    struct timespec ts = mono_timespec(nc_now_us() + (int64_t)STUB_DRAIN_TIMEOUT_MS * 1000);
    int rc = 0;

    pthread_mutex_lock(&st->lock);
    st->stopping = true;
    pthread_cond_signal(&st->wake);
    while (st->parked > 0 && rc == 0)
        if (pthread_cond_timedwait(&st->drained, &st->lock, &ts) == ETIMEDOUT)
            rc = -1;
    if (st->parked == 0)
        rc = 0;
    pthread_mutex_unlock(&st->lock);
    return rc;
}
