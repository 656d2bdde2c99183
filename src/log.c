/* log.c - JSON-lines logger on stderr (see log.h).
 *
 * Each line is written with one write(2), so lines from different worker
 * threads never interleave. The access log is batched per thread
 * (nc_log_write_batched): the lines of one loop pass go out together when
 * the pass ends, which saves a system call and an allocation per request
 * and delays no line by more than a pass. */
#include "normcache/log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "normcache/buf.h"
#include "normcache/jsonstr.h"

static volatile int log_level = NC_LOG_INFO;
static const char *level_names[] = {"debug", "info", "warn", "error"};

void nc_log_set_level(enum nc_log_level level)
{
    log_level = (int)level;
}

int nc_log_enabled(enum nc_log_level level)
{
    return (int)level >= log_level;
}

void nc_log_timestamp(char *buf, size_t len)
{
    /* The date and time to the second change once a second: kept per
     * thread, so a busy access log formats only the milliseconds. */
    static _Thread_local time_t last_sec = -1;
    static _Thread_local char last[24];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != last_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(last, sizeof last, "%Y-%m-%dT%H:%M:%S", &tm);
        last_sec = ts.tv_sec;
    }
    snprintf(buf, len, "%s.%03ldZ", last, ts.tv_nsec / 1000000);
}

/* Appends one line to b; 0 or -1 (b is then left as it was). */
static int log_line(struct nc_buf *b, enum nc_log_level level, const char *msg, const char *fields)
{
    char ts[40];
    size_t start = b->len;
    nc_log_timestamp(ts, sizeof ts);
    if (nc_buf_printf(b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, level_names[level]) ||
        nc_jsonstr_append(b, msg, strlen(msg), 0) ||
        (fields && *fields && nc_buf_appendc(b, ',')) || (fields && nc_buf_appends(b, fields)) ||
        nc_buf_append(b, "}\n", 2)) {
        b->len = start;
        return -1;
    }
    return 0;
}

void nc_log_write(enum nc_log_level level, const char *msg, const char *fields)
{
    if (!nc_log_enabled(level))
        return;
    struct nc_buf b;
    nc_buf_init(&b);
    if (log_line(&b, level, msg, fields) == 0) {
        ssize_t w = write(STDERR_FILENO, b.data, b.len);
        (void)w;
    }
    nc_buf_free(&b);
}

/* The access log's batch: lines of this thread's loop pass, written by
 * nc_log_flush in writes of whole lines of at most PIPE_BUF bytes (a pipe
 * keeps such writes whole, so threads never interleave inside a line). */
static _Thread_local struct nc_buf log_batch;

#define LOG_BATCH_MAX 65536
#define LOG_WRITE_MAX 4096 /* PIPE_BUF on Linux */

void nc_log_write_batched(enum nc_log_level level, const char *msg, const char *fields)
{
    if (!nc_log_enabled(level))
        return;
    if (log_line(&log_batch, level, msg, fields) != 0)
        nc_log_write(level, msg, fields); /* out of memory: unbatched */
    else if (log_batch.len >= LOG_BATCH_MAX)
        nc_log_flush();
}

void nc_log_flush(void)
{
    const char *p = log_batch.data;
    size_t left = log_batch.len;
    if (!p || !left)
        return;
    while (left > 0) {
        size_t n = left;
        if (n > LOG_WRITE_MAX) {
            /* cut after the last whole line that fits (one line longer
             * than that goes alone) */
            const char *nl = memrchr(p, '\n', LOG_WRITE_MAX);
            n = nl ? (size_t)(nl - p) + 1 : (size_t)((const char *)memchr(p, '\n', left) - p) + 1;
        }
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w <= 0)
            break; /* stderr gone: drop, never block the loop on it */
        p += w;
        left -= (size_t)w;
    }
    nc_buf_reset(&log_batch);
    if (log_batch.cap > LOG_BATCH_MAX * 2)
        nc_buf_free(&log_batch); /* after a burst, do not keep the peak */
}

void nc_log_thread_end(void)
{
    nc_log_flush();
    nc_buf_free(&log_batch);
}

void nc_logf(enum nc_log_level level, const char *fmt, ...)
{
    if (!nc_log_enabled(level))
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    // va_start is just above; the analyzer loses track through the macro.
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    nc_log_write(level, msg, NULL);
}

/* ------------------------------------------------ other libraries' lines */

/* May a library's %s argument be shown? Short phrases and system error
 * texts may; anything that could be a request target, a header or other
 * client bytes (a '/', '?', '%', '=', '&', '@', '\\', a quote, a byte outside
 * printable ASCII, or more than 80 bytes) is replaced. */
