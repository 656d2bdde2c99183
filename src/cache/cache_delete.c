/* cache_delete.c - DELETE /cache/<ns>: one entry (UNLINK), the entries
 * carrying a tag (?tag=), or the whole namespace (SCAN MATCH
 * <prefix>:<ns>:* + UNLINK in batches, never KEYS; tag indexes included).
 *
 * In cluster mode the flush SCANs every master in turn (the store splits
 * each UNLINK batch per key), and a tag delete reads the index, then
 * deletes each member with a script of its own slot, then the index: no
 * command names keys of two slots. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normcache/counters.h"
#include "normcache/key.h"

#include "cache_int.h"

#define SCAN_COUNT "1000"

static void issue_scan(struct nc_req *r);

static void on_unlink(void *priv, redisReply *reply)
{
    struct nc_req *r = priv;
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        r->redis_failed = 1;
    else if (reply->type == REDIS_REPLY_INTEGER)
        r->deleted += reply->integer;
    nc_cache_settle(r);
}

static void on_scan(void *priv, redisReply *reply)
{
    struct nc_req *r = priv;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_ARRAY || reply->element[0]->len >= 24) {
        r->redis_failed = 1;
        nc_cache_settle(r);
        return;
    }
    if (!r->redis_failed) {
        redisReply *keys = reply->element[1];
        if (keys->elements) {
            /* argv points into the reply: hiredis formats (copies) the
             * command before this callback returns. */
            size_t n = keys->elements + 1;
            const char **argv = malloc(n * sizeof *argv);
            size_t *lens = malloc(n * sizeof *lens);
            if (!argv || !lens)
                r->redis_failed = 1;
            else {
                argv[0] = "UNLINK";
                lens[0] = 6;
                for (size_t i = 0; i < keys->elements; i++) {
                    argv[i + 1] = keys->element[i]->str;
                    lens[i + 1] = keys->element[i]->len;
                }
                if (nc_cache_issue(r, on_unlink, (int)n, argv, lens) != 0)
                    r->redis_failed = 1;
            }
            free(argv);
            free(lens);
        }
        memcpy(r->cursor, reply->element[0]->str, reply->element[0]->len);
        r->cursor[reply->element[0]->len] = '\0';
        /* r->num: the master being scanned (one in standalone mode). */
        if (strcmp(r->cursor, "0") == 0 && ++r->num < nc_store_masters(r->w->store))
            strcpy(r->cursor, "0");
        else if (strcmp(r->cursor, "0") == 0)
            r->num = -1; /* every master done */
        if (r->num >= 0 && !r->redis_failed)
            issue_scan(r);
    }
    nc_cache_settle(r);
}

static void issue_scan(struct nc_req *r)
{
    const struct nc_config *cfg = r->w->cfg;
    /* prefix and ns are [A-Za-z0-9_-]: no glob metacharacters, so the
     * pattern matches this namespace's keys and nothing else. */
    char pattern[NC_KEY_MAX];
    int plen = snprintf(pattern, sizeof pattern, "%s:%s:*", cfg->key_prefix, r->ns);
    const char *argv[6] = {"SCAN", r->cursor, "MATCH", pattern, "COUNT", SCAN_COUNT};
    size_t lens[6] = {4, strlen(r->cursor), 5, (size_t)plen, 5, strlen(SCAN_COUNT)};
    if (nc_cache_issue_master(r, (int)r->num, on_scan, 6, argv, lens) != 0)
        r->redis_failed = 1;
}

static enum MHD_Result unavailable(struct nc_req *r)
{
    nc_req_header(r, "Retry-After", "1");
    return nc_req_problem(
        r, 503, "redis_unavailable", "Service Unavailable",
        "Redis did not confirm the invalidation (it may not have happened). Retry.");
}

/* Deletes the live entries that still carry the tag (their expiry equals
 * the score the tagged write recorded: an entry written again since
 * without the tag has another), then the index. Cost: the index's
 * members, never a scan of the namespace. */
static const char tag_delete_script[] =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "local m = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES') "
    "local n = 0 "
    "for i = 1, #m, 2 do "
    "  if redis.call('PEXPIRETIME', m[i]) == tonumber(m[i + 1]) then "
    "    n = n + redis.call('UNLINK', m[i]) "
    "  end "
    "end "
    "redis.call('UNLINK', KEYS[1]) "
    "return n";

/* Cluster mode, step 1: the index's live members and their scores. */
static const char tag_members_script[] =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES')";
/* Step 2, per member (its own slot): deleted only if it still carries the
 * tag (its expiry is the score). ARGV: the score. */
static const char tag_member_script[] =
    "if redis.call('PEXPIRETIME', KEYS[1]) == tonumber(ARGV[1]) then "
    "  return redis.call('UNLINK', KEYS[1]) end "
    "return 0";

/* r->key holds the index key (r->keylen stays 0: not logged as the key),
 * r->deleted the members not answered yet, r->num the count. Step 3, once
 * every member is done and none failed: the index goes. */
static void tag_index_unlink(struct nc_req *r)
{
    const char *argv[2] = {"UNLINK", r->key};
    size_t lens[2] = {6, strlen(r->key)};
    if (nc_cache_issue(r, nc_cache_on_settle, 2, argv, lens) != 0)
        r->redis_failed = 1;
}

static void on_tag_member(void *priv, redisReply *reply)
{
    struct nc_req *r = priv;
    if (!reply || reply->type != REDIS_REPLY_INTEGER)
        r->redis_failed = 1;
    else
        r->num += reply->integer;
    if (--r->deleted == 0 && !r->redis_failed)
        tag_index_unlink(r);
    nc_cache_settle(r);
}

