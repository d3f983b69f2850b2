/* SPDX-License-Identifier: MIT */
/*
 * parse_roles — one element of servers, locals or tunnels, and the users
 * of servers (every method; limits) and locals (SOCKS5 username/password).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* explicit_bzero */
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proto/http_fetch.h"
#include "proto/sip002.h"
#include "proto/sockaddr.h"
#include "proto/units.h"
#include "parse_int.h"

#define OUTBOUND_KEYS                                                                      \
	"outbound_bind_address", "outbound_interface", "outbound_fwmark", "fast_open", "mptcp"
static const char *const server_keys[] = { "name", "listen", "method", SECRET_KEYS,
					   "udp", "allow_private", "allow_plaintext", "users",
					   "user_limits", "trial_budget", "probe", "probe_forward",
					   "plugin", "plugin_opts", "acl", OUTBOUND_KEYS, NULL };
static const char *const srv_user_keys[] = { "name", SECRET_KEYS, "limits", NULL };
#define SIP008_KEYS "servers_url", "refresh", "servers_cache", "servers_url_ca"
static const char *const local_keys[] = { "listen", "server", "method", SECRET_KEYS, "udp",
					  "udp_over_tcp", "users", "plugin", "plugin_opts", "acl",
					  OUTBOUND_KEYS, "upstreams", "upstream_retry", "upstream_check",
					  SIP008_KEYS, NULL };
static const char *const tunnel_keys[] = { "listen", "forward", "server", "method", SECRET_KEYS,
					   "tcp", "udp", "udp_over_tcp", "plugin", "plugin_opts", "acl",
					   OUTBOUND_KEYS, "upstreams", "upstream_retry", "upstream_check",
					   SIP008_KEYS, NULL };
static const char *const redir_keys[] = { "listen", "server", "method", SECRET_KEYS, "mode",
					  "tcp", "udp", "udp_over_tcp", "plugin", "plugin_opts", "acl",
					  OUTBOUND_KEYS, "upstreams", "upstream_retry", "upstream_check",
					  NULL };
static const char *const redir_modes[] = { "redirect", "tproxy", NULL };
static const char *const dns_proxy_keys[] = { "listen", "server", "method", SECRET_KEYS, "acl",
					      "local_dns", "remote_dns", OUTBOUND_KEYS, "upstreams",
					      "upstream_retry", NULL };
static const char *const user_keys[] = { "name", "password", NULL };
static const char *const limit_keys[] = { "rate", "quota", "quota_period", "max_sessions",
					  "max_ips", NULL };
static const char *const period_names[] = { "month", "day", "never", NULL };

static int get_plugin(struct ctx *x, const config_setting_t *g, struct config_plugin *p);

/* outbound_bind_address (an IP literal), outbound_interface, outbound_fwmark. */
static int get_outbound(struct ctx *x, const config_setting_t *g, struct config_outbound *o)
{
	const char *addr = NULL, *iface = NULL;
	struct hostport hp;
	int ret;

	if ((ret = cf_get_string(x, g, "outbound_bind_address", false, &addr)) ||
	    (ret = cf_get_string(x, g, "outbound_interface", false, &iface)) ||
	    (ret = cf_get_u32(x, g, "outbound_fwmark", 0, UINT32_MAX, &o->fwmark)) ||
	    (ret = cf_get_bool(x, g, "fast_open", &o->fast_open)) ||
	    (ret = cf_get_bool(x, g, "mptcp", &o->mptcp)))
		return ret;
	if (addr) {
		char buf[80];

		/* An address alone: as host:port with port 0 for the parser. */
		snprintf(buf, sizeof(buf), strchr(addr, ':') ? "[%s]:0" : "%s:0", addr);
		if (hostport_parse(buf, true, &hp) || !hp.is_ip)
			return fail(x, cf_member(g, "outbound_bind_address"),
				    "not an IPv4 or IPv6 address: '%s'", addr);
		o->bind = hp.addr;
	}
	if (iface) {
		if (!iface[0] || strlen(iface) >= sizeof(o->iface) || strchr(iface, '/'))
			return fail(x, cf_member(g, "outbound_interface"),
				    "not an interface name (1 to 15 characters): '%s'", iface);
		strcpy(o->iface, iface);
	}
	return 0;
}

/* acl = "FILE": shadowsocks-libev's ACL format (relative to the config file). */
static int get_acl(struct ctx *x, const config_setting_t *g, struct config_acl **out)
{
	char path[CONFIG_PATH_MAX] = "", err[CONFIG_PATH_MAX + 400];
	int ret = cf_get_path(x, g, "acl", path, sizeof(path));

	if (ret || !path[0])
		return ret;
	*out = config_acl_load(path, err, sizeof(err));
	if (!*out)
		return fail(x, cf_member(g, "acl"), "%s", err);
	return 0;
}

