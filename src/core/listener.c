/* SPDX-License-Identifier: MIT */
#include "core/listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "proto/hostport.h"

#define ACCEPT_RETRY_MS 1000

int listener_socket(const struct sockaddr *sa, socklen_t len, bool reuseport)
{
	return listener_socket_proto(sa, len, reuseport, 0, false);
}

int listener_socket_proto(const struct sockaddr *sa, socklen_t len, bool reuseport, int proto,
			  bool transparent)
{
	int one = 1, fd, err;
	char buf[80];

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, proto);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (transparent &&
	    (sa->sa_family == AF_INET6
		     ? setsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one, sizeof(one))
		     : setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &one, sizeof(one)))) {
		err = -errno;
		log_error("cannot make the listener on %s transparent (TPROXY): %s%s",
			  hostport_format_addr(sa, buf, sizeof(buf)), strerror(-err),
			  err == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
		close(fd);
		return err;
	}
	if (bind(fd, sa, len) < 0 || listen(fd, 4096) < 0) {
		err = -errno;
		log_error("cannot listen on %s: %s", hostport_format_addr(sa, buf, sizeof(buf)),
			  strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}

static void arm_accept(struct loop *l, struct loop_listener *ls)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	/* Multishot: one SQE keeps producing a CQE per connection. No address
	 * output: the single slot would be overwritten by later accepts. */
	io_uring_prep_multishot_accept(sqe, ls->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	io_uring_sqe_set_data64(sqe, ud_pack_ptr(loop_tag(&core_module, CORE_OP_ACCEPT), ls));
	ls->armed = true;
}

static void retry_accept(struct loop *l, struct timer *t)
{
	struct loop_listener *ls = list_entry(&t->node, struct loop_listener, retry.node);

	ls->paused = false;
	if (!ls->armed && !ls->closing)
		arm_accept(l, ls);
}

void listener_start(struct loop *l, struct loop_listener *ls, int fd,
		    listener_accept_fn on_accept, listener_closed_fn on_closed)
{
	ls->fd = fd;
	ls->armed = ls->paused = ls->closing = false;
	ls->on_accept = on_accept;
	ls->on_closed = on_closed;
	timer_init_fn(&ls->retry, retry_accept);
	arm_accept(l, ls);
}

static void finish_close(struct loop *l, struct loop_listener *ls)
{
	if (ls->fd >= 0)
		close(ls->fd);
	ls->fd = -1;
	if (ls->on_closed)
		ls->on_closed(l, ls);
}

void listener_close(struct loop *l, struct loop_listener *ls)
{
	if (ls->closing)
		return;
	ls->closing = true;
	timer_cancel(&ls->retry);
	if (!ls->armed) {
		finish_close(l, ls);
		return;
	}
	/* shutdown() ends the pending multishot accept of a TCP listener with
	 * an error; a Unix one it does not wake, so the accept is cancelled as
	 * well (whichever comes first ends it). The fd is closed when that
	 * last CQE is in, so no CQE names a reused fd. */
	shutdown(ls->fd, SHUT_RDWR);
	{
		struct io_uring_sqe *sqe = loop_sqe(l);

		io_uring_prep_cancel64(sqe, ud_pack_ptr(loop_tag(&core_module, CORE_OP_ACCEPT), ls),
				       0);
		io_uring_sqe_set_data64(sqe, ud_pack(loop_tag(&core_module, CORE_OP_CANCEL), 0, 0));
	}
}

void listener_handle_cqe(struct loop *l, const struct io_uring_cqe *cqe)
{
	struct loop_listener *ls = ud_ptr(cqe->user_data);
	int res = cqe->res;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		ls->armed = false;
	if (res >= 0) {
		if (ls->closing || l->stopping)
			close(res);
		else
			ls->on_accept(l, ls, res);
	} else if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
		if (!ls->closing && !ls->paused) {
			log_warn("accept: %s; pausing accepts for %d ms", strerror(-res),
				 ACCEPT_RETRY_MS);
			ls->paused = true;
			/* Re-arming at once would spin: back off and retry from the wheel. */
			timer_arm(&l->wheel, &ls->retry, l->now_ms + ACCEPT_RETRY_MS);
		}
	} else if (res != -ECANCELED && res != -EINVAL && res != -EBADF && !ls->closing) {
		log_warn("accept: %s", strerror(-res));
	}
	if (ls->armed)
		return;
	if (ls->closing)
		finish_close(l, ls);
	else if (!ls->paused && !l->stopping)
		arm_accept(l, ls);
}
