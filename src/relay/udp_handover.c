/* SPDX-License-Identifier: MIT */
/*
 * udp_handover — 2022 sessions across workers. A client that changes its
 * address keeps its session ID, but SO_REUSEPORT may hash the new address to
 * another worker's socket. That worker finds the owner in the shared table
 * (udp_owner.h), opens the packet itself and posts it, with the payload, to
 * the owner's ring (IORING_OP_MSG_RING); the owner checks the session's
 * window, records the new address and sends the payload on.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/worker.h"
#include "udp_int.h"

/* An opened 2022 packet handed from one worker to the session's owner. */
struct xfer {
	uint32_t ep;          /* the listener's endpoint id: the same on every worker */
	uint32_t uid;
	uint64_t sid, pid;
	uint8_t psk[32];      /* the user's key, by value: snapshots may differ */
	struct ssaddr addr;
	struct sockaddr_storage from;
	size_t len;
	uint8_t data[];
};

bool udp_hand_over(struct loop *l, int w, struct udp_listener *L,
		   const struct ss2022_udp_packet *pk, const struct dgram *g)
{
	const struct config_server *cs = L->conf;
	int fd = worker_ring_fd(w);
	struct xfer *x;

	if (fd < 0 || !(x = malloc(sizeof(*x) + pk->payload_len)))
		return false;
	x->ep = L->id;
	x->uid = udp_uid(cs, pk->user);
	x->sid = pk->session_id;
	x->pid = pk->packet_id;
	memcpy(x->psk, pk->psk, cs->cipher.m2022->key_len);
	x->addr = pk->addr;
	memcpy(&x->from, g->from, sockaddr_len(g->from));
	x->len = pk->payload_len;
	memcpy(x->data, pk->payload, pk->payload_len);
	/* The target's CQE carries the pointer under UDP_OP_XFER; ours comes
	 * back only to free it if the message could not be posted. */
	loop_post(l, fd, ud_pack_ptr(loop_tag(&udp_module, UDP_OP_XFER), x), 0,
		  ud_pack_ptr(loop_tag(&udp_module, UDP_OP_XFER_SRC), x));
	return true;
}

/* The owner's side of a hand-over: the packet was opened by the sender. */
static void take_over(struct loop *l, struct xfer *x)
{
	struct udp_listener *L = udp_listener_by_id(l, x->ep);
	const struct config_server *cs = L ? L->conf : NULL;
	struct sockaddr_storage dst;
	struct udp_assoc *a = NULL;
	socklen_t dl;
	int fd;

	/* Both workers run the same method on that port unless a reload is
	 * under way between them: then the packet is dropped. */
	if (cs && cs->cipher.m2022)
		a = udp_assoc_2022(l, L, x->sid);
	if (a)
		udp_assoc_rebind(l, a, cs);
	if (!a || !udp_accept2022(l, a, x->pid, x->uid, (struct sockaddr *)&x->from, x->psk)) {
		udp_of(l)->st.dropped++;
		stats_worker_add(l->id, a ? WC_DROP_AUTH : WC_DROP_OTHER, 1);
		return;
	}
	if (ssaddr_to_sockaddr(&x->addr, &dst, &dl) < 0 ||
	    (!cs->allow_private && ssaddr_is_special((struct sockaddr *)&dst)) ||
	    (fd = udp_target_fd(l, a, dst.ss_family)) < 0) {
		udp_of(l)->st.dropped++;
		stats_worker_add(l->id, WC_DROP_REFUSED, 1);
		return;
	}
	/* A non-blocking datagram send: the payload lives in x, not in a ring buffer. */
	udp_assoc_count(a, true, x->len);
	if (sendto(fd, x->data, x->len, MSG_DONTWAIT, (struct sockaddr *)&dst, dl) >= 0)
		udp_of(l)->st.out++;
}

void udp_handover_cqe(struct loop *l, unsigned op, const struct io_uring_cqe *cqe)
{
	struct xfer *x = ud_ptr(cqe->user_data);

	if (op == UDP_OP_XFER) {
		if (udp_of(l))
			take_over(l, x);
		free(x);
	} else if (cqe->res < 0) {
		if (udp_of(l)) {
			udp_of(l)->st.dropped++;
			stats_worker_add(l->id, WC_DROP_OTHER, 1);
		}
		free(x); /* never reached the owner */
	}
}
