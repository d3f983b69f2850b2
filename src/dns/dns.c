/* SPDX-License-Identifier: MIT */
#include "dns/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/pool.h"
#include "proto/hostport.h"
#include "proto/sockaddr.h"

#define DNS_NONE UINT32_MAX
#define DNS_SOCKS 32
#define DNS_WAITERS_PER_ENTRY 4096

struct dns_sock {
	int fd;                 /* -1 = free */
	uint32_t gen;
	uint8_t want_r, want_w;
	uint8_t armed_r, armed_w;
};

struct dns_state {
	ares_channel ch;
	struct pool entries;
	struct pool waiters;
	uint32_t *hash;
	uint32_t hash_mask;
	struct list lru;        /* resolved entries, oldest first */
	struct dns_sock socks[DNS_SOCKS];
	unsigned pending;       /* queries on the wire */
	struct ares_addr_port_node *sys; /* the servers of /etc/resolv.conf */
	counter_t *ctr;         /* this worker's dns_stats row */
	struct {
		uint64_t queries, hits, misses, failures, shared;
	} st;
};

counter_t (*dns_stats)[DNS_CTR_COUNT];
static int n_dns_stats;

/* Ops of the resolver's completions (dns_module). */
enum dns_op {
	DNS_OP_POLL_R = 0,  /* slot/gen = c-ares socket */
	DNS_OP_POLL_W,
	DNS_OP_CANCEL,
	DNS_OP_COUNT
};

static _Thread_local struct loop *tls_loop;

static struct dns_state *dns_of(const struct loop *l)
{
	return loop_state(l, &dns_module);
}

static uint32_t hash_name(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)(*s | 0x20)) * 16777619u; /* names are case-insensitive */
	return h ^ (h >> 15);
}

static struct dns_entry *entry_at(struct dns_state *d, uint32_t i)
{
	return pool_at(&d->entries, i);
}

static struct dns_waiter *waiter_at(struct dns_state *d, uint32_t i)
{
	return pool_at(&d->waiters, i);
}

static struct dns_entry *find(struct dns_state *d, const char *name)
{
	uint32_t i = d->hash[hash_name(name) & d->hash_mask];

	for (; i != DNS_NONE; i = entry_at(d, i)->hnext)
		if (strcasecmp(entry_at(d, i)->name, name) == 0)
			return entry_at(d, i);
	return NULL;
}

static void unhash(struct dns_state *d, struct dns_entry *e)
{
	uint32_t *pp = &d->hash[hash_name(e->name) & d->hash_mask];

	while (*pp != DNS_NONE) {
		if (*pp == e->idx) {
			*pp = e->hnext;
			return;
		}
		pp = &entry_at(d, *pp)->hnext;
	}
}

enum dns_entry_state { DNS_E_PENDING = 0, DNS_E_OK, DNS_E_FAILED };

static void drop_entry(struct dns_state *d, struct dns_entry *e)
{
	unhash(d, e);
	if (list_linked(&e->lru))
		list_del(&e->lru);
	pool_free(&d->entries, e->idx);
}

static struct dns_entry *new_entry(struct loop *l, const char *name)
{
	struct dns_state *d = dns_of(l);
	uint32_t i = pool_alloc(&d->entries), h;
	struct dns_entry *e;

	if (i == POOL_NONE) {
		if (list_empty(&d->lru))
			return NULL; /* every entry is a query in flight */
		drop_entry(d, list_entry(d->lru.next, struct dns_entry, lru));
		i = pool_alloc(&d->entries);
	}
	e = entry_at(d, i);
	memset(e, 0, sizeof(*e));
	e->idx = i;
	e->waiters = DNS_NONE;
	list_init(&e->lru);
	snprintf(e->name, sizeof(e->name), "%s", name);
	h = hash_name(name) & d->hash_mask;
	e->hnext = d->hash[h];
	d->hash[h] = i;
	return e;
}

/* ---- c-ares sockets on the ring ------------------------------------------- */