/* A byte count or rate: an integer, or a string with a unit ("10 MB/s"). */
static int get_bytes(struct ctx *x, const config_setting_t *g, const char *key, bool rate,
		     uint64_t *out)
{
	const config_setting_t *s = cf_member(g, key);
	const char *v;

	if (!s)
		return 0;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		if (config_setting_get_int64(s) < 0)
			return fail(x, s, "must not be negative");
		*out = (uint64_t)config_setting_get_int64(s);
		return 0;
	case CONFIG_TYPE_STRING:
		v = config_setting_get_string(s);
		switch (units_parse_bytes(v, strlen(v), rate, out)) {
		case 0:
			return 0;
		case -ERANGE:
			return fail(x, s, "'%s' is too large", v);
		default:
			return fail(x, s, "'%s' is not a %s (for example %s)", v,
				    rate ? "rate" : "byte count",
				    rate ? "\"10 MB/s\", \"512KiB\" or 1250000" :
					   "\"100 GB\", \"1.5TiB\" or 1000000");
		}
	default:
		return fail(x, s, "must be a number of bytes or a string such as \"%s\"",
			    rate ? "10 MB/s" : "100 GB");
	}
}

int cf_get_user_limits(struct ctx *x, const config_setting_t *g, const char *key,
		       struct user_limits *l, bool *given)
{
	const config_setting_t *lg;
	int period = (int)l->quota_period, ret = cf_get_group(x, g, key, limit_keys, &lg);

	*given = lg != NULL;
	if (ret || !lg)
		return ret;
	memset(l, 0, sizeof(*l));
	period = QUOTA_MONTH;
	if ((ret = get_bytes(x, lg, "rate", true, &l->rate)) ||
	    (ret = get_bytes(x, lg, "quota", false, &l->quota)) ||
	    (ret = cf_get_enum(x, lg, "quota_period", period_names, &period)) ||
	    (ret = cf_get_u32(x, lg, "max_sessions", 0, 10000000, &l->max_sessions)) ||
	    (ret = cf_get_u32(x, lg, "max_ips", 0, CONFIG_MAX_IPS, &l->max_ips)))
		return ret;
	l->quota_period = (enum quota_period)period;
	if (cf_member(lg, "quota_period") && !l->quota)
		return fail(x, cf_member(lg, "quota_period"), "only with quota");
	return 0;
}

/* One element of a server's users. */
static int parse_srv_user(struct ctx *x, const config_setting_t *e, struct config_server *sv,
			  struct config_users *us, size_t i)
{
	struct config_srv_user *u = &us->u[i];
	const char *name = NULL;
	bool given = false;
	int ret;

	if (!config_setting_is_group(e))
		return fail(x, e, "must be a group: { name = \"...\"; %s = \"...\"; }",
			    sv->cipher.m2022 ? "key" : "password");
	if ((ret = cf_check_keys(x, e, srv_user_keys)) ||
	    (ret = cf_get_string(x, e, "name", true, &name)))
		return ret;
	if (!config_user_name_ok(name))
		return fail(x, cf_member(e, "name"), "must be 1 to %d characters of A-Z a-z 0-9 "
			    "- _ . @", CONFIG_USER_NAME_MAX);
	us->n = i + 1; /* freed with the set if anything below fails */
	if ((ret = cf_get_user_secret(x, e, &sv->cipher, us, i, name)))
		return ret;
	u->limits = sv->user_limits;
	if ((ret = cf_get_user_limits(x, e, "limits", &u->limits, &given)))
		return ret;
	u->own_limits = given;
	return 0;
}

