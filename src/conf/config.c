/* SPDX-License-Identifier: MIT */
/*
 * config — the configuration model itself: defaults, names, release. No
 * libconfig here (parse*.c reads the file into this model).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* explicit_bzero */
#endif
#include "conf/config.h"
#include "proto/acl.h"
#include "proto/sip008.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

const char *const config_log_level_names[] = { "error", "warn", "info", "debug", NULL };
const char *const config_log_format_names[] = { "text", "json", NULL };

/*
 * The client halves of the plugins phone and desktop clients know (and
 * Debian's name for v2ray-plugin). None of them runs another program or
 * writes a file its options name; kcptun's client, whose "log" option
 * writes to a path, is left for the operator to add.
 */
const char *const config_plugins_default[] = { "obfs-local", "v2ray-plugin", "ss-v2ray-plugin",
					       "xray-plugin", NULL };

void config_defaults(struct config *cfg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(cfg, 0, sizeof(*cfg));
	cfg->workers = cpus < 1 ? 1 : cpus > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : (int)cpus;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->limits.tcp_sessions = 65536;
	cfg->limits.udp_associations = 16384;
	cfg->limits.handshakes_per_source = 128;
	cfg->limits.sessions_per_source = 0;
	cfg->timeouts.connect = 10;
	cfg->timeouts.handshake = 10;
	cfg->timeouts.probe_window = 60;
	cfg->timeouts.tcp_idle = 300;
	cfg->timeouts.udp_idle = 300;
	cfg->timeouts.shutdown = 5;
	cfg->dns.cache_entries = 4096;
	cfg->dns.prefer = DNS_PREFER_IPV4;
	for (struct config_plugins_allowed *pa = &cfg->plugins_allowed;
	     config_plugins_default[pa->n]; pa->n++)
		snprintf(pa->name[pa->n], sizeof(pa->name[0]), "%s", config_plugins_default[pa->n]);
}

static void free_rt(struct config_rt *rt, int workers)
{
	for (int w = 0; w < workers; w++) {
		if (rt->tcp_fds && rt->tcp_fds[w] >= 0)
			close(rt->tcp_fds[w]);
		if (rt->udp_fds && rt->udp_fds[w] >= 0)
			close(rt->udp_fds[w]);
	}
	free(rt->tcp_fds);
	free(rt->udp_fds);
	free(rt->uids);
	free(rt->uid_index);
	free(rt->health);
	memset(rt, 0, sizeof(*rt));
}

/* ---- users ----------------------------------------------------------------- */

static uint32_t name_hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return h ^ (h >> 15);
}

bool config_name_ok(const char *n, size_t max)
{
	size_t len = strlen(n);

	if (len == 0 || len > max)
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '-' || *n == '_' || *n == '.' ||
		      *n == '@'))
			return false;
	return true;
}

bool config_user_name_ok(const char *name)
{
	return config_name_ok(name, CONFIG_USER_NAME_MAX);
}

int config_users_find(const struct config_users *us, const char *name)
{
	if (!us || !us->by_name)
		return -1;
	for (uint32_t i = name_hash(name) & us->name_mask; us->by_name[i];
	     i = (i + 1) & us->name_mask) {
		uint32_t u = us->by_name[i] - 1;

		if (!strcmp(us->u[u].name, name))
			return (int)u;
	}
	return -1;
}

/* Slots for n entries at most half full: a power of two >= 2n (>= 16). */
static uint32_t *new_slots(size_t n, uint32_t *mask)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap *= 2;
	*mask = (uint32_t)(cap - 1);
	return calloc(cap, sizeof(uint32_t));
}

int config_users_index(struct config_users *us, size_t *dup)
{
	free(us->by_name);
	free(us->by_hash);
	us->by_hash = NULL;
	us->by_name = new_slots(us->n, &us->name_mask);
	if (!us->by_name)
		return -ENOMEM;
	for (size_t u = 0; u < us->n; u++) {
		uint32_t i = name_hash(us->u[u].name) & us->name_mask;

		for (; us->by_name[i]; i = (i + 1) & us->name_mask) {
			if (!strcmp(us->u[us->by_name[i] - 1].name, us->u[u].name)) {
				if (dup)
					*dup = u;
				return -EEXIST;
			}
		}
		us->by_name[i] = (uint32_t)u + 1;
	}
	if (!us->u2022)
		return 0;
	us->by_hash = new_slots(us->n, &us->hash_mask);
	if (!us->by_hash)
		return -ENOMEM;
	for (size_t u = 0; u < us->n; u++) {
		uint32_t i = ss2022_hash_slot(us->u2022[u].hash) & us->hash_mask;

		while (us->by_hash[i])
			i = (i + 1) & us->hash_mask;
		us->by_hash[i] = (uint32_t)u + 1;
	}
	return 0;
}

