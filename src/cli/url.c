/* SPDX-License-Identifier: MIT */
/*
 * url — ssring url: the ss:// links (SIP002) of a configuration's servers,
 * optionally drawn as QR codes for phone clients, and the other way round,
 * the locals entry for a link. The QR code comes from Debian's libqrencode
 * (this file is the only one that includes it); it is drawn the way
 * `qrencode -t UTF8` draws it, two module rows per text line, light modules
 * as blocks and a quiet zone of four modules, so a phone scans it off a
 * dark terminal.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* explicit_bzero */
#endif
#include <getopt.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "conf/config.h"
#include "proto/sip002.h"

#define QR_MARGIN 4

static void url_usage(FILE *f)
{
	fprintf(f, "usage: ssring url -f FILE [--host HOST] [--qr]\n"
		   "       ssring url --config LINK [--listen ADDR]\n"
		   "  -f, --file FILE    print an ss:// link for every server in FILE (one per\n"
		   "                     user for servers with users)\n"
		   "  -H, --host HOST    the public host name or address clients connect to\n"
		   "                     (needed when a server listens on 0.0.0.0 or ::)\n"
		   "  -q, --qr           draw each link as a QR code too\n"
		   "  -c, --config LINK  print the locals entry that uses LINK\n"
		   "  -l, --listen ADDR  the SOCKS5 address of that entry (default 127.0.0.1:1080)\n");
}

/* One QR code of text on stdout, module for module as `qrencode -t UTF8`. */
static int print_qr(const char *text)
{
	static const char *const full = "\xe2\x96\x88", *upper = "\xe2\x96\x80",
				 *lower = "\xe2\x96\x84";
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
	int w, rw;

	if (!q) {
		fprintf(stderr, "ssring url: cannot make a QR code of a %zu-byte link\n",
			strlen(text));
		return -1;
	}
	w = q->width;
	rw = w + 2 * QR_MARGIN;
	for (int y = 0; y < QR_MARGIN / 2; y++) {
		for (int x = 0; x < rw; x++)
			fputs(full, stdout);
		fputc('\n', stdout);
	}
	for (int y = 0; y < w; y += 2) {
		const unsigned char *r1 = q->data + (size_t)y * (size_t)w;
		const unsigned char *r2 = y + 1 < w ? r1 + w : NULL;

		for (int x = 0; x < QR_MARGIN; x++)
			fputs(full, stdout);
		for (int x = 0; x < w; x++) {
			int top = r1[x] & 1, bottom = r2 ? r2[x] & 1 : 0;

			/* Dark modules are the terminal's background. */
			fputs(top && bottom ? " " : top ? lower : bottom ? upper : full, stdout);
		}
		for (int x = 0; x < QR_MARGIN; x++)
			fputs(full, stdout);
		fputc('\n', stdout);
	}
	for (int y = 0; y < QR_MARGIN / 2; y++) {
		for (int x = 0; x < rw; x++)
			fputs(full, stdout);
		fputc('\n', stdout);
	}
	QRcode_free(q);
	return 0;
}

static bool is_wildcard(const struct hostport *hp)
{
	return !strcmp(hp->host, "0.0.0.0") || !strcmp(hp->host, "::");
}

/* Print one link (and its QR code); -1 if it could not be made. */
static int emit(struct sip002 *l, bool qr)
{
	char out[SIP002_URI_MAX * 4];
	int n = sip002_format(l, out, sizeof(out));

	if (n < 0) {
		fprintf(stderr, "ssring url: the link for '%s' is too long\n", l->tag);
		return -1;
	}
	printf("%s\n", out);
	if (qr && print_qr(out))
		return -1;
	if (qr)
		printf("\n");
	explicit_bzero(out, sizeof(out));
	return 0;
}

/*
 * Keep the options of in whose name (before '=') passes keep(). SIP003
 * escapes ';' and '=' inside names and values with a backslash: an escaped
 * ';' does not end an option (sip003_opt_len), and kept ones are copied
 * with their escapes.
 */
static void filter_opts(const char *in, char *out, size_t cap, bool (*keep)(const char *, size_t))
{
	size_t o = 0, left = strlen(in);

	out[0] = '\0';
	while (left) {
		size_t name, n = sip003_opt_len(in, left, &name);

		if (n && keep(in, name) && o + n + 2 < cap) {
			if (o)
				out[o++] = ';';
			memcpy(out + o, in, n);
			o += n;
			out[o] = '\0';
		}
		n += n < left; /* and its ';' */
		in += n;
		left -= n;
	}
}

static bool opt_is(const char *s, size_t n, const char *name)
{
	return n == strlen(name) && !memcmp(s, name, n);
}

