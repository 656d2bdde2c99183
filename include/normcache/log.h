/* log.h - one JSON object per line on stderr.
 *
 * The level is checked before anything is formatted, so a debug call on a
 * hot path costs one comparison when debug is off. Messages and fields must
 * never carry raw query text: callers pass hashed keys only. */
#ifndef NC_LOG_H
#define NC_LOG_H

#include "normcache/config.h"

void nc_log_set_level(enum nc_log_level level);
int nc_log_enabled(enum nc_log_level level);

/* fields: NULL, or extra JSON members without braces, e.g. "\"ns\":\"faq\"".
 * msg is escaped; fields are copied as they are (caller builds valid JSON). */
void nc_log_write(enum nc_log_level level, const char *msg, const char *fields);

/* printf-style message, no extra fields. */
void nc_logf(enum nc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define nc_log_debug(...)                                                                          \
    do {                                                                                           \
        if (nc_log_enabled(NC_LOG_DEBUG))                                                          \
            nc_logf(NC_LOG_DEBUG, __VA_ARGS__);                                                    \
    } while (0)

/* RFC 3339 UTC timestamp with milliseconds into buf (>= 32 bytes). */
void nc_log_timestamp(char *buf, size_t len);

#endif
