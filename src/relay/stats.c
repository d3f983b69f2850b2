/* SPDX-License-Identifier: MIT */
/*
 * stats — the relays' process-wide module: endpoint and user registries
 * (stable ids across reloads), the per-worker counter tables, and the
 * shared state every worker's relays use (replay filters, 2022 owner table).
 * Everything here but the counters runs on the main thread.
 */
#include "relay/stats.h"
#include "relay/upstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "proto/hostport.h"
#include "proto/replay.h"
#include "relay/udp_owner.h"

struct relay_worker_stats *relay_stats;
static int n_stats;

static struct relay_ep_info *eps;
static uint32_t n_eps, cap_eps;

/* Users: an array by id and an open-addressing index by (ep, name). */
static struct relay_user_info *users;
static uint32_t n_users, cap_users;
static uint32_t *uindex;     /* slots hold uid + 1; 0 = empty */
static uint32_t uindex_mask;

/* Counter k of row id, summed over the workers' tables (ep or user). */
static uint64_t table_sum(int workers, bool user, uint32_t id, unsigned k)
{
	uint64_t v = 0;

	for (int w = 0; relay_stats && w < workers; w++) {
		const counter_t *c = ctr_peek(user ? relay_stats[w].user : relay_stats[w].ep, id);

		if (c)
			v += ctr_get(&c[k]);
	}
	return v;
}

uint64_t stats_ep_sum(int workers, uint32_t ep, unsigned k)
{
	return table_sum(workers, false, ep, k);
}

uint64_t stats_user_sum(int workers, uint32_t uid, unsigned k)
{
	return table_sum(workers, true, uid, k);
}

uint32_t relay_ep_count(void)
{
	return n_eps;
}

const struct relay_ep_info *relay_ep_info(uint32_t ep)
{
	return ep < n_eps ? &eps[ep] : NULL;
}

uint32_t relay_user_count(void)
{
	return n_users;
}

const struct relay_user_info *relay_user_info(uint32_t uid)
{
	return uid < n_users ? &users[uid] : NULL;
}

static uint32_t user_hash(uint32_t ep, const char *name)
{
	uint32_t h = 2166136261u ^ ep;

	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return h ^ (h >> 16);
}

static int uindex_grow(void)
{
	uint32_t cap = uindex ? 2 * (uindex_mask + 1) : 1024;
	uint32_t *n = calloc(cap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (uint32_t u = 0; u < n_users; u++) {
		uint32_t i = user_hash(users[u].ep, users[u].name) & (cap - 1);

		while (n[i])
			i = (i + 1) & (cap - 1);
		n[i] = u + 1;
	}
	free(uindex);
	uindex = n;
	uindex_mask = cap - 1;
	return 0;
}

/* The id of user name on endpoint ep, made if new. STATS_NONE without memory. */
static uint32_t user_id(uint32_t ep, const char *name)
{
	uint32_t i;

	if ((!uindex || 2 * (n_users + 1) > uindex_mask + 1) && uindex_grow())
		return STATS_NONE;
	for (i = user_hash(ep, name) & uindex_mask; uindex[i]; i = (i + 1) & uindex_mask) {
		const struct relay_user_info *u = &users[uindex[i] - 1];

		if (u->ep == ep && !strcmp(u->name, name))
			return uindex[i] - 1;
	}
	if (n_users == cap_users) {
		uint32_t cap = cap_users ? 2 * cap_users : 64;
		struct relay_user_info *n = realloc(users, cap * sizeof(*n));

		if (!n)
			return STATS_NONE;
		users = n;
		cap_users = cap;
	}
	users[n_users].ep = ep;
	snprintf(users[n_users].name, sizeof(users[n_users].name), "%s", name);
	uindex[i] = ++n_users;
	return n_users - 1;
}

/* The id of (role, listen): the same as in old when it had that listener. */
static uint32_t ep_id(enum role role, const struct hostport *listen, const struct config_rt *old)
{
	if (old)
		return old->ep;
	if (n_eps == cap_eps) {
		uint32_t cap = cap_eps ? 2 * cap_eps : 16;
		struct relay_ep_info *n = realloc(eps, cap * sizeof(*n));

		if (!n)
			return STATS_NONE;
		eps = n;
		cap_eps = cap;
	}
	eps[n_eps].role = role;
	eps[n_eps].redir = false;
	hostport_format_addr((const struct sockaddr *)&listen->addr, eps[n_eps].listen,
			     sizeof(eps[n_eps].listen));
	return n_eps++;
}

/* The runtime part of old's entry of that role on the same address, or NULL. */
static const struct config_rt *old_rt(const struct config *old, enum role role,
				      const struct hostport *listen)
{
	for (size_t i = 0; old && role == ROLE_SERVER && i < old->n_servers; i++)
		if (config_same_listen(&old->servers[i].listen, listen))
			return &old->servers[i].rt;
	for (size_t i = 0; old && role == ROLE_LOCAL && i < old->n_locals; i++)
		if (config_same_listen(&old->locals[i].cl.listen, listen))
			return &old->locals[i].cl.rt;
	for (size_t i = 0; old && role == ROLE_TUNNEL && i < old->n_tunnels; i++)
		if (config_same_listen(&old->tunnels[i].cl.listen, listen))
			return &old->tunnels[i].cl.rt;
	return NULL;
}

static int assign_ids(const struct config *old, struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_servers; i++) {
		struct config_server *sv = &cfg->servers[i];

		sv->rt.ep = ep_id(ROLE_SERVER, &sv->listen, old_rt(old, ROLE_SERVER, &sv->listen));
		if (sv->rt.ep == STATS_NONE)
			return -ENOMEM;
		if (!sv->users)
			continue;
		sv->rt.uids = malloc((sv->users->n + 1) * sizeof(*sv->rt.uids));
		if (!sv->rt.uids)
			return -ENOMEM;
		for (size_t u = 0; u < sv->users->n; u++)
			if ((sv->rt.uids[u] = user_id(sv->rt.ep, sv->users->u[u].name)) == STATS_NONE)
				return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_locals; i++) {
		struct config_local *lc = &cfg->locals[i];

		lc->cl.rt.ep = ep_id(ROLE_LOCAL, &lc->cl.listen, old_rt(old, ROLE_LOCAL, &lc->cl.listen));
		if (lc->cl.rt.ep == STATS_NONE)
			return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_tunnels; i++) {
		struct config_tunnel *t = &cfg->tunnels[i];

		t->cl.rt.ep = ep_id(ROLE_TUNNEL, &t->cl.listen, old_rt(old, ROLE_TUNNEL, &t->cl.listen));
		if (t->cl.rt.ep == STATS_NONE)
			return -ENOMEM;
		eps[t->cl.rt.ep].redir = t->redir != REDIR_NONE;
	}
	return 0;
}

