/* test_log.c - the JSON-lines logger: nothing below the level is written
 * (nor formatted), every line is one JSON object with ts, level and msg,
 * messages are escaped whatever bytes they hold, and the timestamp format.
 * stderr is captured by putting a temporary file on fd 2; each line is
 * checked with the project's own strict parser (json.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "normcache/clock.h"
#include "normcache/json.h"
#include "normcache/log.h"

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* fd 2 goes to a temporary file between capture_start and capture_end. */
struct capture {
    FILE *file;
    int saved;
};

static void capture_start(struct capture *c)
{
    fflush(stderr);
    c->file = tmpfile();
    assert_non_null(c->file);
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_true(dup2(fileno(c->file), STDERR_FILENO) >= 0);
}

/* Restores fd 2 and returns what was written (caller frees). */
static char *capture_end(struct capture *c, size_t *len)
{
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    int fd = fileno(c->file);
    off_t size = lseek(fd, 0, SEEK_END);
    assert_true(size >= 0);
    char *text = malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(pread(fd, text, (size_t)size, 0), size);
    text[size] = '\0';
    fclose(c->file);
    *len = (size_t)size;
    return text;
}

/* YYYY-MM-DDTHH:MM:SS.mmmZ, within a minute of now. */
static void check_timestamp(const char *ts, size_t len)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (len != sizeof shape - 1)
        fail_msg("timestamp %s: length %zu", ts, len);
    for (size_t i = 0; i < len; i++)
        if (shape[i] == 'd' ? ts[i] < '0' || ts[i] > '9' : ts[i] != shape[i])
            fail_msg("timestamp %s: byte %zu", ts, i);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
    assert_non_null(rest);
    assert_int_equal(*rest, '.');
    time_t t = timegm(&tm);
    time_t now = time(NULL);
    if (t < now - 60 || t > now + 60)
        fail_msg("timestamp %s is not now (%lld)", ts, (long long)now);
}

/* One parsed log line. */
struct line {
    struct nc_json_doc *doc;
    const struct nc_json *root;
    const char *level;
    const char *msg;
    size_t msglen;
};

/* Every byte of text is in complete lines; each line is one JSON object
 * whose first member is ts, with level and msg strings. Returns the number
 * of lines; fills out[0..max) (caller frees the docs with free_lines). */
static size_t parse_lines(const char *text, size_t len, struct line *out, size_t max)
{
    size_t n = 0;
    if (len && text[len - 1] != '\n')
        fail_msg("output does not end with a newline");
    for (const char *p = text; p < text + len;) {
        const char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t ll = (size_t)(nl - p);
        struct nc_json_doc *doc;
        struct nc_json_err jerr;
        if (nc_json_parse(p, ll, 10, &doc, &jerr) != 0)
            fail_msg("line %zu is not JSON (%s): %.*s", n + 1, jerr.msg, (int)ll, p);
        const struct nc_json *root = nc_json_root(doc);
        assert_int_equal(root->type, NC_JSON_OBJECT);
        assert_memory_equal(p, "{\"ts\":\"", 7);
        const struct nc_json *ts = nc_json_get(root, "ts");
        const struct nc_json *level = nc_json_get(root, "level");
        const struct nc_json *msg = nc_json_get(root, "msg");
        assert_non_null(ts);
        assert_non_null(level);
        assert_non_null(msg);
        assert_int_equal(ts->type, NC_JSON_STRING);
        assert_int_equal(level->type, NC_JSON_STRING);
        assert_int_equal(msg->type, NC_JSON_STRING);
        check_timestamp(ts->str, ts->len);
        if (n < max)
            out[n] = (struct line){doc, root, level->str, msg->str, msg->len};
        else
            nc_json_doc_free(doc);
        n++;
        p = nl + 1;
    }
    return n;
}

static void free_lines(struct line *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        nc_json_doc_free(l[i].doc);
}

static int log_teardown(void **state)
{
    (void)state;
    nc_log_set_level(NC_LOG_INFO);
    return 0;
}

static int formatted;
static int count_format(void)
{
    return ++formatted;
}

/* At each level, exactly the calls at or above it write a line, whichever
 * entry point; below it not even the arguments are evaluated (debug). */
