/* SPDX-License-Identifier: MIT */
/*
 * udp_owner — which worker owns a 2022 UDP session (by client session ID),
 * shared by all workers. A client that changes address keeps its session
 * ID, but SO_REUSEPORT may now hash it to another worker's socket; that
 * worker looks the owner up here and hands the packet over its ring
 * (IORING_OP_MSG_RING). Touched once per new session and once per packet
 * that arrives at a worker without the session, never on the common path.
 */
#ifndef SSRING_UDP_OWNER_H
#define SSRING_UDP_OWNER_H

#include <stdint.h>

struct udp_owners;

struct udp_owners *udp_owners_new(uint32_t buckets);
void udp_owners_free(struct udp_owners *o);
void udp_owners_set(struct udp_owners *o, uint64_t sid, int worker);
/* Forget sid if worker still owns it. */
void udp_owners_del(struct udp_owners *o, uint64_t sid, int worker);
/* The owning worker, or -1. */
int udp_owners_get(struct udp_owners *o, uint64_t sid);

#endif
