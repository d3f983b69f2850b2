/* SPDX-License-Identifier: MIT */
/*
 * udp_tx — sending datagrams from the buffers they arrived in.
 *
 * Datagrams for one destination that complete in the same loop turn go out
 * as one sendmsg with UDP_SEGMENT (GSO): the kernel builds and routes one
 * buffer and cuts it into datagrams, instead of a full send per datagram.
 * Each datagram stays in its receive buffer (one iovec each); all but the
 * last must have the same length. At most UDP_GSO_MAX datagrams and
 * UDP_GSO_BYTES per send.
 */
#include <errno.h>
#include <netinet/udp.h>
#include <stdlib.h>

#include "core/log.h"
#include "udp_int.h"

#define UDP_GSO_MAX 32
#define UDP_GSO_BYTES 65000
/* Only datagrams that fit an Ethernet frame are batched: the kernel refuses
 * (EINVAL) a segment size over the route's MTU, while a lone datagram would
 * just be fragmented. */
#define UDP_GSO_SEG_MAX4 1472
#define UDP_GSO_SEG_MAX6 1452
/* A GSO send that fails is redone datagram by datagram; after this many
 * such failures the worker stops batching. */
#define UDP_GSO_STRIKES 16

/* The send of one buffer: alone, or the first of a batch. */
struct udp_tx {
	struct msghdr msg;
	struct iovec iov[UDP_GSO_MAX];
	struct sockaddr_storage dst;
	uint32_t assoc_slot;
	uint32_t assoc_gen;
	uint32_t tp;            /* the redir reply socket it goes out on, or UDP_NONE */
	int fd;
	uint32_t seg;           /* length of every datagram but the last */
	uint32_t total;
	uint16_t bids[UDP_GSO_MAX]; /* bids[0] is this entry's own buffer */
	uint8_t n;
	uint8_t sealed;         /* a shorter datagram ended the batch */
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} cm;
};

int udp_tx_init(struct udp_state *u, unsigned n_bufs)
{
	u->tx = calloc(n_bufs, sizeof(*u->tx));
	u->open = UDP_NONE;
	/* Tests of the fallback path make every batch fail. */
	u->gso_test_fail = getenv("SSRING_TEST_GSO_FAIL") != NULL;
	return u->tx ? 0 : -ENOMEM;
}

void udp_tx_free(struct udp_state *u)
{
	free(u->tx);
	u->tx = NULL;
}

static void submit_tx(struct loop *l, uint16_t bid)
{
	struct udp_tx *tx = &udp_of(l)->tx[bid];
	struct io_uring_sqe *sqe = loop_sqe(l);

	memset(&tx->msg, 0, sizeof(tx->msg));
	tx->msg.msg_name = &tx->dst;
	tx->msg.msg_namelen = sockaddr_len((struct sockaddr *)&tx->dst);
	tx->msg.msg_iov = tx->iov;
	tx->msg.msg_iovlen = tx->n;
	if (tx->n > 1) {
		struct cmsghdr *cm = &tx->cm.align;
		uint16_t seg = (uint16_t)tx->seg;

		tx->msg.msg_control = tx->cm.buf;
		tx->msg.msg_controllen = sizeof(tx->cm.buf);
		cm->cmsg_level = SOL_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof(seg));
		memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
	}
	/* Tests force the fallback path: the batch fails (EBADF) unsent. */
	io_uring_prep_sendmsg(sqe, udp_of(l)->gso_test_fail && tx->n > 1 ? -1 : tx->fd, &tx->msg, 0);
	io_uring_sqe_set_data64(sqe, ud_pack(loop_tag(&udp_module, UDP_OP_SEND), bid, 0));
}

void udp_flush(struct loop *l)
{
	struct udp_state *u = udp_of(l);

	if (u && u->open != UDP_NONE) {
		submit_tx(l, (uint16_t)u->open);
		u->open = UDP_NONE;
	}
}

static bool joins(const struct udp_state *u, const struct udp_tx *b, int fd, size_t len,
		  const struct sockaddr *dst, const struct udp_assoc *a, uint32_t tp)
{
	return b->fd == fd && b->tp == tp && !b->sealed && b->n < UDP_GSO_MAX && len <= b->seg &&
	       b->total + len <= UDP_GSO_BYTES && u->gso_strikes < UDP_GSO_STRIKES &&
	       b->assoc_slot == (a ? a->slot : UDP_NONE) && b->assoc_gen == (a ? a->gen : 0) &&
	       sockaddr_equal(dst, (const struct sockaddr *)&b->dst);
}

/* A send from fd, owned by association a or by redir reply socket tp (or
 * by neither: a listener's socket), which stays open while it is in flight. */