static bool obfs_client_opt(const char *s, size_t n)
{
	return opt_is(s, n, "obfs") || opt_is(s, n, "obfs-host") || opt_is(s, n, "obfs-uri");
}

static bool v2ray_client_opt(const char *s, size_t n)
{
	return !opt_is(s, n, "server") && !opt_is(s, n, "cert") && !opt_is(s, n, "key") &&
	       !opt_is(s, n, "certRaw");
}

/*
 * The plugin a client needs for a server's plugin: simple-obfs' server
 * half is obfs-server and its client obfs-local (client options only);
 * v2ray-plugin is one binary, a server by its "server" option. Others are
 * given as they are, with a warning.
 */
static void client_plugin(const struct config_plugin *p, size_t i, struct sip002 *l)
{
	const char *base = strrchr(p->cmd, '/') ? strrchr(p->cmd, '/') + 1 : p->cmd;

	if (!strcmp(base, "obfs-server")) {
		snprintf(l->plugin, sizeof(l->plugin), "obfs-local");
		filter_opts(p->opts, l->plugin_opts, sizeof(l->plugin_opts), obfs_client_opt);
	} else if (strstr(base, "v2ray-plugin")) {
		/* Phone clients know it as v2ray-plugin (Debian's binary is ss-v2ray-plugin;
		 * ssring's local accepts either name). */
		snprintf(l->plugin, sizeof(l->plugin), "v2ray-plugin");
		filter_opts(p->opts, l->plugin_opts, sizeof(l->plugin_opts), v2ray_client_opt);
	} else {
		snprintf(l->plugin, sizeof(l->plugin), "%s", base);
		snprintf(l->plugin_opts, sizeof(l->plugin_opts), "%s", p->opts);
		fprintf(stderr, "ssring url: warning: servers[%zu]: the link names the plugin '%s' "
			"with the server's options; check what its clients need\n", i, base);
	}
}

/* The links of server i. Returns how many were printed, -1 on an error. */
static int server_links(const struct config_server *sv, size_t i, const char *host, bool qr)
{
	const struct config_cipher *c = &sv->cipher;
	const char *method;
	struct sip002 l;
	int printed = 0;

	if (c->none) {
		/* SIP002 has no form without a password that clients agree on. */
		fprintf(stderr, "ssring url: warning: servers[%zu] (line %d) has method none, "
			"which an ss:// link cannot carry (a link holds a password); skipped\n", i,
			sv->line);
		return 0;
	}
	method = c->m2022 ? c->m2022->name : c->method->name;

	memset(&l, 0, sizeof(l));
	snprintf(l.method, sizeof(l.method), "%s", method);
	snprintf(l.host, sizeof(l.host), "%s", host);
	l.port = sv->listen.port;
	if (sv->plugin.cmd[0])
		client_plugin(&sv->plugin, i, &l);
	if (!sv->users) {
		if (!c->text || (c->text_is_key && !c->m2022)) {
			fprintf(stderr, "ssring url: warning: servers[%zu] (line %d) is configured by "
				"key, which an ss:// link cannot carry (a link holds the password); "
				"skipped\n", i, sv->line);
			return 0;
		}
		snprintf(l.secret, sizeof(l.secret), "%s", c->text);
		snprintf(l.tag, sizeof(l.tag), "%s", sv->name);
		printed = emit(&l, qr) ? -1 : 1;
		explicit_bzero(&l, sizeof(l));
		return printed;
	}
	for (size_t u = 0; u < sv->users->n; u++) {
		const struct config_srv_user *us = &sv->users->u[u];
		int n;

		if (!c->m2022 && us->is_key) {
			fprintf(stderr, "ssring url: warning: user '%s' of servers[%zu] (line %d) is "
				"configured by key, which an ss:// link cannot carry; skipped\n",
				us->name, i, sv->line);
			continue;
		}
		/* 2022 with identity headers: the client holds iPSK:uPSK. */
		n = c->m2022 ? snprintf(l.secret, sizeof(l.secret), "%s:%s", c->text, us->secret)
			     : snprintf(l.secret, sizeof(l.secret), "%s", us->secret);
		if (n < 0 || (size_t)n >= sizeof(l.secret)) {
			fprintf(stderr, "ssring url: the secret of user '%s' is too long for a link\n",
				us->name);
			return -1;
		}
		snprintf(l.tag, sizeof(l.tag), "%s", us->name);
		if (emit(&l, qr))
			return -1;
		printed++;
	}
	explicit_bzero(&l, sizeof(l));
	return printed;
}

