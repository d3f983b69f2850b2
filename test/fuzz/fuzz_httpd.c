/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: whole requests to the management API (and the metrics
 * endpoint), from bytes to the answer's bytes, without sockets: each
 * request is delivered in pieces to httpd_consider() exactly as ctl/httpd.c
 * delivers what it receives (the head, Content-Length and the body
 * assembled, 400/411/413/431 of its own), then api_handle()'s checks
 * (Host, Origin, Content-Type, the token), routing and JSON, and the
 * snapshot code of a change (clone, overlay, rebuild of the users).
 *
 * The control loop is a stand-in: a change's snapshot becomes the current
 * one at once (no workers, no module prepare), the state file is not
 * written. Every input starts from the configuration's own users.
 *
 * Input: byte 0 picks the listener: bit 0 a Unix socket without a token
 * (else TCP with a token and allowed_hosts), bit 1 the metrics endpoint
 * (else the API). Then requests, each: u8 piece (bytes per delivery; 0 =
 * all at once), u16 length (little-endian), the request's bytes.
 *
 * Oracles besides ASan/UBSan: every answer is a well-formed response
 * (status line, a Content-Length equal to the body, none with 204); on TCP
 * no request without the token's bytes gets a 2xx; after every input the
 * API's users and the current snapshot's agree.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/ctl/api_int.h"
#include "conf/config.h"
#include "core/log.h"
#include "ctl/api.h"
#include "ctl/httpd.h"
#include "ctl/metrics.h"
#include "dns/dns.h"
#include "relay/limits.h"
#include "relay/stats.h"
#include "relay/users.h"

#define TOKEN "fuzz-httpd-token-0123456789abcdef"
#define MTOKEN "fuzz-metrics-token-0123456789abc"

static struct loop L;
static struct config *base[2]; /* TCP with a token; a Unix socket without */
static uint8_t *in;
static struct loop_module *const MODS[] = { &dns_module, &relay_module, &users_module,
					    &limits_module };
#define N_MODS (sizeof(MODS) / sizeof(MODS[0]))

static int no_prepare(const struct config *old, struct config *cfg)
{
	(void)old, (void)cfg;
	return 0;
}

static int adopt(struct loop *l, struct config *cfg)
{
	config_unref(l->cfg);
	l->cfg = cfg;
	return 0;
}

static int no_save(const struct config *cfg)
{
	(void)cfg;
	return 0;
}

static const struct api_ops ops = { .prepare = no_prepare, .publish = adopt, .save = no_save };

static struct config *load(bool unix_api)
{
	char text[4096], err[CONFIG_ERR_BYTES];
	struct config *c = malloc(sizeof(*c));

	snprintf(text, sizeof(text),
		 "workers = 1;\nlog_level = \"error\";\n"
		 "dns = { servers = [ \"127.0.0.1:9\" ]; };\n"
		 "metrics = { listen = \"127.0.0.1:16002\"; %s };\n"
		 "api = { listen = \"%s\"; %s allowed_hosts = [ \"relay.example.com\" ]; };\n"
		 "servers = (\n"
		 " { name = \"edge\"; listen = \"127.0.0.1:18388\"; method = \"aes-256-gcm\";\n"
		 "   user_limits = { quota = \"1 GB\"; };\n"
		 "   users = ( { name = \"cfguser\"; password = \"pw-cfg\"; } ); },\n"
		 " { name = \"eih\"; listen = \"127.0.0.1:18389\";\n"
		 "   method = \"2022-blake3-aes-128-gcm\";\n"
		 "   key = \"ZmVkY2JhOTg3NjU0MzIxMA==\"; users = ( ); },\n"
		 " { name = \"solo\"; listen = \"127.0.0.1:18390\"; method = \"aes-256-gcm\";\n"
		 "   password = \"x\"; } );\n",
		 unix_api ? "" : "token = \"" MTOKEN "\";",
		 unix_api ? "unix:/nonexistent/api.sock" : "127.0.0.1:16001",
		 unix_api ? "" : "token = \"" TOKEN "\";");
	if (!c || config_load_string(text, "fuzz-httpd.cfg", c, err, sizeof(err))) {
		fprintf(stderr, "fuzz_httpd: config: %s\n", err);
		abort();
	}
	c->generation = 1;
	atomic_init(&c->refs, 1);
	return c;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	log_set_level((enum log_level)-1);
	base[0] = load(false);
	base[1] = load(true);
	for (size_t i = 0; i < N_MODS; i++)
		if (MODS[i]->setup && MODS[i]->setup(base[0]))
			abort();
	for (int b = 0; b < 2; b++)
		for (size_t i = 0; i < N_MODS; i++)
			if (MODS[i]->prepare && MODS[i]->prepare(NULL, base[b]))
				abort();
	in = malloc(api_limits.max_head + api_limits.max_body);
	if (!in)
		abort();
	return 0;
}

