/*
 * catalogue.c - the deterministic recommendations body: the items for a
 * query come from a generator seeded by the query's FNV-1a hash (hash.h), so
 * one query always gets one body, on any machine and in any run.
 */
#include <inttypes.h>
#include <string.h>

#include "normcache/hash.h"
#include "normcache/jsonstr.h"

#include "stub.h"

static const char *const adjectives[] = {"Amber", "Brass",   "Cedar",  "Copper", "Dune",    "Ember",
                                         "Fjord", "Granite", "Harbor", "Indigo", "Juniper", "Linen",
                                         "Maple", "Nordic",  "Olive",  "Slate"};
static const char *const nouns[] = {"Kettle", "Lamp",   "Chair",  "Mug",   "Blanket", "Desk",
                                    "Shelf",  "Vase",   "Clock",  "Rug",   "Pillow",  "Stool",
                                    "Bowl",   "Mirror", "Basket", "Teapot"};

/* A seedable generator (rand.h's are seeded by the kernel, so not this). */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/*
 * Items are drawn in rank order from one stream, so a smaller limit gives a
 * prefix of a larger one, and scores fall strictly with the rank (each rank
 * owns a 0.020-wide band).
 */
int stub_catalogue_body(struct nc_buf *out, const char *query, int limit)
{
    uint64_t seed = nc_fnv1a64(query, strlen(query));

    if (nc_buf_appends(out, "{\"query\":") != 0 ||
        nc_jsonstr_append(out, query, strlen(query), 0) != 0 ||
        nc_buf_appends(out, ",\"items\":[") != 0)
        return -1;
    for (int i = 0; i < limit; i++) {
        uint64_t r = splitmix64(&seed);

        /* sku and name are plain ASCII from the tables: nothing to escape. */
        if (nc_buf_printf(out, "%s{\"sku\":\"SKU-%08" PRIX64 "\",\"name\":\"%s %s\",\"score\":",
                          i > 0 ? "," : "", r >> 32, adjectives[(r >> 4) & 15],
                          nouns[(r >> 8) & 15]) != 0 ||
            stub_json_number(out, (double)(1000 - 20 * i - (int)(r % 20)) / 1000.0) != 0 ||
            nc_buf_appendc(out, '}') != 0)
            return -1;
    }
    return nc_buf_appends(out, "]}");
}
