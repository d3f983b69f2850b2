/* SPDX-License-Identifier: MIT */
/*
 * client — what the client roles share (client_int.h): every one of them
 * opens an ss stream to its server — salt | sealed address header | sealed
 * data — or, when its ACL says so, goes straight to the target. Several
 * servers (upstreams) are tried in turn when a connect fails, and the
 * first answer byte times the one that answered.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "proto/acl.h"
#include "proto/replay.h"
#include "client_int.h"
#include "relay/ssclient.h"
#include "relay/upstream.h"

/* Where TCP to the server goes: the server, the upstream, or their plugin's port. */
static const struct hostport *server_of(const struct session *s)
{
	const struct config_client *c = client_conf(s);

	return s->up ? &c->ups[s->up - 1].tcp_server : &c->tcp_server;
}

/*
 * Speak with cipher c: the stream to the server is sealed and its answer
 * opened, or with method none both pass as they are.
 */
static void use_cipher(struct session *s, const struct config_cipher *c)
{
	s->cipher = c;
	s->d[DIR_IN_OUT].codec = c->none ? CODEC_CLEAR : CODEC_SEAL;
	s->d[DIR_OUT_IN].codec = c->none ? CODEC_CLEAR : CODEC_OPEN;
	if (!c->none)
		aead_reader_init(&s->rd, c->method, c->key);
}

/* Speak to upstream i from now on (nothing has been sent to another yet). */
static void use_upstream(struct session *s, int i)
{
	const struct config_upstream *u = &client_conf(s)->ups[i];

	s->up = (uint8_t)(i + 1);
	s->hs->up_tried |= 1u << i;
	use_cipher(s, &u->cipher);
}

/*
 * The connect to upstream s->up failed (or its name did not resolve): it
 * is out for a while, and this connection tries another. True if it does.
 */
static bool upstream_failover(struct loop *l, struct session *s, int err)
{
	const struct config_client *c = client_conf(s);
	const struct config_upstream *u;
	int j;

	if (!s->up || s->direct)
		return false;
	u = &c->ups[s->up - 1];
	upstream_failed(&c->rt, s->up - 1, c->upstream_retry, upstream_now_ms());
	log_info("session %u: upstream %s:%u failed (%s); it is out for a while", s->slot,
		 u->server.host, (unsigned)u->server.port, strerror(-err));
	j = upstream_pick(&c->rt, c->n_ups, s->hs->up_tried, upstream_now_ms());
	if (j < 0)
		return false;
	if (s->fd[SIDE_OUT] >= 0) {
		close(s->fd[SIDE_OUT]);
		s->fd[SIDE_OUT] = -1;
	}
	use_upstream(s, j);
	client_connect_server(l, s);
	return true;
}

/* The first answer byte from the upstream: its latency. */
void client_first_answer(struct loop *l, struct session *s)
{
	s->up_wait = 0;
	upstream_answered(&client_conf(s)->rt, s->up - 1,
			  (uint64_t)(uint32_t)((uint32_t)l->now_ms - s->up_t0) * 1000);
}

/*
 * 2022: every response salt is remembered for 60 s as the server remembers
 * request salts (SIP022); a response seen before is a replay.
 */
int client_first_record(struct loop *l, struct session *s)
{
	int seen;

	if (!s->v2022 || !relay_replay2022())
		return 0;
	seen = replay2022_check_insert(relay_replay2022(), s->rd2.salt, s->cipher->m2022->key_len,
				       (uint64_t)time(NULL));
	if (!seen)
		return 0;
	tcp_of(l)->st.replays += seen == 1;
	session_close(l, s, true, "replayed response salt");
	return -1;
}

const struct config_outbound *client_outbound(const struct session *s)
{
	return &client_conf(s)->outbound;
}

bool client_start(struct loop *l, struct session *s)
{
	const struct config_client *c = client_conf(s);

	if (!server_of(s)->port) {
		/* servers_url: the document has not been fetched yet (ctl/sip008.c). */
		session_close(l, s, true, "no server yet: waiting for the servers_url document");
		return false;
	}
	s->d[DIR_IN_OUT].bgid = BG_PLAIN;
	s->d[DIR_OUT_IN].bgid = BG_CIPHER;
	use_cipher(s, &c->cipher);
	if (c->n_ups)
		use_upstream(s, upstream_pick(&c->rt, c->n_ups, 0, upstream_now_ms()));
	s->state = SESS_ST_HANDSHAKE;
	s->phase = CP_FIRST;
	timer_arm(&l->wheel, &s->timer, l->now_ms + (uint64_t)s->cfg->timeouts.handshake * 1000);
	return true;
}

