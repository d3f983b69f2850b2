/* SPDX-License-Identifier: MIT */
/*
 * metrics_text — the Prometheus text exposition format (version 0.0.4) of
 * every counter: each family with its HELP and TYPE lines, base units
 * (bytes, seconds), _total on counters. Per-worker counters are summed here,
 * read with relaxed loads while the workers go on counting.
 */
#include <dirent.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ctl/api.h"
#include "ctl/ctl.h"
#include "ctl/metrics.h"
#include "ctl/plugin.h"
#include "ctl/sip008.h"
#include "dns/dns.h"
#include "proto/aead.h"
#include "relay/limits.h"
#include "relay/stats.h"
#include "relay/upstream.h"
#include "relay/users.h"

#ifndef SSRING_VERSION
#define SSRING_VERSION "0.0.0"
#endif

struct out {
	char *p;
	size_t len, cap;
	bool failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = (o->cap + (size_t)n + 1) * 2;
		char *np = realloc(o->p, cap);

		if (!np) {
			o->failed = true;
			return;
		}
		o->p = np;
		o->cap = cap;
	}
}

/* A label value with \, " and newline escaped. */
static const char *esc(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; *s && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			buf[o++] = '\\';
			buf[o++] = *s;
		} else if (*s == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *s;
		}
	}
	buf[o] = '\0';
	return buf;
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *role_name(enum role r)
{
	return r == ROLE_SERVER ? "server" : r == ROLE_LOCAL ? "local" : "tunnel";
}

static uint64_t worker_sum(int workers, unsigned k)
{
	uint64_t v = 0;

	for (int w = 0; w < workers; w++)
		v += ctr_get(&relay_stats[w].w[k]);
	return v;
}

/* One sample per endpoint: labels role and listen, value of counter k. */
static void per_ep(struct out *o, int workers, const char *name, unsigned k, const char *extra)
{
	for (uint32_t ep = 0; ep < relay_ep_count(); ep++) {
		const struct relay_ep_info *e = relay_ep_info(ep);

		put(o, "%s{role=\"%s\",listen=\"%s\"%s} %llu\n", name,
		    e->redir ? "redir" : role_name(e->role), e->listen,
		    extra ? extra : "", (unsigned long long)stats_ep_sum(workers, ep, k));
	}
}