struct config_users *config_users_new(size_t cap, bool with_2022)
{
	struct config_users *us = calloc(1, sizeof(*us));

	if (!us)
		return NULL;
	atomic_init(&us->refs, 1);
	us->u = calloc(cap + 1, sizeof(*us->u));
	if (with_2022)
		us->u2022 = calloc(cap + 1, sizeof(*us->u2022));
	if (!us->u || (with_2022 && !us->u2022)) {
		config_users_unref(us);
		return NULL;
	}
	return us;
}

void config_users_ref(struct config_users *us)
{
	if (us)
		atomic_fetch_add_explicit(&us->refs, 1, memory_order_relaxed);
}

int config_user_make(struct config_users *us, size_t i, const struct config_cipher *c,
		     const char *name, const char *secret, bool is_password, char *err,
		     size_t err_len)
{
	struct config_srv_user *u = &us->u[i];

	memset(u, 0, sizeof(*u));
	if (c->none) {
		snprintf(err, err_len, "method none has no keys, so no users");
		return -EINVAL;
	}
	if (c->m2022 && is_password) {
		snprintf(err, err_len, "%s needs a base64 uPSK, not a password", c->m2022->name);
		return -EINVAL;
	}
	u->name = strdup(name);
	u->secret = strdup(secret);
	if (!u->name || !u->secret) {
		snprintf(err, err_len, "out of memory");
		return -EINVAL;
	}
	u->is_key = !is_password;
	if (c->m2022) {
		if (ss2022_user_init(&us->u2022[i], c->m2022, u->name, secret)) {
			snprintf(err, err_len, "the uPSK must be the base64 encoding of exactly %u "
				 "bytes", c->m2022->key_len);
			return -EINVAL;
		}
		return 0;
	}
	if (is_password ? aead_password_to_key(c->method, secret, strlen(secret), u->key)
			: aead_key_from_base64(c->method, secret, u->key)) {
		snprintf(err, err_len, is_password ? "key derivation failed"
				       : "the key must be the base64 encoding of exactly %u bytes "
					 "for %s", c->method->key_len, c->method->name);
		return -EINVAL;
	}
	return 0;
}

void config_server_bind_users(struct config_server *sv)
{
	if (!sv->cipher.m2022 || !sv->users)
		return;
	sv->srv2022.users = sv->users->u2022;
	sv->srv2022.n_users = sv->users->n;
	sv->srv2022.index = sv->users->by_hash;
	sv->srv2022.index_mask = sv->users->hash_mask;
}

/* A clone's own copy of the secret text (false: no memory, text is NULL). */
static bool dup_text(struct config_cipher *c)
{
	if (!c->text)
		return true;
	c->text = strdup(c->text);
	return c->text != NULL;
}

static void wipe_cipher(struct config_cipher *c);

/* A copy of n upstreams with their own secret texts; *out NULL if n is 0. */
static bool dup_upstreams(struct config_upstream **out, const struct config_upstream *src,
			  size_t n)
{
	*out = NULL;
	if (!n)
		return true;
	*out = malloc(n * sizeof(**out));
	if (!*out)
		return false;
	memcpy(*out, src, n * sizeof(**out));
	for (size_t i = 0; i < n; i++)
		(*out)[i].cipher.text = NULL;
	for (size_t i = 0; i < n; i++) {
		(*out)[i].cipher.text = src[i].cipher.text;
		if (!dup_text(&(*out)[i].cipher)) {
			(*out)[i].cipher.text = NULL;
			return false;
		}
	}
	return true;
}

void config_upstreams_free(struct config_upstream *ups, size_t n)
{
	for (size_t i = 0; ups && i < n; i++)
		wipe_cipher(&ups[i].cipher);
	free(ups);
}

