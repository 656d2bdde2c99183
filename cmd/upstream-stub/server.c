/*
 * server.c - the stub's life cycle: its state (locks, mode, counters), the
 * descriptor limit, starting the timer thread and the libmicrohttpd daemon,
 * and the orderly stop (drain, timer, daemon) that lets it exit 0.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/resource.h>

#include "stub.h"

/* 1000+ concurrent clients need 1000+ descriptors: take all the hard limit allows. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        stub_log("warn", "rlimit", strerror(errno));
}

static int state_init(struct stub *st, const struct stub_config *cfg)
{
    pthread_condattr_t attr;

    memset(st, 0, sizeof(*st));
    st->mode = STUB_MODE_OK;
    st->latency_ms = cfg->latency_ms;
    st->fail_rate = cfg->fail_rate;
    atomic_init(&st->calls, 0);
    if (pthread_mutex_init(&st->lock, NULL) != 0)
        return -1;
    /* The timer's deadlines are monotonic, so its condition variables must be too. */
    if (pthread_condattr_init(&attr) != 0)
        goto fail_lock;
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&st->wake, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        goto fail_lock;
    }
    if (pthread_cond_init(&st->drained, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        pthread_cond_destroy(&st->wake);
        goto fail_lock;
    }
    pthread_condattr_destroy(&attr);
    return 0;
fail_lock:
    pthread_mutex_destroy(&st->lock);
    return -1;
}

static void state_destroy(struct stub *st)
{
    free(st->heap);
    pthread_cond_destroy(&st->drained);
    pthread_cond_destroy(&st->wake);
    pthread_mutex_destroy(&st->lock);
}

static void log_listening(struct MHD_Daemon *daemon, const char *addr)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info != NULL ? info->port : 0u;
    char msg[128];

    snprintf(msg, sizeof(msg), "listening on %s port %u", addr, port);
    stub_log_port("info", "listening", msg, (long)port);
}

int stub_start(struct stub *st, const struct stub_config *cfg)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;

    raise_nofile();
    if (state_init(st, cfg) != 0) {
        stub_log("error", "init", "cannot create locks");
        return -1;
    }
    if (stub_timer_start(st) != 0) {
        stub_log("error", "init", "cannot start the timer thread");
        state_destroy(st);
        return -1;
    }
    if (cfg->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    st->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, stub_route, st, MHD_OPTION_EXTERNAL_LOGGER,
        stub_log_mhd, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&cfg->addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)STUB_CONN_LIMIT, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned)STUB_CONN_LIMIT, MHD_OPTION_NOTIFY_COMPLETED, stub_request_completed, st,
        MHD_OPTION_END);
    if (st->daemon == NULL) {
        char msg[96];

        snprintf(msg, sizeof(msg), "cannot listen on %s port %u", cfg->addr_text, cfg->port);
        stub_log("error", "listen", msg);
        stub_timer_stop(st);
        state_destroy(st);
        return -1;
    }
    log_listening(st->daemon, cfg->addr_text);
    return 0;
}

int stub_stop(struct stub *st)
{
    if (stub_park_drain(st) != 0) {
        /* MHD_stop_daemon aborts on a suspended connection: leave without it. */
        stub_log("error", "stopping", "suspended requests did not drain in time");
        return -1;
    }
    stub_timer_stop(st);
    MHD_stop_daemon(st->daemon);
    state_destroy(st);
    stub_log("info", "stopped", NULL);
    return 0;
}
