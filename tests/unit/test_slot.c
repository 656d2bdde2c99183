/* test_slot.c - the cluster protocol's pure parts: CRC16 and hash slots
 * (the cluster specification's vectors and hash tag cases), the MOVED/ASK
 * parser, and CLUSTER SLOTS replies (built from RESP text by hiredis'
 * own reader, as they arrive from a server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normcache/slot.h"

static void test_crc16_vector(void **state)
{
    (void)state;
    assert_int_equal(nc_crc16("123456789", 9), 0x31C3); /* the spec's test vector */
    assert_int_equal(nc_crc16("", 0), 0);
    assert_int_equal(nc_slot_of("123456789", 9), 0x31C3 & 16383);
    /* well-known slots (redis-cli CLUSTER KEYSLOT) */
    assert_int_equal(nc_slot_of("foo", 3), 12182);
    assert_int_equal(nc_slot_of("bar", 3), 5061);
    assert_int_equal(nc_slot_of("hello", 5), 866);
}

static unsigned slot(const char *k)
{
    return nc_slot_of(k, strlen(k));
}

static void test_hash_tags(void **state)
{
    (void)state;
    /* the cluster specification's examples */
    assert_int_equal(slot("{user1000}.following"), slot("user1000"));
    assert_int_equal(slot("{user1000}.followers"), slot("user1000"));
    assert_int_equal(slot("foo{}{bar}"), slot("foo{}{bar}")); /* empty first tag: whole key */
    assert_int_not_equal(slot("foo{}{bar}"), slot("bar"));
    assert_int_equal(slot("foo{}{bar}"), nc_crc16("foo{}{bar}", 10) & 16383);
    assert_int_equal(slot("foo{{bar}}zap"), slot("{bar")); /* tag is "{bar" */
    assert_int_equal(slot("foo{bar}{zap}"), slot("bar"));  /* first tag only */
    /* no closing brace, or a lone opening one: the whole key */
    assert_int_equal(slot("foo{bar"), nc_crc16("foo{bar", 7) & 16383);
    assert_int_equal(slot("}{"), nc_crc16("}{", 2) & 16383);
    /* normcache's cluster keys: the value and its lease share a slot */
    assert_int_equal(slot("fca:faq:{7cbdc3d46cf23688}"), slot("7cbdc3d46cf23688"));
    assert_int_equal(slot("fca:faq:{7cbdc3d46cf23688}:lease"), slot("fca:faq:{7cbdc3d46cf23688}"));
    /* binary-safe: a NUL inside the key counts */
    assert_int_not_equal(nc_slot_of("a\0b", 3), nc_slot_of("a", 1));
}

static void redirect_ok(const char *s, int kind, unsigned sl, const char *host, int port)
{
    struct nc_redirect r;
    if (nc_slot_parse_redirect(s, strlen(s), &r) != 0)
        fail_msg("refused %s", s);
    assert_int_equal(r.kind, kind);
    assert_int_equal(r.slot, sl);
    assert_string_equal(r.host, host);
    assert_int_equal(r.port, port);
}

static void test_redirects(void **state)
{
    (void)state;
    redirect_ok("MOVED 3999 127.0.0.1:6381", NC_REDIRECT_MOVED, 3999, "127.0.0.1", 6381);
    redirect_ok("ASK 3999 127.0.0.1:6381", NC_REDIRECT_ASK, 3999, "127.0.0.1", 6381);
    redirect_ok("MOVED 0 redis-1.local:7000", NC_REDIRECT_MOVED, 0, "redis-1.local", 7000);
    redirect_ok("MOVED 16383 ::1:7001", NC_REDIRECT_MOVED, 16383, "::1", 7001);
    redirect_ok("ASK 5 [fe80::1]:7002", NC_REDIRECT_ASK, 5, "fe80::1", 7002);
    redirect_ok("MOVED 12 2001:db8::7:65535", NC_REDIRECT_MOVED, 12, "2001:db8::7", 65535);
    redirect_ok("MOVED 7 :6380", NC_REDIRECT_MOVED, 7, "", 6380); /* endpoint unknown: the sender */
    static const char *bad[] = {"",
                                "MOVED",
                                "MOVED ",
                                "MOVED 3999",
                                "MOVED 3999 ",
                                "MOVED 16384 h:1",
                                "MOVED -1 h:1",
                                "MOVED x h:1",
                                "MOVED 3999 h",
                                "MOVED 3999 h:",
                                "MOVED 3999 h:0",
                                "MOVED 3999 h:65536",
                                "MOVED 3999 h:1x",
                                "MOVED  3999 h:1",
                                "moved 3999 h:1",
                                "ASKING 1 h:1",
                                "ASK 1 h p:1",
                                "MOVED 3999 h*:1",
                                "MOVED 3999 []:1",
                                "MOVED 1234567 h:1",
                                "ERR wrong number",
                                "CLUSTERDOWN The cluster is down",
                                "TRYAGAIN Multiple keys request during rehashing"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct nc_redirect r;
        if (nc_slot_parse_redirect(bad[i], strlen(bad[i]), &r) != -1)
            fail_msg("accepted %s", bad[i]);
    }
    /* a host longer than the field: refused, not cut */
    char big[400];
    memset(big, 'h', sizeof big);
    memcpy(big, "MOVED 1 ", 8);
    memcpy(big + sizeof big - 5, ":700", 4);
    struct nc_redirect r;
    assert_int_equal(nc_slot_parse_redirect(big, sizeof big - 1, &r), -1);
    /* the length is honoured: no reading past it */
    assert_int_equal(nc_slot_parse_redirect("MOVED 1 h:7000", 12, &r), 0);
    assert_int_equal(r.port, 70);
}

