/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: whole server sessions — handshake, chunks both ways, short
 * sends, connect results, timeouts, resets and closes — driven from fuzzed
 * bytes through the code the ring calls (the tcp module's completion
 * handler, its timers and ticks), without a ring.
 *
 * The harness stands in for core/loop.c: loop_sqe() hands out SQEs from an
 * array, and every SQE a module prepares is kept as a pending operation that
 * the input later completes (a receive with bytes from the input, a send in
 * full or in part, a connect with success or refusal, a cancel with every
 * operation on its fd). The modules themselves (dns, stats, users, limits,
 * tcp, udp) are the real ones, set up and prepared as ssring does.
 *
 * Input: byte 0 picks the server (method and probe policy); then operations, each an opcode
 * byte and its arguments:
 *   0 seal: u8 n, n plaintext bytes -> sealed as a valid client would (the
 *     first seal carries the salt, and for 2022 the request header with a
 *     fresh timestamp) and appended to the client's stream
 *   1 raw: u8 n, n bytes appended to the client's stream as they are
 *   2 deliver: u16 n -> up to n bytes of the client's stream to the
 *     pending inbound receive
 *   3 target: u8 n -> n input bytes as the target's answer
 *   4 send: u8 k -> the oldest pending send completes (k & 1: short)
 *   5 connect: u8 r -> the pending connect succeeds (r & 3) or is refused
 *   6 end: u8 w -> EOF or reset on the client's or the target's side
 *   7 time: u8 t -> the clock moves t * 250 ms; timers and ticks run
 * Oracles: ASan/UBSan, and after every input (the session closed and every
 * operation completed) all session, set-up, send and carry blocks and all
 * receive buffers are back in their pools.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <unistd.h>

#include "conf/config.h"
#include "core/log.h"
#include "core/uring_compat.h"
#include "core/worker.h"
#include "dns/dns.h"
#include "relay/limits.h"
#include "relay/role.h"
#include "relay/session.h"
#include "relay/stats.h"
#include "relay/tcp.h"
#include "relay/udp.h"
#include "relay/users.h"

/* ------------------------------------------------------ the ring's stand-in */

#define SIM_SQES 4096
#define SIM_PENDING 1024
#define SIM_BUFS 64

struct pending {
	uint8_t opcode;
	int fd;
	uint64_t ud;
	uint32_t len;
	uint8_t *addr;
	int bgid;              /* -1: no buffer selection */
};

static struct io_uring_sqe sq[SIM_SQES];
static unsigned n_sq;
static struct pending pend[SIM_PENDING];
static unsigned n_pend;
static uint16_t free_bids[LOOP_MAX_BUFGROUPS][SIM_BUFS];
static unsigned n_free_bids[LOOP_MAX_BUFGROUPS];
static struct loop L;
static int trace; /* FUZZ_SESSION_TRACE=1: each operation's outcome on stderr */

/* The listeners (core/listener.c) tag their accepts with it; none run here. */
struct loop_module core_module = { .name = "core" };

struct io_uring_sqe *loop_sqe(struct loop *l)
{
	(void)l;
	if (n_sq == SIM_SQES)
		abort(); /* a session never needs this many at once */
	memset(&sq[n_sq], 0, sizeof(sq[0]));
	return &sq[n_sq++];
}

void loop_reserve(struct loop *l, unsigned n)
{
	(void)l;
	(void)n;
}

void loop_post(struct loop *l, int ring_fd, uint64_t ud, int32_t res, uint64_t self_ud)
{
	(void)l, (void)ring_fd, (void)ud, (void)res, (void)self_ud;
}

int loop_setup_bufring(struct loop *l, int bgid, unsigned entries, unsigned bytes, unsigned off,
		       unsigned len, void (*starved)(struct loop *l, int bgid))
{
	struct bufring *b = &l->bufs[bgid];

	if (entries > SIM_BUFS)
		entries = SIM_BUFS;
	bufring_describe(b, entries, bytes, off, len, starved);
	b->mem = malloc((size_t)entries * bytes);
	if (!b->mem)
		return -ENOMEM;
	for (unsigned i = 0; i < entries; i++)
		free_bids[bgid][i] = (uint16_t)(entries - 1 - i);
	n_free_bids[bgid] = entries;
	return 0;
}

void loop_buf_return(struct loop *l, int bgid, uint16_t bid)
{
	free_bids[bgid][n_free_bids[bgid]++] = bid;
	l->bufs[bgid].out--;
}

/* One worker: no other ring to hand a 2022 UDP session to (core/worker.c). */
int worker_ring_fd(int id)
{
	(void)id;
	return -1;
}

const struct config *loop_cfg_hold(struct loop *l, const struct config *cfg)
{
	(void)l;
	return cfg;
}

