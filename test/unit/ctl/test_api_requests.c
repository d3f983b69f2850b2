/* SPDX-License-Identifier: MIT */
/*
 * Whole requests through the management API and the metrics endpoint,
 * without sockets: bytes (whole, and cut at every point) through
 * httpd_consider() — what ctl/httpd.c does with what it receives — to
 * api_handle() and metrics_handle(), and the answer's bytes back.
 *
 *   - every endpoint's status, on the real snapshot code (ctl_commit:
 *     clone, overlay, the relay, users and limits modules' prepare; a
 *     stand-in publish that adopts the snapshot as the control loop would);
 *   - what a web page in a browser on the host could send is refused: a
 *     text/plain POST (and no user is added), Host evil.example, a
 *     rebinding Host, Origin http://evil.example; the metrics token;
 *   - failing allocations: malloc, calloc, realloc, strdup and strndup are
 *     wrapped at link time (test/CMakeLists.txt) and jansson allocates
 *     through them too (but in its parser, below); for every N up to the
 *     number of allocations a sequence of requests makes, the sequence
 *     runs again with the Nth one failing. Each answer must be well-formed
 *     (or none at all: -ENOMEM closes the connection), nothing may crash
 *     or leak (ASan in the Sanitize build), and afterwards the API users
 *     and the snapshot agree, the state file names the same users unless
 *     a write of it failed since, and the API still answers;
 *   - the configuration: a token-less TCP api.listen names its line; and
 *     ctl_replace_file, the state file's and servers_cache's writer.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "../../../src/ctl/api_int.h"
#include "../../../src/ctl/ctl_int.h"
#include "conf/config.h"
#include "core/log.h"
#include "ctl/api.h"
#include "ctl/httpd.h"
#include "ctl/metrics.h"
#include "dns/dns.h"
#include "relay/limits.h"
#include "relay/stats.h"
#include "relay/users.h"

/* ---- the failing allocator ------------------------------------------------------------ */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t k);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

static bool armed;         /* count (and fail) allocations */
static long allocs;        /* made since armed */
static long fail_at;       /* this one fails (0: none) ... */
static long fail_run = 1;  /* ... and so many from it on (LONG_MAX: memory has run out) */
static bool failed;        /* it happened */

static bool fail_now(void)
{
	if (!armed)
		return false;
	allocs++;
	if (!fail_at || allocs < fail_at || allocs - fail_at >= fail_run)
		return false;
	failed = true;
	return true;
}

void *__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t k)
{
	return fail_now() ? NULL : __real_calloc(n, k);
}

void *__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return fail_now() ? NULL : __real_strndup(s, n);
}

/* ---- the control loop's stand-in -------------------------------------------------------- */

#define TOKEN "api-requests-test-token-0123456789"
#define MTOKEN "metrics-requests-test-token-01234"
#define UPSK "MDEyMzQ1Njc4OWFiY2RlZg=="   /* 16 bytes: an aes-128 2022 key */
#define IPSK "ZmVkY2JhOTg3NjU0MzIxMA=="

static struct loop L;
static struct config *base;
static char state_path[256];
/* The modules a change prepares, and dns for the metrics' counters. */
static struct loop_module *const MODS[] = { &dns_module, &relay_module, &users_module,
					    &limits_module };
#define N_MODS (sizeof(MODS) / sizeof(MODS[0]))

static int t_prepare(const struct config *old, struct config *cfg)
{
	for (size_t i = 0; i < N_MODS; i++)
		if (MODS[i]->prepare && MODS[i]->prepare(old, cfg))
			return -ENOMEM;
	return 0;
}

/* What ctl_publish does on the control loop's side: the snapshot becomes current. */
static int t_publish(struct loop *l, struct config *cfg)
{
	config_unref(l->cfg);
	l->cfg = cfg;
	return 0;
}

static const struct api_ops ops = { .prepare = t_prepare, .publish = t_publish,
				    .save = state_save };

