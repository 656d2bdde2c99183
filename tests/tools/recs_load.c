/* recs_load.c - a small libcurl-multi load tool for the recommendation
 * integration tests (tests/integration/test_recs_*.sh).
 *
 *   recs_load [-n N] [-c C] [-k] [-t MS] [-p MS] [-H HDR]... [-o FILE] URL [URL...]
 *
 *   -n N     requests in all (default 1)
 *   -c C     at most C at once (default N: all at once)
 *   -k       reuse connections (keep-alive); default: a fresh connection per
 *            request, closed after it, so that C requests hold C sockets
 *   -t MS    per-request timeout (default 10000)
 *   -p MS    start at most one request every MS milliseconds (default 0)
 *   -H HDR   extra request header (repeatable)
 *   -d BODY  the body of PUT URLs: a URL written "PUT:http://..." is sent as
 *            a PUT of BODY with Content-Type: application/json
 *   -o FILE  one line per request:
 *            idx url_idx status start_us end_us latency_us body_hash x_cache cache_status
 *            (start/end: CLOCK_REALTIME microseconds, comparable across runs;
 *            x_cache "-" when absent; cache_status is the rest of the line)
 *   URL...   request i goes to URL[i % count]
 *
 * Prints a summary as key=value lines: requests, status_<code>, errors
 * (transport failures, status 000), bodies (distinct bodies among all
 * answers), bodies_200, xcache_<value>, p50_ms p90_ms p99_ms max_ms min_ms
 * (per-request latency), first_end_us last_end_us, wall_ms, nofile.
 *
 * Raises its soft RLIMIT_NOFILE to the hard limit when C sockets need it. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "normcache/hash.h"

struct rq {
    int idx, url_idx;
    CURL *easy;
    int64_t start_us, end_us; /* realtime */
    int64_t start_mono, end_mono;
    long status;
    uint64_t hash;
    int hashed;
    char xcache[32];
    char cstatus[160];
};

static int64_t now_us(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t on_body(char *p, size_t s, size_t n, void *u)
{
    struct rq *r = u;
    size_t len = s * n;
    if (!r->hashed) {
        r->hash = NC_FNV1A64_INIT;
        r->hashed = 1;
    }
    r->hash = nc_fnv1a64_more(r->hash, p, len);
    return len;
}

static void copy_value(char *dst, size_t cap, const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
    for (char *q = dst; *q; q++)
        if (*q == '\t' || *q == '\n')
            *q = ' ';
}

static size_t on_header(char *p, size_t s, size_t n, void *u)
{
    struct rq *r = u;
    size_t len = s * n;
    if (len > 8 && strncasecmp(p, "X-Cache:", 8) == 0)
        copy_value(r->xcache, sizeof r->xcache, p + 8, len - 8);
    else if (len > 13 && strncasecmp(p, "Cache-Status:", 13) == 0)
        copy_value(r->cstatus, sizeof r->cstatus, p + 13, len - 13);
    return len;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static size_t distinct(uint64_t *v, size_t n)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, cmp_u64);
    size_t d = 1;
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[i - 1])
            d++;
    return d;
}

static double pct(const int64_t *sorted, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)n + 0.999999);
    if (i < 1)
        i = 1;
    if (i > n)
        i = n;
    return (double)sorted[i - 1] / 1000.0;
}