static void arm_poll(struct loop *l, uint32_t i, bool write)
{
	struct dns_sock *k = &dns_of(l)->socks[i];
	struct io_uring_sqe *sqe = loop_sqe(l);

	if (write) {
		io_uring_prep_poll_add(sqe, k->fd, POLLOUT);
		k->armed_w = 1;
	} else {
		/* Multishot poll: one SQE for every readiness of the socket. */
		io_uring_prep_poll_multishot(sqe, k->fd, POLLIN);
		k->armed_r = 1;
	}
	io_uring_sqe_set_data64(sqe, ud_pack(loop_tag(&dns_module, write ? DNS_OP_POLL_W
									   : DNS_OP_POLL_R),
					     i, k->gen));
}

static void cancel_poll(struct loop *l, uint32_t i, enum dns_op op)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_cancel64(sqe, ud_pack(loop_tag(&dns_module, op), i, dns_of(l)->socks[i].gen),
			       0);
	io_uring_sqe_set_data64(sqe, ud_pack(loop_tag(&dns_module, DNS_OP_CANCEL), 0, 0));
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct loop *l = tls_loop;
	struct dns_state *d = dns_of(l);
	int free_i = -1;

	(void)data;
	for (int i = 0; i < DNS_SOCKS; i++) {
		struct dns_sock *k = &d->socks[i];

		if (k->fd == fd) {
			k->want_r = (uint8_t)readable;
			k->want_w = (uint8_t)writable;
			if (!readable && !writable) {
				/* c-ares closes it: stop watching (by user_data,
				 * the fd number may be reused at once). */
				if (k->armed_r)
					cancel_poll(l, (uint32_t)i, DNS_OP_POLL_R);
				if (k->armed_w)
					cancel_poll(l, (uint32_t)i, DNS_OP_POLL_W);
				k->fd = -1;
				k->gen++;
				k->armed_r = k->armed_w = 0;
				return;
			}
			if (readable && !k->armed_r)
				arm_poll(l, (uint32_t)i, false);
			if (writable && !k->armed_w)
				arm_poll(l, (uint32_t)i, true);
			return;
		}
		if (k->fd < 0 && free_i < 0)
			free_i = i;
	}
	if (free_i < 0 || (!readable && !writable)) {
		if (free_i < 0)
			log_warn("dns: more than %d resolver sockets; one is not watched", DNS_SOCKS);
		return;
	}
	d->socks[free_i].fd = fd;
	d->socks[free_i].want_r = (uint8_t)readable;
	d->socks[free_i].want_w = (uint8_t)writable;
	if (readable)
		arm_poll(l, (uint32_t)free_i, false);
	if (writable)
		arm_poll(l, (uint32_t)free_i, true);
}

static void dns_cqe(struct loop *l, unsigned op, const struct io_uring_cqe *cqe)
{
	struct dns_state *d = dns_of(l);
	uint32_t i = ud_slot(cqe->user_data);
	struct dns_sock *k;

	if (op == DNS_OP_CANCEL || !d || i >= DNS_SOCKS)
		return;
	k = &d->socks[i];
	if (k->gen != ud_gen(cqe->user_data) || k->fd < 0)
		return; /* a socket c-ares has closed since */
	tls_loop = l;
	if (op == DNS_OP_POLL_R) {
		if (!(cqe->flags & IORING_CQE_F_MORE))
			k->armed_r = 0;
		if (cqe->res > 0)
			ares_process_fd(d->ch, k->fd, ARES_SOCKET_BAD);
	} else {
		k->armed_w = 0;
		if (cqe->res > 0)
			ares_process_fd(d->ch, ARES_SOCKET_BAD, k->fd);
	}
	/* The socket may be gone (gen changed) or still wanted: re-arm. */
	if (k->gen == ud_gen(cqe->user_data) && k->fd >= 0) {
		if (k->want_r && !k->armed_r)
			arm_poll(l, i, false);
		if (k->want_w && !k->armed_w)
			arm_poll(l, i, true);
	}
}