static void on_tag_members(void *priv, redisReply *reply)
{
    struct nc_req *r = priv;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements % 2) {
        r->redis_failed = 1;
        nc_cache_settle(r);
        return;
    }
    r->num = 0;
    r->deleted = 1; /* held until every member's script is out */
    for (size_t i = 0; i + 1 < reply->elements && !r->redis_failed; i += 2) {
        const redisReply *m = reply->element[i], *sc = reply->element[i + 1];
        if (m->type != REDIS_REPLY_STRING || sc->type != REDIS_REPLY_STRING) {
            r->redis_failed = 1;
            break;
        }
        const char *argv[5] = {"EVAL", tag_member_script, "1", m->str, sc->str};
        size_t lens[5] = {4, sizeof tag_member_script - 1, 1, m->len, sc->len};
        if (nc_cache_issue(r, on_tag_member, 5, argv, lens) != 0)
            r->redis_failed = 1;
        else
            r->deleted++;
    }
    if (--r->deleted == 0 && !r->redis_failed)
        tag_index_unlink(r);
    nc_cache_settle(r);
}

static enum MHD_Result delete_tag(struct nc_req *r, const struct nc_arg *tag)
{
    if (!nc_tag_valid(tag->value, tag->value_len))
        return nc_req_problem(r, 400, "invalid_tag", "Bad Request",
                              "tag must match [A-Za-z0-9_.:-]{1,128}.");
    if (!r->w->cfg->redis_enabled)
        return unavailable(r);
    char tagkey[NC_KEY_MAX];
    int kl = nc_cache_tag_key(r, tag->value, tag->value_len, tagkey);
    if (kl < 0)
        return nc_req_problem(r, 500, "internal", "Internal Error", "Key derivation failed.");
    int cluster = nc_cache_cluster(r);
    if (cluster)
        memcpy(r->key, tagkey, (size_t)kl + 1);
    const char *argv[4] = {"EVAL", cluster ? tag_members_script : tag_delete_script, "1", tagkey};
    size_t lens[4] = {4, cluster ? sizeof tag_members_script - 1 : sizeof tag_delete_script - 1, 1,
                      (size_t)kl};
    if (nc_cache_issue(r, cluster ? on_tag_members : nc_cache_on_integer, 4, argv, lens) != 0)
        return unavailable(r);
    nc_req_suspend(r);
    return MHD_YES;
}

enum MHD_Result nc_cache_delete_start(struct nc_req *r)
{
    static const char *const tag_only[1] = {"tag"};
    const struct nc_arg *tag;
    if (r->nargs == 1 && nc_req_args(r, tag_only, &tag, 1) == 0)
        return delete_tag(r, tag);
    if (r->nargs == 0) {
        r->route = NC_ROUTE_CACHE_FLUSH;
        if (nc_store_masters(r->w->store) < 1) /* disabled, or no slot map yet */
            return unavailable(r);
        strcpy(r->cursor, "0");
        r->num = 0;
        issue_scan(r);
        if (r->redis_failed)
            return unavailable(r);
        nc_req_suspend(r);
        return MHD_YES;
    }
    struct nc_cache_err e;
    const char *tok = NULL;
    size_t toklen = 0;
    int lease = nc_cache_lease_header(r, &tok, &toklen, &e);
    if (lease < 0)
        return nc_cache_err_reply(r, &e);
    if (nc_cache_key_from_args(r, &e) != 0)
        return nc_cache_err_reply(r, &e);
    if (!r->w->cfg->redis_enabled)
        return unavailable(r);
    if (lease) {
        /* The holder gives its lease back; no value is deleted. */
        r->flags |= NC_CACHE_F_LEASE_RELEASE;
        if (nc_cache_lease_release(r, tok, toklen, nc_cache_on_integer) != 0)
            return unavailable(r);
        nc_req_suspend(r);
        return MHD_YES;
    }
    const char *argv[2] = {"UNLINK", r->key};
    size_t lens[2] = {6, (size_t)r->keylen};
    if (nc_cache_issue(r, nc_cache_on_integer, 2, argv, lens) != 0)
        return unavailable(r);
    /* The entry's lease goes too: a value computed before this delete
     * cannot land after it (the stale-set race). */
    if (nc_cache_lease_clear(r, r->key, (size_t)r->keylen, nc_cache_on_settle, r) != 0)
        r->redis_failed = 1;
    nc_req_suspend(r);
    return MHD_YES;
}

enum MHD_Result nc_cache_delete_finish(struct nc_req *r)
{
    /* Before the answer, whatever Redis said (a failed delete may still
     * have happened): one entry leaves the near cache; a flush or a tag
     * delete empties it (which keys a tag named is Redis's to know). */
    if (!(r->flags & NC_CACHE_F_LEASE_RELEASE)) {
        if (r->keylen)
            nc_cache_near_drop(r, r->key, (size_t)r->keylen);
        else
            nc_cache_near_clear(r);
    }
    if (r->redis_failed)
        return unavailable(r);
    if (r->flags & NC_CACHE_F_LEASE_RELEASE) {
        if (r->num != 1) {
            nc_cache_lease_lost(r);
            return nc_req_problem(r, 409, "lease_lost", "Conflict",
                                  "This token does not hold the lease.");
        }
        nc_buf_reset(&r->out);
        return nc_req_reply(r, 204, NULL);
    }
    nc_buf_reset(&r->out);
    int rc = nc_buf_printf(&r->out, "{\"deleted\":%lld}",
                           r->route == NC_ROUTE_CACHE_FLUSH ? r->deleted : r->num);
    return nc_req_reply_built(r, rc, 200, "application/json");
}