/* users = ( { name; password | key | ..._file | ..._env; limits = { ... }; }, ... ) */
static int parse_srv_users(struct ctx *x, const config_setting_t *g, struct config_server *sv)
{
	const config_setting_t *list = cf_member(g, "users");
	const struct ss2022_method *m = sv->cipher.m2022;
	const config_setting_t *e;
	struct config_users *us;
	size_t dup = 0;
	int n, ret;

	if (m) {
		sv->srv2022.m = m;
		memcpy(sv->srv2022.psk, sv->cipher.keys2022.psk, m->key_len);
		if (sv->cipher.keys2022.n_ipsk)
			return fail(x, g, "a server's key is one PSK, not a list");
	}
	if (list && sv->cipher.none)
		return fail(x, list, "method none has no keys to tell users apart: give each "
			    "user a server with a cipher");
	if (!list) {
		if (cf_member(g, "user_limits"))
			return fail(x, cf_member(g, "user_limits"), "only with users");
		if (cf_member(g, "trial_budget"))
			return fail(x, cf_member(g, "trial_budget"), "only with users");
		return 0;
	}
	if (m && !m->is_aes)
		return fail(x, list, "%s has no identity header (SIP023 defines them for the "
			    "2022-blake3-aes-* methods only): users need an AES method, or "
			    "one server per user", m->name);
	if (!m && cf_has_secret(g))
		return fail(x, list, "an AEAD-2017 server has either one secret for everyone "
			    "or users, not both (remove the server's password/key)");
	if (m && !cf_has_secret(g))
		return fail(x, g, "a 2022 server with users still needs its own key (the "
			    "identity PSK, iPSK)");
	if (!config_setting_is_list(list))
		return fail(x, list, "must be a list: users = ( { name = \"...\"; %s = \"...\"; } );",
			    m ? "key" : "password");
	n = config_setting_length(list);
	if (n > CONFIG_MAX_SERVER_USERS)
		return fail(x, list, "has %d entries; at most %d are supported", n,
			    CONFIG_MAX_SERVER_USERS);
	us = config_users_new((size_t)n, m != NULL);
	if (!us)
		return fail(x, list, "out of memory");
	sv->users = us;
	for (int i = 0; i < n; i++) {
		ret = parse_srv_user(x, config_setting_get_elem(list, (unsigned int)i), sv, us,
				     (size_t)i);
		if (ret)
			return ret;
	}
	switch (config_users_index(us, &dup)) {
	case 0:
		break;
	case -EEXIST:
		e = config_setting_get_elem(list, (unsigned int)dup);
		return fail(x, cf_member(e, "name"), "duplicate user name '%s'", us->u[dup].name);
	default:
		return fail(x, list, "out of memory");
	}
	config_server_bind_users(sv);
	return 0;
}

static int parse_probe(struct ctx *x, const config_setting_t *g, struct config_server *sv)
{
	const char *p = NULL;
	int ret = cf_get_string(x, g, "probe", false, &p);

	if (ret)
		return ret;
	sv->probe = PROBE_DRAIN;
	if (p && !strcmp(p, "close"))
		sv->probe = PROBE_CLOSE;
	else if (p && !strcmp(p, "forward"))
		sv->probe = PROBE_FORWARD;
	else if (p && strcmp(p, "drain"))
		return fail(x, cf_member(g, "probe"), "must be \"drain\", \"close\" or \"forward\"");
	if (sv->probe == PROBE_FORWARD)
		return cf_get_hostport(x, g, "probe_forward", true, &sv->probe_forward);
	if (cf_member(g, "probe_forward"))
		return fail(x, cf_member(g, "probe_forward"), "only with probe = \"forward\"");
	return 0;
}

static int parse_server_name(struct ctx *x, const config_setting_t *g, struct config_server *sv)
{
	const char *name = NULL;
	int ret = cf_get_string(x, g, "name", false, &name);

	if (ret || !name)
		return ret;
	if (!config_name_ok(name, CONFIG_NAME_MAX - 1))
		return fail(x, cf_member(g, "name"), "must be 1 to %d characters of A-Z a-z 0-9 "
			    "- _ . @", CONFIG_NAME_MAX - 1);
	snprintf(sv->name, sizeof(sv->name), "%s", name);
	return 0;
}

/*
 * method none: no encryption and no authentication, so anyone who reaches
 * the port may use the server and anyone on the path reads everything. Only
 * on loopback (behind something that protects it), behind a plugin without
 * UDP (SIP003 carries TCP alone: the UDP port would be open as it is), or
 * when the operator says so on the entry.
 */
static int check_plaintext(struct ctx *x, const config_setting_t *g, struct config_server *sv)
{
	const config_setting_t *a = cf_member(g, "allow_plaintext");
	int ret = cf_get_bool(x, g, "allow_plaintext", &sv->allow_plaintext);

	if (ret)
		return ret;
	if (a && !sv->cipher.none)
		return fail(x, a, "only with method = \"none\"");
	if (sv->cipher.none && !sv->allow_plaintext && !(sv->plugin.cmd[0] && !sv->udp) &&
	    !sockaddr_is_loopback((const struct sockaddr *)&sv->listen.addr))
		return fail(x, cf_member(g, "method"), "method none on a listener outside loopback "
			    "lets anyone who reaches it use the server and anyone on the path read "
			    "the traffic: listen on loopback, put a plugin in front (with udp = "
			    "false: a plugin carries TCP only), or set allow_plaintext = true");
	return 0;
}

