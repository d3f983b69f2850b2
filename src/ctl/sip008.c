/* SPDX-License-Identifier: MIT */
/*
 * sip008 — servers_url kept current on the control loop (ctl/sip008.h).
 *
 * One subscription per distinct (url, ca, cache, refresh). Its last good
 * document lives here, so that reloads and API changes, which build their
 * snapshots from the file, get the fetched server back (the module's
 * pre_prepare, before the plugins' ports are picked). A new document that
 * differs from the last one is written to servers_cache and committed as a
 * new snapshot generation.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* explicit_bzero */
#endif
#include "ctl/sip008.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/timer.h"
#include "ctl/fetch.h"
#include "ctl_int.h"
#include "proto/sip008.h"

#define CHECK_MS 1000

struct sub {
	struct sub *next;
	struct config_sip008 c;      /* url, cache, ca, refresh */
	bool is_file, wanted;
	char *doc;                   /* the last good document */
	size_t doc_len;
	uint64_t next_ms;
	struct fetch *f;
};

static struct sub *subs;
static struct timer tick;
static struct sip008_stats stats;

static bool same_sub(const struct sub *s, const struct config_sip008 *c)
{
	return !strcmp(s->c.url, c->url) && !strcmp(s->c.ca, c->ca) &&
	       !strcmp(s->c.cache, c->cache) && s->c.refresh == c->refresh;
}

static struct sub *find(const struct config_sip008 *c)
{
	for (struct sub *s = subs; s; s = s->next)
		if (same_sub(s, c))
			return s;
	return NULL;
}

/* Each local and tunnel entry with a servers_url. */
typedef void (*entry_fn)(void *arg, struct config_sip008 *sub, struct hostport *server,
			 struct hostport *tcp_server, struct config_cipher *c,
			 struct config_plugin *p, struct config_upstream **ups, size_t *n_ups,
			 int line);

static void each_entry(struct config *cfg, entry_fn fn, void *arg)
{
	for (size_t i = 0; i < cfg->n_locals; i++) {
		struct config_local *e = &cfg->locals[i];

		if (e->cl.sub.url[0])
			fn(arg, &e->cl.sub, &e->cl.server, &e->cl.tcp_server, &e->cl.cipher, &e->cl.plugin, &e->cl.ups,
			   &e->cl.n_ups, e->cl.line);
	}
	for (size_t i = 0; i < cfg->n_tunnels; i++) {
		struct config_tunnel *e = &cfg->tunnels[i];

		if (e->cl.sub.url[0])
			fn(arg, &e->cl.sub, &e->cl.server, &e->cl.tcp_server, &e->cl.cipher, &e->cl.plugin, &e->cl.ups,
			   &e->cl.n_ups, e->cl.line);
	}
}

/*
 * A document with several usable servers: all of them (up to 32, in the
 * document's order, each with its plugin) become the entry's upstreams
 * (relay/upstream.h), and the entry's own plugin (the first server's) is
 * dropped; with one, the first alone is used. The entry's old upstreams go
 * either way.
 */
static void take_upstreams(const struct config *cfg, const struct sip008_doc *d,
			   struct config_upstream **ups, size_t *n_ups, struct config_plugin *p,
			   int line, const char *url)
{
	struct config_upstream *u;
	struct config_plugin np;
	char err[256];
	size_t n = 0;

	config_upstreams_free(*ups, *n_ups);
	*ups = NULL;
	*n_ups = 0;
	if (d->n_usable < 2 || !(u = calloc(32, sizeof(*u))))
		return;
	for (size_t i = 0; i < d->n && n < 32; i++) {
		if (!d->s[i].usable)
			continue;
		memset(&np, 0, sizeof(np));
		if (config_take_sip008(&cfg->plugins_allowed, &u[n].server, &u[n].cipher, &np,
				       &d->s[i], err, sizeof(err)) == 0) {
			u[n].plugin = np;
			u[n].tcp_server = u[n].server;
			n++;
		} else {
			log_warn("line %d: servers_url %s: %s", line, url, err);
		}
	}
	if (n < 2) {
		config_upstreams_free(u, n);
		return;
	}
	*ups = u;
	*n_ups = n;
	memset(p, 0, sizeof(*p));
}