static void endpoints(struct out *o, int workers)
{
	static const struct {
		unsigned k;
		const char *labels;
	} bytes[] = {
		{ EPC_TCP_UP, ",proto=\"tcp\",direction=\"up\"" },
		{ EPC_TCP_DOWN, ",proto=\"tcp\",direction=\"down\"" },
		{ EPC_UDP_UP, ",proto=\"udp\",direction=\"up\"" },
		{ EPC_UDP_DOWN, ",proto=\"udp\",direction=\"down\"" },
	};
	static const struct {
		unsigned k;
		const char *reason;
	} auth[] = {
		{ EPC_AUTH_BAD, "bad_tag" },	     { EPC_AUTH_REPLAY, "replay" },
		{ EPC_AUTH_STALE, "stale_timestamp" }, { EPC_AUTH_USER, "unknown_user" },
		{ EPC_AUTH_SHORT, "short_header" },    { EPC_AUTH_FULL, "salt_memory_full" },
		{ EPC_AUTH_BUDGET, "trial_budget" },   { EPC_AUTH_LIMIT, "user_limit" },
		{ EPC_AUTH_INCOMPLETE, "incomplete" },
	};
	static const struct {
		unsigned k;
		const char *policy;
	} probes[] = { { EPC_PROBE_DRAIN, "drain" },
		       { EPC_PROBE_CLOSE, "close" },
		       { EPC_PROBE_FORWARD, "forward" } };
	char l[160];

	family(o, "ssring_tcp_sessions", "gauge", "TCP sessions open now.");
	per_ep(o, workers, "ssring_tcp_sessions", EPC_TCP_OPEN, NULL);
	family(o, "ssring_tcp_sessions_total", "counter", "TCP sessions accepted.");
	per_ep(o, workers, "ssring_tcp_sessions_total", EPC_TCP_TOTAL, NULL);
	family(o, "ssring_bytes_total", "counter",
	       "Payload bytes relayed (plaintext; up = towards the target).");
	for (size_t i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++)
		per_ep(o, workers, "ssring_bytes_total", bytes[i].k, bytes[i].labels);
	family(o, "ssring_udp_associations", "gauge", "UDP associations open now.");
	per_ep(o, workers, "ssring_udp_associations", EPC_UDP_OPEN, NULL);
	family(o, "ssring_udp_associations_total", "counter", "UDP associations made.");
	per_ep(o, workers, "ssring_udp_associations_total", EPC_UDP_TOTAL, NULL);
	family(o, "ssring_datagrams_total", "counter", "Datagrams relayed (up = towards the target).");
	per_ep(o, workers, "ssring_datagrams_total", EPC_DGRAM_UP, ",direction=\"up\"");
	per_ep(o, workers, "ssring_datagrams_total", EPC_DGRAM_DOWN, ",direction=\"down\"");
	family(o, "ssring_connect_failures_total", "counter",
	       "Outbound connects that failed (to the target, or to the ss server).");
	per_ep(o, workers, "ssring_connect_failures_total", EPC_CONNECT_FAIL, NULL);
	family(o, "ssring_auth_failures_total", "counter",
	       "TCP requests that failed authentication, by reason.");
	for (size_t i = 0; i < sizeof(auth) / sizeof(auth[0]); i++) {
		snprintf(l, sizeof(l), ",reason=\"%s\"", auth[i].reason);
		per_ep(o, workers, "ssring_auth_failures_total", auth[i].k, l);
	}
	family(o, "ssring_probes_total", "counter",
	       "Failed requests, by the probe policy that met them.");
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		snprintf(l, sizeof(l), ",policy=\"%s\"", probes[i].policy);
		per_ep(o, workers, "ssring_probes_total", probes[i].k, l);
	}
}

/*
 * Per-user gauges, one family after the other (the text format wants each
 * family's samples together): part 0 last seen, 1 quota used, 2 quota.
 */
static void user_gauges(struct out *o, const struct config *c)
{
	static const char *const fam[][2] = {
		{ "ssring_user_last_seen_seconds",
		  "When a user's last session or association started or ended (Unix time; 0 = "
		  "never)." },
		{ "ssring_user_quota_used_bytes",
		  "Payload bytes of a user's quota used in the current period (users with a "
		  "quota)." },
		{ "ssring_user_quota_bytes",
		  "A user's quota: payload bytes per period, up + down (users with a quota)." },
	};
	int64_t now = (int64_t)time(NULL);
	char ebuf[600];

	for (int part = 0; part < 3; part++) {
		family(o, fam[part][0], "gauge", fam[part][1]);
		for (size_t s = 0; s < c->n_servers; s++) {
			const struct config_server *sv = &c->servers[s];
			const struct relay_ep_info *e = relay_ep_info(sv->rt.ep);

			for (size_t u = 0; e && sv->users && sv->rt.uids && u < sv->users->n; u++) {
				const struct user_limits *lim = &sv->users->u[u].limits;
				uint32_t uid = sv->rt.uids[u];
				uint64_t v;

				if (part == 0)
					v = (uint64_t)limits_last_seen(uid);
				else if (!lim->quota)
					continue;
				else if (part == 1)
					v = limits_quota_used(uid, lim->quota_period, now);
				else
					v = lim->quota;
				put(o, "%s{listen=\"%s\",user=\"%s\"} %llu\n", fam[part][0],
				    e->listen, esc(sv->users->u[u].name, ebuf, sizeof(ebuf)),
				    (unsigned long long)v);
			}
		}
	}
}

