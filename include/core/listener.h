/* SPDX-License-Identifier: MIT */
/*
 * listener — a TCP listening socket on a loop, with one multishot accept.
 * Any module uses it: the relays on the workers, and the low-rate listeners
 * (metrics, management API) on the control loop. Accepts that fail for lack
 * of fds or memory pause the listener for a second instead of spinning.
 *
 * Lifetime: the owner keeps the struct where it likes; it must stay put
 * until on_closed has run (the pending accept holds a pointer to it).
 */
#ifndef SSRING_LISTENER_H
#define SSRING_LISTENER_H

#include <stdbool.h>
#include <sys/socket.h>

#include "core/loop.h"

struct loop_listener;
/* A new connection: fd is non-blocking and close-on-exec, and the callee's. */
typedef void (*listener_accept_fn)(struct loop *l, struct loop_listener *ls, int fd);
/* The listener is closed and no CQE refers to it any more. */
typedef void (*listener_closed_fn)(struct loop *l, struct loop_listener *ls);

struct loop_listener {
	int fd;
	bool armed;           /* a multishot accept is in flight */
	bool paused;          /* backing off after EMFILE/ENFILE/ENOMEM */
	bool closing;
	struct timer retry;
	listener_accept_fn on_accept;
	listener_closed_fn on_closed;
};

/*
 * A listening TCP socket on sa: SO_REUSEADDR, SO_REUSEPORT when reuseport
 * (every worker binds its own and the kernel spreads connections), IPv6
 * v6-only, TCP_NODELAY (inherited by accepted sockets). The fd, or -errno
 * (logged with the address).
 */
int listener_socket(const struct sockaddr *sa, socklen_t len, bool reuseport);
/* The same with a protocol (0, or IPPROTO_MPTCP) and, if transparent,
 * IP_TRANSPARENT / IPV6_TRANSPARENT (TPROXY; needs CAP_NET_ADMIN). */
int listener_socket_proto(const struct sockaddr *sa, socklen_t len, bool reuseport, int proto,
			  bool transparent);
/* Take over fd and start accepting on it. */
void listener_start(struct loop *l, struct loop_listener *ls, int fd,
		    listener_accept_fn on_accept, listener_closed_fn on_closed);
/* Stop accepting and close; on_closed runs once the last CQE is in (maybe now). */
void listener_close(struct loop *l, struct loop_listener *ls);
/* Completion of CORE_OP_ACCEPT (the core's dispatcher calls it). */
void listener_handle_cqe(struct loop *l, const struct io_uring_cqe *cqe);

#endif