int cf_parse_server(struct ctx *x, const config_setting_t *g, void *elem)
{
	struct config_server *sv = elem;
	bool given;
	int ret;

	sv->udp = true;
	sv->allow_private = false;
	sv->trial_budget_ms = 100;
	sv->user_limits.quota_period = QUOTA_MONTH;
	sv->line = config_setting_source_line(g);
	if (cf_member(g, "udp_over_tcp"))
		return fail(x, cf_member(g, "udp_over_tcp"), "a client's key (locals, tunnels, "
			    "redirs): a server with udp = true takes UDP over TCP without it");
	if ((ret = cf_check_keys(x, g, server_keys)) || (ret = parse_server_name(x, g, sv)) ||
	    (ret = cf_get_hostport(x, g, "listen", true, &sv->listen)) ||
	    (ret = cf_note_listen(x, g, &sv->listen)) ||
	    (ret = cf_get_cipher(x, g, &sv->cipher, cf_member(g, "users") != NULL)) ||
	    (ret = cf_get_bool(x, g, "udp", &sv->udp)) ||
	    (ret = cf_get_bool(x, g, "allow_private", &sv->allow_private)) ||
	    (ret = cf_get_user_limits(x, g, "user_limits", &sv->user_limits, &given)) ||
	    (ret = cf_get_u32(x, g, "trial_budget", 1, 1000, &sv->trial_budget_ms)) ||
	    (ret = parse_srv_users(x, g, sv)) || (ret = parse_probe(x, g, sv)) ||
	    (ret = get_plugin(x, g, &sv->plugin)) || (ret = get_acl(x, g, &sv->acl)) ||
	    (ret = get_outbound(x, g, &sv->outbound)) || (ret = check_plaintext(x, g, sv)))
		return ret;
	sv->tcp_listen = sv->listen;
	return 0;
}

static int parse_user(struct ctx *x, const config_setting_t *g, struct config_user *u)
{
	const char *name = NULL, *pw = NULL;
	int ret;

	if (!config_setting_is_group(g))
		return fail(x, g, "must be a group: { name = \"...\"; password = \"...\"; }");
	if ((ret = cf_check_keys(x, g, user_keys)) || (ret = cf_get_string(x, g, "name", true, &name)) ||
	    (ret = cf_get_string(x, g, "password", true, &pw)))
		return ret;
	/* SOCKS5 username/password auth (RFC 1929) carries each in one length byte. */
	if (strlen(name) < 1 || strlen(name) > 255)
		return fail(x, cf_member(g, "name"), "must be 1 to 255 bytes long");
	if (strlen(pw) < 1 || strlen(pw) > 255)
		return fail(x, cf_member(g, "password"), "must be 1 to 255 bytes long");
	strcpy(u->name, name);
	strcpy(u->password, pw);
	explicit_bzero((char *)pw, strlen(pw));
	return 0;
}

static int parse_users(struct ctx *x, const config_setting_t *g, struct config_local *lc)
{
	const config_setting_t *list = cf_member(g, "users");
	int i, j, n, ret;

	if (!list)
		return 0;
	if (!config_setting_is_list(list))
		return fail(x, list, "must be a list: users = ( { name = \"...\"; password = \"...\"; } );");
	n = config_setting_length(list);
	/* An empty list would silently turn authentication off. */
	if (n == 0)
		return fail(x, list, "is empty; remove it to accept clients without authentication");
	if (n > CONFIG_MAX_LOCAL_USERS)
		return fail(x, list, "has %d entries; at most %d are supported", n,
			    CONFIG_MAX_LOCAL_USERS);
	lc->users = calloc((size_t)n, sizeof(*lc->users));
	if (!lc->users)
		return fail(x, list, "out of memory");
	lc->n_users = (size_t)n;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned int)i);

		ret = parse_user(x, e, &lc->users[i]);
		if (ret)
			return ret;
		for (j = 0; j < i; j++)
			if (!strcmp(lc->users[j].name, lc->users[i].name))
				return fail(x, cf_member(e, "name"), "duplicate user name '%s'",
					    lc->users[i].name);
	}
	return 0;
}