/* A well-formed response: its status. */
static int check_answer(const char *out, size_t len)
{
	const char *end = memmem(out, len, "\r\n\r\n", 4), *cl;
	size_t hl;
	int status;

	if (len < 13 || memcmp(out, "HTTP/1.1 ", 9) || out[12] != ' ' || !end)
		abort();
	status = atoi(out + 9);
	if (status < 200 || status > 599)
		abort();
	hl = (size_t)(end + 4 - out);
	cl = memmem(out, hl, "\r\nContent-Length: ", 18);
	if (!cl || strtoul(cl + 18, NULL, 10) != len - hl || (status == 204 && len != hl))
		abort();
	return status;
}

/* The API's users and the snapshot's agree. */
static void check_consistent(void)
{
	for (size_t i = 0; i < L.cfg->n_servers; i++) {
		const struct config_server *sv = &L.cfg->servers[i];
		const struct ssm_state_server *ov = overlay_server(sv->name, false);

		if (!sv->users)
			continue;
		for (size_t u = 0; u < sv->users->n; u++)
			if (sv->users->u[u].from_api && overlay_find(ov, sv->users->u[u].name) < 0)
				abort();
		for (size_t k = 0; ov && k < ov->n_users; k++) {
			int u = config_users_find(sv->users, ov->users[k].username);

			if (u < 0 || !sv->users->u[u].from_api)
				abort();
		}
	}
}

static void one(bool metrics, bool tcp, const uint8_t *req, size_t len, size_t piece)
{
	const struct httpd_limits *lim = metrics ? &metrics_limits : &api_limits;
	size_t cap = lim->max_head + lim->max_body, got = 0;
	char *out = NULL;
	size_t out_len = 0;
	int r = -EAGAIN, status;

	while (r == -EAGAIN && got < len && got < cap) {
		size_t n = piece ? piece : len;

		if (n > len - got)
			n = len - got;
		if (n > cap - got)
			n = cap - got;
		memcpy(in + got, req + got, n);
		got += n;
		r = httpd_consider(&L, lim, metrics ? metrics_handle : api_handle, (void *)&ops, in,
				   got, &out, &out_len);
	}
	if (r == -EAGAIN)
		return; /* the client went away before the end of its request */
	if (r)
		abort(); /* no allocation fails here: -ENOMEM is a bug */
	status = check_answer(out, out_len);
	free(out);
	/* Without the token's bytes nothing succeeds over TCP. */
	if (tcp && status < 300 &&
	    !memmem(req, got, metrics ? MTOKEN : TOKEN, strlen(metrics ? MTOKEN : TOKEN)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1, *end = data + size;
	bool unix_api, metrics;

	if (size < 1)
		return 0;
	unix_api = data[0] & 1;
	metrics = data[0] & 2;
	/* From the configuration's own users: no API user, no baseline. */
	api_module.teardown();
	L.cfg = base[unix_api];
	config_ref(L.cfg);
	while (end - p >= 3) {
		size_t piece = p[0], len = (size_t)p[1] | (size_t)p[2] << 8;

		p += 3;
		if (len > (size_t)(end - p))
			len = (size_t)(end - p);
		one(metrics, !unix_api, p, len, piece);
		p += len;
	}
	check_consistent();
	config_unref(L.cfg);
	L.cfg = NULL;
	return 0;
}