static void send_owned(struct loop *l, uint16_t bid, int fd, const void *p, size_t len,
		       const struct sockaddr *dst, struct udp_assoc *a, uint32_t tp)
{
	struct udp_state *u = udp_of(l);
	struct udp_tx *tx;

	if (u->open != UDP_NONE) {
		struct udp_tx *b = &u->tx[u->open];

		if (joins(u, b, fd, len, dst, a, tp)) {
			b->iov[b->n].iov_base = (void *)p;
			b->iov[b->n].iov_len = len;
			b->bids[b->n++] = bid;
			b->total += (uint32_t)len;
			b->sealed = len < b->seg;
			return;
		}
		udp_flush(l);
	}
	tx = &u->tx[bid];
	memcpy(&tx->dst, dst, sockaddr_len(dst));
	tx->iov[0].iov_base = (void *)p;
	tx->iov[0].iov_len = len;
	tx->bids[0] = bid;
	tx->n = 1;
	tx->fd = fd;
	tx->seg = tx->total = (uint32_t)len;
	/* Too big to be a segment: this send takes no company. */
	tx->sealed = len > (dst->sa_family == AF_INET6 ? UDP_GSO_SEG_MAX6 : UDP_GSO_SEG_MAX4);
	tx->assoc_slot = a ? a->slot : UDP_NONE;
	tx->assoc_gen = a ? a->gen : 0;
	if (a)
		a->inflight++;
	tx->tp = tp;
	if (tp != UDP_NONE)
		u->tps[tp].inflight++;
	u->open = bid;
}

void udp_send_from(struct loop *l, uint16_t bid, int fd, const void *p, size_t len,
		   const struct sockaddr *dst, struct udp_assoc *a)
{
	send_owned(l, bid, fd, p, len, dst, a, UDP_NONE);
}

void udp_send_tp(struct loop *l, uint16_t bid, uint32_t tp, const void *p, size_t len,
		 const struct sockaddr *dst)
{
	send_owned(l, bid, udp_of(l)->tps[tp].fd, p, len, dst, NULL, tp);
}

/* A GSO batch failed (a device or path that cannot segment, a datagram over
 * the path MTU): send its datagrams one by one. */
static void resend_alone(struct loop *l, struct udp_tx *b, struct udp_assoc *a)
{
	struct udp_tx copy = *b;

	udp_flush(l);
	for (unsigned i = 0; i < copy.n; i++) {
		struct udp_tx *tx = &udp_of(l)->tx[copy.bids[i]];

		memcpy(&tx->dst, &copy.dst, sizeof(copy.dst));
		tx->iov[0] = copy.iov[i];
		tx->bids[0] = copy.bids[i];
		tx->n = 1;
		tx->fd = copy.fd;
		tx->seg = tx->total = (uint32_t)copy.iov[i].iov_len;
		tx->assoc_slot = a ? a->slot : UDP_NONE;
		tx->assoc_gen = a ? a->gen : 0;
		if (a)
			a->inflight++;
		tx->tp = copy.tp;
		if (copy.tp != UDP_NONE)
			udp_of(l)->tps[copy.tp].inflight++;
		submit_tx(l, copy.bids[i]);
	}
}

void udp_tx_done(struct loop *l, uint16_t bid, int res)
{
	struct udp_state *u = udp_of(l);
	struct udp_tx *tx = &u->tx[bid];
	uint32_t aslot = tx->assoc_slot, agen = tx->assoc_gen;
	/* The owner must still be there: its fd is only open while it is. */
	struct udp_assoc *a = aslot != UDP_NONE ? udp_assoc_lookup(l, aslot, agen) : NULL;

	uint32_t tp = tx->tp;

	tx->assoc_slot = UDP_NONE;
	if (res < 0 && tx->n > 1 && res != -ECANCELED && !l->stopping &&
	    (a || aslot == UDP_NONE)) {
		if (++u->gso_strikes == UDP_GSO_STRIKES)
			log_warn("udp: GSO sends keep failing (%s): sending datagrams one by one",
				 strerror(-res));
		u->st.gso_retried += tx->n;
		resend_alone(l, tx, a);
	} else {
		if (res >= 0)
			u->st.out += tx->n;
		else if (res != -ECANCELED)
			log_debug("udp send: %s", strerror(-res));
		for (unsigned i = 0; i < tx->n; i++)
			loop_buf_return(l, BG_UDP, tx->bids[i]);
		if (tx->n > 1)
			u->st.gso_batches++;
	}
	if (tp != UDP_NONE)
		u->tps[tp].inflight--;
	if (a) {
		a->inflight--;
		udp_assoc_maybe_free(l, a);
	}
}