static void fill_entry(void *arg, struct config_sip008 *sub, struct hostport *server,
		       struct hostport *tcp_server, struct config_cipher *c,
		       struct config_plugin *p, struct config_upstream **ups, size_t *n_ups,
		       int line)
{
	const struct config *cfg = arg;
	const struct sub *s = find(sub);
	struct sip008_doc d;
	char err[256];

	if (!s || !s->doc)
		return;
	if (sip008_parse(s->doc, s->doc_len, &d, err, sizeof(err)) == 0) {
		/* Vetted again: plugins_allowed may have changed with a reload (on_document
		 * logged what it skipped). A document with nothing left was never kept. */
		config_sip008_vet(&cfg->plugins_allowed, &d, NULL, NULL);
		if (d.n_usable &&
		    config_take_sip008(&cfg->plugins_allowed, server, c, p, sip008_first(&d), err,
				       sizeof(err)) == 0) {
			*tcp_server = *server;
			snprintf(sub->remarks, sizeof(sub->remarks), "%s", sip008_first(&d)->remarks);
			take_upstreams(cfg, &d, ups, n_ups, p, line, sub->url);
		} else if (d.n_usable) {
			log_warn("line %d: servers_url %s: %s", line, sub->url, err);
		}
		sip008_free(&d);
	}
}

/*
 * pre_prepare: the newest good document's first usable server into every
 * entry of cfg that names its URL; entries whose URL has no document yet
 * keep what the loader gave them. main.c registers this module before
 * plugin: a document's server may bring a plugin, whose loopback port
 * plugin's pre_prepare then picks.
 */
static int sip008_fill(const struct config *old, struct config *cfg)
{
	(void)old;
	each_entry(cfg, fill_entry, cfg);
	return 0;
}

void sip008_get_stats(struct sip008_stats *out)
{
	*out = stats;
}

/* A new snapshot with the new document's server (like an API change): its generation, or 0. */
static uint64_t publish(struct loop *l)
{
	char err[128];

	/* A clone of the current one: the pre_prepare hook above puts the server in. */
	if (ctl_commit(l, NULL, NULL, err, sizeof(err))) {
		log_error("servers_url: %s", err);
		return 0;
	}
	return l->cfg->generation;
}

static void log_skip(void *arg, const char *why)
{
	const struct sub *s = arg;

	log_warn("servers_url %s: %s", s->c.url, why);
}

static void on_document(struct loop *l, struct sub *s, const char *text, size_t len)
{
	const struct sip008_server *first;
	bool same = s->doc && s->doc_len == len && !memcmp(s->doc, text, len);
	struct sip008_doc d;
	char err[256];
	uint64_t gen;
	char *copy;

	if (sip008_parse(text, len, &d, err, sizeof(err))) {
		stats.fetch_failed++;
		log_warn("servers_url %s: not a usable SIP008 document: %s; keeping the servers in "
			 "use", s->c.url, err);
		return;
	}
	/* The provider names programs: only those the operator allows run (said once
	 * per document, not at every refresh). */
	config_sip008_vet(&l->cfg->plugins_allowed, &d, same ? NULL : log_skip, s);
	if (!d.n_usable) {
		stats.fetch_failed++;
		log_warn("servers_url %s: no server left once those whose plugin is not allowed "
			 "are skipped; keeping the servers in use", s->c.url);
		sip008_free(&d);
		return;
	}
	stats.fetch_ok++;
	first = sip008_first(&d);
	if (same) {
		log_debug("servers_url %s: unchanged", s->c.url);
		sip008_free(&d);
		return;
	}
	copy = malloc(len ? len : 1);
	if (!copy) {
		sip008_free(&d);
		return;
	}
	memcpy(copy, text, len);
	if (s->doc) {
		explicit_bzero(s->doc, s->doc_len);
		free(s->doc);
	}
	s->doc = copy;
	s->doc_len = len;
	stats.changes++;
	if (s->c.cache[0]) {
		int r = ctl_replace_file(s->c.cache, text, len, false);

		if (r)
			log_warn("servers_url %s: cannot write servers_cache %s: %s", s->c.url,
				 s->c.cache, strerror(-r));
	}
	gen = publish(l);
	log_info("servers_url %s: %zu server(s), %zu usable; using %s%s%s:%u (%s)%s%s%s; "
		 "configuration generation %llu", s->c.url, d.n, d.n_usable,
		 first->remarks[0] ? first->remarks : "", first->remarks[0] ? " at " : "",
		 first->host, (unsigned)first->port, first->method,
		 first->plugin[0] ? ", plugin " : "", first->plugin,
		 d.n_usable > 1 ? " and the others as upstreams (several servers)" : "",
		 (unsigned long long)gen);
	sip008_free(&d);
}