void client_consume(struct loop *l, struct session *s, size_t n)
{
	struct relay_dir *d = &s->d[DIR_IN_OUT];
	uint8_t *acc = session_acc(l, s, 0);

	memmove(acc, acc + n, d->carry_len - n);
	d->carry_len -= (uint32_t)n;
}

void client_connect_server(struct loop *l, struct session *s)
{
	const struct hostport *hp = server_of(s);
	int ret;

	s->phase = CP_CONNECTING;
	s->up_t0 = (uint32_t)l->now_ms;
	if (!hp->is_ip) {
		/* Resolved on the ring (dns.c); getaddrinfo would block it. */
		ret = session_connect_name(l, s, hp->host, hp->port, true);
		if (ret < 0)
			client_role(s)->fail(l, s, -EHOSTUNREACH);
		return;
	}
	ret = session_connect(l, s, (const struct sockaddr *)&hp->addr, hp->addr_len);
	if (ret < 0)
		client_role(s)->fail(l, s, ret);
}

/* ---- routing: the ACL's bypass and proxy lists (libev's local.c) */

static const struct acl *route_acl(const struct session *s)
{
	const struct config_acl *ca = client_conf(s)->acl;

	return ca ? ca->acl : NULL;
}

/* Straight to the target, without the server: bytes go as they are. */
static void connect_direct(struct loop *l, struct session *s, const struct sockaddr *sa,
			   socklen_t sl)
{
	char t[300];
	int ret;

	s->direct = 1;
	s->phase = CP_CONNECTING;
	s->d[DIR_IN_OUT].codec = CODEC_PLAIN;
	s->d[DIR_OUT_IN].codec = CODEC_PLAIN;
	s->d[DIR_OUT_IN].bgid = BG_PLAIN;
	log_debug("session %u: %s bypasses the server (ACL)", s->slot,
		  ssaddr_format(&s->hs->target, t, sizeof(t)));
	if (sa)
		ret = session_connect(l, s, sa, sl);
	else /* a name: its addresses are in the cache by now */
		ret = session_connect_name(l, s, s->hs->target.u.domain.name, s->hs->target.port,
					   true);
	if (ret < 0)
		client_role(s)->fail(l, s, ret);
}

/*
 * A name resolved: listed to bypass, or not listed and its first address
 * says so, it goes direct; a name that does not resolve is proxied (libev:
 * also one listed to bypass).
 */
static void route_resolved(struct loop *l, const struct dns_waiter *w, const struct dns_entry *e,
			   int err)
{
	struct session *s = session_lookup(l, w->slot, w->gen);

	if (!s || s->state != SESS_ST_CONNECTING || s->fd[SIDE_OUT] >= 0 || s->direct)
		return;
	if (!err && e && e->n &&
	    (s->hs->bypass_name ||
	     acl_route_addr(route_acl(s), &e->addr[0].sa) == ACL_ROUTE_BYPASS))
		connect_direct(l, s, NULL, 0);
	else
		client_connect_server(l, s);
}

/*
 * Through the server, or direct: by the target's name if a rule lists it,
 * else by its address (a name is resolved for that, on the ring).
 */
void client_route(struct loop *l, struct session *s)
{
	const struct acl *a = route_acl(s);
	const struct ssaddr *t = &s->hs->target;
	struct dns_waiter w = { .done = route_resolved, .slot = s->slot, .gen = s->gen };
	const struct dns_entry *e;
	struct sockaddr_storage ss;
	socklen_t sl;
	enum acl_route r;
	int ret;

	if (!a) {
		client_connect_server(l, s);
		return;
	}
	if (ssaddr_to_sockaddr(t, &ss, &sl) == 0) {
		if (acl_route_addr(a, (struct sockaddr *)&ss) == ACL_ROUTE_BYPASS)
			connect_direct(l, s, (struct sockaddr *)&ss, sl);
		else
			client_connect_server(l, s);
		return;
	}
	r = acl_route_name(a, t->u.domain.name, t->u.domain.len);
	if (r == ACL_ROUTE_PROXY) {
		client_connect_server(l, s);
		return;
	}
	s->hs->bypass_name = r == ACL_ROUTE_BYPASS;
	s->state = SESS_ST_CONNECTING;
	s->phase = CP_CONNECTING;
	ret = dns_name_ok(t->u.domain.name) ? dns_lookup(l, t->u.domain.name, &w, &e) : -EINVAL;
	if (ret == DNS_PENDING)
		return;
	route_resolved(l, &w, ret < 0 ? NULL : e, ret < 0 ? ret : 0);
}