static void test_level_filter(void **state)
{
    (void)state;
    for (int lv = NC_LOG_DEBUG; lv <= NC_LOG_ERROR; lv++) {
        nc_log_set_level((enum nc_log_level)lv);
        for (int m = NC_LOG_DEBUG; m <= NC_LOG_ERROR; m++)
            assert_int_equal(nc_log_enabled((enum nc_log_level)m), m >= lv);
        struct capture c;
        formatted = 0;
        capture_start(&c);
        for (int m = NC_LOG_DEBUG; m <= NC_LOG_ERROR; m++) {
            nc_log_write((enum nc_log_level)m, level_names[m], NULL);
            nc_logf((enum nc_log_level)m, "%s via logf", level_names[m]);
        }
        nc_log_debug("debug macro %d", count_format());
        size_t len;
        char *text = capture_end(&c, &len);
        struct line l[16];
        size_t n = parse_lines(text, len, l, 16);
        size_t want = (size_t)(NC_LOG_ERROR - lv + 1) * 2 + (lv == NC_LOG_DEBUG);
        if (n != want)
            fail_msg("level %s: %zu lines, expected %zu:\n%s", level_names[lv], n, want, text);
        assert_int_equal(formatted, lv == NC_LOG_DEBUG);
        for (size_t i = 0; i < n; i++) {
            /* each line's level is its call's, and never below the filter */
            assert_int_equal(strncmp(l[i].msg, l[i].level, strlen(l[i].level)), 0);
            int found = -1;
            for (int k = 0; k < 4; k++)
                if (strcmp(l[i].level, level_names[k]) == 0)
                    found = k;
            assert_true(found >= lv);
        }
        free_lines(l, n < 16 ? n : 16);
        free(text);
    }
}

static void test_fields(void **state)
{
    (void)state;
    struct capture c;
    capture_start(&c);
    nc_log_write(NC_LOG_INFO, "with fields", "\"ns\":\"faq\",\"n\":3");
    nc_log_write(NC_LOG_INFO, "empty fields", "");
    nc_log_write(NC_LOG_ERROR, "no fields", NULL);
    size_t len;
    char *text = capture_end(&c, &len);
    struct line l[3];
    assert_int_equal(parse_lines(text, len, l, 3), 3);
    assert_string_equal(l[0].msg, "with fields");
    assert_string_equal(l[0].level, "info");
    const struct nc_json *ns = nc_json_get(l[0].root, "ns");
    assert_non_null(ns);
    assert_string_equal(ns->str, "faq");
    assert_non_null(nc_json_get(l[0].root, "n"));
    assert_int_equal(l[1].root->count, 3);
    assert_int_equal(l[2].root->count, 3);
    assert_string_equal(l[2].level, "error");
    free_lines(l, 3);
    free(text);
}

/* Whatever the message holds, the line stays one valid JSON object and
 * the message reads back as written; each malformed byte is U+FFFD. */
static void test_escaping(void **state)
{
    (void)state;
    static const char msg[] = "q\"uote b\\slash \\\" nl\n cr\r tab\t bs\b ff\f bel\x07 "
                              "esc\x1b us\x1f del\x7f"
                              " bad\xff trunc\xc3 over\xc0\xaf surr\xed\xa0\x80 cont\x80"
                              " ok\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 end";
    static const char want[] = "q\"uote b\\slash \\\" nl\n cr\r tab\t bs\b ff\f bel\x07 "
                               "esc\x1b us\x1f del\x7f"
                               " bad\xef\xbf\xbd trunc\xef\xbf\xbd over\xef\xbf\xbd\xef\xbf\xbd"
                               " surr\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd cont\xef\xbf\xbd"
                               " ok\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 end";
    struct capture c;
    capture_start(&c);
    nc_log_write(NC_LOG_WARN, msg, NULL);
    nc_logf(NC_LOG_WARN, "%s", msg);
    nc_log_write(NC_LOG_WARN, "\xff", NULL);
    nc_log_write(NC_LOG_WARN, "", NULL);
    size_t len;
    char *text = capture_end(&c, &len);
    /* No raw control byte but the line ends. */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20 && text[i] != '\n')
            fail_msg("raw control byte 0x%02x at %zu", (unsigned char)text[i], i);
    struct line l[4];
    assert_int_equal(parse_lines(text, len, l, 4), 4);
    assert_int_equal(l[0].msglen, sizeof want - 1);
    assert_memory_equal(l[0].msg, want, sizeof want - 1);
    assert_int_equal(l[1].msglen, sizeof want - 1);
    assert_memory_equal(l[1].msg, want, sizeof want - 1);
    assert_string_equal(l[2].msg, "\xef\xbf\xbd");
    assert_string_equal(l[3].msg, "");
    free_lines(l, 4);
    free(text);
}