void loop_cfg_drop(struct loop *l, const struct config *cfg)
{
	(void)l;
	(void)cfg;
}

static void dispatch(uint64_t ud, int32_t res, uint32_t flags)
{
	struct io_uring_cqe cqe = { .user_data = ud, .res = res, .flags = flags };
	struct loop_module *m = loop_tag_owner(ud_tag(ud));

	if (m && m->cqe)
		m->cqe(&L, ud_tag(ud) - m->tag_base, &cqe);
}

static void complete(unsigned i, int32_t res, uint32_t flags)
{
	uint64_t ud = pend[i].ud;

	pend[i] = pend[--n_pend];
	dispatch(ud, res, flags);
}

/* Turn the SQEs prepared since the last call into pending operations. */
static void collect(void)
{
	while (n_sq) {
		unsigned n = n_sq, cancels = 0;
		struct io_uring_sqe batch[64];

		if (n > 64)
			n = 64;
		memcpy(batch, sq + n_sq - n, n * sizeof(batch[0]));
		n_sq -= n;
		for (unsigned k = 0; k < n; k++) {
			const struct io_uring_sqe *e = &batch[k];

			if (e->opcode == IORING_OP_ASYNC_CANCEL) {
				/* By fd (the relays): everything on it ends now. */
				for (unsigned i = 0; i < n_pend;) {
					if ((e->cancel_flags & IORING_ASYNC_CANCEL_FD) &&
					    pend[i].fd == e->fd) {
						complete(i, -ECANCELED, 0);
						cancels++;
						i = 0;
						continue;
					}
					i++;
				}
				dispatch(e->user_data, cancels ? (int32_t)cancels : -ENOENT, 0);
				continue;
			}
			if (n_pend == SIM_PENDING)
				abort();
			pend[n_pend++] = (struct pending){
				.opcode = e->opcode, .fd = e->fd, .ud = e->user_data,
				.len = e->len, .addr = (uint8_t *)(uintptr_t)e->addr,
				.bgid = (e->flags & IOSQE_BUFFER_SELECT) ? e->buf_group : -1,
			};
		}
	}
}

static int find(uint8_t opcode, unsigned tcp_op)
{
	for (unsigned i = 0; i < n_pend; i++)
		if (pend[i].opcode == opcode && loop_tag_owner(ud_tag(pend[i].ud)) == &tcp_module &&
		    (tcp_op == ~0u || ud_tag(pend[i].ud) - tcp_module.tag_base == tcp_op))
			return (int)i;
	return -1;
}

/* A receive completes with n bytes of p (0: EOF, < 0: that error). */
static void deliver(int i, const uint8_t *p, int32_t n)
{
	int bgid = pend[i].bgid;
	uint16_t bid;

	if (n <= 0 || bgid < 0) {
		complete((unsigned)i, n, 0);
		return;
	}
	if (!n_free_bids[bgid]) {
		complete((unsigned)i, -ENOBUFS, 0);
		return;
	}
	if ((uint32_t)n > pend[i].len)
		n = (int32_t)pend[i].len;
	bid = free_bids[bgid][--n_free_bids[bgid]];
	memcpy(loop_buf_data(&L, bgid, bid), p, (size_t)n);
	complete((unsigned)i, n,
		 IORING_CQE_F_BUFFER | ((uint32_t)bid << IORING_CQE_BUFFER_SHIFT));
}

static void run_timers_and_ticks(void)
{
	struct list expired;

	list_init(&expired);
	timer_wheel_advance(&L.wheel, L.now_ms, &expired);
	while (!list_empty(&expired)) {
		struct timer *t = list_entry(expired.next, struct timer, node);

		list_del(&t->node);
		t->deadline_ms = 0;
		if (t->fn)
			t->fn(&L, t);
	}
	for (unsigned i = 0; i < LOOP_MAX_MODULES; i++)
		if (L.mods[i] && L.mods[i]->tick)
			L.mods[i]->tick(&L);
	/* Buffers came back: receives that starved try again. */
	for (int g = 0; g < LOOP_MAX_BUFGROUPS; g++)
		if (L.bufs[g].starved && !list_empty(&L.bufs[g].waiters) && n_free_bids[g])
			L.bufs[g].starved(&L, g);
}

/* ------------------------------------------------------------ the servers */

static const char *const METHODS[] = {
	"aes-128-gcm", "chacha20-ietf-poly1305", "2022-blake3-aes-128-gcm",
	"2022-blake3-chacha20-poly1305",
};
#define N_METHODS (sizeof(METHODS) / sizeof(METHODS[0]))
/* Each method under each probe policy: drain, close, forward (to a port
 * where nothing listens: the decoy's connect is one of the input's). */
