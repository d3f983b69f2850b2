/* SPDX-License-Identifier: MIT */
/*
 * session — one relayed TCP connection: an inbound socket (accepted) and an
 * outbound socket (connected by us), and two directions of flow between them.
 * Roles differ only in which direction seals and which opens (design.md):
 *
 *   role    d[DIR_IN_OUT] (inbound -> outbound)   d[DIR_OUT_IN]
 *   server  open (decrypt)                        seal (encrypt)
 *   local   seal                                  open
 *
 * Lifetime: a session lives in its loop's pool. session_close() is the only
 * way out; it cancels what is in flight and the slot returns to the pool when
 * the last CQE has come back (inflight == 0).
 */
#ifndef SSRING_SESSION_H
#define SSRING_SESSION_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "aead.h"
#include "loop.h"
#include "ssaddr.h"

enum { SIDE_IN = 0, SIDE_OUT = 1 };
enum { DIR_IN_OUT = 0, DIR_OUT_IN = 1 };

enum sess_state {
	SESS_ST_HANDSHAKE = 0, /* reading the request (salt, address header) */
	SESS_ST_CONNECTING,    /* outbound connect in flight; data parked */
	SESS_ST_RELAY,         /* both directions flowing */
	SESS_ST_DRAIN,         /* request failed authentication: read and discard */
	SESS_ST_CLOSING        /* cancels issued; waiting for the last CQE */
};

enum dir_codec {
	CODEC_SEAL = 0,        /* plaintext in, ss stream out */
	CODEC_OPEN             /* ss stream in, plaintext out */
};

#define DIR_F_RECV (1u << 0)      /* a recv is in flight */
#define DIR_F_SEND (1u << 1)      /* a send is in flight */
#define DIR_F_EOF (1u << 2)       /* the source sent FIN */
#define DIR_F_SHUT (1u << 3)      /* we sent FIN to the destination */
#define DIR_F_WAITBUF (1u << 4)   /* parked on the bufring's ENOBUFS list */
#define DIR_F_PREFIX_SENT (1u << 5) /* salt (and header) already went out */

#define DIR_IOV_MAX 16
#define CARRY_HALF_BYTES (AEAD_LEN_BYTES + AEAD_CHUNK_MAX + AEAD_TAG_BYTES + 64)

struct relay_dir {
	uint8_t codec;
	uint8_t flags;
	uint8_t bgid;           /* group its receives draw from */
	uint8_t niov;
	uint8_t di;             /* index in session.d[] */
	uint16_t bid;           /* held provided buffer, BID_NONE if none */
	uint32_t buf_len;       /* bytes received into it */
	uint32_t buf_pos;       /* bytes processed so far */
	uint32_t carry;         /* carry block index or POOL_NONE */
	uint32_t carry_len;     /* bytes of an incomplete record in the active half */
	uint8_t carry_half;     /* which half holds the incomplete record */
	struct iovec iov[DIR_IOV_MAX];
	struct msghdr msg;
	uint64_t bytes;         /* plaintext bytes relayed */
	struct list wait_node;  /* on bufring.waiters while DIR_F_WAITBUF */
};

struct session {
	uint32_t gen;
	uint32_t slot;
	enum role role;
	enum sess_state state;
	int fd[2];
	uint32_t inflight;      /* SQEs whose CQE has not come back yet */
	uint8_t closing_abort;  /* reset both sides on close */
	uint8_t fd_cancelled;
	const struct listener *lst;
	const struct config_cipher *cipher;
	struct timer timer;
	struct relay_dir d[2];
	struct aead_reader rd;  /* the opening direction */
	struct aead_ctx wr;     /* the sealing direction */
	uint8_t wr_salt[AEAD_MAX_SALT_BYTES];
	struct ssaddr target;
	struct sockaddr_storage peer;
	uint16_t hdr_len;       /* bytes gathered in hdr while the header is incomplete */
	uint8_t hdr[SSADDR_MAX_BYTES + 1];
};

/* Find the live session a CQE belongs to, NULL if the slot was reused. */
struct session *session_lookup(struct loop *l, uint32_t slot, uint32_t gen);
/* New session for an accepted fd; NULL (and fd closed, counted) if the pool is full. */
struct session *session_new(struct loop *l, const struct listener *lst, int fd);
/* Tear down. abort = send RST on both sockets. Idempotent. */
void session_close(struct loop *l, struct session *s, bool abort, const char *why);
/* Called for every CQE of a session op. */
void session_handle_cqe(struct loop *l, struct session *s, enum loop_op op,
			const struct io_uring_cqe *cqe);
/* Arm a receive on the source of direction di. */
void session_arm_recv(struct loop *l, struct session *s, int di);
/* A session whose timer fired. */
void session_timeout(struct loop *l, struct session *s);
/* Start a direction that was parked while the outbound connect ran. */
void session_kick(struct loop *l, struct session *s, int di);
/* Retry receives parked on ENOBUFS for group bgid. */
void session_retry_waiters(struct loop *l, int bgid);

/* Role hooks (tcp_server.c). */
void server_session_start(struct loop *l, struct session *s);
/* Completion of the outbound connect (res = 0 or -errno). */
void server_on_connect(struct loop *l, struct session *s, int res);
/* Plaintext from the inbound stream while the request is incomplete. */
int server_on_request_bytes(struct loop *l, struct session *s, uint8_t *p, size_t n);
/* The request could not be authenticated: absorb the connection. */
void session_auth_failed(struct loop *l, struct session *s, const char *why);

#endif