/* A clone's client side (copied from its source): its own secrets, a reference to the ACL. */
static bool clone_client(struct config_client *cl)
{
	char *text = cl->cipher.text;

	memset(&cl->rt, 0, sizeof(cl->rt));
	config_acl_ref(cl->acl);
	cl->cipher.text = NULL;
	if (!dup_upstreams(&cl->ups, cl->ups, cl->n_ups))
		return false;
	cl->cipher.text = text;
	return dup_text(&cl->cipher);
}

struct config *config_clone(const struct config *src)
{
	struct config *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	memcpy(c, src, sizeof(*c));
	atomic_init(&c->refs, 1);
	c->servers = NULL;
	c->locals = NULL;
	c->tunnels = NULL;
	c->dns_proxies = NULL;
	c->n_servers = c->n_locals = c->n_tunnels = c->n_dns_proxies = 0;
	if (src->n_servers && !(c->servers = malloc(src->n_servers * sizeof(*c->servers))))
		goto fail;
	for (size_t i = 0; i < src->n_servers; i++) {
		c->servers[i] = src->servers[i];
		memset(&c->servers[i].rt, 0, sizeof(c->servers[i].rt));
		config_users_ref(c->servers[i].users);
		config_acl_ref(c->servers[i].acl);
		c->n_servers++;
		if (!dup_text(&c->servers[i].cipher))
			goto fail;
	}
	if (src->n_locals && !(c->locals = malloc(src->n_locals * sizeof(*c->locals))))
		goto fail;
	for (size_t i = 0; i < src->n_locals; i++) {
		struct config_local *lc = &c->locals[i];

		*lc = src->locals[i];
		lc->users = NULL; /* its own copy, below */
		c->n_locals++;
		if (!clone_client(&lc->cl) ||
		    (lc->n_users && !(lc->users = malloc(lc->n_users * sizeof(*lc->users)))))
			goto fail;
		if (lc->n_users)
			memcpy(lc->users, src->locals[i].users, lc->n_users * sizeof(*lc->users));
	}
	if (src->n_tunnels && !(c->tunnels = malloc(src->n_tunnels * sizeof(*c->tunnels))))
		goto fail;
	for (size_t i = 0; i < src->n_tunnels; i++) {
		c->tunnels[i] = src->tunnels[i];
		c->n_tunnels++;
		if (!clone_client(&c->tunnels[i].cl))
			goto fail;
	}
	if (src->n_dns_proxies &&
	    !(c->dns_proxies = malloc(src->n_dns_proxies * sizeof(*c->dns_proxies))))
		goto fail;
	for (size_t i = 0; i < src->n_dns_proxies; i++) {
		c->dns_proxies[i] = src->dns_proxies[i];
		c->n_dns_proxies++;
		if (!clone_client(&c->dns_proxies[i].cl))
			goto fail;
	}
	return c;
fail:
	config_free(c);
	free(c);
	return NULL;
}