/* plugin = "cmd"; plugin_opts = "..."; (SIP003). A link's plugin is the default. */
static int get_plugin(struct ctx *x, const config_setting_t *g, struct config_plugin *p)
{
	const char *cmd = NULL, *opts = NULL;
	int ret;

	if ((ret = cf_get_string(x, g, "plugin", false, &cmd)) ||
	    (ret = cf_get_string(x, g, "plugin_opts", false, &opts)))
		return ret;
	if (cmd) {
		if (!cmd[0] || strlen(cmd) >= sizeof(p->cmd) || strpbrk(cmd, "\n\r"))
			return fail(x, cf_member(g, "plugin"), "must be a command (a name found "
				    "through PATH, or a path), 1 to %zu bytes", sizeof(p->cmd) - 1);
		snprintf(p->cmd, sizeof(p->cmd), "%s", cmd);
		p->opts[0] = '\0';
	}
	if (opts) {
		if (!p->cmd[0])
			return fail(x, cf_member(g, "plugin_opts"), "only with plugin");
		if (strlen(opts) >= sizeof(p->opts))
			return fail(x, cf_member(g, "plugin_opts"), "is longer than %zu bytes",
				    sizeof(p->opts) - 1);
		snprintf(p->opts, sizeof(p->opts), "%s", opts);
	}
	return 0;
}

/*
 * servers_url = "https://..." | "FILE"; refresh; servers_cache; servers_url_ca:
 * the server comes from a SIP008 document. The file (or, for https, the
 * cache) gives the first server now; ctl/sip008.c keeps it current.
 */
static int get_sip008(struct ctx *x, const config_setting_t *g, struct config_sip008 *sub,
		      struct hostport *server, struct config_cipher *c, struct config_plugin *p)
{
	static const char *const excl[] = { "server", "method", "password", "key", "password_file",
					    "key_file", "password_env", "key_env", "plugin",
					    "plugin_opts", NULL };
	const config_setting_t *u = cf_member(g, "servers_url");
	const char *url = NULL;
	char err[CONFIG_PATH_MAX + 300];
	int ret;

	for (int i = 0; excl[i]; i++)
		if (cf_member(g, excl[i]))
			return fail(x, cf_member(g, excl[i]), "not with servers_url, whose document "
				    "gives the server, method, password and plugin");
	if ((ret = cf_get_string(x, g, "servers_url", true, &url)))
		return ret;
	sub->refresh = 3600;
	if ((ret = cf_get_u32(x, g, "refresh", 1, 604800, &sub->refresh)) ||
	    (ret = cf_get_path(x, g, "servers_cache", sub->cache, sizeof(sub->cache))) ||
	    (ret = cf_get_path(x, g, "servers_url_ca", sub->ca, sizeof(sub->ca))))
		return ret;
	if (!strncasecmp(url, "http://", 7))
		return fail(x, u, "a provider's list carries passwords: https:// only (or a file)");
	if (!strncasecmp(url, "https://", 8)) {
		if (strlen(url) >= sizeof(sub->url) || strpbrk(url, " \t\r\n"))
			return fail(x, u, "must be a URL of at most %zu bytes, without spaces",
				    sizeof(sub->url) - 1);
		snprintf(sub->url, sizeof(sub->url), "%s", url);
		/* A restart works offline: the last good copy, if there is one. */
		if (sub->cache[0] &&
		    config_sip008_file(sub->cache, x->plugins, server, c, p, sub, err,
				       sizeof(err)) &&
		    access(sub->cache, F_OK) == 0)
			snprintf(sub->note, sizeof(sub->note), "servers_cache %.400s", err);
		return 0;
	}
	if (cf_member(g, "servers_url_ca"))
		return fail(x, cf_member(g, "servers_url_ca"), "only with an https:// servers_url");
	if ((ret = cf_get_path(x, g, "servers_url", sub->url, sizeof(sub->url))))
		return ret;
	if (config_sip008_file(sub->url, x->plugins, server, c, p, sub, err, sizeof(err)))
		return fail(x, u, "%s", err);
	return 0;
}

/*
 * A local's or tunnel's server and cipher: server = "host:port" with method
 * and a secret, or server = "ss://..." (SIP002), which carries all three.
 */
static int link_upstream(struct ctx *x, const config_setting_t *s, const char *v,
			 struct hostport *server, struct config_cipher *c,
			 struct config_plugin *plugin);

static int get_upstream(struct ctx *x, const config_setting_t *g, struct hostport *server,
			struct config_cipher *c, struct config_plugin *plugin)
{
	const config_setting_t *s = cf_member(g, "server");
	const char *v = s && config_setting_type(s) == CONFIG_TYPE_STRING ?
				config_setting_get_string(s) : NULL;
	int ret;

