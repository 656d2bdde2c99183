/* vectors.h - locating the Python-computed test vectors, shared by the unit
 * tests. Tests run from the repository root and read tests/data/ only, so a
 * fresh clone needs nothing outside the repository. Include after
 * <cmocka.h>. */
#ifndef NC_TEST_VECTORS_H
#define NC_TEST_VECTORS_H

#include <stdio.h>

static FILE *open_vectors(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "tests/data/%s", name);
    FILE *f = fopen(path, "r");
    if (f)
        return f;
    fail_msg("vector file %s not found (run from the repository root)", name);
    return NULL;
}

#endif