static int links_of_file(const char *path, const char *host, bool qr)
{
	char err[CONFIG_ERR_BYTES];
	struct config cfg;
	int total = 0, ret = 0;

	if (config_load_file(path, &cfg, err, sizeof(err))) {
		fprintf(stderr, "ssring url: %s\n", err);
		return 2;
	}
	if (cfg.n_servers == 0) {
		fprintf(stderr, "ssring url: %s has no servers to make links for\n", path);
		config_free(&cfg);
		return 1;
	}
	for (size_t i = 0; i < cfg.n_servers && !ret; i++) {
		const struct config_server *sv = &cfg.servers[i];
		int n;

		if (!host && is_wildcard(&sv->listen)) {
			fprintf(stderr, "ssring url: servers[%zu] (line %d) listens on %s, which "
				"clients cannot connect to: give the public host with --host\n", i,
				sv->line, sv->listen.host);
			ret = 2;
			break;
		}
		n = server_links(sv, i, host ? host : sv->listen.host, qr);
		if (n < 0)
			ret = 1;
		else
			total += n;
	}
	config_free(&cfg);
	if (!ret && total == 0) {
		fprintf(stderr, "ssring url: no server of %s can be given as a link\n", path);
		ret = 1;
	}
	return ret;
}

/* A libconfig string literal: quotes and backslashes escaped, others as \xNN. */
static void put_cfg_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* Is cmd one of the default plugins_allowed (a bare name, never a path)? */
static bool default_plugin(const char *cmd)
{
	for (size_t i = 0; config_plugins_default[i]; i++)
		if (!strcmp(config_plugins_default[i], cmd))
			return true;
	return false;
}

static int local_of_link(const char *link, const char *listen)
{
	const char *why = "";
	struct sip002 l;
	char hp[SIP002_HOST_MAX + 16];
	bool is2022;

	if (sip002_parse(link, strlen(link), &l, &why)) {
		fprintf(stderr, "ssring url: not a usable ss:// link: %s\n", why);
		return 2;
	}
	is2022 = ss2022_method_find(l.method) != NULL;
	if (!is2022 && !aead_method_find(l.method)) {
		fprintf(stderr, "ssring url: the link's method '%s' is not one ssring knows (%s "
			"2022-blake3-aes-128-gcm 2022-blake3-aes-256-gcm "
			"2022-blake3-chacha20-poly1305)\n", l.method, aead_method_names());
		explicit_bzero(&l, sizeof(l));
		return 2;
	}
	snprintf(hp, sizeof(hp), strchr(l.host, ':') ? "[%s]:%u" : "%s:%u", l.host,
		 (unsigned)l.port);
	if (l.tag[0]) {
		/* A comment line: the tag must not end it early. */
		printf("# ");
		for (const char *t = l.tag; *t; t++)
			putchar(*t == '\n' || *t == '\r' ? ' ' : *t);
		printf("\n");
	}
	printf("locals = (\n  {\n    listen = ");
	put_cfg_string(listen);
	printf(";\n    server = ");
	put_cfg_string(hp);
	printf(";\n    method = ");
	put_cfg_string(l.method);
	printf(";\n    %s = ", is2022 ? "key" : "password");
	put_cfg_string(l.secret);
	printf(";\n");
	if (l.plugin[0]) {
		/* The link's author named a program this entry would run: one that is not a
		 * well-known client plugin stays commented out until the operator says so. */
		const char *off = "";

		if (!default_plugin(l.plugin)) {
			fprintf(stderr, "ssring url: warning: the link names the plugin '%s', "
				"which is not a well-known client plugin (a program ssring would "
				"run); the entry has it commented out: uncomment it only if it is "
				"the program you mean\n", l.plugin);
			off = "# ";
		}
		printf("    %splugin = ", off);
		put_cfg_string(l.plugin);
		printf(";\n");
		if (l.plugin_opts[0]) {
			printf("    %splugin_opts = ", off);
			put_cfg_string(l.plugin_opts);
			printf(";\n");
		}
	}
	printf("  }\n);\n");
	explicit_bzero(&l, sizeof(l));
	return 0;
}

int cli_url(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },   { "host", required_argument, NULL, 'H' },
		{ "qr", no_argument, NULL, 'q' },	    { "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *file = NULL, *host = NULL, *link = NULL, *listen = "127.0.0.1:1080";
	bool qr = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:H:qc:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 'H': host = optarg; break;
		case 'q': qr = true; break;
		case 'c': link = optarg; break;
		case 'l': listen = optarg; break;
		case 'h': url_usage(stdout); return 0;
		default: url_usage(stderr); return 2;
		}
	}
	if (optind != argc || !file == !link || (link && (host || qr))) {
		url_usage(stderr);
		return 2;
	}
	if (host && (!host[0] || strlen(host) >= SIP002_HOST_MAX || strpbrk(host, "/?#@[] "))) {
		fprintf(stderr, "ssring url: --host wants a host name or an address, without "
			"brackets or a port\n");
		return 2;
	}
	return link ? local_of_link(link, listen) : links_of_file(file, host, qr);
}
