/* test_rand.c - kernel tokens (alphabet, length, uniqueness) and the
 * per-thread generator (range, rough uniformity, independent threads). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "normcache/rand.h"

#define NTOKENS 1000

static int cmp_token(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_token(void **state)
{
    (void)state;
    static char tok[NTOKENS][NC_RAND_TOKEN_LEN + 1];
    for (int i = 0; i < NTOKENS; i++) {
        assert_int_equal(nc_rand_token(tok[i], sizeof tok[i]), 0);
        assert_int_equal(strlen(tok[i]), NC_RAND_TOKEN_LEN);
        assert_int_equal(
            strspn(tok[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"),
            NC_RAND_TOKEN_LEN);
    }
    qsort(tok, NTOKENS, sizeof tok[0], cmp_token);
    for (int i = 1; i < NTOKENS; i++)
        if (strcmp(tok[i - 1], tok[i]) == 0)
            fail_msg("token %s drawn twice", tok[i]);
    /* a buffer without room for the NUL is refused, untouched */
    char small[NC_RAND_TOKEN_LEN];
    memset(small, 'x', sizeof small);
    assert_int_equal(nc_rand_token(small, sizeof small), -1);
    assert_int_equal(small[0], 'x');
}

/* Every character position varies: no constant padding bits leak. The last
 * character carries 2 random bits (128 = 21 * 6 + 2), so it takes 4 values. */
static void test_token_positions(void **state)
{
    (void)state;
    int seen[NC_RAND_TOKEN_LEN][128];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 2000; i++) {
        char t[NC_RAND_TOKEN_LEN + 1];
        assert_int_equal(nc_rand_token(t, sizeof t), 0);
        for (int j = 0; j < NC_RAND_TOKEN_LEN; j++)
            seen[j][(unsigned char)t[j] & 127] = 1;
    }
    for (int j = 0; j < NC_RAND_TOKEN_LEN; j++) {
        int distinct = 0;
        for (int c = 0; c < 128; c++)
            distinct += seen[j][c];
        if (j < NC_RAND_TOKEN_LEN - 1)
            assert_true(distinct > 50);
        else
            assert_int_equal(distinct, 4);
    }
}

static void test_bytes(void **state)
{
    (void)state;
    unsigned char a[64], b[64];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    assert_int_equal(nc_rand_bytes(a, sizeof a), 0);
    assert_int_equal(nc_rand_bytes(b, sizeof b), 0);
    assert_memory_not_equal(a, b, sizeof a);
    assert_int_equal(nc_rand_bytes(a, 0), 0);
}

static void test_unit_range_and_mean(void **state)
{
    (void)state;
    enum { N = 100000, BINS = 10 };
    double sum = 0;
    int bins[BINS] = {0};
    for (int i = 0; i < N; i++) {
        double u = nc_rand_unit();
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
        bins[(int)(u * BINS)]++;
    }
    double mean = sum / N;
    if (mean < 0.49 || mean > 0.51)
        fail_msg("mean of %d draws is %f, expected 0.49..0.51", N, mean);
    /* each tenth gets its share: 10000 expected, sd ~95 */
    for (int i = 0; i < BINS; i++)
        if (bins[i] < 9000 || bins[i] > 11000)
            fail_msg("bin %d has %d of %d draws", i, bins[i], N);
}

static void test_u64_varies(void **state)
{
    (void)state;
    uint64_t a = nc_rand_u64(), b = nc_rand_u64();
    uint64_t ones = 0, zeros = 0;
    assert_true(a != b);
    /* every bit takes both values in 1000 draws */
    for (int i = 0; i < 1000; i++) {
        uint64_t v = nc_rand_u64();
        ones |= v;
        zeros |= ~v;
    }
    assert_true(ones == UINT64_MAX);
    assert_true(zeros == UINT64_MAX);
}

#define NDRAWS 64

static void *draw_thread(void *arg)
{
    uint64_t *out = arg;
    for (int i = 0; i < NDRAWS; i++)
        out[i] = nc_rand_u64();
    return NULL;
}

/* Each thread seeds its own generator: two threads do not repeat each other
 * (or this thread). */
static void test_threads_differ(void **state)
{
    (void)state;
    static uint64_t seq[3][NDRAWS];
    pthread_t t1, t2;
    assert_int_equal(pthread_create(&t1, NULL, draw_thread, seq[0]), 0);
    assert_int_equal(pthread_create(&t2, NULL, draw_thread, seq[1]), 0);
    assert_int_equal(pthread_join(t1, NULL), 0);
    assert_int_equal(pthread_join(t2, NULL), 0);
    draw_thread(seq[2]);
    for (int a = 0; a < 3; a++)
        for (int b = a + 1; b < 3; b++) {
            int same = 0;
            for (int i = 0; i < NDRAWS; i++)
                for (int j = 0; j < NDRAWS; j++)
                    same += seq[a][i] == seq[b][j];
            if (same)
                fail_msg("sequences %d and %d share %d values", a, b, same);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token),      cmocka_unit_test(test_token_positions),
        cmocka_unit_test(test_bytes),      cmocka_unit_test(test_unit_range_and_mean),
        cmocka_unit_test(test_u64_varies), cmocka_unit_test(test_threads_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