	if (!v || strncasecmp(v, "ss://", 5)) {
		if ((ret = cf_get_hostport(x, g, "server", false, server)))
			return ret;
		return cf_get_cipher(x, g, c, false);
	}
	if (cf_member(g, "method") || cf_has_secret(g))
		return fail(x, cf_member(g, "method") ? cf_member(g, "method") : s,
			    "the ss:// link in server carries the method and the password: "
			    "give either the link or server, method and a secret");
	return link_upstream(x, s, v, server, c, plugin);
}

/* An ss:// link (the string v of setting s): server, cipher and plugin. */
static int link_upstream(struct ctx *x, const config_setting_t *s, const char *v,
			 struct hostport *server, struct config_cipher *c,
			 struct config_plugin *plugin)
{
	char hp[SIP002_HOST_MAX + 16];
	const char *why = "";
	struct sip002 link;
	int ret;

	if (sip002_parse(v, strlen(v), &link, &why))
		return fail(x, s, "not a usable ss:// link: %s", why);
	ret = 0;
	if (link.plugin[0]) {
		snprintf(plugin->cmd, sizeof(plugin->cmd), "%s", link.plugin);
		snprintf(plugin->opts, sizeof(plugin->opts), "%s", link.plugin_opts);
	}
	snprintf(hp, sizeof(hp), strchr(link.host, ':') ? "[%s]:%u" : "%s:%u", link.host,
		 (unsigned)link.port);
	if (!ret && hostport_parse(hp, false, server))
		ret = fail(x, s, "the link's host '%s' is not a valid name or address", link.host);
	if (!ret)
		ret = cf_cipher_from_link(x, s, c, link.method, link.secret);
	explicit_bzero(&link, sizeof(link));
	explicit_bzero((char *)v, strlen(v));
	return ret;
}

static const char *const upstream_keys[] = { "server", "method", SECRET_KEYS, "plugin",
					     "plugin_opts", NULL };
#define UPSTREAMS_MAX 32

/*
 * upstreams = ( "ss://...", { server = ...; method = ...; <secret> }, ... ):
 * instead of server (and servers_url); server and cipher become the first
 * one's (cipher without its text, which stays with the upstream).
 */
static int get_upstreams(struct ctx *x, const config_setting_t *g, struct config_upstream **ups,
			 size_t *n_ups, struct hostport *server, struct config_cipher *cipher,
			 uint32_t *retry)
{
	const config_setting_t *l = cf_member(g, "upstreams");
	int n = config_setting_length(l), ret;

	if (!config_setting_is_list(l) || n < 1 || n > UPSTREAMS_MAX)
		return fail(x, l, "must be a list of 1 to %d servers: ss:// links or "
			    "{ server = ...; method = ...; password = ...; } groups", UPSTREAMS_MAX);
	if (cf_member(g, "server") || cf_member(g, "servers_url") || cf_member(g, "method") ||
	    cf_has_secret(g) || cf_member(g, "plugin"))
		return fail(x, l, "upstreams replaces server, servers_url, method, the secret and "
			    "plugin: give one or the other");
	*ups = calloc((size_t)n, sizeof(**ups));
	if (!*ups)
		return fail(x, l, "out of memory");
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		struct config_upstream *u = &(*ups)[i];
		struct config_plugin plugin;

		memset(&plugin, 0, sizeof(plugin));
		*n_ups = (size_t)i + 1; /* so that a failure frees what is parsed */
		if (config_setting_type(e) == CONFIG_TYPE_STRING)
			ret = strncasecmp(config_setting_get_string(e), "ss://", 5)
				      ? fail(x, e, "not an ss:// link")
				      : link_upstream(x, e, config_setting_get_string(e), &u->server,
						      &u->cipher, &plugin);
		else if (config_setting_is_group(e))
			ret = cf_check_keys(x, e, upstream_keys) ||
			      get_upstream(x, e, &u->server, &u->cipher, &plugin) ||
			      get_plugin(x, e, &plugin);
		else
			ret = fail(x, e, "an upstream is an ss:// link or a group");
		if (ret)
			return -EINVAL;
		u->plugin = plugin;
		u->tcp_server = u->server; /* until a plugin takes it (ctl/plugin.c) */
	}
	*server = (*ups)[0].server;
	*cipher = (*ups)[0].cipher;
	cipher->text = NULL;
	return cf_get_u32(x, g, "upstream_retry", 1, 3600, retry);
}

static const char *const check_keys[] = { "url", "target", "request", "interval", "timeout",
					  NULL };

