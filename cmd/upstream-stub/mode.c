/*
 * mode.c - GET and PUT /mode: the run-time behaviour of /recommendations
 * ({"mode": ok|fail|notfound|hang|garbage|huge|truncate|trickle, "latency_ms", "fail_rate"}). A PUT
 * body is validated completely before anything changes; leaving "hang" releases the hanging
 * requests.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "normcache/json.h"
#include "normcache/jsonstr.h"

#include "stub.h"

const char *const stub_mode_names[STUB_N_MODES] = {"ok",      "fail", "notfound", "hang",
                                                   "garbage", "huge", "truncate", "trickle"};

/* A JSON nesting bound for PUT bodies (the one cJSON applied). */
#define MODE_MAX_DEPTH 1000

/* The current state as JSON; caller holds lock. */
static int mode_state(const struct stub *st, struct nc_buf *out)
{
    const char *name = stub_mode_names[st->mode];

    if (nc_buf_appends(out, "{\"mode\":") != 0 ||
        nc_jsonstr_append(out, name, strlen(name), 0) != 0 ||
        nc_buf_printf(out, ",\"latency_ms\":%ld,\"fail_rate\":", st->latency_ms) != 0 ||
        stub_json_number(out, st->fail_rate) != 0)
        return -1;
    return nc_buf_appendc(out, '}');
}

struct mode_change {
    bool has_mode, has_latency, has_rate;
    enum stub_mode mode;
    long latency_ms;
    double fail_rate;
};

static double number_value(const struct nc_json *v)
{
    return strtod(v->str, NULL);
}

static const char *const err_repeated =
    "unknown or repeated field (accepted: mode, latency_ms, fail_rate)";

static int mode_parse(const char *body, size_t len, struct mode_change *chg, const char **err)
{
    struct nc_json_doc *doc = NULL;
    struct nc_json_err perr;
    const struct nc_json *root;
    int rc = -1;

    memset(chg, 0, sizeof(*chg));
    if (nc_json_parse(body, len, MODE_MAX_DEPTH, &doc, &perr) != 0) {
        *err = perr.code == NC_JSON_ERR_DUPKEY ? err_repeated : "body must be a JSON object";
        return -1;
    }
    root = nc_json_root(doc);
    if (root->type != NC_JSON_OBJECT) {
        *err = "body must be a JSON object";
        goto out;
    }
    for (const struct nc_json *field = root->child; field != NULL; field = field->next) {
        if (strcmp(field->key, "mode") == 0) {
            size_t m;

            for (m = 0; m < STUB_N_MODES; m++)
                if (field->type == NC_JSON_STRING && strcmp(field->str, stub_mode_names[m]) == 0)
                    break;
            if (m == STUB_N_MODES) {
                *err = "mode must be one of ok, fail, notfound, hang, garbage, huge, truncate, "
                       "trickle";
                goto out;
            }
            chg->has_mode = true;
            chg->mode = (enum stub_mode)m;
        } else if (strcmp(field->key, "latency_ms") == 0) {
            double v = field->type == NC_JSON_NUMBER ? number_value(field) : 0;

            if (field->type != NC_JSON_NUMBER || v != floor(v) || v < 0 ||
                v > STUB_LATENCY_MAX_MS) {
                *err = "latency_ms must be an integer 0..3600000";
                goto out;
            }
            chg->has_latency = true;
            chg->latency_ms = (long)v;
        } else if (strcmp(field->key, "fail_rate") == 0) {
            double v = field->type == NC_JSON_NUMBER ? number_value(field) : 0;

            if (field->type != NC_JSON_NUMBER || !(v >= 0.0 && v <= 1.0)) {
                *err = "fail_rate must be a number 0..1";
                goto out;
            }
            chg->has_rate = true;
            chg->fail_rate = v;
        } else {
            *err = err_repeated;
            goto out;
        }
    }
    rc = 0;
out:
    nc_json_doc_free(doc);
    return rc;
}

enum MHD_Result stub_mode_get(struct stub *st, struct stub_pending *req)
{
    struct nc_buf out;
    int built;

    nc_buf_init(&out);
    pthread_mutex_lock(&st->lock);
    built = mode_state(st, &out);
    pthread_mutex_unlock(&st->lock);
    return stub_respond_json(req->conn, MHD_HTTP_OK, &out, built, NULL);
}

enum MHD_Result stub_mode_put(struct stub *st, struct stub_pending *req)
{
    struct mode_change chg;
    const char *err = NULL;
    enum stub_mode old;
    struct nc_buf out;
    int built;

    if (req->body_too_big)
        return stub_respond_error(req->conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large", NULL);
    if (mode_parse(req->body.data != NULL ? req->body.data : "", req->body.len, &chg, &err) != 0)
        return stub_respond_error(req->conn, MHD_HTTP_BAD_REQUEST, err, NULL);

    nc_buf_init(&out);
    pthread_mutex_lock(&st->lock);
    old = st->mode;
    if (chg.has_mode)
        st->mode = chg.mode;
    if (chg.has_latency)
        st->latency_ms = chg.latency_ms;
    if (chg.has_rate)
        st->fail_rate = chg.fail_rate;
    if (old == STUB_MODE_HANG && st->mode != STUB_MODE_HANG)
        stub_park_release_hang(st);
    built = mode_state(st, &out);
    pthread_mutex_unlock(&st->lock);
    return stub_respond_json(req->conn, MHD_HTTP_OK, &out, built, NULL);
}