static void users(struct out *o, const struct config *c, int workers)
{
	static const struct {
		const char *name;
		const char *type;
		const char *help;
		unsigned k;
		const char *labels;
	} f[] = {
		{ "ssring_user_bytes_total", "counter", "Payload bytes relayed for a user.", UC_TCP_UP,
		  ",proto=\"tcp\",direction=\"up\"" },
		{ NULL, NULL, NULL, UC_TCP_DOWN, ",proto=\"tcp\",direction=\"down\"" },
		{ NULL, NULL, NULL, UC_UDP_UP, ",proto=\"udp\",direction=\"up\"" },
		{ NULL, NULL, NULL, UC_UDP_DOWN, ",proto=\"udp\",direction=\"down\"" },
		{ "ssring_user_datagrams_total", "counter", "Datagrams relayed for a user.",
		  UC_PKT_UP, ",direction=\"up\"" },
		{ NULL, NULL, NULL, UC_PKT_DOWN, ",direction=\"down\"" },
		{ "ssring_user_tcp_sessions", "gauge", "A user's TCP sessions open now.",
		  UC_TCP_OPEN, "" },
		{ "ssring_user_tcp_sessions_total", "counter", "A user's TCP sessions.",
		  UC_TCP_TOTAL, "" },
		{ "ssring_user_udp_associations", "gauge", "A user's UDP associations open now.",
		  UC_UDP_OPEN, "" },
		{ "ssring_user_udp_associations_total", "counter", "A user's UDP associations.",
		  UC_UDP_TOTAL, "" },
	};
	const char *name = NULL;
	char ebuf[600];

	/*
	 * The users of the configuration in use (a removed user's series end).
	 * Every family is announced even with no user at all: dashboards and
	 * rules can tell a name that exists from a typo.
	 */
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (f[i].name) {
			name = f[i].name;
			family(o, name, f[i].type, f[i].help);
		}
		for (size_t s = 0; s < c->n_servers; s++) {
			const struct config_server *sv = &c->servers[s];
			const struct relay_ep_info *e = relay_ep_info(sv->rt.ep);

			for (size_t u = 0; e && sv->users && sv->rt.uids && u < sv->users->n; u++)
				put(o, "%s{listen=\"%s\",user=\"%s\"%s} %llu\n", name, e->listen,
				    esc(sv->users->u[u].name, ebuf, sizeof(ebuf)), f[i].labels,
				    (unsigned long long)stats_user_sum(workers, sv->rt.uids[u], f[i].k));
		}
	}
	user_gauges(o, c);
}

static uint64_t trial_sum(int workers, size_t off)
{
	uint64_t v = 0;

	for (int w = 0; users_trial_stats && w < workers; w++)
		v += atomic_load_explicit((_Atomic uint64_t *)((char *)&users_trial_stats[w] + off),
					  memory_order_relaxed);
	return v;
}

static void trials(struct out *o, int workers)
{
	family(o, "ssring_user_trials_total", "counter",
	       "AEAD-2017 requests of servers with users, by how the user was found: the "
	       "address's last user (warm), a search (cold), or not tried (budget).");
	put(o, "ssring_user_trials_total{result=\"warm\"} %llu\n",
	    (unsigned long long)trial_sum(workers, offsetof(struct users_trial_stats, warm)));
	put(o, "ssring_user_trials_total{result=\"cold\"} %llu\n",
	    (unsigned long long)trial_sum(workers, offsetof(struct users_trial_stats, cold)));
	put(o, "ssring_user_trials_total{result=\"budget\"} %llu\n",
	    (unsigned long long)trial_sum(workers, offsetof(struct users_trial_stats, budget)));
	family(o, "ssring_user_trial_keys_total", "counter", "Keys tried in cold searches.");
	put(o, "ssring_user_trial_keys_total %llu\n",
	    (unsigned long long)trial_sum(workers, offsetof(struct users_trial_stats, keys)));
	family(o, "ssring_user_trial_seconds_total", "counter", "Time spent in cold searches.");
	put(o, "ssring_user_trial_seconds_total %.6f\n",
	    (double)trial_sum(workers, offsetof(struct users_trial_stats, cold_ns)) / 1e9);
}

