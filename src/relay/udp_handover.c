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
	uint32_t li;
	int user;
	uint64_t sid, pid;
	const uint8_t *psk;
	struct ssaddr addr;
	struct sockaddr_storage from;
	size_t len;
	uint8_t data[];
};

bool udp_hand_over(struct loop *l, int w, uint32_t li, const struct ss2022_udp_packet *pk,
		      const struct dgram *g)
{
	int fd = worker_ring_fd(w);
	struct xfer *x;

	if (fd < 0 || !(x = malloc(sizeof(*x) + pk->payload_len)))
		return false;
	x->li = li;
	x->user = pk->user;
	x->sid = pk->session_id;
	x->pid = pk->packet_id;
	x->psk = pk->psk;
	x->addr = pk->addr;
	memcpy(&x->from, g->from, sa_len(g->from));
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
	const struct config_server *cs = udp_of(l)->lst[x->li].conf;
	struct sockaddr_storage dst;
	struct udp_assoc *a = udp_assoc_2022(l, x->li, x->sid);
	socklen_t dl;
	int fd;

	if (!a || !udp_accept2022(l, a, x->pid, x->user, x->len, (struct sockaddr *)&x->from,
			      x->psk)) {
		udp_of(l)->st.dropped++;
		return;
	}
	if (ssaddr_to_sockaddr(&x->addr, &dst, &dl) < 0 ||
	    (!cs->allow_private && ssaddr_is_special((struct sockaddr *)&dst)) ||
	    (fd = udp_target_fd(l, a, dst.ss_family)) < 0) {
		udp_of(l)->st.dropped++;
		return;
	}
	/* A non-blocking datagram send: the payload lives in x, not in a ring buffer. */
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
		if (udp_of(l))
			udp_of(l)->st.dropped++;
		free(x); /* never reached the owner */
	}
}