/* nc_logf cuts long messages (at 511 bytes); a cut through a UTF-8
 * sequence still gives valid JSON. */
static void test_logf_long(void **state)
{
    (void)state;
    char big[1201];
    for (size_t i = 0; i < 600; i++)
        memcpy(big + 2 * i, "\xc3\xa9", 2);
    big[1200] = '\0';
    struct capture c;
    capture_start(&c);
    nc_logf(NC_LOG_ERROR, "%s", big);
    nc_log_write(NC_LOG_ERROR, big, NULL);
    size_t len;
    char *text = capture_end(&c, &len);
    struct line l[2];
    assert_int_equal(parse_lines(text, len, l, 2), 2);
    /* 255 whole characters, then the lone lead byte as U+FFFD */
    assert_int_equal(l[0].msglen, 510 + 3);
    assert_memory_equal(l[0].msg, big, 510);
    assert_memory_equal(l[0].msg + 510, "\xef\xbf\xbd", 3);
    /* nc_log_write does not cut */
    assert_int_equal(l[1].msglen, 1200);
    assert_memory_equal(l[1].msg, big, 1200);
    free_lines(l, 2);
    free(text);
}

static void *write_lines(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < 200; i++)
        nc_logf(NC_LOG_INFO, "thread %d line %d \"quoted\" \\ %s", id, i, "padding padding");
    return NULL;
}

/* Lines written at once from several threads never interleave. */
static void test_threads(void **state)
{
    (void)state;
    struct capture c;
    capture_start(&c);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, write_lines, (void *)(intptr_t)i), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    size_t len;
    char *text = capture_end(&c, &len);
    assert_int_equal(parse_lines(text, len, NULL, 0), 800);
    free(text);
}

static void test_timestamp(void **state)
{
    (void)state;
    char ts[40];
    nc_log_timestamp(ts, sizeof ts);
    check_timestamp(ts, strlen(ts));
    /* 32 bytes is the documented minimum */
    char small[32];
    nc_log_timestamp(small, sizeof small);
    check_timestamp(small, strlen(small));
}

static void fmt_line_foreign(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nc_log_foreign(NC_LOG_WARN, "libmicrohttpd", fmt, ap);
    va_end(ap);
}

/* nc_log_format_foreign through a variadic wrapper, as libmicrohttpd calls
 * its logger. */
static int fmt_foreign(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = nc_log_format_foreign(out, len, fmt, ap);
    va_end(ap);
    return n;
}

/* Another library's message: numbers kept, phrases and system error texts
 * kept, anything that may be client bytes (a path, a query, controls,
 * non-ASCII, long strings) redacted; stars and length modifiers followed
 * so later arguments stay aligned; the output is cut, never overrun. */
static void test_foreign_redaction(void **state)
{
    (void)state;
    char out[256];
    fmt_foreign(out, sizeof out, "code %u (%s) conn %d", 414u, "URI Too Long", -3);
    assert_string_equal(out, "code 414 (URI Too Long) conn -3");
    fmt_foreign(out, sizeof out, "Failed to send data in request for `%s'. Error: %s\n",
                "/cache/faq?q=secret", "Too many open files");
    assert_string_equal(out, "Failed to send data in request for `(redacted)'. Error: Too many "
                             "open files\n");
    fmt_foreign(out, sizeof out, "[%s][%s][%s]", "GE\"T,\"level\":\"error", "a\x01b",
                "caf\xc3\xa9");
    assert_string_equal(out, "[(redacted)][(redacted)][(redacted)]");
    fmt_foreign(out, sizeof out, "%.*s|%zu|%llu|%5d|%%|%ld|%s", 3, "abcdef", (size_t)7,
                18446744073709551615ULL, 42, -9L, "end");
    assert_string_equal(out, "abc|7|18446744073709551615|   42|%|-9|end");
    char big[100];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    fmt_foreign(out, sizeof out, "<%s>", big);
    assert_string_equal(out, "<(redacted)>");
    char small[8];
    int n = fmt_foreign(small, sizeof small, "%s and more", "words here");
    assert_int_equal(n, 7);
    assert_string_equal(small, "words h");
}