static void dns_tick(struct loop *l)
{
	if (!dns_of(l) || !dns_of(l)->pending)
		return;
	tls_loop = l;
	/* No fd: lets c-ares handle its timeouts and retries. */
	ares_process_fd(dns_of(l)->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

/* ---- answers ------------------------------------------------------------------ */

/*
 * c-ares' verdicts as errno values the relays can pass on, one per kind of
 * failure, so that dns_strerror() can say which it was.
 */
static int ares_to_errno(int status)
{
	switch (status) {
	case ARES_ENOTFOUND:
	case ARES_ENONAME:
		return -ENOENT;
	case ARES_ENODATA:
		return -ENODATA;
	case ARES_ETIMEOUT:
		return -ETIMEDOUT;
	case ARES_EREFUSED:
		return -EPERM;
	case ARES_ESERVFAIL:
		return -EAGAIN;
	case ARES_EFORMERR:
	case ARES_EBADRESP:
		return -EBADMSG;
	case ARES_ENOTIMP:
		return -EOPNOTSUPP;
	case ARES_ECONNREFUSED:
		return -ENETUNREACH;
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		return -ECANCELED;
	case ARES_ENOMEM:
		return -ENOMEM;
	default:
		return -EHOSTUNREACH;
	}
}

const char *dns_strerror(int err)
{
	switch (err) {
	case -ENOENT: return "name not found (NXDOMAIN)";
	case -ENODATA: return "the name has no address (NODATA)";
	case -ETIMEDOUT: return "no answer from the name servers (timeout)";
	case -EPERM: return "the name server refused the query (REFUSED)";
	case -EAGAIN: return "the name server failed (SERVFAIL)";
	case -EBADMSG: return "a malformed query or answer (FORMERR)";
	case -EOPNOTSUPP: return "the name server does not implement the query (NOTIMP)";
	/* c-ares tries the next server on REFUSED, SERVFAIL and NOTIMP and, when
	 * none is left, reports them all as "could not contact" (1.18 keeps the
	 * answer codes to itself). */
	case -ENETUNREACH:
		return "no name server answered the query: each refused it (REFUSED), failed "
		       "(SERVFAIL), did not implement it (NOTIMP) or could not be reached";
	case -EHOSTUNREACH: return "the lookup failed";
	case -ECANCELED: return "the lookup was cancelled";
	case -ENOMEM: return "out of memory";
	default: return strerror(-err);
	}
}

/* Preferred family first, then the other, each in the server's order. */
static void fill(struct loop *l, struct dns_entry *e, const struct ares_addrinfo *ai, int *ttl)
{
	int first = l->cfg->dns.prefer == DNS_PREFER_IPV6 ? AF_INET6 : AF_INET;

	*ttl = DNS_TTL_CEIL_S;
	e->n = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (const struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next) {
			bool want = pass == 0 ? n->ai_family == first : n->ai_family != first;

			if (!want || e->n >= DNS_MAX_ADDRS ||
			    (n->ai_family != AF_INET && n->ai_family != AF_INET6))
				continue;
			memset(&e->addr[e->n], 0, sizeof(e->addr[0]));
			memcpy(&e->addr[e->n], n->ai_addr, sockaddr_len(n->ai_addr));
			e->n++;
			if (n->ai_ttl >= 0 && n->ai_ttl < *ttl)
				*ttl = n->ai_ttl;
		}
	}
	for (const struct ares_addrinfo_cname *c = ai->cnames; c; c = c->next)
		if (c->ttl >= 0 && c->ttl < *ttl)
			*ttl = c->ttl;
	if (*ttl < DNS_TTL_FLOOR_S)
		*ttl = DNS_TTL_FLOOR_S;
}

static void answer_cb(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct loop *l = tls_loop;
	struct dns_state *d = dns_of(l);
	struct dns_entry *e = entry_at(d, (uint32_t)(uintptr_t)arg);
	uint32_t w;
	int ttl = DNS_NEG_TTL_S, err = 0;

	(void)timeouts;
	d->pending--;
	if (status == ARES_SUCCESS && ai)
		fill(l, e, ai, &ttl);
	if (status != ARES_SUCCESS || e->n == 0) {
		err = status == ARES_SUCCESS ? -ENOENT : ares_to_errno(status);
		d->st.failures++;
		ctr_add(&d->ctr[DNS_CTR_FAILURE], 1);
		/* Timeouts and server trouble are not an answer about the name:
		 * keep them only for a moment. */
		ttl = err == -ETIMEDOUT || err == -EAGAIN || err == -ENETUNREACH ? 1 : DNS_NEG_TTL_S;
		log_debug("dns: %s: %s", e->name, ares_strerror(status));
	}
	if (ai)
		ares_freeaddrinfo(ai);
	e->state = err ? DNS_E_FAILED : DNS_E_OK;
	e->err = err;
	e->expires_ms = l->now_ms + (uint64_t)ttl * 1000;
	list_add_tail(&d->lru, &e->lru);
	/* Detach the waiters first: a callback may look this name up again. */
	w = e->waiters;
	e->waiters = DNS_NONE;
	while (w != DNS_NONE) {
		struct dns_waiter cp = *waiter_at(d, w);

		pool_free(&d->waiters, w);
		w = cp.next;
		cp.done(l, &cp, err ? NULL : e, err);
	}
}

int dns_lookup(struct loop *l, const char *name, const struct dns_waiter *w,
	       const struct dns_entry **res)
{
	struct dns_state *d = dns_of(l);
	struct dns_entry *e = find(d, name);
	struct ares_addrinfo_hints hints;
	uint32_t wi;

	if (e && e->state != DNS_E_PENDING && e->expires_ms <= l->now_ms) {
		drop_entry(d, e); /* expired: ask again */
		e = NULL;
	}
	if (e && e->state == DNS_E_OK) {
		d->st.hits++;
		ctr_add(&d->ctr[DNS_CTR_HIT], 1);
		list_del(&e->lru);
		list_add_tail(&d->lru, &e->lru);
		*res = e;
		return DNS_HIT;
	}
	if (e && e->state == DNS_E_FAILED) {
		d->st.hits++;
		ctr_add(&d->ctr[DNS_CTR_HIT], 1);
		return e->err;
	}
	wi = pool_alloc(&d->waiters);
	if (wi == POOL_NONE)
		return -ENOMEM;
	if (!e) {
		e = new_entry(l, name);
		if (!e) {
			pool_free(&d->waiters, wi);
			return -ENOMEM;
		}
		d->st.misses++;
		ctr_add(&d->ctr[DNS_CTR_MISS], 1);
		d->st.queries++;
		d->pending++;
		*waiter_at(d, wi) = *w;
		waiter_at(d, wi)->next = DNS_NONE;
		e->waiters = wi;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		tls_loop = l;
		/* May answer at once (hosts file, errors): answer_cb runs inside. */
		ares_getaddrinfo(d->ch, name, NULL, &hints, answer_cb, (void *)(uintptr_t)e->idx);
		return DNS_PENDING;
	}
	/* Already on the wire: share that query. */
	d->st.shared++;
	ctr_add(&d->ctr[DNS_CTR_SHARED], 1);
	*waiter_at(d, wi) = *w;
	waiter_at(d, wi)->next = e->waiters;
	e->waiters = wi;
	return DNS_PENDING;
}

bool dns_name_ok(const char *n)
{
	size_t len = strlen(n);

	/* Names from the network get the same check as names in the config. */
	return len <= 253 && hostport_is_host_name(n, len);
}

/* ---- setup -------------------------------------------------------------------- */

static int set_servers(struct loop *l)
{
	const struct config *c = l->cfg;
	char csv[CONFIG_MAX_DNS_SERVERS * 64] = "", one[80];
	int ret;

	if (!c->dns.n_servers)
		return 0; /* c-ares reads /etc/resolv.conf */
	for (size_t i = 0; i < c->dns.n_servers; i++) {
		hostport_format_addr((const struct sockaddr *)&c->dns.servers[i].addr, one, sizeof(one));
		if (i)
			strcat(csv, ",");
		strcat(csv, one);
	}
	ret = ares_set_servers_ports_csv(dns_of(l)->ch, csv);
	if (ret != ARES_SUCCESS) {
		log_error("dns: servers %s: %s", csv, ares_strerror(ret));
		return -EINVAL;
	}
	return 0;
}

static int dns_init(struct loop *l)
{
	struct ares_options o;
	struct dns_state *d = calloc(1, sizeof(*d));
	uint32_t cap = l->cfg->dns.cache_entries, hs = 16;
	int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS, ret;

	if (!d)
		return -ENOMEM;
	loop_set_state(l, &dns_module, d);
	d->ctr = dns_stats[l->id >= 0 && l->id < n_dns_stats ? l->id : 0];
	list_init(&d->lru);
	for (int i = 0; i < DNS_SOCKS; i++)
		d->socks[i].fd = -1;
	while (hs < 2 * cap)
		hs <<= 1;
	d->hash = malloc(sizeof(uint32_t) * hs);
	if (!d->hash || pool_init(&d->entries, sizeof(struct dns_entry), cap) ||
	    pool_init(&d->waiters, sizeof(struct dns_waiter), DNS_WAITERS_PER_ENTRY + cap))
		return -ENOMEM;
	memset(d->hash, 0xff, sizeof(uint32_t) * hs);
	d->hash_mask = hs - 1;
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = sock_state_cb;
	o.lookups = (char *)"fb"; /* /etc/hosts first, then DNS */
	if (l->cfg->dns.n_servers) {
		/* Our own servers: fail over quickly rather than c-ares' 5 s x 4. */
		o.timeout = 2000;
		o.tries = 2;
		mask |= ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
	}
	ret = ares_init_options(&d->ch, &o, mask);
	if (ret != ARES_SUCCESS) {
		log_error("dns: %s", ares_strerror(ret));
		return -EINVAL;
	}
	/* Kept for a reload that drops dns.servers: back to resolv.conf's. */
	if (ares_get_servers_ports(d->ch, &d->sys) != ARES_SUCCESS)
		d->sys = NULL;
	return set_servers(l);
}

static bool same_servers(const struct config *a, const struct config *b)
{
	if (a->dns.n_servers != b->dns.n_servers)
		return false;
	for (size_t i = 0; i < a->dns.n_servers; i++)
		if (!config_same_listen(&a->dns.servers[i], &b->dns.servers[i]))
			return false;
	return true;
}

/* dns.servers may change live; the cache keeps its answers (they have TTLs). */
static void dns_reconfig(struct loop *l, const struct config *old)
{
	struct dns_state *d = dns_of(l);

	if (same_servers(old, l->cfg))
		return;
	if (l->cfg->dns.n_servers) {
		if (set_servers(l) == 0 && l->id == 0)
			log_info("dns: new servers from the configuration");
		return;
	}
	if (ares_set_servers_ports(d->ch, d->sys) != ARES_SUCCESS)
		log_error("dns: cannot go back to the servers of /etc/resolv.conf");
	else if (l->id == 0)
		log_info("dns: back to the servers of /etc/resolv.conf");
}

static void dns_destroy(struct loop *l)
{
	struct dns_state *d = dns_of(l);

	if (!d)
		return;
	log_info("dns: %llu queries, %llu cache hits, %llu misses, %llu shared, %llu failures",
		 (unsigned long long)d->st.queries, (unsigned long long)d->st.hits,
		 (unsigned long long)d->st.misses, (unsigned long long)d->st.shared,
		 (unsigned long long)d->st.failures);
	tls_loop = l;
	if (d->ch)
		ares_destroy(d->ch); /* cancels: answer_cb runs for pending queries */
	if (d->sys)
		ares_free_data(d->sys);
	pool_destroy(&d->entries);
	pool_destroy(&d->waiters);
	free(d->hash);
	free(d);
	loop_set_state(l, &dns_module, NULL);
}

/* c-ares' process-wide state, before any channel exists. */
static int dns_setup(const struct config *cfg)
{
	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
		log_error("cannot initialise c-ares");
		return -ENOMEM;
	}
	n_dns_stats = cfg->workers;
	dns_stats = calloc((size_t)n_dns_stats, sizeof(*dns_stats));
	if (!dns_stats) {
		ares_library_cleanup();
		return -ENOMEM;
	}
	return 0;
}

static void dns_teardown(void)
{
	free(dns_stats);
	dns_stats = NULL;
	n_dns_stats = 0;
	ares_library_cleanup();
}

struct loop_module dns_module = {
	.name = "dns",
	.n_ops = DNS_OP_COUNT,
	.setup = dns_setup,
	.teardown = dns_teardown,
	.init = dns_init,
	.cqe = dns_cqe,
	.tick = dns_tick,
	.destroy = dns_destroy,
	.reconfig = dns_reconfig,
};