static const char *const POLICIES[] = {
	"", "probe = \"close\";", "probe = \"forward\"; probe_forward = \"127.0.0.1:9\";",
};
#define N_SERVERS (N_METHODS * sizeof(POLICIES) / sizeof(POLICIES[0]))
static const char *const KEYS2022[] = {
	"AAECAwQFBgcICQoLDA0ODw==", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
};
static struct loop_module *const MODS[] = { &dns_module,   &relay_module, &users_module,
					     &limits_module, &tcp_module,  &udp_module };
static struct tcp_listener *listeners[N_SERVERS];

static int free_port(void)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl))
		abort();
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	close(fd);
	return port;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char text[8192], err[CONFIG_ERR_BYTES], *p = text;
	struct config *cfg = malloc(sizeof(*cfg));
	struct tcp_state *t;
	struct list *n;
	size_t i = 0;

	(void)argc, (void)argv;
	trace = getenv("FUZZ_SESSION_TRACE") != NULL;
	log_set_level(trace ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
	p += sprintf(p, "workers = 1;\nlog_level = \"error\";\n"
		     "dns = { servers = [ \"127.0.0.1:9\" ]; };\n"
		     "limits = { handshakes_per_source = 0; };\n"
		     "timeouts = { handshake = 2; probe_window = 3; };\nservers = (\n");
	for (i = 0; i < N_SERVERS; i++) {
		size_t m = i % N_METHODS;

		p += sprintf(p, "%s{ listen = \"127.0.0.1:%d\"; method = \"%s\"; %s%s%s; "
			     "allow_private = true; udp = false; %s }\n", i ? "," : "", free_port(),
			     METHODS[m], m < 2 ? "password = \"fuzz\"" : "key = \"",
			     m < 2 ? "" : KEYS2022[m == 2 ? 0 : 1], m < 2 ? "" : "\"",
			     POLICIES[i / N_METHODS]);
	}
	sprintf(p, ");\n");
	if (!cfg || config_load_string(text, "fuzz.cfg", cfg, err, sizeof(err))) {
		fprintf(stderr, "fuzz_session: config: %s\n", err);
		abort();
	}
	cfg->generation = 1;
	atomic_init(&cfg->refs, 1);
	for (i = 0; i < sizeof(MODS) / sizeof(MODS[0]); i++)
		if (loop_module_register(MODS[i]) || (MODS[i]->setup && MODS[i]->setup(cfg)))
			abort();
	for (i = 0; i < sizeof(MODS) / sizeof(MODS[0]); i++)
		if (MODS[i]->prepare && MODS[i]->prepare(NULL, cfg))
			abort();
	L.id = 0;
	L.cfg = cfg;
	L.now_ms = 1000;
	timer_wheel_init(&L.wheel, L.now_ms);
	for (i = 0; i < sizeof(MODS) / sizeof(MODS[0]); i++) {
		L.mods[MODS[i]->id] = MODS[i];
		if (MODS[i]->init && MODS[i]->init(&L))
			abort();
	}
	collect();
	t = tcp_of(&L);
	i = 0;
	for (n = t->listeners.next; n != &t->listeners && i < N_SERVERS; n = n->next)
		listeners[i++] = list_entry(n, struct tcp_listener, node);
	if (i != N_SERVERS)
		abort();
	return 0;
}

/* -------------------------------------------------------------- a session */

struct client {
	const struct config_cipher *c;
	struct aead_ctx wr;
	int started;
	uint8_t stream[1 << 18];
	size_t len, pos;
};

static void client_seal(struct client *cl, const uint8_t *p, size_t n)
{
	uint8_t *out;
	size_t room = sizeof(cl->stream) - cl->len;

	if (room < n + 2048)
		return;
	out = cl->stream + cl->len;
	if (!cl->started) {
		cl->started = 1;
		if (cl->c->m2022) {
			/* p = address | first data, as the fuzzer wrote them; an
			 * address that does not parse goes out as it is. */
			struct ssaddr a;
			int al = ssaddr_parse(p, n, &a), r;

			if (al <= 0)
				al = n < 7 ? (int)n : 7;
			if (!al)
				return;
			r = ss2022_build_request(cl->c->m2022, &cl->c->keys2022, NULL,
						 (uint64_t)time(NULL), p, (size_t)al, p + al,
						 n - (size_t)al, n > (size_t)al ? 0 : 16, NULL, &cl->wr,
						 out, room);
			if (r > 0)
				cl->len += (size_t)r;
			return;
		}
		uint8_t salt[AEAD_MAX_SALT_BYTES];

		if (aead_random(salt, cl->c->method->salt_len) ||
		    aead_ctx_init(&cl->wr, cl->c->method, cl->c->key, salt))
			return;
		memcpy(out, salt, cl->c->method->salt_len);
		cl->len += cl->c->method->salt_len;
		out += cl->c->method->salt_len;
	}
	cl->len += aead_seal_chunks_max(&cl->wr, out, p, n,
					cl->c->m2022 ? SS2022_CHUNK_PREF : AEAD_CHUNK_PREF);
}