/* upstream_check's url: its host and port are the target, a GET the request. */
static int check_url(struct ctx *x, const config_setting_t *s, const char *v,
		     struct config_upcheck *c)
{
	struct https_url u;
	const char *why = "";
	char hp[HTTPS_HOST_MAX + 16];
	int n;

	if (!strncasecmp(v, "https://", 8))
		return fail(x, s, "https is not supported: the check reads only the first bytes "
			    "of the answer; give an http:// URL, or target (host:port)");
	if (http_url_parse(v, strlen(v), &u, &why))
		return fail(x, s, "not a usable http:// URL: %s", why);
	n = http_get_request(&u, c->request, sizeof(c->request));
	if (n < 0)
		return fail(x, s, "the URL is too long for a check (at most about %d bytes)",
			    CONFIG_CHECK_REQUEST_MAX - 100);
	c->request_len = (uint16_t)n;
	snprintf(hp, sizeof(hp), strchr(u.host, ':') ? "[%s]:%u" : "%s:%u", u.host,
		 (unsigned)u.port);
	if (hostport_parse(hp, false, &c->target))
		return fail(x, s, "the URL's host '%s' is not a valid name or address", u.host);
	c->http = true;
	return 0;
}

/*
 * upstream_check = { url = "http://..."; | target = "host:port"; [request = "..."];
 * interval = 30; timeout = 5; }: only where there are upstreams (or a SIP008
 * document, whose servers become upstreams when it has several).
 */
static int get_upcheck(struct ctx *x, const config_setting_t *g, bool several,
		       struct config_upcheck *c)
{
	const config_setting_t *k;
	const char *url = NULL, *req = NULL;
	int ret;

	if ((ret = cf_get_group(x, g, "upstream_check", check_keys, &k)) || !k)
		return ret;
	if (!several)
		return fail(x, k, "upstream_check goes with upstreams = (...) or servers_url: it "
			    "checks each of several servers");
	c->interval = 30;
	c->timeout = 5;
	if ((ret = cf_get_string(x, k, "url", false, &url)) ||
	    (ret = cf_get_string(x, k, "request", false, &req)) ||
	    (ret = cf_get_u32(x, k, "interval", 1, 86400, &c->interval)) ||
	    (ret = cf_get_u32(x, k, "timeout", 1, 300, &c->timeout)))
		return ret;
	if (!url == !cf_member(k, "target"))
		return fail(x, k, "give either url = \"http://host[:port]/path\" or target = "
			    "\"host:port\" (with an optional request)");
	if (url && req)
		return fail(x, cf_member(k, "request"), "request goes with target: a url check "
			    "sends its own GET");
	if (url)
		return check_url(x, cf_member(k, "url"), url, c);
	if ((ret = cf_get_hostport(x, k, "target", false, &c->target)))
		return ret;
	if (req && strlen(req) >= sizeof(c->request))
		return fail(x, cf_member(k, "request"), "at most %d bytes",
			    CONFIG_CHECK_REQUEST_MAX - 1);
	if (req) {
		c->request_len = (uint16_t)strlen(req);
		memcpy(c->request, req, c->request_len);
	}
	return 0;
}

/*
 * What locals, tunnels and redirs share (struct config_client): where their
 * TCP goes (upstreams, a SIP008 document if with_sub, or one server), the
 * plugin, the ACL and the outbound options.
 */
static int get_client_side(struct ctx *x, const config_setting_t *g, struct config_client *cl,
			   bool with_sub)
{
	struct config_sip008 *sub = with_sub ? &cl->sub : NULL;
	int ret;

	if ((ret = cf_member(g, "upstreams") ?
			   get_upstreams(x, g, &cl->ups, &cl->n_ups, &cl->server, &cl->cipher,
					 &cl->upstream_retry) :
			   sub && cf_member(g, "servers_url") ?
			   get_sip008(x, g, sub, &cl->server, &cl->cipher, &cl->plugin) :
			   get_upstream(x, g, &cl->server, &cl->cipher, &cl->plugin)) ||
	    (ret = get_upcheck(x, g, cl->n_ups || (sub && sub->url[0]), &cl->check)) ||
	    (ret = get_plugin(x, g, &cl->plugin)) || (ret = get_acl(x, g, &cl->acl)) ||
	    (ret = cf_get_bool(x, g, "udp_over_tcp", &cl->udp_over_tcp)))
		return ret;
	return get_outbound(x, g, &cl->outbound);
}

/* udp_over_tcp carries the entry's UDP: without udp = true there is none. */
static int check_uot(struct ctx *x, const config_setting_t *g, const struct config_client *cl)
{
	if (cl->udp_over_tcp && !cl->udp)
		return fail(x, cf_member(g, "udp_over_tcp"), "carries UDP, and udp = false: set "
			    "udp = true, or leave udp_over_tcp out");
	return 0;
}