static void setup(void)
{
	char text[4096], err[CONFIG_ERR_BYTES];

	snprintf(text, sizeof(text),
		 "workers = 1;\nlog_level = \"error\";\n"
		 "dns = { servers = [ \"127.0.0.1:9\" ]; };\n"
		 "state_file = \"%s\";\n"
		 "metrics = { listen = \"127.0.0.1:16002\"; token = \"" MTOKEN "\"; };\n"
		 "api = { listen = \"127.0.0.1:16001\"; token = \"" TOKEN "\";\n"
		 "        allowed_hosts = [ \"relay.example.com\" ]; };\n"
		 "servers = (\n"
		 " { name = \"edge\"; listen = \"127.0.0.1:18388\"; method = \"aes-256-gcm\";\n"
		 "   user_limits = { quota = \"1 GB\"; };\n"
		 "   users = ( { name = \"cfguser\"; password = \"pw-cfg\"; } ); },\n"
		 " { name = \"eih\"; listen = \"127.0.0.1:18389\";\n"
		 "   method = \"2022-blake3-aes-128-gcm\";\n"
		 "   key = \"" IPSK "\"; users = ( ); },\n"
		 " { name = \"solo\"; listen = \"127.0.0.1:18390\"; method = \"aes-256-gcm\";\n"
		 "   password = \"x\"; } );\n",
		 state_path);
	base = malloc(sizeof(*base));
	CHECK(base);
	if (config_load_string(text, "api-requests.cfg", base, err, sizeof(err))) {
		fprintf(stderr, "config: %s\n", err);
		exit(1);
	}
	base->generation = 1;
	atomic_init(&base->refs, 1);
	for (size_t i = 0; i < N_MODS; i++)
		CHECK(!MODS[i]->setup || MODS[i]->setup(base) == 0);
	CHECK(t_prepare(NULL, base) == 0);
	L.cfg = base;
	config_ref(base); /* ours: every reset starts from it */
}

static void teardown(void)
{
	api_module.teardown();
	config_unref(L.cfg);
	config_unref(base);
	L.cfg = base = NULL;
	for (size_t i = N_MODS; i-- > 0;)
		if (MODS[i]->teardown)
			MODS[i]->teardown();
	unlink(state_path);
}

/* Back to the configuration file's users: no API users, no state file. */
static void reset(void)
{
	api_module.teardown();
	api_dirty = false;
	config_unref(L.cfg);
	L.cfg = base;
	config_ref(base);
	unlink(state_path);
}

/* ---- requests ------------------------------------------------------------------------ */

struct answer {
	int status;         /* 0: no answer yet (incomplete); -1: none (no memory) */
	char body[4096];    /* NUL-terminated, cut if longer */
	size_t body_len;
};

/* The answer's bytes are a well-formed response: status line, Content-Length = the body. */
static void parse_answer(const char *out, size_t len, struct answer *a)
{
	const char *end = memmem(out, len, "\r\n\r\n", 4), *cl;
	size_t hl, n;

	CHECK(len > 13 && !memcmp(out, "HTTP/1.1 ", 9) && out[12] == ' ');
	a->status = atoi(out + 9);
	CHECK(a->status >= 200 && a->status <= 599);
	CHECK(end);
	hl = (size_t)(end + 4 - out);
	cl = memmem(out, hl, "\r\nContent-Length: ", 18);
	CHECK(cl);
	n = strtoul(cl + 18, NULL, 10);
	CHECK_EQ(n, len - hl);
	if (a->status == 204)
		CHECK_EQ(n, 0);
	a->body_len = n;
	if (n >= sizeof(a->body))
		n = sizeof(a->body) - 1;
	memcpy(a->body, out + hl, n);
	a->body[n] = '\0';
}

/*
 * Deliver req in pieces of step bytes (0: at once) to fn as httpd.c does:
 * after each piece, httpd_consider() with all received so far.
 */
static int serve(httpd_handler fn, const struct httpd_limits *lim, const char *req, size_t len,
		 size_t step, struct answer *a)
{
	size_t cap = lim->max_head + lim->max_body, got = 0;
	uint8_t *in = __real_malloc(cap);
	char *out = NULL;
	size_t out_len = 0;
	int r = -EAGAIN;

	CHECK(in);
	memset(a, 0, sizeof(*a));
	while (r == -EAGAIN && got < len && got < cap) {
		size_t n = step ? step : len;

		if (n > len - got)
			n = len - got;
		if (n > cap - got)
			n = cap - got;
		memcpy(in + got, req + got, n);
		got += n;
		r = httpd_consider(&L, lim, fn, (void *)&ops, in, got, &out, &out_len);
	}
	free(in);
	if (r == -EAGAIN)
		return r;
	if (r) {
		CHECK_EQ(r, -ENOMEM);
		a->status = -1;
		return r;
	}
	parse_answer(out, out_len, a);
	free(out);
	return 0;
}

