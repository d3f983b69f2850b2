/* SPDX-License-Identifier: MIT */
/*
 * uot_int — UDP over TCP (proto/uot.h) between the roles that carry it
 * (uot_server.c: a server's session whose request named the magic
 * destination; uot_client.c: a local's, tunnel's or redir's session that
 * carries one UDP association), the server role that hands sessions over
 * (server.c) and the UDP relay whose associations they serve (udp_uot.c).
 * The relay engine sees none of it (relay/role.h): a session's UDP side is
 * a direction fed by the role (session_feed) and one delivered to it (the
 * deliver hook).
 */
#ifndef SSRING_UOT_INT_H
#define SSRING_UOT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/uot.h"
#include "relay/session.h"

/*
 * Server: the request named the magic destination of UoT version
 * (1 or 2): on a server with udp = true the session relays datagrams
 * through an association of its own instead of connecting. 0, or -1 to be
 * closed like a refused target.
 */
int uot_server_start(struct loop *l, struct session *s, int version);

/*
 * Frames from the plaintext p/n of a UoT session (connect mode or not):
 * each complete one goes to fn; one cut by the end of p waits in the carry
 * block of direction cd (a direction that seals: its carry is free). 0, or
 * -1 when the bytes are not frames or no carry block is left (the caller
 * closes the session).
 */
int uot_frames(struct loop *l, struct session *s, int cd, bool connect, const uint8_t *p,
	       size_t n, void (*fn)(struct loop *l, struct session *s, const struct uot_frame *f));

/*
 * Client side (udp_uot.c): open the TCP session of association aslot/agen
 * of role entry conf (a local's, tunnel's or redir's: role, of snapshot
 * cfg), whose first datagram goes to first (a tunnel's go to its forward,
 * in connect mode). 0 with the session in *slot, *gen, or -errno.
 */
int uot_client_open(struct loop *l, enum role role, const void *conf, const struct config *cfg,
		    uint32_t aslot, uint32_t agen, const struct ssaddr *first, uint32_t *slot,
		    uint32_t *gen);
/*
 * A datagram to dst (NULL in connect mode) at p/n, with UOT_FRAME_HDR_MAX
 * writable bytes before p (its frame header goes there): sent as a frame,
 * or queued behind the request while the session connects (up to a carry
 * half). 0, or -errno when it was not taken (the caller drops it).
 */
int uot_client_send(struct loop *l, uint32_t slot, uint32_t gen, const struct ssaddr *dst,
		    uint8_t *p, size_t n);
/* The association ends: its session closes (and does not tell it). */
void uot_client_close(struct loop *l, uint32_t slot, uint32_t gen);

#endif