static struct client cl;

static void check_pools(void)
{
	struct tcp_state *t = tcp_of(&L);

	if (t->sessions.used || t->hs.used || t->txbufs.used || t->txsmall.used ||
	    t->carries.used || L.bufs[BG_PLAIN].out || L.bufs[BG_CIPHER].out) {
		fprintf(stderr, "leak: sessions %u hs %u tx %u txsmall %u carries %u bufs %u/%u\n",
			t->sessions.used, t->hs.used, t->txbufs.used, t->txsmall.used,
			t->carries.used, L.bufs[BG_PLAIN].out, L.bufs[BG_CIPHER].out);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *end = data + size;
	struct session *s;
	uint32_t slot, gen;
	int sv[2], i;

	if (size < 1)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv))
		return 0;
	memset(&cl, 0, offsetof(struct client, stream));
	cl.c = &((const struct config_server *)listeners[*data % N_SERVERS]->conf)->cipher;
	s = session_new(&L, listeners[*data % N_SERVERS], sv[0]);
	data++;
	if (!s)
		abort();
	slot = s->slot;
	gen = s->gen;
	s->role = session_role_of(ROLE_SERVER, s->conf);
	s->role->start(&L, s);
	collect();
	while (data + 2 <= end && session_lookup(&L, slot, gen)) {
		uint8_t op = data[0] & 7, a = data[1];

		data += 2;
		switch (op) {
		case 0:
		case 1: {
			size_t n = a < (size_t)(end - data) ? a : (size_t)(end - data);

			if (op == 0) {
				client_seal(&cl, data, n);
			} else if (cl.len + n <= sizeof(cl.stream)) {
				memcpy(cl.stream + cl.len, data, n);
				cl.len += n;
			}
			data += n;
			break;
		}
		case 2: {
			size_t n = ((size_t)a << 8) | (data < end ? *data++ : 0);

			if (n > cl.len - cl.pos)
				n = cl.len - cl.pos;
			if (!n || (i = find(IORING_OP_RECV, TCP_OP_RECV_IN)) < 0)
				break;
			if (n > pend[i].len)
				n = pend[i].len;
			deliver(i, cl.stream + cl.pos, (int32_t)n);
			cl.pos += n;
			break;
		}
		case 3: {
			size_t n = a < (size_t)(end - data) ? a : (size_t)(end - data);

			if (n && (i = find(IORING_OP_RECV, TCP_OP_RECV_OUT)) >= 0)
				deliver(i, data, (int32_t)n);
			data += n;
			break;
		}
		case 4:
			if ((i = find(IORING_OP_SEND, ~0u)) >= 0)
				complete((unsigned)i, (a & 1) && pend[i].len > 1
						      ? (int32_t)(1 + a % (pend[i].len - 1))
						      : (int32_t)pend[i].len, 0);
			break;
		case 5:
			if ((i = find(IORING_OP_CONNECT, TCP_OP_CONNECT)) >= 0)
				complete((unsigned)i, (a & 3) ? 0 : -ECONNREFUSED, 0);
			break;
		case 6:
			if ((i = find(IORING_OP_RECV, (a & 1) ? TCP_OP_RECV_OUT : TCP_OP_RECV_IN)) >= 0)
				deliver(i, NULL, (a & 2) ? -ECONNRESET : 0);
			break;
		default:
			L.now_ms += (uint64_t)a * 250;
			run_timers_and_ticks();
			break;
		}
		collect();
		if (trace)
			fprintf(stderr, "op %u: session %s, state %d, %u pending\n", op,
				session_lookup(&L, slot, gen) ? "open" : "gone",
				session_lookup(&L, slot, gen) ? (int)s->state : -1, n_pend);
	}
	/* The end: close what is left, then complete everything still pending
	 * as the kernel would after the cancels (sends and receives of the
	 * session's sockets end with -ECANCELED). */
	s = session_lookup(&L, slot, gen);
	if (s)
		session_close(&L, s, true, "fuzz input ended");
	collect();
	for (unsigned k = 0; k < n_pend;) {
		if (loop_tag_owner(ud_tag(pend[k].ud)) == &tcp_module) {
			complete(k, -ECANCELED, 0);
			collect();
			k = 0;
			continue;
		}
		k++;
	}
	run_timers_and_ticks();
	collect();
	close(sv[1]);
	check_pools();
	return 0;
}