static char reqbuf[80000];

/* A request as curl makes it: Host, the token, JSON with its type and length. */
static size_t std_req(const char *method, const char *path, const char *body)
{
	char type[128] = "";
	int n;

	if (body)
		snprintf(type, sizeof(type), "Content-Type: application/json\r\n"
			 "Content-Length: %zu\r\n", strlen(body));
	n = snprintf(reqbuf, sizeof(reqbuf),
		     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:16001\r\nUser-Agent: curl/7.88.1\r\n"
		     "Accept: */*\r\nAuthorization: Bearer " TOKEN "\r\n%s\r\n%s", method, path,
		     type, body ? body : "");
	CHECK(n > 0 && (size_t)n < sizeof(reqbuf));
	return (size_t)n;
}

static int api(const char *method, const char *path, const char *body, struct answer *a)
{
	size_t n = std_req(method, path, body);

	return serve(api_handle, &api_limits, reqbuf, n, 0, a);
}

static int raw(const char *req, struct answer *a)
{
	return serve(api_handle, &api_limits, req, strlen(req), 0, a);
}

/* One request and the status it must get. */
static void expect(const char *method, const char *path, const char *body, int status)
{
	struct answer a;

	api(method, path, body, &a);
	if (a.status != status) {
		fprintf(stderr, "%s %s: %d %s, want %d\n", method, path, a.status, a.body, status);
		exit(1);
	}
	/* Errors are {"error": "..."}. */
	if (status >= 400)
		CHECK(strstr(a.body, "{\"error\":\""));
}

static bool has_user(const char *server, const char *name)
{
	for (size_t i = 0; i < L.cfg->n_servers; i++)
		if (!strcmp(L.cfg->servers[i].name, server) && L.cfg->servers[i].users)
			return config_users_find(L.cfg->servers[i].users, name) >= 0;
	return false;
}

/* ---- the endpoints -------------------------------------------------------------------------- */

static const char *const BOB = "{\"username\":\"bob\",\"password\":\"pw-bob\",\"limits\":"
			       "{\"rate\":\"2 MB/s\",\"quota\":\"1 GB\"}}";
static const char *const CAROL = "{\"username\":\"carol\",\"uPSK\":\"" UPSK "\"}";

struct step {
	const char *method, *path, *body;
	int status;
};

/* A session of an operator: every endpoint, changes included. */
static const struct step SEQ[] = {
	{ "GET", "/", NULL, 200 },
	{ "GET", "/edge/", NULL, 200 },
	{ "GET", "/edge/users", NULL, 200 },
	{ "POST", "/edge/users", NULL /* BOB */, 201 },
	{ "GET", "/edge/users/bob", NULL, 200 },
	{ "PATCH", "/edge/users/bob", "{\"password\":\"pw-bob-2\"}", 204 },
	{ "PATCH", "/edge/users/bob", "{\"limits\":null}", 204 },
	{ "POST", "/eih/users", NULL /* CAROL */, 201 },
	{ "GET", "/edge/stats?clear=true", NULL, 200 },
	{ "GET", "/eih/stats", NULL, 200 },
	{ "GET", "/eih/users", NULL, 200 },
	{ "DELETE", "/edge/users/bob", NULL, 204 },
	{ "GET", "/edge/users/bob", NULL, 404 },
	{ "POST", "/edge/users", "{\"username\":\"x\"}", 400 },
	{ "DELETE", "/edge/users/cfguser", NULL, 400 },
	{ "GET", "/solo/users", NULL, 404 },
	{ "PUT", "/edge/users", "{}", 405 },
};
#define N_SEQ (sizeof(SEQ) / sizeof(SEQ[0]))

static const char *body_of(const struct step *s)
{
	if (s->body || strcmp(s->method, "POST"))
		return s->body;
	return !strcmp(s->path, "/edge/users") ? BOB : CAROL;
}

