/* key.h - Redis key derivation and namespace validation.
 *
 * Query key:  <prefix>:<ns>:<16 hex of SHA-256(normalised)>
 * Params key: <prefix>:<ns>:p:<16 hex of SHA-256(canonical params)>
 * Recs key:   <prefix>:<ns>:r:<16 hex of SHA-256("<normalised>\nlimit=<n>")>
 * In cluster mode the 16 hex are a hash tag: <prefix>:<ns>:{<16 hex>}.
 * With a secret, HMAC-SHA256 keyed with it replaces SHA-256, so low-entropy
 * queries cannot be recovered from keys by guessing. */
#ifndef NC_KEY_H
#define NC_KEY_H

#include <stddef.h>
#include <stdint.h>

/* prefix <= 32, ns <= 64: 32 + 1 + 64 + 3 + 16 + NUL, with room for
 * suffixes such as ":lock". */
#define NC_KEY_MAX 160
#define NC_NS_MAX 64
#define NC_PREFIX_MAX 32

#define NC_TAG_MAX 128

/* NC_KEY_RECS: a recommendations answer; data is the normalised query, a
 * newline and "limit=<n>" (the limit changes the answer). NC_KEY_TAG: the
 * index of the entries carrying a tag (data is the tag: hashed like a
 * query, so a tag that names a person is not readable in Redis). */
enum nc_key_kind { NC_KEY_QUERY = 0, NC_KEY_PARAMS = 1, NC_KEY_RECS = 2, NC_KEY_TAG = 3 };

/* 1 when s[0..len) matches [A-Za-z0-9_-]{1,max}, else 0. */
int nc_ident_valid(const char *s, size_t len, size_t max);
#define nc_ns_valid(s, len) nc_ident_valid((s), (len), NC_NS_MAX)

/* 1 when s[0..len) is a tag: [A-Za-z0-9_.:-]{1,NC_TAG_MAX}, else 0. */
int nc_tag_valid(const char *s, size_t len);

/* Writes the NUL-terminated key into out (NC_KEY_MAX bytes) and returns its
 * length, or -1 if the hash failed or prefix/ns is not a valid identifier
 * (checked again here: a key with ':' or '*' in it could widen a flush's
 * SCAN pattern). secret may be NULL or secretlen 0 for plain SHA-256. */
int nc_key_derive(const char *prefix, const char *ns, enum nc_key_kind kind,
                  const unsigned char *secret, size_t secretlen, const char *data, size_t len,
                  char out[NC_KEY_MAX]);

/* The same, for a Redis mode: cluster != 0 puts the digest in a hash tag,
 * <prefix>:<ns>:[p:|r:|t:]{<16 hex>}, so that the keys of one entry (its
 * value, lease, lock) share a slot and entries spread over the slots.
 * cluster == 0 is nc_key_derive, byte for byte. */
int nc_key_derive_mode(const char *prefix, const char *ns, enum nc_key_kind kind,
                       const unsigned char *secret, size_t secretlen, const char *data, size_t len,
                       int cluster, char out[NC_KEY_MAX]);

/* First 16 hex chars of SHA-256 or HMAC-SHA256(data) into hex[17]. */
int nc_key_digest16(const unsigned char *secret, size_t secretlen, const char *data, size_t len,
                    char hex[17]);

/* A 64-bit FNV-1a hash of a response body, for strong ETags: cheap enough
 * for every hit (not a security boundary: the body is the caller's own). */
uint64_t nc_key_etag_hash(const char *p, size_t n);

/* The ETag header value of hash h: a quoted 16-digit lowercase hex string
 * (printf's "\"%016llx\"", without its cost) into out[19], NUL-terminated. */
#define NC_KEY_ETAG_LEN 18
void nc_key_etag_format(uint64_t h, char out[NC_KEY_ETAG_LEN + 1]);

#endif