/* A reply parsed from RESP text by hiredis' reader. */
static redisReply *resp(const char *text)
{
    redisReader *rd = redisReaderCreate();
    void *out = NULL;
    assert_int_equal(redisReaderFeed(rd, text, strlen(text)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(rd, &out), REDIS_OK);
    redisReaderFree(rd);
    assert_non_null(out);
    return out;
}

static void test_cluster_slots(void **state)
{
    (void)state;
    static struct nc_slot_map m;
    char err[128];
    /* three masters, one with a replica, one with an empty host (the
     * node that answered) and Redis 7's metadata map after the id */
    redisReply *r =
        resp("*3\r\n"
             "*4\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n"
             "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\nr1\r\n"
             "*3\r\n:5461\r\n:10922\r\n*3\r\n$0\r\n\r\n:7001\r\n$2\r\nid\r\n"
             "*3\r\n:10923\r\n:16383\r\n*4\r\n$3\r\n::1\r\n:7002\r\n$2\r\nid\r\n*0\r\n");
    assert_int_equal(nc_slot_parse_slots(r, "10.0.0.9", &m, err, sizeof err), 0);
    freeReplyObject(r);
    assert_int_equal(m.nnodes, 3);
    assert_string_equal(m.nodes[m.node[0]].host, "127.0.0.1");
    assert_int_equal(m.nodes[m.node[5460]].port, 7000);
    assert_string_equal(m.nodes[m.node[5461]].host, "10.0.0.9");
    assert_int_equal(m.nodes[m.node[10922]].port, 7001);
    assert_string_equal(m.nodes[m.node[16383]].host, "::1");
    assert_int_equal(m.nodes[m.node[10923]].port, 7002);
    /* a master serving two ranges is one node; gaps stay unserved */
    r = resp("*2\r\n*3\r\n:0\r\n:9\r\n*2\r\n$1\r\na\r\n:1\r\n"
             "*3\r\n:20\r\n:29\r\n*2\r\n$1\r\na\r\n:1\r\n");
    assert_int_equal(nc_slot_parse_slots(r, "x", &m, err, sizeof err), 0);
    freeReplyObject(r);
    assert_int_equal(m.nnodes, 1);
    assert_int_equal(m.node[15], NC_SLOT_NONE);
    assert_int_equal(m.node[25], 0);
    /* "?" (unknown endpoint): the range is left unserved */
    r = resp("*2\r\n*3\r\n:0\r\n:9\r\n*2\r\n$1\r\n?\r\n:1\r\n"
             "*3\r\n:10\r\n:19\r\n*2\r\n$1\r\nb\r\n:2\r\n");
    assert_int_equal(nc_slot_parse_slots(r, "x", &m, err, sizeof err), 0);
    freeReplyObject(r);
    assert_int_equal(m.node[5], NC_SLOT_NONE);
    assert_int_equal(m.nodes[m.node[15]].port, 2);
    static const char *bad[] = {
        "+OK\r\n",
        "*0\r\n", /* no slot served (a node not in a cluster yet) */
        "-ERR This instance has cluster support disabled\r\n",
        "*1\r\n*2\r\n:0\r\n:9\r\n",
        "*1\r\n*3\r\n:9\r\n:0\r\n*2\r\n$1\r\na\r\n:1\r\n",     /* start > end */
        "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\na\r\n:1\r\n", /* past the last slot */
        "*1\r\n*3\r\n:-1\r\n:3\r\n*2\r\n$1\r\na\r\n:1\r\n",
        "*1\r\n*3\r\n:0\r\n:3\r\n*2\r\n$1\r\na\r\n:0\r\n", /* port 0 */
        "*1\r\n*3\r\n:0\r\n:3\r\n*2\r\n:1\r\n:1\r\n",      /* host not a string */
        "*1\r\n*3\r\n:0\r\n:3\r\n*1\r\n$1\r\na\r\n",       /* no port */
        "*1\r\n*3\r\n$1\r\n0\r\n:3\r\n*2\r\n$1\r\na\r\n:1\r\n",
        "*1\r\n*3\r\n:0\r\n:3\r\n*2\r\n$3\r\na b\r\n:1\r\n", /* bad host */
        "*1\r\n:5\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = resp(bad[i]);
        err[0] = '\0';
        if (nc_slot_parse_slots(r, "x", &m, err, sizeof err) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_true(strlen(err) > 0);
        freeReplyObject(r);
    }
    assert_int_equal(nc_slot_parse_slots(NULL, "x", &m, err, sizeof err), -1);
}

static void test_map_full(void **state)
{
    (void)state;
    static struct nc_slot_map m;
    m.nnodes = 0;
    for (int i = 0; i < NC_SLOT_NODES_MAX; i++)
        assert_int_equal(nc_slot_map_node(&m, "h", 1000 + i), i);
    assert_int_equal(nc_slot_map_node(&m, "h", 1000), 0); /* known: found */
    assert_int_equal(nc_slot_map_node(&m, "h", 5000), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_vector), cmocka_unit_test(test_hash_tags),
        cmocka_unit_test(test_redirects),    cmocka_unit_test(test_cluster_slots),
        cmocka_unit_test(test_map_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