static void worker_counters(struct out *o, int workers)
{
	static const struct {
		unsigned k;
		const char *reason;
	} drops[] = {
		{ WC_DROP_TRUNCATED, "truncated" }, { WC_DROP_AUTH, "auth" },
		{ WC_DROP_MALFORMED, "malformed" }, { WC_DROP_REFUSED, "refused" },
		{ WC_DROP_OTHER, "other" },         { WC_DROP_LIMIT, "user_limit" },
	};
	static const char *const dns[] = { "hit", "miss", "shared", "failure" };

	family(o, "ssring_sessions_refused_total", "counter",
	       "TCP connections refused before any handshake, by reason.");
	put(o, "ssring_sessions_refused_total{reason=\"pool_full\"} %llu\n",
	    (unsigned long long)worker_sum(workers, WC_REFUSED_POOL));
	put(o, "ssring_sessions_refused_total{reason=\"too_many_probes\"} %llu\n",
	    (unsigned long long)worker_sum(workers, WC_REFUSED_DRAINING));
	put(o, "ssring_sessions_refused_total{reason=\"handshakes_per_source\"} %llu\n",
	    (unsigned long long)worker_sum(workers, WC_REFUSED_SRC_HS));
	put(o, "ssring_sessions_refused_total{reason=\"sessions_per_source\"} %llu\n",
	    (unsigned long long)worker_sum(workers, WC_REFUSED_SRC_SESS));
	put(o, "ssring_sessions_refused_total{reason=\"acl\"} %llu\n",
	    (unsigned long long)worker_sum(workers, WC_REFUSED_ACL));
	family(o, "ssring_udp_evictions_total", "counter",
	       "UDP associations evicted because the table was full.");
	put(o, "ssring_udp_evictions_total %llu\n",
	    (unsigned long long)worker_sum(workers, WC_UDP_EVICTED));
	family(o, "ssring_datagrams_dropped_total", "counter", "Datagrams dropped, by reason.");
	for (size_t i = 0; i < sizeof(drops) / sizeof(drops[0]); i++)
		put(o, "ssring_datagrams_dropped_total{reason=\"%s\"} %llu\n", drops[i].reason,
		    (unsigned long long)worker_sum(workers, drops[i].k));
	family(o, "ssring_dns_queries_total", "counter", "Name lookups, by how they were answered.");
	for (unsigned k = 0; k < DNS_CTR_COUNT; k++) {
		uint64_t v = 0;

		for (int w = 0; w < workers; w++)
			v += ctr_get(&dns_stats[w][k]);
		put(o, "ssring_dns_queries_total{result=\"%s\"} %llu\n", dns[k],
		    (unsigned long long)v);
	}
}

static void api(struct out *o, const struct config *c)
{
	/* Samples only where there is an API or a state file; the families always. */
	bool on = c->api.enabled || c->state_file[0];

	family(o, "ssring_api_requests_total", "counter",
	       "Management API requests, by result (unauthorized: no or a wrong token; "
	       "forbidden: a Host, Origin or Content-Type a browser's page could have sent).");
	if (on) {
		put(o, "ssring_api_requests_total{result=\"authorized\"} %llu\n",
		    (unsigned long long)(api_stats.requests - api_stats.unauthorized -
					 api_stats.forbidden));
		put(o, "ssring_api_requests_total{result=\"unauthorized\"} %llu\n",
		    (unsigned long long)api_stats.unauthorized);
		put(o, "ssring_api_requests_total{result=\"forbidden\"} %llu\n",
		    (unsigned long long)api_stats.forbidden);
	}
	family(o, "ssring_api_changes_total", "counter",
	       "Users added, changed or deleted through the management API.");
	if (on)
		put(o, "ssring_api_changes_total %llu\n", (unsigned long long)api_stats.changes);
	family(o, "ssring_state_writes_total", "counter", "State file writes, by result.");
	if (!on)
		return;
	put(o, "ssring_state_writes_total{result=\"ok\"} %llu\n",
	    (unsigned long long)api_stats.state_writes);
	put(o, "ssring_state_writes_total{result=\"error\"} %llu\n",
	    (unsigned long long)api_stats.state_errors);
}

