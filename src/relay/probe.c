/* SPDX-License-Identifier: MIT */
/*
 * probe — what a server does with a connection that has not authenticated
 * (docs/design-notes.md, "Active probing"): one reaction for every such
 * connection, whatever it sent, however much, however slowly.
 *
 * At accept a server session gets a deadline drawn once: accept +
 * timeouts.handshake, plus, with probe = "drain", a uniform draw over
 * timeouts.probe_window. Until it authenticates nothing it sends changes
 * that deadline: a request that fails (bad key, replay, stale, short, over
 * a limit) is read and discarded until then, one that is incomplete simply
 * waits for it, and at the deadline the connection is closed with FIN. With
 * probe = "forward" the decision is handing the connection, with every byte
 * it sent so far, to the decoy: at once when the request fails, at the
 * deadline when it never completes, at its FIN when it ends first.
 *
 * Unauthenticated server sessions of a worker are on a list, oldest first.
 * Past a quarter of the session pool (and never below the per-source
 * limit, so a single source cannot get there) the oldest is closed to make
 * room for the newcomer, in the same way as at its deadline.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "proto/hostport.h"
#include "server_int.h"

/* splitmix64: the per-worker generator of deadlines, seeded from the DRBG. */
static uint64_t next_rand(struct tcp_state *t)
{
	uint64_t z;

	if (!t->rng_seeded) {
		if (aead_random((uint8_t *)&t->rng, sizeof(t->rng)))
			t->rng = (uint64_t)(uintptr_t)t ^ 0x9e3779b97f4a7c15ull;
		t->rng_seeded = true;
	}
	z = (t->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* How many unauthenticated sessions a worker holds before the oldest goes. */
static uint32_t unauth_cap(const struct loop *l)
{
	const struct tcp_state *t = tcp_of(l);
	uint32_t cap = t->sessions.cap, q = cap / 4 + 1;
	uint32_t per_source = l->cfg->limits.handshakes_per_source;

	if (per_source && per_source + 1 > q)
		q = per_source < cap ? per_source + 1 : cap;
	return q;
}

static void unlist(struct loop *l, struct session *s)
{
	if (!s->unauth)
		return;
	list_del(&s->hs->unauth_node);
	tcp_of(l)->n_unauth--;
	s->unauth = 0;
}

static void kept_free(struct loop *l, struct session *s)
{
	if (s->hs && s->hs->kept) {
		session_tx_free(l, s->hs->kept_blk);
		s->hs->kept = NULL;
		s->hs->kept_len = s->hs->kept_cap = 0;
	}
}

void probe_start(struct loop *l, struct session *s)
{
	const struct config_server *cs = s->conf;
	struct tcp_state *t = tcp_of(l);
	uint64_t ms = (uint64_t)s->cfg->timeouts.handshake * 1000;

	if (cs->probe == PROBE_DRAIN && s->cfg->timeouts.probe_window)
		ms += next_rand(t) % ((uint64_t)s->cfg->timeouts.probe_window * 1000 + 1);
	else if (cs->probe == PROBE_CLOSE)
		/* Within one tick of the handshake time, drawn: connections
		 * accepted together then end over several ticks, and what the
		 * worker does for each in its turn (a millisecond or so over
		 * hundreds) cannot order them. */
		ms += next_rand(t) % TIMER_TICK_MS;
	if (t->n_unauth >= unauth_cap(l)) {
		struct session_hs *old = list_entry(t->unauth.next, struct session_hs, unauth_node);

		stats_worker_add(l->id, WC_REFUSED_DRAINING, 1);
		if (t->st.unauth_evicted++ % 1024 == 0)
			log_warn("%u connections have not authenticated on this worker (a quarter "
				 "of its pool): the oldest are closed to make room (%llu so far)",
				 t->n_unauth, (unsigned long long)t->st.unauth_evicted);
		session_close(l, old->owner, false, "oldest unauthenticated connection");
	}
	s->hs->owner = s;
	s->hs->kept = NULL;
	s->hs->kept_blk = POOL_NONE;
	list_add_tail(&t->unauth, &s->hs->unauth_node);
	t->n_unauth++;
	s->unauth = 1;
	timer_arm(&l->wheel, &s->timer, l->now_ms + ms);
}

void probe_keep(struct loop *l, struct session *s, const uint8_t *in, size_t n)
{
	const struct config_server *cs = s->conf;
	struct session_hs *hs = s->hs;

	if (cs->probe != PROBE_FORWARD || !n)
		return;
	if (hs->kept_len + n > hs->kept_cap) {
		/* A decision comes within the first receive of at least a
		 * request's length, so this is at most one receive and a
		 * request header: a send block takes it. */
		size_t need = hs->kept_len + n < TX_BYTES ? hs->kept_len + n : TX_BYTES;
		uint32_t blk;
		uint8_t *p = session_tx_block(l, need, &blk);

		if (!p)
			return; /* the decoy gets what was kept */
		if (hs->kept) {
			memcpy(p, hs->kept, hs->kept_len);
			session_tx_free(l, hs->kept_blk);
		}
		hs->kept = p;
		hs->kept_blk = blk;
		hs->kept_cap = (uint32_t)session_tx_block_size(blk);
		if (n > hs->kept_cap - hs->kept_len)
			n = hs->kept_cap - hs->kept_len;
	}
	memcpy(hs->kept + hs->kept_len, in, n);
	hs->kept_len += (uint32_t)n;
}

void probe_authenticated(struct loop *l, struct session *s)
{
	unlist(l, s);
}

void probe_end(struct loop *l, struct session *s)
{
	unlist(l, s);
	kept_free(l, s);
}

/*
 * probe = "forward": from now on this is a plain TCP proxy to the decoy, and
 * every byte the prober sent so far goes there first. The decoy answers as
 * whatever service it is; nothing tells the prober a Shadowsocks server
 * looked at its bytes.
 */
static int start_decoy(struct loop *l, struct session *s)
{
	const struct hostport *hp = &((const struct config_server *)s->conf)->probe_forward;
	struct session_hs *hs = s->hs;
	uint8_t *kept = hs->kept;
	uint32_t blk = hs->kept_blk, n = hs->kept_len;

	unlist(l, s);
	hs->kept = NULL;
	hs->kept_len = hs->kept_cap = 0;
	for (int i = 0; i < 2; i++) {
		/* A receive in flight keeps its group: the inbound direction
		 * goes on drawing from BG_CIPHER, which is as good for bytes
		 * passed on as they are. */
		dir_release_all(l, &s->d[i]);
		s->d[i].codec = CODEC_PLAIN;
	}
	s->d[DIR_OUT_IN].bgid = BG_PLAIN;
	if (kept)
		session_tx_push(l, s, DIR_IN_OUT, kept, n, blk);
	s->probe_fwd = 1;
	return session_connect(l, s, (const struct sockaddr *)&hp->addr, hp->addr_len);
}

static void peer_name(const struct session *s, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getpeername(s->fd[SIDE_IN], (struct sockaddr *)&ss, &sl) == 0)
		hostport_format_addr((struct sockaddr *)&ss, buf, len);
	else
		snprintf(buf, len, "?");
}

void probe_auth_failed(struct loop *l, struct session *s, enum ep_ctr reason, const char *why)
{
	const struct config_server *cs = s->conf;
	struct tcp_state *t = tcp_of(l);
	char peer[80];

	t->st.auth_fail++;
	ctr_add(&s->ctr[reason], 1);
	peer_name(s, peer, sizeof(peer));
	log_info("auth failure from %s: %s (%llu so far)", peer, why,
		 (unsigned long long)t->st.auth_fail);
	ctr_add(&s->ctr[cs->probe == PROBE_CLOSE	  ? EPC_PROBE_CLOSE
			: cs->probe == PROBE_FORWARD ? EPC_PROBE_FORWARD
						     : EPC_PROBE_DRAIN],
		1);
	if (cs->probe == PROBE_FORWARD) {
		if (start_decoy(l, s) < 0)
			session_close(l, s, false, "cannot reach the decoy");
		return;
	}
	/* Say nothing and keep reading until the deadline drawn at accept:
	 * neither the time nor the way it ends tells which byte failed. */
	for (int i = 0; i < 2; i++)
		dir_release_all(l, &s->d[i]);
	s->state = SESS_ST_DRAIN;
	session_arm_recv(l, s, DIR_IN_OUT);
}

/*
 * Undecided at the deadline or at the peer's FIN: a connection that never
 * sent a whole request (empty, short, or too slow) is an authentication
 * failure like the others, counted and met by the policy: forward hands it
 * over; drain and close end it (the engine closes it when this says no).
 */
static bool undecided(struct loop *l, struct session *s, const char *when)
{
	const struct config_server *cs = s->conf;
	char peer[80];

	if (s->state != SESS_ST_HANDSHAKE || !s->unauth)
		return false;
	tcp_of(l)->st.auth_fail++;
	ctr_add(&s->ctr[EPC_AUTH_INCOMPLETE], 1);
	ctr_add(&s->ctr[cs->probe == PROBE_CLOSE	  ? EPC_PROBE_CLOSE
			: cs->probe == PROBE_FORWARD ? EPC_PROBE_FORWARD
						     : EPC_PROBE_DRAIN],
		1);
	peer_name(s, peer, sizeof(peer));
	log_debug("no complete request from %s %s", peer, when);
	if (cs->probe != PROBE_FORWARD)
		return false;
	if (start_decoy(l, s) < 0)
		session_close(l, s, false, "cannot reach the decoy");
	return true;
}

bool probe_deadline(struct loop *l, struct session *s)
{
	return undecided(l, s, "before the deadline");
}

bool probe_peer_closed(struct loop *l, struct session *s)
{
	/* The decoy gets the bytes, then the FIN (DIR_F_EOF is already set). */
	return undecided(l, s, "before its FIN");
}