static void usage(void)
{
    fprintf(stderr, "usage: recs_load [-n N] [-c C] [-k] [-t MS] [-p MS] [-H HDR]... [-d BODY] "
                    "[-o FILE] URL [URL...]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long n = 1, c = 0, timeout_ms = 10000, pace_ms = 0;
    int keepalive = 0;
    const char *out = NULL, *put_body = "";
    struct curl_slist *hdrs = NULL, *put_hdrs = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "n:c:kt:p:H:d:o:")) != -1) {
        switch (opt) {
        case 'n':
            n = atol(optarg);
            break;
        case 'c':
            c = atol(optarg);
            break;
        case 'k':
            keepalive = 1;
            break;
        case 't':
            timeout_ms = atol(optarg);
            break;
        case 'p':
            pace_ms = atol(optarg);
            break;
        case 'H':
            hdrs = curl_slist_append(hdrs, optarg);
            put_hdrs = curl_slist_append(put_hdrs, optarg);
            break;
        case 'd':
            put_body = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind >= argc || n < 1)
        usage();
    char **urls = argv + optind;
    int nurls = argc - optind;
    put_hdrs = curl_slist_append(put_hdrs, "Content-Type: application/json");
    if (c <= 0 || c > n)
        c = n;

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = (rlim_t)c + 64;
        if (rl.rlim_cur < want) {
            rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur < (rlim_t)c + 16)
            fprintf(stderr, "recs_load: warning: RLIMIT_NOFILE %llu is too low for %ld sockets\n",
                    (unsigned long long)rl.rlim_cur, c);
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)(c + 16));
    struct rq *rs = calloc((size_t)n, sizeof *rs);
    if (!rs)
        return 1;

    long started = 0, done = 0, running_n = 0;
    int64_t t0 = now_us(CLOCK_MONOTONIC), next_start = t0;
    while (done < n) {
        int64_t now = now_us(CLOCK_MONOTONIC);
        while (started < n && running_n < c && now >= next_start) {
            struct rq *r = &rs[started];
            r->idx = (int)started;
            r->url_idx = (int)(started % nurls);
            r->easy = curl_easy_init();
            const char *url = urls[r->url_idx];
            if (strncmp(url, "PUT:", 4) == 0) {
                url += 4;
                curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, "PUT");
                curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, put_body);
                curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, put_hdrs);
            } else if (hdrs) {
                curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, hdrs);
            }
            curl_easy_setopt(r->easy, CURLOPT_URL, url);
            curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
            curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
            curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
            curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
            curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
            curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
            curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(r->easy, CURLOPT_NOPROXY, "*");
            if (!keepalive) {
                curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, 1L);
                curl_easy_setopt(r->easy, CURLOPT_FORBID_REUSE, 1L);
            }
            r->start_us = now_us(CLOCK_REALTIME);
            r->start_mono = now_us(CLOCK_MONOTONIC);
            curl_multi_add_handle(m, r->easy);
            started++;
            running_n++;
            if (pace_ms > 0) {
                next_start += pace_ms * 1000;
                break;
            }
        }
        int still;
        curl_multi_perform(m, &still);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct rq *r = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            r->end_us = now_us(CLOCK_REALTIME);
            r->end_mono = now_us(CLOCK_MONOTONIC);
            if (msg->data.result == CURLE_OK)
                curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
            else
                r->status = 0;
            curl_multi_remove_handle(m, r->easy);
            curl_easy_cleanup(r->easy);
            r->easy = NULL;
            done++;
            running_n--;
        }
        if (done >= n)
            break;
        int wait_ms = 100;
        if (pace_ms > 0 && started < n && running_n < c) {
            int64_t d = (next_start - now_us(CLOCK_MONOTONIC)) / 1000;
            wait_ms = d < 0 ? 0 : d < wait_ms ? (int)d : wait_ms;
        } else if (started < n && running_n < c) {
            wait_ms = 0;
        }
        curl_multi_poll(m, NULL, 0, wait_ms, NULL);
    }
    int64_t t1 = now_us(CLOCK_MONOTONIC);

    FILE *fo = out ? fopen(out, "w") : NULL;
    int64_t *lat = malloc((size_t)n * sizeof *lat);
    uint64_t *h_all = malloc((size_t)n * sizeof *h_all), *h_200 = malloc((size_t)n * sizeof *h_200);
    size_t n200 = 0;
    long statuses[600] = {0};
    long errors = 0;
    int64_t first_end = INT64_MAX, last_end = 0;
    /* x-cache tallies: a few distinct values at most */
    char xv[16][32];
    long xc[16] = {0};
    int nx = 0;
    for (long i = 0; i < n; i++) {
        struct rq *r = &rs[i];
        lat[i] = r->end_mono - r->start_mono;
        h_all[i] = r->hashed ? r->hash : 0;
        if (r->status == 200)
            h_200[n200++] = h_all[i];
        if (r->status > 0 && r->status < 600)
            statuses[r->status]++;
        else
            errors++;
        if (r->end_us < first_end)
            first_end = r->end_us;
        if (r->end_us > last_end)
            last_end = r->end_us;
        const char *x = r->xcache[0] ? r->xcache : "-";
        int j;
        for (j = 0; j < nx; j++)
            if (strcmp(xv[j], x) == 0)
                break;
        if (j == nx && nx < 16)
            snprintf(xv[nx++], sizeof xv[0], "%s", x);
        if (j < 16)
            xc[j]++;
        if (fo)
            fprintf(fo, "%d %d %ld %lld %lld %lld %016llx %s %s\n", r->idx, r->url_idx, r->status,
                    (long long)r->start_us, (long long)r->end_us, (long long)lat[i],
                    (unsigned long long)h_all[i], x, r->cstatus[0] ? r->cstatus : "-");
    }
    if (fo)
        fclose(fo);
    qsort(lat, (size_t)n, sizeof *lat, cmp_i64);
    printf("requests=%ld\n", n);
    for (int s = 0; s < 600; s++)
        if (statuses[s])
            printf("status_%d=%ld\n", s, statuses[s]);
    printf("errors=%ld\n", errors);
    printf("bodies=%zu\n", distinct(h_all, (size_t)n));
    printf("bodies_200=%zu\n", distinct(h_200, n200));
    for (int j = 0; j < nx; j++)
        printf("xcache_%s=%ld\n", xv[j], xc[j]);
    printf("min_ms=%.3f\np50_ms=%.3f\np90_ms=%.3f\np99_ms=%.3f\nmax_ms=%.3f\n",
           (double)lat[0] / 1000.0, pct(lat, (size_t)n, 0.50), pct(lat, (size_t)n, 0.90),
           pct(lat, (size_t)n, 0.99), (double)lat[n - 1] / 1000.0);
    printf("first_end_us=%lld\nlast_end_us=%lld\n", (long long)first_end, (long long)last_end);
    printf("wall_ms=%.3f\n", (double)(t1 - t0) / 1000.0);
    printf("nofile=%llu\n", (unsigned long long)rl.rlim_cur);
    curl_multi_cleanup(m);
    curl_slist_free_all(hdrs);
    curl_slist_free_all(put_hdrs);
    curl_global_cleanup();
    free(rs);
    free(lat);
    free(h_all);
    free(h_200);
    return 0;
}