static void plugins(struct out *o)
{
	struct plugin_info *pi = NULL;
	size_t n = plugin_list(NULL, 0);

	if (n && !(pi = calloc(n, sizeof(*pi)))) {
		o->failed = true; /* a 500, not figures with the plugins silently missing */
		return;
	}
	if (n)
		n = plugin_list(pi, n);
	/* An upstream's plugin (several per local) is told apart by its upstream. */
#define UPSTREAM_LABEL(p) (p).upstream[0] ? ",upstream=\"" : "", (p).upstream, \
			  (p).upstream[0] ? "\"" : ""
	family(o, "ssring_plugin_up", "gauge",
	       "1 while the SIP003 plugin of an entry runs, 0 while it waits to start again.");
	for (size_t i = 0; i < n; i++) {
		char cmd[2 * CONFIG_PLUGIN_MAX];

		put(o, "ssring_plugin_up{role=\"%s\",listen=\"%s\",plugin=\"%s\"%s%s%s} %d\n",
		    pi[i].role, pi[i].listen, esc(pi[i].cmd, cmd, sizeof(cmd)), UPSTREAM_LABEL(pi[i]),
		    pi[i].pid > 0);
	}
	family(o, "ssring_plugin_restarts_total", "counter",
	       "Times a SIP003 plugin ended while wanted (it is started again after a back-off).");
	for (size_t i = 0; i < n; i++) {
		char cmd[2 * CONFIG_PLUGIN_MAX];

		put(o, "ssring_plugin_restarts_total{role=\"%s\",listen=\"%s\",plugin=\"%s\"%s%s%s} "
		    "%llu\n", pi[i].role, pi[i].listen, esc(pi[i].cmd, cmd, sizeof(cmd)),
		    UPSTREAM_LABEL(pi[i]), (unsigned long long)pi[i].exits);
	}
#undef UPSTREAM_LABEL
	free(pi);
}

static void servers_url(struct out *o, const struct config *c)
{
	struct sip008_stats st;
	bool any = false;

	for (size_t i = 0; i < c->n_locals; i++)
		any |= c->locals[i].cl.sub.url[0] != '\0';
	for (size_t i = 0; i < c->n_tunnels; i++)
		any |= c->tunnels[i].cl.sub.url[0] != '\0';
	sip008_get_stats(&st);
	family(o, "ssring_servers_url_fetches_total", "counter",
	       "SIP008 document fetches (servers_url), by result.");
	if (any) {
		put(o, "ssring_servers_url_fetches_total{result=\"ok\"} %llu\n",
		    (unsigned long long)st.fetch_ok);
		put(o, "ssring_servers_url_fetches_total{result=\"error\"} %llu\n",
		    (unsigned long long)st.fetch_failed);
	}
	family(o, "ssring_servers_url_changes_total", "counter",
	       "SIP008 documents that changed the servers in use.");
	if (any)
		put(o, "ssring_servers_url_changes_total %llu\n", (unsigned long long)st.changes);
}

/*
 * One role entry's upstreams: health, latency, failures, picks, and with
 * upstream_check its checks by result (part 4: passed, 5: failed).
 */
static void upstreams_of(struct out *o, const char *role, const struct hostport *listen,
			 const struct config_upstream *u, size_t n, const struct config_rt *rt,
			 const struct config_upcheck *chk, int part, uint64_t now)
{
	static const char *const names[] = { "ssring_upstream_up", "ssring_upstream_latency_seconds",
					     "ssring_upstream_failures_total",
					     "ssring_upstream_picks_total" };
	char l[300], el[300];

	if (part >= 4 && !chk->interval)
		return;
	snprintf(l, sizeof(l), strchr(listen->host, ':') ? "[%s]:%u" : "%s:%u", listen->host,
		 (unsigned)listen->port);
	esc(l, el, sizeof(el));
	for (size_t i = 0; i < n && rt->health; i++) {
		const struct upstream_health *h = &rt->health[i];
		char s[300], es[300];

		snprintf(s, sizeof(s), strchr(u[i].server.host, ':') ? "[%s]:%u" : "%s:%u",
			 u[i].server.host, (unsigned)u[i].server.port);
		esc(s, es, sizeof(es));
		if (part >= 4) {
			put(o, "ssring_upstream_checks_total{role=\"%s\",listen=\"%s\",upstream=\"%s\","
			    "result=\"%s\"} %llu\n", role, el, es, part == 4 ? "ok" : "failed",
			    (unsigned long long)atomic_load(part == 4 ? &h->checks_ok
								 : &h->checks_failed));
			continue;
		}
		put(o, "%s{role=\"%s\",listen=\"%s\",upstream=\"%s\"} ", names[part], role, el, es);
		if (part == 0)
			put(o, "%d\n", upstream_up(rt, (int)i, now));
		else if (part == 1)
			put(o, "%.6f\n", atomic_load(&h->latency_us) / 1e6);
		else
			put(o, "%llu\n", (unsigned long long)atomic_load(part == 2 ? &h->failures
										  : &h->picks));
	}
}

