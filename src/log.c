/* log.c - JSON-lines logger on stderr (see log.h).
 *
 * Each line is built in a stack buffer and written with one write(2), so
 * lines from different worker threads never interleave. */
#include "normcache/log.h"

#include <stdarg.h>
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
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void nc_log_write(enum nc_log_level level, const char *msg, const char *fields)
{
    if (!nc_log_enabled(level))
        return;
    char ts[40];
    struct nc_buf b;
    nc_log_timestamp(ts, sizeof ts);
    /* Build into a heap buffer; small, and logging is off the hot path
     * unless access logging is on. */
    nc_buf_init(&b);
    if (nc_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, level_names[level]) ||
        nc_jsonstr_append(&b, msg, strlen(msg), 0) ||
        (fields && *fields && nc_buf_appendc(&b, ',')) || (fields && nc_buf_appends(&b, fields)) ||
        nc_buf_append(&b, "}\n", 2)) {
        nc_buf_free(&b);
        return;
    }
    ssize_t w = write(STDERR_FILENO, b.data, b.len);
    (void)w;
    nc_buf_free(&b);
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
