/* log.h - one JSON object per line on stderr.
 *
 * The level is checked before anything is formatted, so a debug call on a
 * hot path costs one comparison when debug is off. Messages and fields must
 * never carry raw query text: callers pass hashed keys only. */
#ifndef NC_LOG_H
#define NC_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "normcache/config.h"

void nc_log_set_level(enum nc_log_level level);
int nc_log_enabled(enum nc_log_level level);

/* fields: NULL, or extra JSON members without braces, e.g. "\"ns\":\"faq\"".
 * msg is escaped; fields are copied as they are (caller builds valid JSON). */
void nc_log_write(enum nc_log_level level, const char *msg, const char *fields);

/* The same, into this thread's batch (the access log on a worker thread),
 * without locks: whole lines are written in chunks of up to 4 KiB as the
 * batch fills; the rest waits for nc_log_flush_due (every loop pass: at
 * most NC_LOG_FLUSH_MS after its first line; the loop's wait must end by
 * nc_log_next_flush_ms) or nc_log_flush / nc_log_thread_end (at the stop:
 * nothing is lost). */
void nc_log_write_batched(enum nc_log_level level, const char *msg, const char *fields);
#define NC_LOG_FLUSH_MS 100
/* Milliseconds until this thread's batch is due (0: now), -1 when empty.
 * now_ms: nc_now_ms(). */
int nc_log_next_flush_ms(int64_t now_ms);
/* Writes this thread's batch if it is due. */
void nc_log_flush_due(int64_t now_ms);
/* Writes this thread's batch (nothing when empty). */
void nc_log_flush(void);
/* Writes it and frees its memory: the last call of a thread that batched. */
void nc_log_thread_end(void);

/* printf-style message, no extra fields. */
void nc_logf(enum nc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define nc_log_debug(...)                                                                          \
    do {                                                                                           \
        if (nc_log_enabled(NC_LOG_DEBUG))                                                          \
            nc_logf(NC_LOG_DEBUG, __VA_ARGS__);                                                    \
    } while (0)

/* A line from another library (libmicrohttpd's logger): its printf-style
 * message is formatted here with every %s argument that might carry client
 * bytes (a request target, a header) replaced by "(redacted)"; short
 * phrases and system error texts stay. Then escaped and cut like any msg;
 * source names the library ("source" field). */
void nc_log_foreign(enum nc_log_level level, const char *source, const char *fmt, va_list ap);
/* The formatting step of nc_log_foreign, for tests: writes at most len
 * bytes (NUL included) to out and returns the length written. */
int nc_log_format_foreign(char *out, size_t len, const char *fmt, va_list ap);

/* RFC 3339 UTC timestamp with milliseconds into buf (>= 32 bytes). */
void nc_log_timestamp(char *buf, size_t len);

#endif