/* ---- the request ---------------------------------------------------------------- */

int client_request_prefix(struct session *s, const uint8_t *early, size_t early_len,
			  uint8_t *out, size_t *n)
{
	int r = ssclient_request(s->cipher, &s->hs->target, early, early_len, &s->wr, &s->rd2,
				 out, TX_BYTES, n);

	if (r < 0)
		return r;
	s->v2022 = (uint8_t)r;
	return 0;
}

/* The request prefix and any early data, in one send block. */
static int build_prefix(struct loop *l, struct session *s)
{
	struct relay_dir *d = &s->d[DIR_IN_OUT];
	uint32_t blk;
	size_t n = 0;
	uint8_t *out = session_tx_block(l, TX_BYTES, &blk);
	int ret;

	if (!out)
		return -ENOMEM;
	/* Bytes the client sent before our reply go right behind the header. */
	ret = client_request_prefix(s, d->carry_len ? session_acc(l, s, 0) : NULL, d->carry_len,
				    out, &n);
	if (ret < 0) {
		session_tx_push(l, s, DIR_IN_OUT, out, 0, blk); /* frees it */
		return ret;
	}
	if (!(d->flags & DIR_F_FED)) /* a role's bytes are its own to count */
		session_count(s, DIR_IN_OUT, d->carry_len);
	d->carry_len = 0;
	dir_release_carry(l, d);
	d->flags |= DIR_F_PREFIX_SENT;
	session_tx_push(l, s, DIR_IN_OUT, out, n, blk);
	return 0;
}

/* Direct: the bytes the client sent before our reply, as they are. */
static int direct_prefix(struct loop *l, struct session *s)
{
	struct relay_dir *d = &s->d[DIR_IN_OUT];
	uint32_t blk, n = d->carry_len;
	uint8_t *out;

	if (n) {
		out = session_tx_block(l, n, &blk);
		if (!out)
			return -ENOMEM;
		memcpy(out, session_acc(l, s, 0), n);
		session_count(s, DIR_IN_OUT, n);
		d->carry_len = 0;
		session_tx_push(l, s, DIR_IN_OUT, out, n, blk);
	}
	dir_release_carry(l, d);
	d->flags |= DIR_F_PREFIX_SENT;
	return 0;
}

int client_prefix(struct loop *l, struct session *s)
{
	return s->direct ? direct_prefix(l, s) : build_prefix(l, s);
}

void client_connected(struct loop *l, struct session *s, int res)
{
	const struct config_client *c = client_conf(s);
	const struct client_role *cr = client_role(s);

	if (s->state != SESS_ST_CONNECTING)
		return;
	if (res < 0 && res != -EHOSTUNREACH && session_connect_next(l, s) == 0)
		return; /* the server's name had another address */
	if (res < 0 && upstream_failover(l, s, res == -ECANCELED ? -ETIMEDOUT : res))
		return; /* trying another upstream */
	if (res < 0) {
		tcp_of(l)->st.connect_fail++;
		ctr_add(&s->ctr[EPC_CONNECT_FAIL], 1);
		log_info("cannot reach %s: %s", s->direct ? "the target (direct, by the ACL)" : "ss server",
			 res == -ECANCELED ? "timed out" : strerror(-res));
		cr->fail(l, s, res == -ECANCELED ? -ETIMEDOUT : res);
		return;
	}
	if ((cr->prefix ? cr->prefix(l, s) : client_prefix(l, s)) < 0) {
		session_close(l, s, true, "cannot set up the request cipher");
		return;
	}
	if (s->up && !s->direct) {
		const struct config_upstream *u = &c->ups[s->up - 1];

		log_debug("session %u: connected to upstream %s:%u", s->slot, u->server.host,
			  (unsigned)u->server.port);
		/* With upstream_check only a passed check brings a server back
		 * early: a black hole accepts connections too. */
		if (!c->check.interval)
			upstream_connected(&c->rt, s->up - 1);
		s->up_wait = 1;
	}
	s->state = SESS_ST_RELAY;
	s->phase = CP_DONE;
	timer_arm(&l->wheel, &s->timer, l->now_ms + (uint64_t)s->cfg->timeouts.tcp_idle * 1000);
	cr->ready(l, s);
}
