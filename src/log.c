/* log.c - JSON-lines logger on stderr (see log.h).
 *
 * Each line is written with one write(2), so lines from different worker
 * threads never interleave. The access log is batched per thread
 * (nc_log_write_batched), without locks: lines are formatted into the
 * thread's buffer, written in whole-line chunks of up to 4 KiB as it
 * fills, and what is left at most LOG_FLUSH_MS after its first line
 * (nc_log_flush_due, called every loop pass; the loop wakes for it) and
 * when the thread ends. Under load that is one write(2) per ~16 lines
 * rather than one per line or per loop pass. */
#include "normcache/log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "normcache/buf.h"
#include "normcache/clock.h"
#include "normcache/jsonstr.h"

static volatile int log_level = NC_LOG_INFO;
static const char *level_names[] = {"debug", "info", "warn", "error"};
static const size_t level_lens[] = {5, 4, 4, 5};

void nc_log_set_level(enum nc_log_level level)
{
    log_level = (int)level;
}

int nc_log_enabled(enum nc_log_level level)
{
    return (int)level >= log_level;
}

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 bytes, no NUL) to out. The date
 * and time to the second change once a second: kept per thread, so a busy
 * access log formats only the milliseconds. */
static void log_ts(char out[24])
{
    static _Thread_local time_t last_sec = -1;
    static _Thread_local char last[20];
    int64_t ms = nc_wall_ms();
    time_t sec = (time_t)(ms / 1000);
    unsigned frac = (unsigned)(ms % 1000);
    if (sec != last_sec) {
        struct tm tm;
        char tmp[32];
        gmtime_r(&sec, &tm);
        if (strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm) != 19)
            memcpy(tmp, "0000-00-00T00:00:00", 19); /* a year past 9999 */
        memcpy(last, tmp, 19);
        last_sec = sec;
    }
    memcpy(out, last, 19);
    out[19] = '.';
    out[20] = (char)('0' + frac / 100);
    out[21] = (char)('0' + frac / 10 % 10);
    out[22] = (char)('0' + frac % 10);
    out[23] = 'Z';
}

void nc_log_timestamp(char *buf, size_t len)
{
    char ts[24];
    log_ts(ts);
    snprintf(buf, len, "%.24s", ts);
}

/* Appends one line to b; 0 or -1 (b is then left as it was). Plain
 * appends, no printf: this runs once per request with the access log on. */
static int log_line(struct nc_buf *b, enum nc_log_level level, const char *msg, const char *fields)
{
    char ts[24];
    size_t start = b->len;
    log_ts(ts);
    if (nc_buf_append(b, "{\"ts\":\"", 7) || nc_buf_append(b, ts, sizeof ts) ||
        nc_buf_append(b, "\",\"level\":\"", 11) ||
        nc_buf_append(b, level_names[level], level_lens[level]) ||
        nc_buf_append(b, "\",\"msg\":", 8) || nc_jsonstr_append(b, msg, strlen(msg), 0) ||
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

/* The access log's batch: lines of this thread not yet written, written in
 * writes of whole lines of at most PIPE_BUF bytes (a pipe keeps such
 * writes whole, so threads never interleave inside a line). */
static _Thread_local struct nc_buf log_batch;
/* nc_now_ms() when the oldest line now in the batch was added. */
static _Thread_local int64_t log_batch_since;

#define LOG_WRITE_MAX 4096 /* PIPE_BUF on Linux */

/* Writes the batch's whole lines in chunks of at most LOG_WRITE_MAX bytes:
 * all of them, or (full_only) only while a full chunk's worth is there,
 * keeping the rest for later. */
static void log_batch_write(int full_only)
{
    const char *p = log_batch.data;
    size_t left = log_batch.len;
    if (!p || !left)
        return;
    while (left > 0 && (!full_only || left >= LOG_WRITE_MAX)) {
        size_t n = left;
        if (n > LOG_WRITE_MAX) {
            /* cut after the last whole line that fits (one line longer
             * than that goes alone) */
            const char *nl = memrchr(p, '\n', LOG_WRITE_MAX);
            n = nl ? (size_t)(nl - p) + 1 : (size_t)((const char *)memchr(p, '\n', left) - p) + 1;
        }
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w <= 0) {
            left = 0; /* stderr gone: drop, never block the loop on it */
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (left > 0) {
        memmove(log_batch.data, p, left);
        log_batch.len = left;
        log_batch.data[left] = '\0';
        return;
    }
    nc_buf_reset(&log_batch);
    if (log_batch.cap > LOG_WRITE_MAX * 4)
        nc_buf_free(&log_batch); /* after a huge line, do not keep the peak */
}

void nc_log_write_batched(enum nc_log_level level, const char *msg, const char *fields)
{
    if (!nc_log_enabled(level))
        return;
    int was_empty = log_batch.len == 0;
    if (log_line(&log_batch, level, msg, fields) != 0) {
        nc_log_write(level, msg, fields); /* out of memory: unbatched */
        return;
    }
    if (was_empty)
        log_batch_since = nc_now_ms();
    if (log_batch.len >= LOG_WRITE_MAX)
        log_batch_write(1);
}

void nc_log_flush(void)
{
    log_batch_write(0);
}

int nc_log_next_flush_ms(int64_t now_ms)
{
    if (log_batch.len == 0)
        return -1;
    int64_t left = log_batch_since + NC_LOG_FLUSH_MS - now_ms;
    return left > 0 ? (int)left : 0;
}

void nc_log_flush_due(int64_t now_ms)
{
    if (nc_log_next_flush_ms(now_ms) == 0)
        log_batch_write(0);
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