static void upstreams(struct out *o, const struct config *c)
{
	static const char *const names[][3] = {
		{ "ssring_upstream_up", "gauge", "Is the upstream in (1) or taken out after failures (0)?" },
		{ "ssring_upstream_latency_seconds", "gauge",
		  "Smoothed time from the connect to the first answer byte." },
		{ "ssring_upstream_failures_total", "counter",
		  "Connects to the upstream (and checks of it) that failed." },
		{ "ssring_upstream_picks_total", "counter", "Connections and associations it was chosen for." },
		{ "ssring_upstream_checks_total", "counter",
		  "Active checks (upstream_check) of the upstream, by result (ok, failed)." },
	};
	uint64_t now = upstream_now_ms();

	/* Entries without upstreams or checks add no sample: the families stand alone. */
	for (int part = 0; part < 6; part++) {
		if (part < 5)
			family(o, names[part][0], names[part][1], names[part][2]);
		for (size_t i = 0; i < c->n_locals; i++)
			upstreams_of(o, "local", &c->locals[i].cl.listen, c->locals[i].cl.ups,
				     c->locals[i].cl.n_ups, &c->locals[i].cl.rt, &c->locals[i].cl.check,
				     part, now);
		for (size_t i = 0; i < c->n_tunnels; i++)
			upstreams_of(o, "tunnel", &c->tunnels[i].cl.listen, c->tunnels[i].cl.ups,
				     c->tunnels[i].cl.n_ups, &c->tunnels[i].cl.rt, &c->tunnels[i].cl.check,
				     part, now);
	}
}