static const char METRICS_REQ[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:16002\r\n"
				  "Authorization: Bearer " MTOKEN "\r\n\r\n";

static void test_endpoints(void)
{
	struct answer a;

	for (size_t i = 0; i < N_SEQ; i++)
		expect(SEQ[i].method, SEQ[i].path, body_of(&SEQ[i]), SEQ[i].status);
	CHECK(has_user("eih", "carol") && !has_user("edge", "bob"));
	/* The state file was written with carol, and only with her. */
	{
		FILE *f = fopen(state_path, "r");
		char buf[8192];
		size_t n;
		struct stat st;

		CHECK(f);
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		CHECK(strstr(buf, "carol") && !strstr(buf, "pw-bob"));
		CHECK(stat(state_path, &st) == 0 && (st.st_mode & 0777) == 0600);
	}
	/* The metrics endpoint: with its token 200, without or with the API's 401. */
	CHECK(serve(metrics_handle, &metrics_limits, METRICS_REQ, sizeof(METRICS_REQ) - 1, 0,
		    &a) == 0);
	CHECK_EQ(a.status, 200);
	CHECK(raw("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", &a) == 0 && a.status == 401);
	CHECK(serve(metrics_handle, &metrics_limits,
		    "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 34, 0, &a) == 0);
	CHECK_EQ(a.status, 401);
	CHECK(serve(metrics_handle, &metrics_limits,
		    "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN "\r\n\r\n",
		    strlen("GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN
			   "\r\n\r\n"), 0, &a) == 0);
	CHECK_EQ(a.status, 401);
	printf("endpoints: %zu requests answered as expected; metrics token enforced\n", N_SEQ);
}

/* Every way to cut a POST into pieces gives the same answer as the whole. */
static void test_pieces(void)
{
	size_t n = std_req("POST", "/edge/users", BOB);
	char copy[2048];
	struct answer a;

	CHECK(n < sizeof(copy));
	memcpy(copy, reqbuf, n);
	for (size_t step = 1; step <= n; step++) {
		reset();
		CHECK(serve(api_handle, &api_limits, copy, n, step, &a) == 0);
		CHECK_EQ(a.status, 201);
	}
	/* Any prefix of it is incomplete: no answer, and nothing done. */
	for (size_t k = 0; k < n; k++) {
		reset();
		CHECK(serve(api_handle, &api_limits, copy, k, 0, &a) == -EAGAIN);
		CHECK(!has_user("edge", "bob"));
	}
	printf("pieces: a %zu-byte POST cut every way gives 201; every prefix waits\n", n);
}

/* What a web page in a browser on the host could send. */
static void test_browser(void)
{
	char req[1024];
	struct answer a;
	size_t bl = strlen(BOB);

	reset();
	/* A cross-site "simple" POST: text/plain (no preflight), the token even (a page cannot
	 * know it, but the type alone is refused). */
	snprintf(req, sizeof(req), "POST /edge/users HTTP/1.1\r\nHost: 127.0.0.1:16001\r\n"
		 "Authorization: Bearer " TOKEN "\r\nContent-Type: text/plain;charset=UTF-8\r\n"
		 "Content-Length: %zu\r\n\r\n%s", bl, BOB);
	CHECK(raw(req, &a) == 0 && a.status == 415);
	CHECK(!has_user("edge", "bob"));
	/* Form encoding (curl -d without -H) and no type at all. */
	snprintf(req, sizeof(req), "POST /edge/users HTTP/1.1\r\nHost: 127.0.0.1:16001\r\n"
		 "Authorization: Bearer " TOKEN "\r\nContent-Type: application/x-www-form-"
		 "urlencoded\r\nContent-Length: %zu\r\n\r\n%s", bl, BOB);
	CHECK(raw(req, &a) == 0 && a.status == 415);
	snprintf(req, sizeof(req), "POST /edge/users HTTP/1.1\r\nHost: 127.0.0.1:16001\r\n"
		 "Authorization: Bearer " TOKEN "\r\nContent-Length: %zu\r\n\r\n%s", bl, BOB);
	CHECK(raw(req, &a) == 0 && a.status == 415);
	CHECK(!has_user("edge", "bob"));
	/* An empty body still carries its type; no body and no type: routing answers. */
	CHECK(raw("POST /edge/users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN
		  "\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n", &a) == 0 &&
	      a.status == 415);
	CHECK(raw("POST /edge/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN
		  "\r\n\r\n", &a) == 0 && a.status == 405);
	/* DNS rebinding: the page's own name in Host, the port ours. */
	const char *const hosts[] = { "evil.example", "evil.example:16001",
				      "127.0.0.1.nip.io:16001", "rebind.127.0.0.1.evil.example",
				      "localhost.evil.example", "relay.example.com.evil.example" };
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		snprintf(req, sizeof(req), "GET /edge/users HTTP/1.1\r\nHost: %s\r\n"
			 "Authorization: Bearer " TOKEN "\r\n\r\n", hosts[i]);
		CHECK(raw(req, &a) == 0);
		CHECK_EQ(a.status, 421);
		CHECK(!strstr(a.body, "pw-cfg"));
	}
	/* Two Host headers, or none on HTTP/1.1. */
	CHECK(raw("GET /edge/users HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n"
		  "Authorization: Bearer " TOKEN "\r\n\r\n", &a) == 0 && a.status == 400);
	CHECK(raw("GET /edge/users HTTP/1.1\r\nAuthorization: Bearer " TOKEN "\r\n\r\n", &a) == 0 &&
	      a.status == 400);
	/* A cross-site request from a page elsewhere: Origin. */
	CHECK(raw("GET /edge/users HTTP/1.1\r\nHost: 127.0.0.1:16001\r\nOrigin: "
		  "http://evil.example\r\nAuthorization: Bearer " TOKEN "\r\n\r\n", &a) == 0);
	CHECK_EQ(a.status, 403);
	CHECK(raw("GET /edge/users HTTP/1.1\r\nHost: 127.0.0.1:16001\r\nOrigin: null\r\n"
		  "Authorization: Bearer " TOKEN "\r\n\r\n", &a) == 0 && a.status == 403);
	snprintf(req, sizeof(req), "POST /edge/users HTTP/1.1\r\nHost: 127.0.0.1:16001\r\n"
		 "Origin: https://evil.example\r\nAuthorization: Bearer " TOKEN "\r\n"
		 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", bl, BOB);
	CHECK(raw(req, &a) == 0 && a.status == 403);
	CHECK(!has_user("edge", "bob"));
	/* Allowed: a listed name, localhost, [::1], an Origin of ours, HTTP/1.0 without Host. */
	const char *const ok[] = { "relay.example.com:16001", "localhost", "[::1]:16001",
				   "10.0.0.1" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(req, sizeof(req), "GET /edge/users HTTP/1.1\r\nHost: %s\r\nOrigin: "
			 "http://%s\r\nAuthorization: Bearer " TOKEN "\r\n\r\n", ok[i], ok[i]);
		CHECK(raw(req, &a) == 0);
		CHECK_EQ(a.status, 200);
	}
	CHECK(raw("GET / HTTP/1.0\r\nAuthorization: Bearer " TOKEN "\r\n\r\n", &a) == 0 &&
	      a.status == 200);
	snprintf(req, sizeof(req), "POST /edge/users HTTP/1.1\r\nHost: 127.0.0.1:16001\r\n"
		 "Authorization: Bearer " TOKEN "\r\nContent-Type: application/json; "
		 "charset=utf-8\r\nContent-Length: %zu\r\n\r\n%s", bl, BOB);
	CHECK(raw(req, &a) == 0 && a.status == 201 && has_user("edge", "bob"));
	printf("browser: text/plain, form and untyped POSTs 415 (no user added); 6 rebinding "
	       "Hosts 421; Origin evil/null 403; allowed names, literals, localhost pass\n");
}

/* ---- failing allocations ----------------------------------------------------------------- */

/* Unless a write failed since (api_dirty), the state file has the API's users. */
static void check_state_file(void)
{
	static char buf[65536];
	char err[SSM_ERR_BYTES];
	struct ssm_state st;
	FILE *f;
	size_t n;

	if (api_dirty)
		return;
	f = fopen(state_path, "r");
	if (!f) {
		for (size_t i = 0; i < api_overlay.n; i++)
			CHECK_EQ(api_overlay.servers[i].n_users, 0);
		return;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	CHECK(n < sizeof(buf));
	if (ssm_state_parse(buf, n, &st, err, sizeof(err))) {
		fprintf(stderr, "state file: %s\n%.*s\n", err, (int)n, buf);
		exit(1);
	}
	for (size_t i = 0; i < api_overlay.n; i++) {
		const struct ssm_state_server *o = &api_overlay.servers[i], *s = NULL;

		for (size_t k = 0; k < st.n; k++)
			if (!strcmp(st.servers[k].name, o->name))
				s = &st.servers[k];
		CHECK_EQ(s ? s->n_users : 0, o->n_users);
		for (size_t k = 0; k < o->n_users; k++) {
			int j = overlay_find(s, o->users[k].username);

			CHECK(j >= 0 && !strcmp(s->users[j].secret, o->users[k].secret));
		}
	}
	ssm_state_free(&st);
}

/* The API's users and the snapshot's agree, and the state file (if written) names them. */
static void check_consistent(void)
{
	struct answer a;

	check_state_file();

	for (size_t i = 0; i < L.cfg->n_servers; i++) {
		const struct config_server *sv = &L.cfg->servers[i];
		const struct ssm_state_server *ov = overlay_server(sv->name, false);

		if (!sv->users)
			continue;
		for (size_t u = 0; u < sv->users->n; u++)
			if (sv->users->u[u].from_api)
				CHECK(overlay_find(ov, sv->users->u[u].name) >= 0);
		for (size_t k = 0; ov && k < ov->n_users; k++) {
			int u = config_users_find(sv->users, ov->users[k].username);

			CHECK(u >= 0 && sv->users->u[u].from_api);
			CHECK(!strcmp(sv->users->u[u].secret, ov->users[k].secret));
		}
	}
	CHECK(api("GET", "/edge/users", NULL, &a) == 0 && a.status == 200);
	CHECK(api("GET", "/eih/users", NULL, &a) == 0 && a.status == 200);
}

/*
 * jansson's parser (2.14, load.c) asserts when an allocation fails in the
 * middle of a string (lex_save ignores the failure, the second pass then
 * meets what it did not expect): that one cannot be survived, so nothing
 * fails inside json_loadb (wrapped for this, like malloc). Every other
 * allocation of jansson does: values, objects, the dump's.
 */
json_t *__real_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *e);
static int parsing;

json_t *__wrap_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *e)
{
	json_t *r;

	parsing++;
	r = __real_json_loadb(buf, len, flags, e);
	parsing--;
	return r;
}

static void *json_malloc(size_t n)
{
	return parsing ? __real_malloc(n) : __wrap_malloc(n);
}

static void run_seq(void)
{
	struct answer a;

	for (size_t i = 0; i < N_SEQ; i++)
		api(SEQ[i].method, SEQ[i].path, body_of(&SEQ[i]), &a);
	serve(metrics_handle, &metrics_limits, METRICS_REQ, sizeof(METRICS_REQ) - 1, 0, &a);
}

static void test_alloc_failures(void)
{
	long total, n_failed = 0;

	json_set_alloc_funcs(json_malloc, free);
	reset();
	armed = true;
	allocs = fail_at = 0;
	run_seq();
	armed = false;
	total = allocs;
	check_consistent();
	CHECK(total > 100);
	for (long n = 1; n <= total; n++) {
		reset();
		allocs = 0;
		fail_at = n;
		failed = false;
		armed = true;
		run_seq();
		armed = false;
		n_failed += failed;
		check_consistent();
	}
	CHECK(n_failed == total);
	/*
	 * Two in a row, then every one from the Nth on. Two: an error answer cannot be
	 * made either, but the answer's buffer can (the original json() then sent a
	 * length without a body: memcpy from NULL). Undoing a change may fail too, so
	 * only: well-formed answers or none, no crash, no leak; then it answers again.
	 */
	for (int mode = 0; mode < 2; mode++) {
		fail_run = mode ? LONG_MAX : 2;
		for (long n = 1; n <= total; n++) {
			struct answer a;

			reset();
			allocs = 0;
			fail_at = n;
			armed = true;
			run_seq();
			armed = false;
			CHECK(api("GET", "/edge/users", NULL, &a) == 0 && a.status == 200);
		}
	}
	fail_run = 1;
	fail_at = 0;
	json_set_alloc_funcs(malloc, free);
	printf("allocations: the session makes %ld; each one failing in turn, two in a row, all "
	       "from each one on: every answer well-formed or none, the users consistent\n",
	       total);
}

/* A token-less TCP listener is a configuration error that names the line; a Unix one is not. */
static void test_config(void)
{
	struct config c;
	char err[CONFIG_ERR_BYTES];
	const char *srv = "servers = ( { listen = \"127.0.0.1:18388\"; method = \"aes-256-gcm\"; "
			  "password = \"x\"; } );\n";
	char text[1024];

	snprintf(text, sizeof(text), "%s\napi = {\n listen = \"127.0.0.1:6001\";\n};\n", srv);
	CHECK(config_load_string(text, "t.cfg", &c, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "t.cfg:4:") && strstr(err, "api.listen") && strstr(err, "token"));
	snprintf(text, sizeof(text), "%s\napi = { listen = \"unix:/run/x.sock\"; };\n", srv);
	CHECK(config_load_string(text, "t.cfg", &c, err, sizeof(err)) == 0);
	config_free(&c);
	snprintf(text, sizeof(text), "%s\napi = { listen = \"127.0.0.1:6001\"; token = "
		 "\"0123456789abcdef\"; allowed_hosts = [ \"127.0.0.1:80\" ]; };\n", srv);
	CHECK(config_load_string(text, "t.cfg", &c, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "allowed_hosts"));
	snprintf(text, sizeof(text), "%s\nmetrics = { listen = \"127.0.0.1:6002\"; token = "
		 "\"short\"; };\n", srv);
	CHECK(config_load_string(text, "t.cfg", &c, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "metrics.token"));
	printf("config: a token-less TCP api.listen is refused with its line\n");
}

/*
 * ctl_replace_file (the state file's and the SIP008 servers_cache's writer):
 * a symlink at FILE.tmp is not written through, an old FILE.tmp's mode is
 * not kept, FILE itself a symlink is replaced, not followed.
 */
static void test_safefile(void)
{
	char dir[] = "/tmp/ssring-safefile-XXXXXX", path[128], tmp[140], victim[128], buf[64];
	struct stat st;
	FILE *f;
	int fd;

	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	f = fopen(victim, "w");
	CHECK(f && fputs("victim\n", f) >= 0 && fclose(f) == 0);
	CHECK(symlink(victim, tmp) == 0);
	CHECK(ctl_replace_file(path, "new\n", 4, false) == 0);
	f = fopen(victim, "r");
	CHECK(f && fgets(buf, sizeof(buf), f) && fclose(f) == 0);
	CHECK(!strcmp(buf, "victim\n"));
	CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600);
	CHECK(lstat(tmp, &st) < 0);
	/* An old FILE.tmp of mode 0666 (and a wide umask) lends nothing. */
	fd = open(tmp, O_WRONLY | O_CREAT, 0666);
	CHECK(fd >= 0 && fchmod(fd, 0666) == 0 && close(fd) == 0);
	umask(0);
	CHECK(ctl_replace_file(path, "newer\n", 6, false) == 0);
	umask(022);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	/* FILE a symlink: replaced by the file, the target untouched. */
	CHECK(unlink(path) == 0 && symlink(victim, path) == 0);
	CHECK(ctl_replace_file(path, "x\n", 2, false) == 0);
	CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
	f = fopen(victim, "r");
	CHECK(f && fgets(buf, sizeof(buf), f) && fclose(f) == 0);
	CHECK(!strcmp(buf, "victim\n"));
	/* What cannot be removed at FILE.tmp (a folder) fails the write, FILE stays. */
	CHECK(mkdir(tmp, 0700) == 0);
	CHECK(ctl_replace_file(path, "y\n", 2, false) < 0);
	f = fopen(path, "r");
	CHECK(f && fgets(buf, sizeof(buf), f) && fclose(f) == 0);
	CHECK(!strcmp(buf, "x\n"));
	CHECK(rmdir(tmp) == 0 && unlink(path) == 0 && unlink(victim) == 0 && rmdir(dir) == 0);
	printf("safefile: a symlink at FILE.tmp is not followed, an old 0666 FILE.tmp lends no "
	       "mode, FILE a symlink is replaced\n");
}

int main(void)
{
	/* tmpfs if there is one: the state file is fsync'd at every change, thousands here. */
	snprintf(state_path, sizeof(state_path), "%s/ssring-api-requests-%d.json",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
	log_set_level((enum log_level)-1); /* the failures below are meant to happen */
	test_config();
	test_safefile();
	setup();
	test_endpoints();
	test_pieces();
	test_browser();
	test_alloc_failures();
	teardown();
	printf("test_api_requests: OK\n");
	return 0;
}
