/* SPDX-License-Identifier: MIT */
/*
 * relay — what the TCP relay (tcp.h, session.h) and the UDP relay (udp.h)
 * share: the roles, the provided-buffer groups and their sizes, and the
 * process-wide state every worker's relays use (replay filters, the 2022
 * UDP owner table), created on the main thread before the workers start.
 */
#ifndef SSRING_RELAY_H
#define SSRING_RELAY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/config.h"

enum role {
	ROLE_SERVER = 0,
	ROLE_LOCAL,
	ROLE_TUNNEL
};

/* Provided-buffer groups of the relays. */
enum {
	BG_PLAIN = 0,  /* plaintext receives */
	BG_CIPHER = 1, /* ciphertext receives: several chunks */
	BG_UDP = 2     /* recvmsg: header, name and headroom, then one datagram */
};

/* Receive buffers: both TCP groups take BUF_RECV_BYTES per receive. */
#ifndef BUF_RECV_BYTES
#define BUF_RECV_BYTES (256 * 1024)
#endif
#define BUF_PLAIN_BYTES BUF_RECV_BYTES
#define BUF_CIPHER_BYTES BUF_RECV_BYTES
/*
 * A send block takes everything one receive turns into: a receive sealed
 * (salt + chunk overheads), or a receive opened plus the record completed
 * from the carry (2022: up to a 0xFFFF record).
 */
#define TX_BYTES (BUF_RECV_BYTES + 64 * 1024 + 2048)
/*
 * Small send blocks, for outputs that fit (replies, small receives, and
 * every receive of a direction whose destination is not draining: receives
 * are then held to RECV_PACED_MIN, so a stuck session pins two of these, not
 * two TX_BYTES). Room for a paced receive, a carried AEAD-2017 record and
 * the chunk overheads.
 */
#define RECV_PACED_MIN (32 * 1024)
#define TX_SMALL_BYTES (52 * 1024)
/* Margin taken on a receive's size for salts, headers and chunk tags. */
#define TX_OVERHEAD 1024
/* Free send/carry blocks beyond the POOL_TRIM_KEEP most recent go back to
 * the kernel every POOL_TRIM_MS. */
#define POOL_TRIM_MS 1000
#define POOL_TRIM_KEEP 16
/*
 * UDP buffers: io_uring_recvmsg_out (16) + the name area (128) + a reserved
 * control area that the kernel leaves empty (no cmsg is asked for) = bytes
 * before the payload. That room takes salt + address header in front of a
 * datagram, so it is sealed where it lies.
 */
#define UDP_NAME_BYTES 128
#define UDP_CTRL_BYTES 160
#define UDP_HEADROOM (16 + UDP_NAME_BYTES + UDP_CTRL_BYTES)
#define BUF_UDP_BYTES (UDP_HEADROOM + 65536 + 64)
#define BID_NONE 0xffff

struct replay_filter;
struct replay2022;
struct udp_owners;

/*
 * Shared by every worker. The main thread makes each object when a
 * snapshot first needs it (at start or in a reload's prepare) and frees it
 * after the workers are gone; the pointers are published with release and
 * read with acquire (a plain load on x86). The objects are thread-safe.
 */
struct relay_shared {
	_Atomic(struct replay_filter *) replay;  /* AEAD-2017 salts; NULL = no server yet */
	_Atomic(struct replay2022 *) replay2022; /* 2022 salts of the last 60 s */
	_Atomic(struct udp_owners *) owners;     /* 2022 UDP session -> worker */
};

extern struct relay_shared relay_shared;

static inline struct replay_filter *relay_replay(void)
{
	return atomic_load_explicit(&relay_shared.replay, memory_order_acquire);
}

static inline struct replay2022 *relay_replay2022(void)
{
	return atomic_load_explicit(&relay_shared.replay2022, memory_order_acquire);
}

static inline struct udp_owners *relay_owners(void)
{
	return atomic_load_explicit(&relay_shared.owners, memory_order_acquire);
}

struct sockaddr;
/* A 64-bit hash of a client's IP address (not its port), IPv4-mapped = IPv4; 0 if neither. */
uint64_t relay_ip_hash(uint64_t seed, const struct sockaddr *sa);

/* A server's ACL (acl = "FILE"), with shadowsocks-libev's server meaning: */
/* may this client connect? false: refuse it ([black_list]/[white_list] and the mode) */
bool relay_acl_refuses_client(const struct config_server *cs, const struct sockaddr *peer);
/* is this target in [outbound_block_list]? (an address, or a name by its rules) */
bool relay_acl_blocks_addr(const struct config_server *cs, const struct sockaddr *sa);
bool relay_acl_blocks_name(const struct config_server *cs, const char *name);
/*
 * A role's outbound options on a new socket of family, before it connects
 * or sends: outbound_bind_address (if of that family), outbound_interface,
 * outbound_fwmark. 0, or -errno (logged: SO_MARK needs CAP_NET_ADMIN).
 */
int relay_outbound_setup(int fd, int family, const struct config_outbound *o);
/* Does any role speak the 2022 edition? */
bool relay_uses_2022(const struct config *cfg);
/* Exit statistics: the bytes (TCP and UDP) of each user of cfg on one worker. */
void relay_log_user_bytes(const struct config *cfg, int worker);
/* One role entry with a listener: conf is its config_server/_local/_tunnel. */
typedef void (*relay_entry_fn)(void *arg, enum role role, const void *conf,
			       const struct hostport *hp, struct config_rt *rt);
/* Each entry of c with a TCP listener (udp false: every server and local, the
 * tunnels with tcp) or a UDP port (servers and tunnels with udp). */
void relay_each_listener(const struct config *c, bool udp, relay_entry_fn fn, void *arg);
/*
 * On the main thread: for every listener of cfg that old (NULL at start)
 * did not have, one socket per worker from open_fd, into the entry's
 * tcp_fds or udp_fds. 0 or the first -errno (sockets made so far stay in
 * cfg and close with it).
 */
int relay_prepare_sockets(const struct config *old, struct config *cfg, bool udp,
			  int (*open_fd)(const struct hostport *hp, enum role role,
					 const void *conf));
/* The outbound options of a role entry (conf is its config_server/_local/_tunnel). */
const struct config_outbound *relay_outbound_of(enum role role, const void *conf);
/* A role entry as a tunnel (NULL if it is not one), as a client side (NULL
 * for a server). */
const struct config_tunnel *relay_tunnel_of(enum role role, const void *conf);
const struct config_client *relay_client_of(enum role role, const void *conf);
/* A non-blocking TCP socket toward a target or server: MPTCP when o asks and
 * the kernel allows (else TCP, said once), TCP_FASTOPEN_CONNECT when o asks. */
int relay_stream_socket(int family, const struct config_outbound *o);
/* The same with TCP_NODELAY and o's options applied (relay_outbound_setup):
 * a socket a module's own stream connects with. The fd, or -errno. */
int relay_client_socket(int family, const struct config_outbound *o);
/* Log where each role listens (once every worker is up). */
void relay_log_roles(const struct config *cfg);

#endif