void config_users_unref(struct config_users *us)
{
	if (!us || atomic_fetch_sub_explicit(&us->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t u = 0; us->u && u < us->n; u++) {
		free(us->u[u].name);
		if (us->u[u].secret) {
			explicit_bzero(us->u[u].secret, strlen(us->u[u].secret));
			free(us->u[u].secret);
		}
	}
	if (us->u)
		explicit_bzero(us->u, us->n * sizeof(*us->u));
	if (us->u2022)
		explicit_bzero(us->u2022, us->n * sizeof(*us->u2022));
	free(us->u);
	free(us->u2022);
	free(us->by_name);
	free(us->by_hash);
	free(us);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int64_t config_quota_period_start(enum quota_period p, int64_t t)
{
	int64_t days = (t >= 0 ? t : t - 86399) / 86400;
	int64_t z, era, y;
	unsigned doe, yoe, doy, mp, m;

	switch (p) {
	case QUOTA_DAY:
		return days * 86400;
	case QUOTA_MONTH:
		/* civil_from_days, then the first of that month. */
		z = days + 719468;
		era = (z >= 0 ? z : z - 146096) / 146097;
		doe = (unsigned)(z - era * 146097);
		yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
		y = (int64_t)yoe + era * 400;
		doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
		mp = (5 * doy + 2) / 153;
		m = mp < 10 ? mp + 3 : mp - 9;
		y += m <= 2;
		return days_from_civil(y, m, 1) * 86400;
	default:
		return 0;
	}
}

static void wipe_cipher(struct config_cipher *c)
{
	explicit_bzero(c->key, sizeof(c->key));
	explicit_bzero(&c->keys2022, sizeof(c->keys2022));
	if (c->text) {
		explicit_bzero(c->text, strlen(c->text));
		free(c->text);
		c->text = NULL;
	}
}

static void free_client(struct config_client *cl, int workers)
{
	wipe_cipher(&cl->cipher);
	config_acl_unref(cl->acl);
	config_upstreams_free(cl->ups, cl->n_ups);
	free_rt(&cl->rt, workers);
}

void config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_servers; i++) {
		struct config_server *sv = &cfg->servers[i];

		wipe_cipher(&sv->cipher);
		config_users_unref(sv->users);
		config_acl_unref(sv->acl);
		explicit_bzero(&sv->srv2022, sizeof(sv->srv2022));
		free_rt(&sv->rt, cfg->workers);
	}
	for (i = 0; i < cfg->n_locals; i++) {
		struct config_local *lc = &cfg->locals[i];

		if (lc->users)
			explicit_bzero(lc->users, lc->n_users * sizeof(*lc->users));
		free(lc->users);
		free_client(&lc->cl, cfg->workers);
	}
	for (i = 0; i < cfg->n_tunnels; i++)
		free_client(&cfg->tunnels[i].cl, cfg->workers);
	for (i = 0; i < cfg->n_dns_proxies; i++)
		free_client(&cfg->dns_proxies[i].cl, cfg->workers);
	free(cfg->servers);
	free(cfg->locals);
	free(cfg->tunnels);
	free(cfg->dns_proxies);
	explicit_bzero(cfg->api.token, sizeof(cfg->api.token));
	memset(cfg, 0, sizeof(*cfg));
}

struct config *config_new_file(const char *path, char *err, size_t err_len, int *ret)
{
	struct config *cfg = malloc(sizeof(*cfg));
	int r;

	if (!cfg) {
		snprintf(err, err_len, "%s: out of memory", path);
		r = -ENOMEM;
	} else {
		r = config_load_file(path, cfg, err, err_len);
	}
	if (ret)
		*ret = r;
	if (r) {
		free(cfg);
		return NULL;
	}
	cfg->generation = 1;
	atomic_init(&cfg->refs, 1);
	return cfg;
}

void config_ref(const struct config *cfg)
{
	struct config *c = (struct config *)cfg;

	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void config_unref(const struct config *cfg)
{
	struct config *c = (struct config *)cfg;

	if (!c)
		return;
	/* acq_rel: whoever frees it sees every other holder's last use. */
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
		config_free(c);
		free(c);
	}
}

bool config_same_listen(const struct hostport *a, const struct hostport *b)
{
	return a->addr_len == b->addr_len && !memcmp(&a->addr, &b->addr, a->addr_len);
}

const char *config_log_level_name(enum log_level l)
{
	if ((unsigned int)l < sizeof(config_log_level_names) / sizeof(config_log_level_names[0]) - 1)
		return config_log_level_names[l];
	return "unknown";
}

int config_cipher_method(struct config_cipher *c, const char *method, char *err, size_t err_len)
{
	/* none (shadowsocks-rust's and go-shadowsocks2's, alias plain): no cipher at all. */
	c->none = !strcmp(method, "none") || !strcmp(method, "plain");
	c->m2022 = ss2022_method_find(method);
	c->method = c->m2022 ? ss2022_chunk_method(c->m2022) : aead_method_find(method);
	if (c->method || c->none)
		return 0;
	snprintf(err, err_len,
		 "unknown method '%s' (known: %s 2022-blake3-aes-128-gcm 2022-blake3-aes-256-gcm "
		 "2022-blake3-chacha20-poly1305 none)",
		 method, aead_method_names());
	return -EINVAL;
}

