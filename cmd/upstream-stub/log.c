/*
 * log.c - the stub's log: one JSON object per line on stderr,
 * {"ts","level","component","event"[,"msg"][,"port"]}. Scripts read the port
 * of a STUB_PORT=0 stub from the "listening" line, so "port" is a member of
 * its own. Not normcache's log (log.h): the stub has no log level and names
 * itself in "component".
 */
#include <stdlib.h>
#include <string.h>

#include "normcache/clock.h"
#include "normcache/jsonstr.h"

#include "stub.h"

static int add_string(struct nc_buf *b, const char *name, const char *value)
{
    if (nc_buf_printf(b, ",\"%s\":", name) != 0)
        return -1;
    return nc_jsonstr_append(b, value, strlen(value), 0);
}

void stub_log_port(const char *level, const char *event, const char *msg, long port)
{
    struct nc_buf line;

    nc_buf_init(&line);
    if (nc_buf_appends(&line, "{\"ts\":") == 0 &&
        stub_json_number(&line, (double)nc_wall_ms() / 1000.0) == 0 &&
        add_string(&line, "level", level) == 0 && add_string(&line, "component", STUB_PROG) == 0 &&
        add_string(&line, "event", event) == 0 &&
        (msg == NULL || add_string(&line, "msg", msg) == 0) &&
        (port < 0 || nc_buf_printf(&line, ",\"port\":%ld", port) == 0) &&
        nc_buf_appends(&line, "}\n") == 0)
        fputs(line.data, stderr);
    nc_buf_free(&line);
}

void stub_log(const char *level, const char *event, const char *msg)
{
    stub_log_port(level, event, msg, -1);
}

void stub_log_mhd(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    size_t len;

    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    len = strlen(buf);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    stub_log("warn", "mhd", buf);
}
