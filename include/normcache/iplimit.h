/* iplimit.h - open connections per client address, counted for the whole
 * process.
 *
 * Every worker runs its own libmicrohttpd daemon on the shared port
 * (SO_REUSEPORT), so libmicrohttpd's MHD_OPTION_PER_IP_CONNECTION_LIMIT
 * would be a limit per worker: a client could hold THREADS times the cap.
 * One table, shared by every worker and guarded by a mutex (it is touched
 * only when a connection opens or closes, never per request), counts them
 * all. Addresses are kept as 16 bytes (IPv4 as IPv4-mapped IPv6); an entry
 * is freed when its count drops to zero, so the table holds at most one
 * entry per open connection. */
#ifndef NC_IPLIMIT_H
#define NC_IPLIMIT_H

#include <sys/socket.h>

#define NC_IPLIMIT_KEY 16

struct nc_iplimit;

/* A table admitting at most cap connections per address (cap >= 1). NULL
 * when out of memory. Freed with nc_iplimit_free (accepts NULL) once no
 * worker uses it. */
struct nc_iplimit *nc_iplimit_new(int cap);
void nc_iplimit_free(struct nc_iplimit *t);

/* The table key of a socket address: 0, or -1 for a family that is not
 * IPv4/IPv6 (such connections are not limited). */
int nc_iplimit_key(const struct sockaddr *sa, socklen_t len, unsigned char key[NC_IPLIMIT_KEY]);

/* 1 when one more connection from key would be admitted now (no change):
 * the cheap refusal at accept time, before a connection is set up. */
int nc_iplimit_room(struct nc_iplimit *t, const unsigned char key[NC_IPLIMIT_KEY]);
/* Counts one more connection from key: 0, or -1 (nothing counted) when the
 * address is at its cap or memory runs out. Every 0 is balanced by one
 * nc_iplimit_release. */
int nc_iplimit_acquire(struct nc_iplimit *t, const unsigned char key[NC_IPLIMIT_KEY]);
void nc_iplimit_release(struct nc_iplimit *t, const unsigned char key[NC_IPLIMIT_KEY]);
/* Connections counted for key (tests, diagnostics). */
int nc_iplimit_count(struct nc_iplimit *t, const unsigned char key[NC_IPLIMIT_KEY]);

#endif
