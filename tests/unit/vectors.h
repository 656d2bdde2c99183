/* vectors.h - locating the Python-computed test vectors, shared by the unit
 * tests. Tests run from the repository root; the project's own copy in
 * tests/data/ wins, ../shared/vectors/ is the fallback. Include after
 * <cmocka.h>. */
#ifndef NC_TEST_VECTORS_H
#define NC_TEST_VECTORS_H

#include <stdio.h>

static FILE *open_vectors(const char *name)
{
    static const char *dirs[] = {"tests/data/", "../shared/vectors/"};
    char path[256];
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s%s", dirs[i], name);
        FILE *f = fopen(path, "r");
        if (f)
            return f;
    }
    fail_msg("vector file %s not found (run from the repository root)", name);
    return NULL;
}

#endif
