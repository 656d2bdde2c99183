/*
 * ceiling.c - the benchmark's ceiling server.
 *
 * The most any HTTP service built on libmicrohttpd can answer on this
 * machine, with the same threading model as normcache: one worker thread per
 * core, each with its own MHD daemon in external-epoll mode (no internal
 * thread, suspend/resume allowed), all bound to the same port with
 * SO_REUSEPORT. Each worker's loop waits on its own epoll set, in which MHD's
 * epoll fd is registered level-triggered, with the wait capped by
 * MHD_get_timeout(), then calls MHD_run(). Every request is answered 200 with
 * a fixed ~200-byte JSON body.
 *
 * Env: PORT (8090), BIND_ADDR (127.0.0.1), THREADS (number of online CPUs).
 * SIGTERM or SIGINT stops it (exit 0).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MAX_THREADS 256

/* 200 bytes: the size of the benchmark's small cached value. */
static const char BODY[] =
    "{\"query\":\"how do i open an account\",\"answer\":\"Open the app, tap "
    "Sign up and follow the steps; you need an ID document and two minutes."
    "\",\"source\":\"faq\",\"lang\":\"en\",\"score\":0.97,\"id\":\"faq-0042\","
    "\"v\":1}";

struct worker {
    pthread_t thread;
    struct MHD_Daemon *daemon;
    struct MHD_Response *response; /* one per worker: no refcount contention */
    int loop_fd;                   /* our epoll set: MHD's epoll fd + stop fd */
    int stop_fd;                   /* eventfd, written once on shutdown */
};

static int marker; /* con_cls: the request's headers have been seen */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct worker *w = cls;
    (void)url;
    (void)version;
    (void)upload_data;
    (void)method;
    if (*con_cls == NULL) {
        /* Answering on the first call (headers just parsed) makes MHD 0.9.75
         * discard the rest of the request and close the connection; answer on
         * the next call, once the (empty or discarded) body is done. */
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, w->response);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[8];
    for (;;) {
        MHD_UNSIGNED_LONG_LONG to = 0;
        int timeout = 1000;
        if (MHD_get_timeout(w->daemon, &to) == MHD_YES && to < (MHD_UNSIGNED_LONG_LONG)timeout)
            timeout = (int)to;
        int n = epoll_wait(w->loop_fd, evs, 8, timeout);
        if (n < 0 && errno != EINTR) {
            perror("ceiling: epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++)
            if (evs[i].data.fd == w->stop_fd)
                return NULL;
        if (MHD_run(w->daemon) != MHD_YES) {
            fprintf(stderr, "ceiling: MHD_run failed\n");
            break;
        }
    }
    return NULL;
}

static long env_long(const char *name, long def, long min, long max)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return def;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "ceiling: invalid %s=%s (accepted: %ld..%ld)\n", name, s, min, max);
        exit(2);
    }
    return v;
}

static int worker_start(struct worker *w, const struct sockaddr_in *addr)
{
    w->daemon = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
                                 ntohs(addr->sin_port), NULL, NULL, on_request, w,
                                 MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)addr,
                                 MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_END);
    if (w->daemon == NULL)
        return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(w->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (info == NULL)
        return -1;
    w->response =
        MHD_create_response_from_buffer(sizeof BODY - 1, (void *)BODY, MHD_RESPMEM_PERSISTENT);
    if (w->response == NULL ||
        MHD_add_response_header(w->response, "Content-Type", "application/json") != MHD_YES)
        return -1;
    w->loop_fd = epoll_create1(EPOLL_CLOEXEC);
    w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->loop_fd < 0 || w->stop_fd < 0)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = info->epoll_fd}; /* level-triggered */
    if (epoll_ctl(w->loop_fd, EPOLL_CTL_ADD, info->epoll_fd, &ev) != 0)
        return -1;
    ev.data.fd = w->stop_fd;
    if (epoll_ctl(w->loop_fd, EPOLL_CTL_ADD, w->stop_fd, &ev) != 0)
        return -1;
    return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : -1;
}

int main(void)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    long nthreads = env_long("THREADS", ncpu > 0 ? ncpu : 1, 1, MAX_THREADS);
    long port = env_long("PORT", 8090, 1, 65535);
    const char *bind_addr = getenv("BIND_ADDR");
    if (bind_addr == NULL || *bind_addr == '\0')
        bind_addr = "127.0.0.1";

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1) {
        fprintf(stderr, "ceiling: invalid BIND_ADDR=%s (accepted: an IPv4 address)\n", bind_addr);
        return 2;
    }

    /* Workers inherit this mask: only the main thread takes the signals. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    static struct worker workers[MAX_THREADS];
    for (long i = 0; i < nthreads; i++) {
        if (worker_start(&workers[i], &addr) != 0) {
            fprintf(stderr, "ceiling: cannot start worker %ld on %s:%ld: %s\n", i, bind_addr, port,
                    strerror(errno));
            return 1;
        }
    }
    fprintf(stderr, "ceiling: listening on %s:%ld with %ld workers\n", bind_addr, port, nthreads);

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {
    }

    for (long i = 0; i < nthreads; i++) {
        uint64_t one = 1;
        if (write(workers[i].stop_fd, &one, sizeof one) != (ssize_t)sizeof one)
            perror("ceiling: eventfd write");
    }
    for (long i = 0; i < nthreads; i++) {
        pthread_join(workers[i].thread, NULL);
        MHD_stop_daemon(workers[i].daemon);
        MHD_destroy_response(workers[i].response);
        close(workers[i].loop_fd);
        close(workers[i].stop_fd);
    }
    return 0;
}