/* The line nc_log_foreign writes is one JSON object with a source field. */
static void test_foreign_line(void **state)
{
    (void)state;
    nc_log_set_level(NC_LOG_DEBUG);
    struct capture c;
    capture_start(&c);
    fmt_line_foreign("Bad request line `%s'\n", "/x\"}{\n");
    size_t outlen;
    char *out = capture_end(&c, &outlen);
    assert_non_null(
        strstr(out, "\"msg\":\"Bad request line `(redacted)'\",\"source\":\"libmicrohttpd\"}\n"));
    free(out);
}

static off_t captured_size(const struct capture *c)
{
    struct stat st;
    assert_int_equal(fstat(fileno(c->file), &st), 0);
    return st.st_size;
}

/* The access log's batch: less than a write's worth (4 KiB) waits for
 * the flush; more is written on the way in whole-line chunks of at most
 * 4 KiB, the rest kept; nothing is lost at the thread's end. */
static void test_batched(void **state)
{
    (void)state;
    nc_log_set_level(NC_LOG_INFO);
    struct capture c;
    capture_start(&c);
    nc_log_write_batched(NC_LOG_DEBUG, "filtered", NULL);
    assert_int_equal(nc_log_next_flush_ms(nc_now_ms()), -1); /* nothing batched */
    for (int i = 0; i < 20; i++)                             /* ~2 KiB */
        nc_log_write_batched(NC_LOG_INFO, "request",
                             "\"status\":200,\"key\":\"fca:faq:0123456789abcdef\"");
    assert_int_equal(captured_size(&c), 0); /* still in the batch */
    nc_log_flush();
    off_t after20 = captured_size(&c);
    assert_true(after20 > 20 * 100 && after20 < 4096);
    for (int i = 0; i < 1000; i++) /* ~80 KiB: written on the way */
        nc_log_write_batched(NC_LOG_INFO, "request", "\"status\":404");
    off_t written = captured_size(&c) - after20;
    assert_true(written > 60 * 1024);
    nc_log_thread_end();
    off_t rest = captured_size(&c) - after20 - written;
    assert_true(rest > 0 && rest < 4096); /* at most one chunk waited */
    size_t len;
    char *text = capture_end(&c, &len);
    struct line l[1];
    assert_int_equal(parse_lines(text, len, l, 0), 1020);
    free(text);
}

/* A batch is due NC_LOG_FLUSH_MS after its first line, not its last: a
 * steady trickle of lines cannot hold them back. */
static void test_batched_due(void **state)
{
    (void)state;
    nc_log_set_level(NC_LOG_INFO);
    struct capture c;
    capture_start(&c);
    int64_t t0 = nc_now_ms();
    nc_log_write_batched(NC_LOG_INFO, "request", "\"status\":200");
    int left = nc_log_next_flush_ms(t0);
    assert_true(left >= NC_LOG_FLUSH_MS && left < NC_LOG_FLUSH_MS + 50);
    nc_log_flush_due(t0); /* not yet */
    assert_int_equal(captured_size(&c), 0);
    nc_log_write_batched(NC_LOG_INFO, "request", "\"status\":201");
    int64_t due = t0 + left;
    assert_true(nc_log_next_flush_ms(due - 1) >= 1);
    assert_int_equal(nc_log_next_flush_ms(due), 0);
    assert_int_equal(nc_log_next_flush_ms(due + 5000), 0);
    nc_log_flush_due(due);
    assert_true(captured_size(&c) > 0);
    assert_int_equal(nc_log_next_flush_ms(due), -1); /* empty again */
    nc_log_thread_end();
    size_t len;
    char *text = capture_end(&c, &len);
    struct line l[1];
    assert_int_equal(parse_lines(text, len, l, 0), 2);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_level_filter, log_teardown),
        cmocka_unit_test_teardown(test_fields, log_teardown),
        cmocka_unit_test_teardown(test_escaping, log_teardown),
        cmocka_unit_test_teardown(test_logf_long, log_teardown),
        cmocka_unit_test_teardown(test_threads, log_teardown),
        cmocka_unit_test(test_timestamp),
        cmocka_unit_test(test_foreign_redaction),
        cmocka_unit_test_teardown(test_foreign_line, log_teardown),
        cmocka_unit_test_teardown(test_batched, log_teardown),
        cmocka_unit_test_teardown(test_batched_due, log_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
