/* SPDX-License-Identifier: MIT */
/*
 * udp_assoc — the association table of one worker: server and tunnel
 * associations hashed by (listener, client address), 2022 server sessions by
 * (listener, client session ID); an LRU list that the idle timer and the
 * size limit (limits.udp_associations, split across workers) take from.
 * Owned associations (a local's, of its SOCKS5 control session; a server's
 * UDP over TCP, of its TCP session) are in neither: their owner ends them.
 */
#include <unistd.h>

#include "core/log.h"
#include "proto/aead.h"
#include "relay/udp_owner.h"
#include "relay/limits.h"
#include "udp_int.h"

uint32_t udp_per_loop_limit(const struct loop *l)
{
	uint32_t w = (uint32_t)l->cfg->workers;

	return (l->cfg->limits.udp_associations + w - 1) / w;
}

uint32_t udp_hash_addr(uint32_t lst, const struct sockaddr *sa)
{
	const uint8_t *p;
	size_t n;
	uint32_t h = 2166136261u ^ lst;

	if (sa->sa_family == AF_INET) {
		p = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		n = 4;
	} else {
		p = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		n = 16;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	h = (h ^ sockaddr_port(sa)) * 16777619u;
	return h ^ (h >> 15);
}

struct udp_assoc *udp_assoc_lookup(struct loop *l, uint32_t slot, uint32_t gen)
{
	struct udp_state *u = udp_of(l);
	struct udp_assoc *a;

	if (!u || slot >= u->assocs.next_new)
		return NULL;
	a = udp_assoc_at(l, slot);
	return a->gen == gen ? a : NULL;
}

uint32_t udp_assoc_gen(struct loop *l, uint32_t slot)
{
	return udp_assoc_at(l, slot)->gen;
}

static uint32_t hash_sid(uint32_t lst, uint64_t sid)
{
	uint64_t h = (sid ^ lst) * 0x9E3779B97F4A7C15ull;

	return (uint32_t)(h >> 32) ^ (uint32_t)h;
}

static uint32_t hash_of(const struct udp_assoc *a)
{
	return a->v2022 && a->role == ROLE_SERVER ? hash_sid(a->L->id, a->csid)
						 : udp_hash_addr(a->L->id, (const struct sockaddr *)&a->peer);
}

static void hash_remove(struct loop *l, struct udp_assoc *a)
{
	struct udp_state *u = udp_of(l);
	uint32_t *pp = &u->hash[hash_of(a) & u->hash_mask];

	while (*pp != UDP_NONE) {
		if (*pp == a->slot) {
			*pp = a->hnext;
			u->n_hashed--;
			return;
		}
		pp = &udp_assoc_at(l, *pp)->hnext;
	}
}

void udp_assoc_maybe_free(struct loop *l, struct udp_assoc *a)
{
	if (!(a->gen & 1) || a->state != UDP_ST_CLOSING || a->inflight)
		return;
	for (int i = 0; i < UDP_EPS; i++) {
		if (a->ep[i].fd >= 0)
			close(a->ep[i].fd);
		a->ep[i].fd = -1;
	}
	ctr_sub(&a->ctr[EPC_UDP_OPEN], 1);
	if (a->uctr)
		ctr_sub(&a->uctr[UC_UDP_OPEN], 1);
	if (a->admitted)
		limits_release(a->uid);
	loop_cfg_drop(l, a->cfg);
	if (a->win)
		pool_free(&udp_of(l)->windows, a->win_idx);
	a->win = NULL;
	a->gen++;
	pool_free(&udp_of(l)->assocs, a->slot);
}

int udp_assoc_window(struct loop *l, struct udp_assoc *a)
{
	struct udp_state *u = udp_of(l);

	if (!a->win) {
		a->win_idx = pool_alloc(&u->windows);
		if (a->win_idx == POOL_NONE)
			return -ENOMEM;
		a->win = pool_at(&u->windows, a->win_idx);
	}
	ss2022_window_init(a->win);
	return 0;
}

void udp_assoc_close(struct loop *l, struct udp_assoc *a, const char *why)
{
	if (a->state == UDP_ST_CLOSING)
		return;
	log_debug("udp association %u: closing (%s)", a->slot, why);
	a->state = UDP_ST_CLOSING;
	if (!a->owned) {
		hash_remove(l, a);
		list_del(&a->lru);
	}
	udp_uot_end(l, a);
	if (a->v2022 && a->role == ROLE_SERVER && relay_owners())
		udp_owners_del(relay_owners(), a->csid, l->id);
	timer_cancel(&a->timer);
	/* Only armed receives in flight (the usual idle end): cancel each by
	 * its user_data, which the kernel finds by hash; a cancel by fd walks
	 * every armed request of the ring (O(N) per association closed). With
	 * sends in flight too, by fd: receives and sends end with -ECANCELED. */
	uint32_t armed = 0, pending = a->inflight;
	static const uint8_t ops[UDP_EPS] = { UDP_OP_RECV_A, UDP_OP_RECV_B, UDP_OP_RECV_C,
					      UDP_OP_RECV_D };

	for (int i = 0; i < UDP_EPS; i++)
		armed += a->ep[i].fd >= 0 && a->ep[i].armed;
	for (int i = 0; i < UDP_EPS; i++) {
		struct udp_ep *ep = &a->ep[i];
		struct io_uring_sqe *sqe;

		if (ep->waiting) {
			list_del(&ep->wait_node);
			ep->waiting = 0;
		}
		if (ep->fd < 0 || !pending || (armed == pending && !ep->armed))
			continue;
		sqe = loop_sqe(l);
		if (armed == pending)
			io_uring_prep_cancel64(sqe, ud_pack(loop_tag(&udp_module, ops[i]), a->slot,
							    a->gen), 0);
		else
			io_uring_prep_cancel_fd(sqe, ep->fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, ud_pack(loop_tag(&udp_module, UDP_OP_CANCEL),
						     a->slot, a->gen));
		a->inflight++;
	}
	/* Its owner ends with it (a no-op when the owner is what closes it). */
	if (a->owned && a->owner.gone)
		a->owner.gone(l, a->owner.slot, a->owner.gen);
	udp_assoc_maybe_free(l, a);
}

static void assoc_timeout(struct loop *l, struct timer *t)
{
	udp_assoc_close(l, list_entry(&t->node, struct udp_assoc, timer.node), "idle");
}

struct udp_assoc *udp_assoc_alloc(struct loop *l, enum role role, const struct config *cfg,
				  uint32_t ep, const struct udp_owner *owner)
{
	struct udp_state *u = udp_of(l);
	uint32_t idx, gen;
	struct udp_assoc *a;

	/* Stopping: the associations were closed and no new one begins (a
	 * listener may still hand over datagrams queued before its shutdown;
	 * they are dropped), or the stop would wait for its udp_idle. */
	if (l->stopping)
		return NULL;
	if (!owner && u->n_hashed >= udp_per_loop_limit(l) && !list_empty(&u->lru)) {
		/* Full: the least recently used association makes room. */
		u->st.evicted++;
		stats_worker_add(l->id, WC_UDP_EVICTED, 1);
		udp_assoc_close(l, list_entry(u->lru.next, struct udp_assoc, lru),
				"evicted (table full)");
	}
	idx = pool_alloc(&u->assocs);
	if (idx == POOL_NONE)
		return NULL;
	a = udp_assoc_at(l, idx);
	gen = a->gen + 1;
	memset(a, 0, sizeof(*a));
	a->gen = gen;
	a->slot = idx;
	a->role = role;
	a->hnext = UDP_NONE;
	a->uid = STATS_NONE;
	if (owner) {
		a->owned = 1;
		a->owner = *owner;
	}
	for (int i = 0; i < UDP_EPS; i++) {
		a->ep[i].fd = -1;
		a->ep[i].kind = (uint8_t)(UDP_EP_ASSOC_A + i);
		a->ep[i].owner = idx;
		list_init(&a->ep[i].wait_node);
	}
	timer_init_fn(&a->timer, assoc_timeout);
	list_init(&a->lru);
	a->cfg = loop_cfg_hold(l, cfg);
	a->ctr = stats_ep(l->id, ep);
	ctr_add(&a->ctr[EPC_UDP_OPEN], 1);
	ctr_add(&a->ctr[EPC_UDP_TOTAL], 1);
	u->st.created++;
	return a;
}

void udp_assoc_rebind(struct loop *l, struct udp_assoc *a, const void *conf)
{
	if (a->cfg != l->cfg) {
		loop_cfg_drop(l, a->cfg);
		a->cfg = loop_cfg_hold(l, l->cfg);
	}
	a->conf = conf;
}

bool udp_assoc_set_user(struct loop *l, struct udp_assoc *a, uint32_t uid,
			const struct config_srv_user *u, const struct sockaddr *peer)
{
	enum limits_refusal r;

	if (uid == a->uid && (uid == STATS_NONE || a->admitted))
		return true;
	if (a->admitted) {
		limits_release(a->uid);
		a->admitted = 0;
	}
	if (a->uctr)
		ctr_sub(&a->uctr[UC_UDP_OPEN], 1);
	a->uctr = NULL;
	a->lim = NULL;
	a->uid = uid;
	if (uid == STATS_NONE)
		return true;
	if (u && (r = limits_admit(uid, &u->limits, peer)) != LIMITS_OK) {
		log_debug("user %s: UDP association refused: %s", u->name, limits_refusal_name(r));
		a->uid = STATS_NONE;
		return false;
	}
	a->admitted = u != NULL;
	udp_assoc_bind_user(l, a, uid, u);
	return true;
}

void udp_assoc_bind_user(struct loop *l, struct udp_assoc *a, uint32_t uid,
			 const struct config_srv_user *u)
{
	counter_t *c = stats_user(l->id, uid);

	a->uid = uid;
	a->lim = u && limits_on_data(&u->limits) ? &u->limits : NULL;
	a->uctr = c;
	ctr_add(&c[UC_UDP_OPEN], 1);
	ctr_add(&c[UC_UDP_TOTAL], 1);
}

bool udp_assoc_charge(struct loop *l, struct udp_assoc *a, bool up, size_t n)
{
	int64_t w;

	if (!a->lim)
		return true;
	w = limits_charge(l, a->uid, a->lim, up, n, true, NULL);
	if (w == -EDQUOT)
		udp_assoc_close(l, a, "quota used up");
	return w >= 0;
}

void udp_sweep_revoked(struct loop *l)
{
	struct udp_state *u = udp_of(l);
	uint64_t r = limits_revocations();

	if (r == u->revocations)
		return;
	u->revocations = r;
	for (uint32_t i = 0; i < u->assocs.next_new; i++) {
		struct udp_assoc *a = udp_assoc_at(l, i);

		if ((a->gen & 1) && a->state != UDP_ST_CLOSING && a->uid != STATS_NONE &&
		    a->role == ROLE_SERVER && limits_revoked(a->uid, a->cfg->generation))
			udp_assoc_close(l, a, "user removed or re-keyed");
	}
}

void udp_assoc_count(struct udp_assoc *a, bool up, size_t n)
{
	ctr_add(&a->ctr[up ? EPC_UDP_UP : EPC_UDP_DOWN], n);
	ctr_add(&a->ctr[up ? EPC_DGRAM_UP : EPC_DGRAM_DOWN], 1);
	if (a->uctr) {
		ctr_add(&a->uctr[up ? UC_UDP_UP : UC_UDP_DOWN], n);
		ctr_add(&a->uctr[up ? UC_PKT_UP : UC_PKT_DOWN], 1);
	}
}

void udp_assoc_touch(struct loop *l, struct udp_assoc *a)
{
	if (a->owned) {
		/* Datagrams keep a SOCKS5 control connection alive. */
		if (a->owner.keepalive)
			a->owner.keepalive(l, a->owner.slot, a->owner.gen);
		return;
	}
	list_del(&a->lru);
	list_add_tail(&udp_of(l)->lru, &a->lru);
	timer_arm(&l->wheel, &a->timer, l->now_ms + (uint64_t)a->cfg->timeouts.udp_idle * 1000);
}

struct udp_assoc *udp_assoc_find_addr(struct loop *l, struct udp_listener *L,
				      const struct sockaddr *from)
{
	struct udp_state *u = udp_of(l);
	uint32_t i = u->hash[udp_hash_addr(L->id, from) & u->hash_mask];
	struct udp_assoc *a;

	for (; i != UDP_NONE; i = a->hnext) {
		a = udp_assoc_at(l, i);
		if (a->L == L && !(a->v2022 && a->role == ROLE_SERVER) &&
		    sockaddr_equal((struct sockaddr *)&a->peer, from))
			return a;
	}
	return NULL;
}

struct udp_assoc *udp_assoc_by_addr(struct loop *l, struct udp_listener *L,
				    const struct sockaddr *from)
{
	struct udp_state *u = udp_of(l);
	uint32_t h = udp_hash_addr(L->id, from) & u->hash_mask;
	struct udp_assoc *a = udp_assoc_find_addr(l, L, from);

	if (a)
		return a;
	a = udp_assoc_alloc(l, L->role, l->cfg, L->id, NULL);
	if (!a)
		return NULL;
	a->L = L;
	a->conf = L->conf;
	memcpy(&a->peer, from, sockaddr_len(from));
	a->peer_len = sockaddr_len(from);
	a->hnext = u->hash[h];
	u->hash[h] = a->slot;
	u->n_hashed++;
	list_add_tail(&u->lru, &a->lru);
	return a;
}

uint64_t udp_random_sid(void)
{
	uint64_t v = 0;

	while (v == 0)
		if (aead_random((uint8_t *)&v, sizeof(v)))
			return 1;
	return v;
}

/* A 2022 session: keyed by the client's session ID, not its address. */
struct udp_assoc *udp_assoc_find2022(struct loop *l, struct udp_listener *L, uint64_t csid)
{
	struct udp_state *u = udp_of(l);
	uint32_t i = u->hash[hash_sid(L->id, csid) & u->hash_mask];
	struct udp_assoc *a;

	for (; i != UDP_NONE; i = a->hnext) {
		a = udp_assoc_at(l, i);
		if (a->L == L && a->v2022 && a->role == ROLE_SERVER && a->csid == csid)
			return a;
	}
	return NULL;
}

struct udp_assoc *udp_assoc_2022(struct loop *l, struct udp_listener *L, uint64_t csid)
{
	struct udp_state *u = udp_of(l);
	uint32_t h = hash_sid(L->id, csid) & u->hash_mask;
	struct udp_assoc *a = udp_assoc_find2022(l, L, csid);

	if (a)
		return a;
	a = udp_assoc_alloc(l, ROLE_SERVER, l->cfg, L->id, NULL);
	if (!a)
		return NULL;
	a->L = L;
	a->conf = L->conf;
	a->v2022 = 1;
	a->csid = csid;
	a->ssid = udp_random_sid(); /* ours, never the client's (SIP022) */
	if (udp_assoc_window(l, a) < 0) {
		udp_assoc_close(l, a, "no memory for its packet window");
		return NULL;
	}
	if (relay_owners())
		udp_owners_set(relay_owners(), csid, l->id);
	a->hnext = u->hash[h];
	u->hash[h] = a->slot;
	u->n_hashed++;
	list_add_tail(&u->lru, &a->lru);
	return a;
}

void udp_assoc_close_listener(struct loop *l, struct udp_listener *L)
{
	struct udp_state *u = udp_of(l);
	struct list *n, *next;

	for (n = u->lru.next; n != &u->lru; n = next) {
		struct udp_assoc *a = list_entry(n, struct udp_assoc, lru);

		next = n->next; /* closing takes a off the list */
		if (a->L == L)
			udp_assoc_close(l, a, "its listener left the configuration");
	}
}