/* The salt memories every worker shares (SO_REUSEPORT may send a replay to
 * any worker), made when a snapshot first needs them; they outlive reloads. */
static int make_shared(const struct config *cfg)
{
	if (cfg->n_servers && !relay_replay()) {
		struct replay_filter *f = replay_new(REPLAY_DEFAULT_ENTRIES, REPLAY_DEFAULT_FP);

		if (!f) {
			log_error("cannot allocate the salt replay filter");
			return -ENOMEM;
		}
		atomic_store_explicit(&relay_shared.replay, f, memory_order_release);
		log_info("salt replay filter: %u salts, false-positive rate %g, %zu KiB",
			 REPLAY_DEFAULT_ENTRIES, REPLAY_DEFAULT_FP, replay_bytes(f) / 1024);
	}
	if (relay_uses_2022(cfg) && !relay_replay2022()) {
		struct replay2022 *r = replay2022_new(REPLAY2022_DEFAULT_CAPACITY);

		if (!r) {
			log_error("cannot allocate the 2022 salt set");
			return -ENOMEM;
		}
		atomic_store_explicit(&relay_shared.replay2022, r, memory_order_release);
		log_info("2022 salt memory: %u salts per 60 s, %zu KiB",
			 REPLAY2022_DEFAULT_CAPACITY, replay2022_bytes(r) / 1024);
	}
	return 0;
}

static int relay_prepare(const struct config *old, struct config *cfg)
{
	int ret = assign_ids(old, cfg);

	if (!ret)
		ret = upstream_prepare(old, cfg);
	if (ret) {
		log_error("out of memory for the statistics of the new configuration");
		return ret;
	}
	return make_shared(cfg);
}

static void relay_teardown(void);

static int relay_setup(const struct config *cfg)
{
	n_stats = cfg->workers;
	relay_stats = calloc((size_t)n_stats, sizeof(*relay_stats));
	atomic_store(&relay_shared.owners, udp_owners_new(4096));
	if (!relay_stats || !relay_owners())
		goto fail;
	for (int w = 0; w < n_stats; w++) {
		relay_stats[w].ep = ctr_table_new(EPC_COUNT);
		relay_stats[w].user = ctr_table_new(UC_COUNT);
		if (!relay_stats[w].ep || !relay_stats[w].user)
			goto fail;
	}
	return 0;
fail:
	log_error("out of memory for the relays' shared tables");
	relay_teardown();
	return -ENOMEM;
}

static void relay_teardown(void)
{
	for (int w = 0; relay_stats && w < n_stats; w++) {
		ctr_table_free(relay_stats[w].ep);
		ctr_table_free(relay_stats[w].user);
	}
	free(relay_stats);
	relay_stats = NULL;
	n_stats = 0;
	replay_free(atomic_exchange(&relay_shared.replay, NULL));
	replay2022_free(atomic_exchange(&relay_shared.replay2022, NULL));
	udp_owners_free(atomic_exchange(&relay_shared.owners, NULL));
	free(eps);
	free(users);
	free(uindex);
	eps = NULL;
	users = NULL;
	uindex = NULL;
	n_eps = cap_eps = n_users = cap_users = 0;
}

struct loop_module relay_module = {
	.name = "relay",
	.setup = relay_setup,
	.prepare = relay_prepare,
	.teardown = relay_teardown,
};