int config_cipher_secret(struct config_cipher *c, const char *buf, size_t len, bool is_key,
			 char *err, size_t err_len)
{
	const struct aead_method *m = c->method;

	if (c->none) {
		snprintf(err, err_len, "method none has no cipher: it takes no password or key");
		return -EINVAL;
	}
	if (c->m2022) {
		/* 2022: the key is the PSK itself (or iPSK:...:uPSK), never a password. */
		if (!is_key) {
			snprintf(err, err_len, "%s needs a base64 key (key, key_file or key_env), not "
				 "a password; make one with: ssring genkey %s", c->m2022->name,
				 c->m2022->name);
			return -EINVAL;
		}
		if (ss2022_parse_keys(c->m2022, buf, &c->keys2022)) {
			snprintf(err, err_len, "must be the base64 encoding of exactly %u bytes (or "
				 "iPSK:...:uPSK for the AES methods), the key size of %s",
				 c->m2022->key_len, c->m2022->name);
			return -EINVAL;
		}
		memcpy(c->key, c->keys2022.psk, c->m2022->key_len);
	} else if (!is_key) {
		if (aead_password_to_key(m, buf, len, c->key)) {
			snprintf(err, err_len, "key derivation failed");
			return -EINVAL;
		}
	} else if (aead_key_from_base64(m, buf, c->key)) {
		snprintf(err, err_len, "must be the base64 encoding of exactly %u bytes, the key size "
			 "of %s", m->key_len, m->name);
		return -EINVAL;
	}
	free(c->text);
	c->text = strndup(buf, len);
	if (!c->text) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	c->text_is_key = is_key;
	return 0;
}

bool config_plugin_allowed(const struct config_plugins_allowed *pa, const char *cmd)
{
	if (!cmd[0])
		return true;
	if (!pa)
		return false;
	/* The list holds bare names only: a path is never one of them. */
	for (size_t i = 0; i < pa->n; i++)
		if (!strcmp(pa->name[i], cmd))
			return true;
	return false;
}

size_t config_sip008_vet(const struct config_plugins_allowed *pa, struct sip008_doc *d,
			 void (*skipped)(void *arg, const char *why), void *arg)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++) {
		struct sip008_server *s = &d->s[i];
		char why[CONFIG_PLUGIN_NAME_MAX + sizeof(s->remarks) + sizeof(s->host) +
			 sizeof(s->plugin) + 128];

		if (!s->usable || config_plugin_allowed(pa, s->plugin))
			continue;
		s->usable = false;
		d->n_usable--;
		n++;
		if (!skipped)
			continue;
		snprintf(why, sizeof(why), "servers[%zu] (%s%s%s:%u) names the plugin '%s', which "
			 "plugins_allowed does not list: skipped", i, s->remarks,
			 s->remarks[0] ? " at " : "", s->host, (unsigned)s->port, s->plugin);
		skipped(arg, why);
	}
	return n;
}

int config_take_sip008(const struct config_plugins_allowed *pa, struct hostport *server,
		       struct config_cipher *c, struct config_plugin *p,
		       const struct sip008_server *s, char *err, size_t err_len)
{
	struct config_cipher nc = { 0 };
	struct hostport hp;
	char buf[sizeof(s->host) + 16];

	/* Callers vet the document first; this is the last line all of them pass. */
	if (!config_plugin_allowed(pa, s->plugin)) {
		snprintf(err, err_len, "the plugin '%.200s' is not in plugins_allowed", s->plugin);
		return -EPERM;
	}
	snprintf(buf, sizeof(buf), strchr(s->host, ':') ? "[%s]:%u" : "%s:%u", s->host,
		 (unsigned)s->port);
	if (hostport_parse(buf, false, &hp)) {
		snprintf(err, err_len, "server '%s' is not a host name or an address", s->host);
		return -EINVAL;
	}
	if (config_cipher_method(&nc, s->method, err, err_len) ||
	    config_cipher_secret(&nc, s->password, strlen(s->password), nc.m2022 != NULL, err,
				 err_len)) {
		free(nc.text);
		explicit_bzero(&nc, sizeof(nc));
		return -EINVAL;
	}
	free(c->text);
	explicit_bzero(c, sizeof(*c));
	*c = nc;
	*server = hp;
	memset(p, 0, sizeof(*p));
	snprintf(p->cmd, sizeof(p->cmd), "%s", s->plugin);
	snprintf(p->opts, sizeof(p->opts), "%s", s->plugin_opts);
	return 0;
}

/* The first skipped server in full, then how many more (sub->note). */
struct skip_note {
	char *buf;
	size_t len, n;
};

static void note_skip(void *arg, const char *why)
{
	struct skip_note *sn = arg;

	size_t n = strnlen(why, sn->len - 1);

	if (!sn->n++) {
		memcpy(sn->buf, why, n);
		sn->buf[n] = '\0';
	}
}