static int log_arg_safe(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (++n > 80 || *p < 0x20 || *p > 0x7E || strchr("/?%=&@\\\"`", *p))
            return 0;
    return 1;
}

/* The analyzer loses track of the va_copy below through the pointer and
 * flags every va_arg (as in nc_logf above).
 * NOLINTBEGIN(clang-analyzer-valist.Uninitialized) */

/* Formats one conversion (spec: '%' flags width .precision length conv,
 * stars already replaced by numbers) taking its argument from ap. Returns
 * what snprintf returns, or -1 for a conversion it does not know (the rest
 * of the format is then dropped: the arguments can no longer be followed). */
static int log_conv(char *out, size_t len, const char *spec, const char *lenmod, char conv,
                    va_list *ap)
{
    int ll = lenmod[0] == 'l' && lenmod[1] == 'l';
    int l = lenmod[0] == 'l' && !ll;
    int big = lenmod[0] == 'z' || lenmod[0] == 'j' || lenmod[0] == 't' || lenmod[0] == 'q';
    switch (conv) {
    case 'd':
    case 'i':
        if (ll || big || l)
            return snprintf(out, len, spec, ll || big ? va_arg(*ap, long long) : va_arg(*ap, long));
        return snprintf(out, len, spec, va_arg(*ap, int));
    case 'u':
    case 'o':
    case 'x':
    case 'X':
        if (ll || big || l)
            return snprintf(out, len, spec,
                            ll || big ? va_arg(*ap, unsigned long long)
                                      : va_arg(*ap, unsigned long));
        return snprintf(out, len, spec, va_arg(*ap, unsigned int));
    case 'c':
        return snprintf(out, len, spec, va_arg(*ap, int));
    case 'p':
        return snprintf(out, len, spec, va_arg(*ap, void *));
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G':
    case 'a':
    case 'A':
        if (lenmod[0] == 'L')
            return snprintf(out, len, spec, (double)va_arg(*ap, long double));
        return snprintf(out, len, spec, va_arg(*ap, double));
    case 's': {
        const char *s = va_arg(*ap, const char *);
        return snprintf(out, len, spec, !s ? "(null)" : log_arg_safe(s) ? s : "(redacted)");
    }
    default:
        return -1;
    }
}

int nc_log_format_foreign(char *out, size_t len, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    size_t o = 0;
    const char *p = fmt;
    out[0] = '\0';
    while (*p && o + 1 < len) {
        if (*p != '%' || p[1] == '%') {
            out[o++] = *p;
            p += *p == '%' ? 2 : 1;
            continue;
        }
        /* Rebuild the conversion with the l/ll/z/j/t/q/L length kept as
         * written but '*' replaced by the argument's value. */
        char spec[64], lenmod[3] = {0, 0, 0};
        size_t sl = 0;
        spec[sl++] = *p++;
        while (*p && strchr("-+ #0'", *p) && sl < 16)
            spec[sl++] = *p++;
        for (int part = 0; part < 2; part++) {
            if (part == 1) {
                if (*p != '.')
                    break;
                spec[sl++] = *p++;
            }
            if (*p == '*') {
                int v = va_arg(aq, int);
                p++;
                if (part == 1 && v < 0)
                    v = 0;
                sl += (size_t)snprintf(spec + sl, sizeof spec - sl - 8, "%d", v);
            } else {
                while (*p >= '0' && *p <= '9' && sl < 40)
                    spec[sl++] = *p++;
            }
        }
        size_t ml = 0;
        while (*p && strchr("hlLqjzt", *p) && ml < 2) {
            lenmod[ml++] = *p;
            spec[sl++] = *p++;
        }
        char conv = *p;
        if (!conv)
            break;
        p++;
        spec[sl++] = conv;
        spec[sl] = '\0';
        int n = log_conv(out + o, len - o, spec, lenmod, conv, &aq);
        if (n < 0)
            break;
        o += (size_t)n < len - o ? (size_t)n : len - o - 1;
    }
    va_end(aq);
    out[o] = '\0';
    return (int)o;
}
/* NOLINTEND(clang-analyzer-valist.Uninitialized) */

void nc_log_foreign(enum nc_log_level level, const char *source, const char *fmt, va_list ap)
{
    if (!nc_log_enabled(level))
        return;
    char msg[512];
    size_t n = (size_t)nc_log_format_foreign(msg, sizeof msg, fmt, ap);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    struct nc_buf f;
    nc_buf_init(&f);
    if (nc_buf_appends(&f, "\"source\":") == 0 &&
        nc_jsonstr_append(&f, source, strnlen(source, 64), 0) == 0)
        nc_log_write(level, msg, f.data);
    nc_buf_free(&f);
}