/*
 * What every client entry begins with: only its keys, listen (an IP
 * literal no other entry listens on), then its client side; TCP goes to
 * the server until a plugin takes it (ctl/plugin.c).
 */
static int client_entry(struct ctx *x, const config_setting_t *g, const char *const *keys,
			struct config_client *cl, bool with_sub)
{
	int ret;

	cl->upstream_retry = 5;
	cl->line = config_setting_source_line(g);
	if ((ret = cf_check_keys(x, g, keys)) ||
	    (ret = cf_get_hostport(x, g, "listen", true, &cl->listen)) ||
	    (ret = cf_note_listen(x, g, &cl->listen)) ||
	    (ret = get_client_side(x, g, cl, with_sub)))
		return ret;
	cl->tcp_server = cl->server;
	return 0;
}

int cf_parse_local(struct ctx *x, const config_setting_t *g, void *elem)
{
	struct config_local *lc = elem;
	int ret;

	lc->cl.udp = true;
	if ((ret = client_entry(x, g, local_keys, &lc->cl, true)) ||
	    (ret = cf_get_bool(x, g, "udp", &lc->cl.udp)) || (ret = check_uot(x, g, &lc->cl)))
		return ret;
	return parse_users(x, g, lc);
}

int cf_parse_tunnel(struct ctx *x, const config_setting_t *g, void *elem)
{
	struct config_tunnel *t = elem;
	int ret;

	t->tcp = true;
	t->cl.udp = true;
	if ((ret = client_entry(x, g, tunnel_keys, &t->cl, true)) ||
	    (ret = cf_get_hostport(x, g, "forward", false, &t->forward)) ||
	    (ret = cf_get_bool(x, g, "tcp", &t->tcp)) ||
	    (ret = cf_get_bool(x, g, "udp", &t->cl.udp)) || (ret = check_uot(x, g, &t->cl)))
		return ret;
	if (!t->tcp && !t->cl.udp)
		return fail(x, g, "tcp and udp are both false: nothing to forward");
	return 0;
}

/*
 * A transparent proxy (ss-redir): a tunnel whose target is each
 * connection's original destination. mode: "redirect" (NAT REDIRECT, the
 * default) or "tproxy", for TCP; UDP (udp = true, off by default as in
 * ss-redir) is always TPROXY.
 */
int cf_parse_redir(struct ctx *x, const config_setting_t *g, void *elem)
{
	struct config_tunnel *t = elem;
	int mode = 0, ret;

	t->tcp = true;
	t->cl.udp = false;
	if ((ret = client_entry(x, g, redir_keys, &t->cl, false)) ||
	    (ret = cf_get_enum(x, g, "mode", redir_modes, &mode)) ||
	    (ret = cf_get_bool(x, g, "tcp", &t->tcp)) ||
	    (ret = cf_get_bool(x, g, "udp", &t->cl.udp)) || (ret = check_uot(x, g, &t->cl)))
		return ret;
	t->redir = (uint8_t)(mode == 0 ? REDIR_REDIRECT : REDIR_TPROXY);
	if (!t->tcp && !t->cl.udp)
		return fail(x, g, "tcp and udp are both false: nothing to redirect");
	return 0;
}

/*
 * A DNS forwarder that follows the ACL (relay/dnsproxy.c): a client side
 * as a local has one, without servers_url, plugin or upstream_check (its
 * streams are its own, not a role's), and the two resolvers it asks.
 */
int cf_parse_dns_proxy(struct ctx *x, const config_setting_t *g, void *elem)
{
	struct config_dns_proxy *d = elem;
	bool plugin;
	int ret;

	d->cl.udp = true;
	if ((ret = client_entry(x, g, dns_proxy_keys, &d->cl, false)) ||
	    (ret = cf_get_hostport(x, g, "remote_dns", false, &d->remote_dns)))
		return ret;
	plugin = d->cl.plugin.cmd[0] != '\0';
	for (size_t i = 0; i < d->cl.n_ups; i++)
		plugin |= d->cl.ups[i].plugin.cmd[0] != '\0';
	if (plugin)
		return fail(x, g, "a DNS forwarder runs no plugin (its link or upstream names "
			    "one): give it a server it reaches directly");
	if (cf_member(g, "local_dns") || d->cl.acl)
		return cf_get_hostport(x, g, "local_dns", true, &d->local_dns);
	return 0;
}