static void process(struct out *o)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned long long size = 0, rss = 0;
	unsigned fds = 0;
	struct rlimit rl;
	FILE *f = fopen("/proc/self/statm", "re");
	DIR *d;

	if (f) {
		if (fscanf(f, "%llu %llu", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	d = opendir("/proc/self/fd");
	if (d) {
		for (struct dirent *e; (e = readdir(d));)
			fds += e->d_name[0] != '.';
		closedir(d);
		fds--; /* the directory itself */
	}
	family(o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	put(o, "process_resident_memory_bytes %llu\n", rss * (unsigned long long)page);
	family(o, "process_open_fds", "gauge", "Open file descriptors.");
	put(o, "process_open_fds %u\n", fds);
	/* The soft limit, which ssring raised to the hard one at start (ctl.c). */
	family(o, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		put(o, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
	family(o, "process_start_time_seconds", "gauge", "Start time, seconds since the epoch.");
	put(o, "process_start_time_seconds %lld\n", (long long)ctl_stats.start_time);
}

static void dns_proxy_counters(struct out *o, int workers);

char *metrics_render(const struct loop *l, size_t *len)
{
	struct out o = { .cap = 64 * 1024 };
	int workers = l->cfg->workers;

	o.p = malloc(o.cap);
	if (!o.p)
		return NULL;
	family(&o, "ssring_build_info", "gauge", "Version, wolfSSL version and AES-NI path.");
	put(&o, "ssring_build_info{version=\"%s\",wolfssl=\"%s\",aesni=\"%s\"} 1\n",
	    SSRING_VERSION, aead_backend_version(), aead_backend_has_aesni() ? "yes" : "no");
	family(&o, "ssring_start_time_seconds", "gauge", "Start time, seconds since the epoch.");
	put(&o, "ssring_start_time_seconds %lld\n", (long long)ctl_stats.start_time);
	family(&o, "ssring_workers", "gauge", "Worker threads.");
	put(&o, "ssring_workers %d\n", workers);
	/* The running values: a reload keeps them (they size pools at start). */
	family(&o, "ssring_sessions_limit", "gauge",
	       "limits.tcp_sessions: TCP sessions of all roles the process may hold, split evenly "
	       "across the workers (one worker's share may fill first).");
	put(&o, "ssring_sessions_limit %u\n", l->cfg->limits.tcp_sessions);
	family(&o, "ssring_udp_associations_limit", "gauge",
	       "limits.udp_associations: UDP associations of servers, tunnels and redirs, split "
	       "across the workers (past it the least recently used is evicted).");
	put(&o, "ssring_udp_associations_limit %u\n", l->cfg->limits.udp_associations);
	family(&o, "ssring_config_generation", "gauge",
	       "Generation of the configuration in use (1 at start, +1 per reload).");
	put(&o, "ssring_config_generation %llu\n", (unsigned long long)l->cfg->generation);
	family(&o, "ssring_reloads_total", "counter", "Configuration reloads, by result.");
	put(&o, "ssring_reloads_total{result=\"ok\"} %llu\n",
	    (unsigned long long)ctl_stats.reloads_ok);
	put(&o, "ssring_reloads_total{result=\"error\"} %llu\n",
	    (unsigned long long)ctl_stats.reloads_error);
	endpoints(&o, workers);
	users(&o, l->cfg, workers);
	trials(&o, workers);
	api(&o, l->cfg);
	plugins(&o);
	servers_url(&o, l->cfg);
	upstreams(&o, l->cfg);
	worker_counters(&o, workers);
	dns_proxy_counters(&o, workers);
	process(&o);
	if (o.failed) {
		free(o.p);
		return NULL;
	}
	*len = o.len;
	return o.p;
}

/* The DNS forwarder (relay/dnsproxy.h): its queries by route, answers by resolver, failures. */
static void dns_proxy_counters(struct out *o, int workers)
{
	static const char *const fam[][2] = {
		{ "ssring_dns_proxy_queries_total",
		  "DNS forwarder queries by route: the ACL bypasses the name (local), proxies "
		  "it or there is no ACL (remote), does not list it (both asked), or the cache "
		  "answered." },
		{ "ssring_dns_proxy_answers_total",
		  "DNS forwarder answers by the resolver that gave them (not the cache's)." },
		{ "ssring_dns_proxy_failures_total",
		  "DNS forwarder queries answered SERVFAIL (timeout; upstream: the resolvers "
		  "failed; busy: too many in flight) or not parsed (malformed: FORMERR, or "
		  "dropped)." },
	};
	static const struct {
		unsigned k, fam;
		const char *label;
	} c[] = {
		{ WC_DNSP_LOCAL, 0, "route=\"local\"" },
		{ WC_DNSP_REMOTE, 0, "route=\"remote\"" },
		{ WC_DNSP_BOTH, 0, "route=\"both\"" },
		{ WC_DNSP_CACHE, 0, "route=\"cache\"" },
		{ WC_DNSP_FROM_LOCAL, 1, "from=\"local\"" },
		{ WC_DNSP_FROM_REMOTE, 1, "from=\"remote\"" },
		{ WC_DNSP_FAIL_TIMEOUT, 2, "reason=\"timeout\"" },
		{ WC_DNSP_FAIL_UPSTREAM, 2, "reason=\"upstream\"" },
		{ WC_DNSP_FAIL_BUSY, 2, "reason=\"busy\"" },
		{ WC_DNSP_FAIL_MALFORMED, 2, "reason=\"malformed\"" },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		if (!i || c[i].fam != c[i - 1].fam)
			family(o, fam[c[i].fam][0], "counter", fam[c[i].fam][1]);
		put(o, "%s{%s} %llu\n", fam[c[i].fam][0], c[i].label,
		    (unsigned long long)worker_sum(workers, c[i].k));
	}
}