static void on_fetched(struct loop *l, void *arg, int err, const char *why, int status,
		       const uint8_t *body, size_t len)
{
	struct sub *s = arg;

	s->f = NULL;
	s->next_ms = l->now_ms + (uint64_t)s->c.refresh * 1000;
	if (err == -ECANCELED)
		return;
	if (err) {
		stats.fetch_failed++;
		log_warn("servers_url %s: fetch failed: %s; keeping the servers in use (next try "
			 "in %u s)", s->c.url, why ? why : strerror(-err), s->c.refresh);
		return;
	}
	if (status != 200) {
		stats.fetch_failed++;
		log_warn("servers_url %s: HTTP status %d; keeping the servers in use (next try in "
			 "%u s)", s->c.url, status, s->c.refresh);
		return;
	}
	on_document(l, s, (const char *)body, len);
}

static void read_file(struct loop *l, struct sub *s)
{
	FILE *f = fopen(s->c.url, "re");
	char *buf;
	size_t len;

	s->next_ms = l->now_ms + (uint64_t)s->c.refresh * 1000;
	if (!f) {
		stats.fetch_failed++;
		log_warn("servers_url %s: %s; keeping the servers in use", s->c.url, strerror(errno));
		return;
	}
	buf = malloc(SIP008_DOC_MAX + 1);
	len = buf ? fread(buf, 1, SIP008_DOC_MAX + 1, f) : 0;
	fclose(f);
	if (buf)
		on_document(l, s, buf, len);
	free(buf);
}

static void on_tick(struct loop *l, struct timer *t)
{
	for (struct sub *s = subs; s; s = s->next) {
		if (s->f || l->now_ms < s->next_ms || l->stopping)
			continue;
		if (s->is_file) {
			read_file(l, s);
			continue;
		}
		s->f = fetch_start(l, s->c.url, s->c.ca, SIP008_DOC_MAX, on_fetched, s);
		if (!s->f)
			s->next_ms = l->now_ms + (uint64_t)s->c.refresh * 1000;
	}
	timer_arm(&l->wheel, t, l->now_ms + CHECK_MS);
}

static void add_entry(void *arg, struct config_sip008 *sub, struct hostport *server,
		      struct hostport *tcp_server, struct config_cipher *c,
		      struct config_plugin *p, struct config_upstream **ups, size_t *n_ups,
		      int line)
{
	struct loop *l = arg;
	struct sub *s = find(sub);

	(void)server;
	(void)tcp_server;
	(void)c;
	(void)p;
	(void)ups;
	(void)n_ups;
	if (sub->note[0])
		log_warn("line %d: %s", line, sub->note);
	if (s) {
		s->wanted = true;
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		log_error("servers_url %s: out of memory", sub->url);
		return;
	}
	s->c = *sub;
	s->is_file = strncasecmp(sub->url, "https://", 8) != 0;
	s->wanted = true;
	/* https: fetch at once; a file was just read by the loader */
	s->next_ms = l->now_ms + (s->is_file ? (uint64_t)sub->refresh * 1000 : 0);
	s->next = subs;
	subs = s;
	if (!server->port)
		log_info("line %d: no server until %s is fetched", line, sub->url);
}

static void drop_sub(struct loop *l, struct sub *s)
{
	if (s->f)
		fetch_cancel(l, s->f);
	if (s->doc) {
		explicit_bzero(s->doc, s->doc_len);
		free(s->doc);
	}
	free(s);
}

static void sync_subs(struct loop *l)
{
	for (struct sub *s = subs; s; s = s->next)
		s->wanted = false;
	each_entry((struct config *)l->cfg, add_entry, l);
	for (struct sub **pp = &subs; *pp;) {
		struct sub *s = *pp;

		if (s->wanted) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		drop_sub(l, s);
	}
}

static int sip008_init(struct loop *l)
{
	timer_init_fn(&tick, on_tick);
	sync_subs(l);
	return 0;
}

static void sip008_start(struct loop *l)
{
	timer_arm(&l->wheel, &tick, l->now_ms + 1);
}

static void sip008_reconfig(struct loop *l, const struct config *old)
{
	(void)old;
	sync_subs(l);
}

static void sip008_stop(struct loop *l)
{
	timer_cancel(&tick);
	for (struct sub *s = subs; s; s = s->next)
		if (s->f) {
			fetch_cancel(l, s->f);
			s->f = NULL;
		}
}

static void sip008_destroy(struct loop *l)
{
	timer_cancel(&tick);
	while (subs) {
		struct sub *s = subs;

		subs = s->next;
		s->f = NULL; /* the fetch module frees its own */
		drop_sub(l, s);
	}
}

struct loop_module sip008_module = {
	.name = "sip008",
	.pre_prepare = sip008_fill,
	.init = sip008_init,
	.start = sip008_start,
	.stop = sip008_stop,
	.destroy = sip008_destroy,
	.reconfig = sip008_reconfig,
};