int config_sip008_file(const char *path, const struct config_plugins_allowed *pa,
		       struct hostport *server, struct config_cipher *c, struct config_plugin *p,
		       struct config_sip008 *sub, char *err, size_t err_len)
{
	char why[sizeof(sub->note)], skips[sizeof(sub->note) - 64];
	struct skip_note sn = { skips, sizeof(skips), 0 };
	struct sip008_doc d;
	char *buf = NULL;
	size_t len = 0;
	/* The cache is ssring's own file: never read through a link someone
	 * put in its place (an operator's document file may be one). */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (path == sub->cache ? O_NOFOLLOW : 0));
	FILE *f = fd < 0 ? NULL : fdopen(fd, "r");
	int ret;

	if (!f) {
		ret = -errno;
		snprintf(err, err_len, "cannot open '%s': %s", path,
			 errno == ELOOP ? "a symbolic link, refused" : strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	buf = malloc(SIP008_DOC_MAX + 1);
	if (buf)
		len = fread(buf, 1, SIP008_DOC_MAX + 1, f);
	ret = !buf ? -ENOMEM : ferror(f) ? -EIO : 0;
	fclose(f);
	if (ret) {
		snprintf(err, err_len, "cannot read '%s'", path);
		free(buf);
		return ret;
	}
	ret = sip008_parse(buf, len, &d, why, sizeof(why));
	explicit_bzero(buf, len);
	free(buf);
	if (ret) {
		snprintf(err, err_len, "'%s': %s", path, why);
		return ret;
	}
	skips[0] = '\0';
	config_sip008_vet(pa, &d, note_skip, &sn);
	if (sn.n > 1)
		snprintf(why, sizeof(why), "%s (and %zu more)", skips, sn.n - 1);
	else
		snprintf(why, sizeof(why), "%s", skips);
	if (!d.n_usable) {
		snprintf(err, err_len, "'%s': no server left: %s", path, why);
		sip008_free(&d);
		return -EPERM;
	}
	ret = config_take_sip008(pa, server, c, p, sip008_first(&d), skips, sizeof(skips));
	if (ret) {
		snprintf(err, err_len, "'%s': the first usable server: %s", path, skips);
	} else {
		snprintf(sub->remarks, sizeof(sub->remarks), "%s", sip008_first(&d)->remarks);
		if (sn.n)
			snprintf(sub->note, sizeof(sub->note), "'%.160s': %.340s", path, why);
	}
	sip008_free(&d);
	return ret;
}

#define ACL_FILE_MAX (64u << 20)

struct config_acl *config_acl_load(const char *path, char *err, size_t err_len)
{
	struct config_acl *a = calloc(1, sizeof(*a));
	char why[300];
	FILE *f = NULL;
	char *buf = NULL;
	size_t len = 0;

	if (!a || !(buf = malloc(ACL_FILE_MAX + 1))) {
		snprintf(err, err_len, "out of memory");
		goto fail;
	}
	f = fopen(path, "re");
	if (!f) {
		snprintf(err, err_len, "cannot open '%s': %s", path, strerror(errno));
		goto fail;
	}
	len = fread(buf, 1, ACL_FILE_MAX + 1, f);
	if (ferror(f) || len > ACL_FILE_MAX) {
		snprintf(err, err_len, "'%s': %s", path, ferror(f) ? "read error" : "too large");
		goto fail;
	}
	if (acl_parse(buf, len, &a->acl, why, sizeof(why))) {
		/* "line 3: ..." becomes "FILE:3: ...", as configuration errors read */
		if (!strncmp(why, "line ", 5))
			snprintf(err, err_len, "%s:%s", path, why + 5);
		else
			snprintf(err, err_len, "'%s': %s", path, why);
		goto fail;
	}
	fclose(f);
	free(buf);
	atomic_init(&a->refs, 1);
	snprintf(a->path, sizeof(a->path), "%s", path);
	return a;
fail:
	if (f)
		fclose(f);
	free(buf);
	free(a);
	return NULL;
}

void config_acl_ref(struct config_acl *a)
{
	if (a)
		atomic_fetch_add(&a->refs, 1);
}

void config_acl_unref(struct config_acl *a)
{
	if (a && atomic_fetch_sub(&a->refs, 1) == 1) {
		acl_free(a->acl);
		free(a);
	}
}
