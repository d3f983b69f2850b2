/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for config: defaults, every key, one test per error class with
 * the exact line the message must point at, secrets from files and the
 * environment, and every shipped file under configs/ (SSRING_CONFIG_DIR).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* setenv, mkdtemp */
#endif
#include "conf/config.h"
#include "proto/units.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>

#include "check.h"

/* Each config line is one string literal below, so line numbers can be counted. */
#define SERVER_OK "servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\"; password = \"pw\"; } );\n"

static char err[CONFIG_ERR_BYTES];

static int load(const char *text, struct config *cfg)
{
	return config_load_string(text, "t.cfg", cfg, err, sizeof(err));
}

/* The load must fail and the message must start with want ("t.cfg:LINE: ..."). */
#define EXPECT_ERR(text, want) expect_err(__LINE__, (text), (want))
static void expect_err(int line, const char *text, const char *want)
{
	struct config cfg;
	int ret = load(text, &cfg);

	if (ret != -EINVAL || strncmp(err, want, strlen(want))) {
		fprintf(stderr, "%s:%d: ret %d, message\n  '%s'\nexpected it to start with\n  '%s'\n",
			__FILE__, line, ret, err, want);
		exit(1);
	}
	/* A failed load leaves nothing to free. */
	CHECK(cfg.servers == NULL && cfg.locals == NULL && cfg.tunnels == NULL);
	CHECK_EQ(cfg.n_servers + cfg.n_locals + cfg.n_tunnels, 0);
}

static void expect_ok(int line, const char *text, struct config *cfg)
{
	int ret = load(text, cfg);

	if (ret) {
		fprintf(stderr, "%s:%d: load failed (%d): %s\n", __FILE__, line, ret, err);
		exit(1);
	}
	CHECK_EQ(err[0], 0);
}
#define EXPECT_OK(text, cfg) expect_ok(__LINE__, (text), (cfg))

static void check_password_key(const struct config_cipher *c, const char *method,
			       const char *pw)
{
	uint8_t want[AEAD_MAX_KEY_BYTES];

	CHECK(c->method == aead_method_find(method));
	CHECK_EQ(aead_password_to_key(c->method, pw, strlen(pw), want), 0);
	CHECK_MEM(c->key, want, c->method->key_len);
}

static void test_defaults(void)
{
	struct config cfg;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	EXPECT_OK(SERVER_OK, &cfg);
	CHECK_EQ(cfg.workers, cpus < 1 ? 1 : cpus > 256 ? 256 : cpus);
	CHECK_EQ(cfg.log_level, LOG_LEVEL_INFO);
	CHECK_EQ(cfg.limits.tcp_sessions, 65536);
	CHECK_EQ(cfg.limits.udp_associations, 16384);
	CHECK_EQ(cfg.timeouts.connect, 10);
	CHECK_EQ(cfg.timeouts.handshake, 10);
	CHECK_EQ(cfg.timeouts.tcp_idle, 300);
	CHECK_EQ(cfg.timeouts.udp_idle, 300);
	CHECK_EQ(cfg.timeouts.shutdown, 5);
	CHECK_EQ(cfg.timeouts.probe_window, 60);
	CHECK_EQ(cfg.dns.n_servers, 0);
	CHECK_EQ(cfg.dns.cache_entries, 4096);
	CHECK_EQ(cfg.dns.prefer, DNS_PREFER_IPV4);
	CHECK_EQ(cfg.n_servers, 1);
	CHECK_EQ(cfg.n_locals, 0);
	CHECK_EQ(cfg.n_tunnels, 0);
	CHECK(!strcmp(cfg.servers[0].listen.host, "127.0.0.1"));
	CHECK_EQ(cfg.servers[0].listen.port, 8388);
	CHECK(cfg.servers[0].listen.is_ip);
	CHECK(cfg.servers[0].udp);
	CHECK(!cfg.servers[0].allow_private);
	CHECK_EQ(cfg.servers[0].line, 1);
	check_password_key(&cfg.servers[0].cipher, "aes-256-gcm", "pw");
	config_free(&cfg);
	CHECK(cfg.servers == NULL && cfg.n_servers == 0);
	config_free(&cfg); /* idempotent */

	/* Local and tunnel defaults. */
	EXPECT_OK("locals = ( { listen = \"127.0.0.1:1080\"; server = \"ss.example:8388\";\n"
		  "  method = \"aes-128-gcm\"; password = \"x\"; } );\n"
		  "tunnels = ( { listen = \"127.0.0.1:5353\"; forward = \"8.8.8.8:53\";\n"
		  "  server = \"[::1]:8388\"; method = \"aes-128-gcm\"; password = \"x\"; } );\n",
		  &cfg);
	CHECK(cfg.locals[0].cl.udp);
	CHECK_EQ(cfg.locals[0].n_users, 0);
	CHECK(cfg.locals[0].users == NULL);
	CHECK(!cfg.locals[0].cl.server.is_ip);
	CHECK(!strcmp(cfg.locals[0].cl.server.host, "ss.example"));
	CHECK(cfg.tunnels[0].tcp && cfg.tunnels[0].cl.udp);
	CHECK_EQ(cfg.tunnels[0].cl.line, 3);
	CHECK(cfg.tunnels[0].cl.server.is_ip);
	CHECK_EQ(cfg.tunnels[0].cl.server.addr.ss_family, AF_INET6);
	config_free(&cfg);
}

static const char full_config[] =
	"workers = 3;\n"
	"log_level = \"debug\";\n"
	"limits = { tcp_sessions = 100; udp_associations = 200; };\n"
	"timeouts = { connect = 1; handshake = 2; tcp_idle = 3; udp_idle = 4; shutdown = 6; probe_window = 0; };\n"
	"dns = { servers = [ \"127.0.0.1:53\", \"[::1]:5353\" ]; cache_entries = 7;\n"
	"        prefer = \"ipv6\"; };\n"
	"servers = (\n"
	"  { listen = \"0.0.0.0:8388\"; method = \"chacha20-ietf-poly1305\";\n"
	"    key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"; udp = false;\n"
	"    allow_private = true; },\n"
	"  { listen = \"[::]:8388\"; method = \"aes-128-gcm\"; password = \"two\"; }\n"
	");\n"
	"locals = (\n"
	"  { listen = \"127.0.0.1:1080\"; server = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
	"    password = \"lp\"; udp = false;\n"
	"    users = ( { name = \"alice\"; password = \"a1\"; },\n"
	"              { name = \"bob\"; password = \"b2\"; } ); }\n"
	");\n"
	"tunnels = (\n"
	"  { listen = \"127.0.0.1:5300\"; forward = \"example.com:80\";\n"
	"    server = \"127.0.0.1:8388\"; method = \"xchacha20-ietf-poly1305\";\n"
	"    password = \"tp\"; tcp = false; udp = true; }\n"
	");\n";

static void test_every_key(void)
{
	struct config cfg;
	uint8_t key[32];

	EXPECT_OK(full_config, &cfg);
	CHECK_EQ(cfg.workers, 3);
	CHECK_EQ(cfg.log_level, LOG_LEVEL_DEBUG);
	CHECK_EQ(cfg.limits.tcp_sessions, 100);
	CHECK_EQ(cfg.limits.udp_associations, 200);
	CHECK_EQ(cfg.timeouts.connect, 1);
	CHECK_EQ(cfg.timeouts.handshake, 2);
	CHECK_EQ(cfg.timeouts.tcp_idle, 3);
	CHECK_EQ(cfg.timeouts.udp_idle, 4);
	CHECK_EQ(cfg.timeouts.shutdown, 6);
	CHECK_EQ(cfg.timeouts.probe_window, 0); /* 0: no spread */
	CHECK_EQ(cfg.dns.n_servers, 2);
	CHECK_EQ(cfg.dns.servers[0].port, 53);
	CHECK_EQ(cfg.dns.servers[1].port, 5353);
	CHECK_EQ(cfg.dns.servers[1].addr.ss_family, AF_INET6);
	CHECK_EQ(cfg.dns.cache_entries, 7);
	CHECK_EQ(cfg.dns.prefer, DNS_PREFER_IPV6);

	CHECK_EQ(cfg.n_servers, 2);
	CHECK_EQ(cfg.servers[0].line, 8);
	CHECK(cfg.servers[0].cipher.method == aead_method_find("chacha20-ietf-poly1305"));
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	CHECK_MEM(cfg.servers[0].cipher.key, key, 32);
	CHECK(!cfg.servers[0].udp);
	CHECK(cfg.servers[0].allow_private);
	CHECK_EQ(cfg.servers[1].line, 11);
	check_password_key(&cfg.servers[1].cipher, "aes-128-gcm", "two");
	CHECK(cfg.servers[1].udp);

	CHECK_EQ(cfg.n_locals, 1);
	CHECK_EQ(cfg.locals[0].cl.line, 14);
	CHECK_EQ(cfg.locals[0].cl.server.port, 8388);
	check_password_key(&cfg.locals[0].cl.cipher, "aes-256-gcm", "lp");
	CHECK(!cfg.locals[0].cl.udp);
	CHECK_EQ(cfg.locals[0].n_users, 2);
	CHECK(!strcmp(cfg.locals[0].users[0].name, "alice"));
	CHECK(!strcmp(cfg.locals[0].users[0].password, "a1"));
	CHECK(!strcmp(cfg.locals[0].users[1].name, "bob"));
	CHECK(!strcmp(cfg.locals[0].users[1].password, "b2"));

	CHECK_EQ(cfg.n_tunnels, 1);
	CHECK_EQ(cfg.tunnels[0].cl.line, 20);
	CHECK(!strcmp(cfg.tunnels[0].forward.host, "example.com"));
	CHECK_EQ(cfg.tunnels[0].forward.port, 80);
	CHECK(!cfg.tunnels[0].forward.is_ip);
	check_password_key(&cfg.tunnels[0].cl.cipher, "xchacha20-ietf-poly1305", "tp");
	CHECK(!cfg.tunnels[0].tcp);
	CHECK(cfg.tunnels[0].cl.udp);
	config_free(&cfg);

	/* URL-safe base64 without padding is a key too. */
	EXPECT_OK("servers = ( { listen = \"127.0.0.1:1\"; method = \"aes-256-gcm\";\n"
		  "  key = \"yMnKy8zNzs_Q0dLT1NXW19jZ2tvc3d7f4OHi4-Tl5uc\"; } );\n",
		  &cfg);
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(200 + i);
	CHECK_MEM(cfg.servers[0].cipher.key, key, 32);
	config_free(&cfg);

	CHECK(!strcmp(config_log_level_name(LOG_LEVEL_ERROR), "error"));
	CHECK(!strcmp(config_log_level_name(LOG_LEVEL_WARN), "warn"));
	CHECK(!strcmp(config_log_level_name(LOG_LEVEL_INFO), "info"));
	CHECK(!strcmp(config_log_level_name(LOG_LEVEL_DEBUG), "debug"));
}

static void test_unknown_keys(void)
{
	EXPECT_ERR("workers = 2;\n"
		   "\n"
		   "wrokers = 2;\n" SERVER_OK,
		   "t.cfg:3: unknown key 'wrokers' (expected one of: workers, log_level,");
	EXPECT_ERR(SERVER_OK "timeouts = {\n"
			     "  connect = 5;\n"
			     "  idle = 5;\n"
			     "};\n",
		   "t.cfg:4: timeouts: unknown key 'idle'");
	EXPECT_ERR("limits = { tcp_session = 1; };\n" SERVER_OK,
		   "t.cfg:1: limits: unknown key 'tcp_session'");
	EXPECT_ERR("dns = { server = [ \"1.1.1.1:53\" ]; };\n" SERVER_OK,
		   "t.cfg:1: dns: unknown key 'server'");
	EXPECT_ERR("servers = (\n"
		   "  { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\"; password = \"a\"; },\n"
		   "  {\n"
		   "    listen = \"127.0.0.1:8389\";\n"
		   "    method = \"aes-256-gcm\";\n"
		   "    pasword = \"x\";\n"
		   "  }\n"
		   ");\n",
		   "t.cfg:6: servers[1]: unknown key 'pasword'");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\"; server = \"1.2.3.4:1\";\n"
		   "  method = \"aes-256-gcm\"; password = \"a\";\n"
		   "  users = ( { name = \"a\"; password = \"b\"; },\n"
		   "            { name = \"c\"; pass = \"d\"; } ); } );\n",
		   "t.cfg:4: locals[0].users[1]: unknown key 'pass'");
	/* A key valid elsewhere is still unknown where it does not belong. */
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  password = \"a\";\n"
		   "  forward = \"1.2.3.4:80\"; } );\n",
		   "t.cfg:3: servers[0]: unknown key 'forward'");
}

static void test_types(void)
{
	EXPECT_ERR(SERVER_OK "workers = \"two\";\n",
		   "t.cfg:2: workers: must be an integer from 1 to 256");
	EXPECT_ERR(SERVER_OK "\nworkers = 2.0;\n",
		   "t.cfg:3: workers: must be an integer from 1 to 256");
	EXPECT_ERR("workers = 0;\n" SERVER_OK,
		   "t.cfg:1: workers: must be an integer from 1 to 256, not 0");
	EXPECT_ERR("workers = 257;\n" SERVER_OK,
		   "t.cfg:1: workers: must be an integer from 1 to 256, not 257");
	EXPECT_ERR("log_level = \"verbose\";\n" SERVER_OK,
		   "t.cfg:1: log_level: must be one of error, warn, info, debug, not 'verbose'");
	EXPECT_ERR("log_level = 3;\n" SERVER_OK, "t.cfg:1: log_level: must be a string");
	EXPECT_ERR("limits = 5;\n" SERVER_OK, "t.cfg:1: limits: must be a group");
	EXPECT_ERR("limits = { udp_associations = 0; };\n" SERVER_OK,
		   "t.cfg:1: limits.udp_associations: must be an integer from 1 to");
	EXPECT_ERR(SERVER_OK "timeouts = {\n"
			     "  handshake = 0;\n"
			     "};\n",
		   "t.cfg:3: timeouts.handshake: must be an integer from 1 to");
	EXPECT_ERR(SERVER_OK "timeouts = { tcp_idle = 1.5; };\n",
		   "t.cfg:2: timeouts.tcp_idle: must be an integer");
	EXPECT_ERR(SERVER_OK "timeouts = { probe_window = -1; };\n",
		   "t.cfg:2: timeouts.probe_window: must be an integer from 0 to");
	EXPECT_ERR("dns = { prefer = \"ipv5\"; };\n" SERVER_OK,
		   "t.cfg:1: dns.prefer: must be one of ipv4, ipv6, not 'ipv5'");
	EXPECT_ERR("dns = { cache_entries = -1; };\n" SERVER_OK,
		   "t.cfg:1: dns.cache_entries: must be an integer from 1 to");
	/* Booleans are true/false, never 1/0 or "yes". */
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  password = \"pw\";\n"
		   "  udp = 1; } );\n",
		   "t.cfg:3: servers[0].udp: must be a boolean: true or false");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  password = \"pw\"; allow_private = \"yes\"; } );\n",
		   "t.cfg:2: servers[0].allow_private: must be a boolean");
	EXPECT_ERR("servers = ( { listen = 8388; method = \"aes-256-gcm\"; password = \"pw\"; } );\n",
		   "t.cfg:1: servers[0].listen: must be a string");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  password = 1234; } );\n",
		   "t.cfg:2: servers[0].password: must be a string");
	EXPECT_ERR("servers = { listen = \"127.0.0.1:8388\"; };\n",
		   "t.cfg:1: servers: must be a list of groups");
	EXPECT_ERR("servers = ( \"127.0.0.1:8388\" );\n", "t.cfg:1: servers[0]: must be a group");
	EXPECT_ERR("dns = { servers = \"1.1.1.1:53\"; };\n" SERVER_OK,
		   "t.cfg:1: dns.servers: must be an array of strings");
	EXPECT_ERR("dns = { servers = [ 53 ]; };\n" SERVER_OK,
		   "t.cfg:1: dns.servers[0]: must be a string");
}

static void test_endpoint_errors(void)
{
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\";\n"
		   "  method = \"rc4-md5\"; password = \"pw\"; } );\n",
		   "t.cfg:2: servers[0].method: unknown method 'rc4-md5' (known: ");
	/* The list of known methods comes from aead. */
	CHECK(strstr(err, aead_method_names()) != NULL);
	/* 16 bytes for a 32-byte cipher. */
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  key = \"AAECAwQFBgcICQoLDA0ODw==\"; } );\n",
		   "t.cfg:2: servers[0].key: must be the base64 encoding of exactly 32 bytes");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-128-gcm\";\n"
		   "  key = \"not base64!\"; } );\n",
		   "t.cfg:2: servers[0].key: must be the base64 encoding of exactly 16 bytes");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  password = \"\"; } );\n",
		   "t.cfg:2: servers[0].password: must not be empty");
	EXPECT_ERR("servers = (\n"
		   "  { method = \"aes-256-gcm\"; password = \"pw\"; }\n"
		   ");\n",
		   "t.cfg:2: servers[0]: missing required key 'listen'");
	EXPECT_ERR("servers = (\n"
		   "  { listen = \"127.0.0.1:8388\"; password = \"pw\"; }\n"
		   ");\n",
		   "t.cfg:2: servers[0]: missing required key 'method'");
	EXPECT_ERR("servers = (\n"
		   "  { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\"; }\n"
		   ");\n",
		   "t.cfg:2: servers[0]: missing secret: set one of password, key,");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  password = \"pw\";\n"
		   "  key_env = \"X\"; } );\n",
		   "t.cfg:3: servers[0].key_env: conflicts with 'password' (line 2): give exactly one "
		   "secret");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\"; method = \"aes-256-gcm\";\n"
		   "  password = \"pw\"; } );\n",
		   "t.cfg:1: locals[0]: missing required key 'server'");
	EXPECT_ERR("tunnels = ( { listen = \"127.0.0.1:5353\"; server = \"1.2.3.4:8388\";\n"
		   "  method = \"aes-256-gcm\"; password = \"pw\"; } );\n",
		   "t.cfg:1: tunnels[0]: missing required key 'forward'");
	EXPECT_ERR("tunnels = ( { listen = \"127.0.0.1:5353\"; server = \"1.2.3.4:8388\";\n"
		   "  forward = \"1.1.1.1:53\"; method = \"aes-256-gcm\"; password = \"pw\";\n"
		   "  tcp = false; udp = false; } );\n",
		   "t.cfg:1: tunnels[0]: tcp and udp are both false");
}

static void test_hostport_errors(void)
{
	EXPECT_ERR("servers = ( {\n"
		   "  listen = \"127.0.0.1\";\n"
		   "  method = \"aes-256-gcm\"; password = \"pw\"; } );\n",
		   "t.cfg:2: servers[0].listen: '127.0.0.1' is not host:port");
	EXPECT_ERR("servers = ( {\n"
		   "  listen = \"127.0.0.1:65536\";\n"
		   "  method = \"aes-256-gcm\"; password = \"pw\"; } );\n",
		   "t.cfg:2: servers[0].listen: '127.0.0.1:65536' is not host:port");
	EXPECT_ERR("servers = ( {\n"
		   "  listen = \"::1:8388\";\n"
		   "  method = \"aes-256-gcm\"; password = \"pw\"; } );\n",
		   "t.cfg:2: servers[0].listen: '::1:8388' is not host:port");
	/* Port 0 is not a configurable port. */
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:0\";\n"
		   "  method = \"aes-256-gcm\"; password = \"pw\"; } );\n",
		   "t.cfg:1: servers[0].listen: '127.0.0.1:0' is not host:port");
	/* Listeners need an IP literal; a server address may be a name. */
	EXPECT_ERR("servers = ( { listen = \"localhost:8388\";\n"
		   "  method = \"aes-256-gcm\"; password = \"pw\"; } );\n",
		   "t.cfg:1: servers[0].listen: 'localhost:8388' must be an IP address and port");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\";\n"
		   "  server = \"bad host:8388\";\n"
		   "  method = \"aes-256-gcm\"; password = \"pw\"; } );\n",
		   "t.cfg:2: locals[0].server: 'bad host:8388' is not host:port");
	EXPECT_ERR("dns = { servers = [\n"
		   "  \"1.1.1.1:53\",\n"
		   "  \"dns.google:53\" ]; };\n" SERVER_OK,
		   "t.cfg:3: dns.servers[1]: 'dns.google:53' must be an IP address");
	EXPECT_ERR("dns = { servers = [ \"1.1.1.1:53\", \"1.1.1.2:53\", \"1.1.1.3:53\",\n"
		   " \"1.1.1.4:53\", \"1.1.1.5:53\", \"1.1.1.6:53\", \"1.1.1.7:53\", \"1.1.1.8:53\",\n"
		   " \"1.1.1.9:53\" ]; };\n" SERVER_OK,
		   "t.cfg:1: dns.servers: has 9 entries; at most 8 are supported");
}

static void test_duplicate_listen(void)
{
	struct config cfg;

	EXPECT_ERR(SERVER_OK "\n"
			     "locals = ( {\n"
			     "  listen = \"127.0.0.1:8388\";\n"
			     "  server = \"1.2.3.4:1\"; method = \"aes-256-gcm\"; password = \"x\"; } );\n",
		   "t.cfg:4: locals[0].listen: 127.0.0.1:8388 collides with servers[0].listen = "
		   "127.0.0.1:8388 (line 1)");
	/* Two entries of one role. */
	EXPECT_ERR("servers = (\n"
		   "  { listen = \"[::1]:8388\"; method = \"aes-256-gcm\"; password = \"a\"; },\n"
		   "  { listen = \"[0:0::1]:8388\"; method = \"aes-256-gcm\"; password = \"b\"; }\n"
		   ");\n",
		   "t.cfg:3: servers[1].listen: [::1]:8388 collides with servers[0].listen = "
		   "[::1]:8388 (line 2)");
	/* A wildcard of the same family and port takes every address. */
	EXPECT_ERR("servers = ( { listen = \"0.0.0.0:8388\"; method = \"aes-256-gcm\";\n"
		   "  password = \"a\"; } );\n"
		   "tunnels = ( { listen = \"127.0.0.1:8388\"; forward = \"1.1.1.1:53\";\n"
		   "  server = \"1.2.3.4:1\"; method = \"aes-256-gcm\"; password = \"x\"; } );\n",
		   "t.cfg:3: tunnels[0].listen: 127.0.0.1:8388 collides with servers[0].listen = "
		   "0.0.0.0:8388 (line 1)");
	/* Other port, other address, or other family (IPv6 listeners are v6-only). */
	EXPECT_OK("servers = (\n"
		  "  { listen = \"0.0.0.0:8388\"; method = \"aes-256-gcm\"; password = \"a\"; },\n"
		  "  { listen = \"[::]:8388\"; method = \"aes-256-gcm\"; password = \"a\"; },\n"
		  "  { listen = \"127.0.0.1:8389\"; method = \"aes-256-gcm\"; password = \"a\"; },\n"
		  "  { listen = \"127.0.0.2:8389\"; method = \"aes-256-gcm\"; password = \"a\"; }\n"
		  ");\n",
		  &cfg);
	CHECK_EQ(cfg.n_servers, 4);
	config_free(&cfg);
}

static void test_nothing_to_run(void)
{
	EXPECT_ERR("", "t.cfg: nothing to run: no servers, locals or tunnels");
	EXPECT_ERR("workers = 1;\nservers = ();\nlocals = ();\n",
		   "t.cfg: nothing to run: no servers, locals or tunnels");
}

static void test_parse_errors(void)
{
	EXPECT_ERR(SERVER_OK "workers = ;\n", "t.cfg:2: syntax error");
	EXPECT_ERR("workers = 1;\n"
		   "workers = 2;\n" SERVER_OK,
		   "t.cfg:2: duplicate setting name");
	EXPECT_ERR("servers = ( {\n"
		   "  listen = \"127.0.0.1:8388\";\n"
		   ");\n",
		   "t.cfg:3: syntax error");
}

/* redirs: mode is TCP's; UDP is TPROXY, off unless asked for. */
static void test_redirs(void)
{
	struct config cfg;

#define REDIR_HEAD "redirs = ( { listen = \"0.0.0.0:1081\"; server = \"127.0.0.1:8388\"; " \
		   "method = \"aes-256-gcm\"; password = \"pw\"; "
	EXPECT_OK(REDIR_HEAD "mode = \"tproxy\"; udp = true; } );\n", &cfg);
	CHECK_EQ(cfg.n_tunnels, 1);
	CHECK_EQ(cfg.tunnels[0].redir, REDIR_TPROXY);
	CHECK(cfg.tunnels[0].tcp && cfg.tunnels[0].cl.udp);
	config_free(&cfg);
	EXPECT_OK(REDIR_HEAD "tcp = false; udp = true; } );\n", &cfg);
	CHECK_EQ(cfg.tunnels[0].redir, REDIR_REDIRECT);
	CHECK(!cfg.tunnels[0].tcp && cfg.tunnels[0].cl.udp);
	config_free(&cfg);
	EXPECT_OK(REDIR_HEAD "} );\n", &cfg);
	CHECK(cfg.tunnels[0].tcp && !cfg.tunnels[0].cl.udp);
	config_free(&cfg);
	EXPECT_ERR(REDIR_HEAD "tcp = false; } );\n",
		   "t.cfg:1: redirs[0]: tcp and udp are both false: nothing to redirect");
	EXPECT_ERR(REDIR_HEAD "mode = \"nat\"; } );\n", "t.cfg:1: redirs[0].mode: must be one of redirect, tproxy");
#undef REDIR_HEAD
}

/* udp_over_tcp: a client side's key (locals, tunnels, redirs) that needs udp. */
static void test_udp_over_tcp(void)
{
	struct config cfg;

#define UOT_SIDE "server = \"127.0.0.1:8388\"; method = \"aes-256-gcm\"; password = \"pw\"; "
	EXPECT_OK("locals = ( { listen = \"127.0.0.1:1080\"; " UOT_SIDE "udp_over_tcp = true; } );\n"
		  "tunnels = ( { listen = \"127.0.0.1:5300\"; forward = \"8.8.8.8:53\"; " UOT_SIDE
		  "tcp = false; udp_over_tcp = true; } );\n"
		  "redirs = ( { listen = \"0.0.0.0:1081\"; " UOT_SIDE "udp = true; "
		  "udp_over_tcp = true; } );\n", &cfg);
	CHECK(cfg.locals[0].cl.udp_over_tcp && cfg.tunnels[0].cl.udp_over_tcp &&
	      cfg.tunnels[1].cl.udp_over_tcp);
	config_free(&cfg);
	EXPECT_OK("locals = ( { listen = \"127.0.0.1:1080\"; " UOT_SIDE "} );\n", &cfg);
	CHECK(!cfg.locals[0].cl.udp_over_tcp);
	config_free(&cfg);
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\"; " UOT_SIDE
		   "udp = false; udp_over_tcp = true; } );\n",
		   "t.cfg:1: locals[0].udp_over_tcp: carries UDP, and udp = false");
	/* A redir's udp is off by default. */
	EXPECT_ERR("redirs = ( { listen = \"0.0.0.0:1081\"; " UOT_SIDE "udp_over_tcp = true; } );\n",
		   "t.cfg:1: redirs[0].udp_over_tcp: carries UDP, and udp = false");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\"; " UOT_SIDE "udp_over_tcp = 1; } );\n",
		   "t.cfg:1: locals[0].udp_over_tcp: ");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\"; "
		   "password = \"pw\"; udp_over_tcp = true; } );\n",
		   "t.cfg:1: servers[0].udp_over_tcp: a client's key (locals, tunnels, redirs): a "
		   "server with udp = true takes UDP over TCP without it");
	EXPECT_ERR("dns_proxies = ( { listen = \"127.0.0.1:5353\"; " UOT_SIDE
		   "remote_dns = \"8.8.8.8:53\"; udp_over_tcp = true; } );\n",
		   "t.cfg:1: dns_proxies[0]: unknown key 'udp_over_tcp'");
#undef UOT_SIDE
}

/* upstreams: links and groups, each with its own plugin. */
static void test_upstreams(void)
{
	struct config cfg;

#define UPS_HEAD "locals = ( { listen = \"127.0.0.1:1080\"; upstreams = ( "
	/* ss://aes-256-gcm:pw@... as SIP002 base64 userinfo */
	EXPECT_OK(UPS_HEAD "\"ss://YWVzLTI1Ni1nY206cHc@192.0.2.1:8388/?plugin=obfs-local%3Bobfs%3Dhttp\", "
		  "{ server = \"192.0.2.2:8389\"; method = \"aes-256-gcm\"; password = \"pw\"; "
		  "plugin = \"ss-v2ray-plugin\"; plugin_opts = \"host=example.com\"; }, "
		  "{ server = \"192.0.2.3:8390\"; method = \"aes-256-gcm\"; password = \"pw\"; } "
		  "); } );\n", &cfg);
	CHECK_EQ(cfg.locals[0].cl.n_ups, 3);
	CHECK(!strcmp(cfg.locals[0].cl.ups[0].plugin.cmd, "obfs-local"));
	CHECK(!strcmp(cfg.locals[0].cl.ups[0].plugin.opts, "obfs=http"));
	CHECK(!strcmp(cfg.locals[0].cl.ups[1].plugin.cmd, "ss-v2ray-plugin"));
	CHECK(!strcmp(cfg.locals[0].cl.ups[1].plugin.opts, "host=example.com"));
	CHECK_EQ(cfg.locals[0].cl.ups[2].plugin.cmd[0], 0);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(cfg.locals[0].cl.ups[i].tcp_server.port, 8388 + i);
		CHECK(!strcmp(cfg.locals[0].cl.ups[i].tcp_server.host, cfg.locals[0].cl.ups[i].server.host));
	}
	CHECK_EQ(cfg.locals[0].cl.plugin.cmd[0], 0);
	config_free(&cfg);
	EXPECT_ERR(UPS_HEAD "{ server = \"192.0.2.2:8389\"; method = \"aes-256-gcm\"; "
		   "password = \"pw\"; plugin_opts = \"x\"; } ); } );\n",
		   "t.cfg:1: locals[0].upstreams[0].plugin_opts: only with plugin");
	EXPECT_ERR(UPS_HEAD "{ server = \"192.0.2.2:8389\"; method = \"aes-256-gcm\"; "
		   "password = \"pw\"; } ); plugin = \"obfs-local\"; } );\n",
		   "t.cfg:1: locals[0].upstreams: upstreams replaces server");
	EXPECT_ERR(UPS_HEAD "{ server = \"192.0.2.2:8389\"; method = \"aes-256-gcm\"; "
		   "password = \"pw\"; acl = \"x\"; } ); } );\n",
		   "t.cfg:1: locals[0].upstreams[0]: unknown key 'acl'");
#undef UPS_HEAD
}

static void test_users(void)
{
	char text[4096], name[300];
	size_t n;

	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\"; server = \"1.2.3.4:1\";\n"
		   "  method = \"aes-256-gcm\"; password = \"a\";\n"
		   "  users = ( ); } );\n",
		   "t.cfg:3: locals[0].users: is empty");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\"; server = \"1.2.3.4:1\";\n"
		   "  method = \"aes-256-gcm\"; password = \"a\";\n"
		   "  users = ( { name = \"a\"; password = \"b\"; },\n"
		   "    { name = \"a\"; password = \"c\"; } ); } );\n",
		   "t.cfg:4: locals[0].users[1].name: duplicate user name 'a'");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\"; server = \"1.2.3.4:1\";\n"
		   "  method = \"aes-256-gcm\"; password = \"a\";\n"
		   "  users = ( { name = \"a\"; } ); } );\n",
		   "t.cfg:3: locals[0].users[0]: missing required key 'password'");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\"; server = \"1.2.3.4:1\";\n"
		   "  method = \"aes-256-gcm\"; password = \"a\";\n"
		   "  users = ( { name = \"\"; password = \"b\"; } ); } );\n",
		   "t.cfg:3: locals[0].users[0].name: must be 1 to 255 bytes long");

	memset(name, 'n', 256);
	name[256] = '\0';
	snprintf(text, sizeof(text),
		 "locals = ( { listen = \"127.0.0.1:1080\"; server = \"1.2.3.4:1\";\n"
		 "  method = \"aes-256-gcm\"; password = \"a\";\n"
		 "  users = ( { name = \"u\"; password = \"%s\"; } ); } );\n",
		 name);
	EXPECT_ERR(text, "t.cfg:3: locals[0].users[0].password: must be 1 to 255 bytes long");

	{
		size_t cap = 64 * (CONFIG_MAX_LOCAL_USERS + 2);
		char *big = malloc(cap), want[128];

		CHECK(big != NULL);
		n = (size_t)snprintf(big, cap,
				     "locals = ( { listen = \"127.0.0.1:1080\"; server = \"1.2.3.4:1\";\n"
				     "  method = \"aes-256-gcm\"; password = \"a\"; users = (\n");
		for (int i = 0; i <= CONFIG_MAX_LOCAL_USERS; i++)
			n += (size_t)snprintf(big + n, cap - n,
					      "%s{ name = \"u%d\"; password = \"p\"; }", i ? "," : "", i);
		snprintf(big + n, cap - n, "); } );\n");
		snprintf(want, sizeof(want), "t.cfg:2: locals[0].users: has %d entries; at most %d "
			 "are supported", CONFIG_MAX_LOCAL_USERS + 1, CONFIG_MAX_LOCAL_USERS);
		EXPECT_ERR(big, want);
		free(big);
	}
}

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	CHECK(fputs(content, f) >= 0);
	CHECK(fclose(f) == 0);
}

static void test_secret_sources(void)
{
	char dir[] = "/tmp/ssring-test-config-XXXXXX", path[256], text[1024];
	struct config cfg;

	CHECK(mkdtemp(dir) != NULL);

	/* password_file: the trailing newline is not part of the password. */
	snprintf(path, sizeof(path), "%s/pw", dir);
	write_file(path, "file secret \n\n");
	snprintf(text, sizeof(text),
		 "servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-192-gcm\";\n"
		 "  password_file = \"%s\"; } );\n",
		 path);
	EXPECT_OK(text, &cfg);
	check_password_key(&cfg.servers[0].cipher, "aes-192-gcm", "file secret");
	config_free(&cfg);

	/* key_file */
	snprintf(path, sizeof(path), "%s/key", dir);
	write_file(path, "AAECAwQFBgcICQoLDA0ODw==\n");
	snprintf(text, sizeof(text),
		 "servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-128-gcm\";\n"
		 "  key_file = \"%s\"; } );\n",
		 path);
	EXPECT_OK(text, &cfg);
	CHECK_MEM(cfg.servers[0].cipher.key, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f", 16);
	config_free(&cfg);

	/* Relative to the config file when loaded from a file. */
	snprintf(path, sizeof(path), "%s/relay.cfg", dir);
	write_file(path, "servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
			 "  password_file = \"pw\"; } );\n");
	CHECK_EQ(config_load_file(path, &cfg, err, sizeof(err)), 0);
	check_password_key(&cfg.servers[0].cipher, "aes-256-gcm", "file secret");
	config_free(&cfg);

	/* Missing and empty files. */
	snprintf(text, sizeof(text),
		 "servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-128-gcm\";\n"
		 "  password_file = \"%s/nope\"; } );\n",
		 dir);
	EXPECT_ERR(text, "t.cfg:2: servers[0].password_file: cannot open '");
	CHECK(strstr(err, "No such file or directory") != NULL);
	snprintf(path, sizeof(path), "%s/empty", dir);
	write_file(path, "\n");
	snprintf(text, sizeof(text),
		 "servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-128-gcm\";\n"
		 "  password_file = \"%s\"; } );\n",
		 path);
	EXPECT_ERR(text, "t.cfg:2: servers[0].password_file: file '");
	CHECK(strstr(err, "is empty") != NULL);
	snprintf(text, sizeof(text),
		 "servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-128-gcm\";\n"
		 "  password_file = \"%s\"; } );\n",
		 dir);
	EXPECT_ERR(text, "t.cfg:2: servers[0].password_file: '");
	CHECK(strstr(err, "must be a regular file") != NULL);

	/* Environment variables. */
	CHECK_EQ(setenv("SSRING_TEST_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", 1), 0);
	CHECK_EQ(setenv("SSRING_TEST_PW", "env secret", 1), 0);
	unsetenv("SSRING_TEST_UNSET");
	EXPECT_OK("servers = ( { listen = \"127.0.0.1:8388\"; method = \"chacha20-ietf-poly1305\";\n"
		  "  key_env = \"SSRING_TEST_KEY\"; } );\n"
		  "locals = ( { listen = \"127.0.0.1:1080\"; server = \"127.0.0.1:8388\";\n"
		  "  method = \"aes-256-gcm\"; password_env = \"SSRING_TEST_PW\"; } );\n",
		  &cfg);
	CHECK_EQ(cfg.servers[0].cipher.key[31], 31);
	CHECK_EQ(cfg.servers[0].cipher.key[0], 0);
	check_password_key(&cfg.locals[0].cl.cipher, "aes-256-gcm", "env secret");
	config_free(&cfg);
	/* Read, the variables leave the environment (nothing started later
	 * inherits them); a reload that names them again finds the values. */
	CHECK(getenv("SSRING_TEST_PW") == NULL);
	CHECK(getenv("SSRING_TEST_KEY") == NULL);
	EXPECT_OK("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		  "  password_env = \"SSRING_TEST_PW\"; } );\n",
		  &cfg);
	check_password_key(&cfg.servers[0].cipher, "aes-256-gcm", "env secret");
	config_free(&cfg);
	CHECK(getenv("SSRING_TEST_PW") == NULL);
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  password_env = \"SSRING_TEST_UNSET\"; } );\n",
		   "t.cfg:2: servers[0].password_env: environment variable 'SSRING_TEST_UNSET' "
		   "is not set");
	/* Set again (by this process: nothing else can), the new value wins. */
	CHECK_EQ(setenv("SSRING_TEST_KEY", "AAEC", 1), 0);
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  key_env = \"SSRING_TEST_KEY\"; } );\n",
		   "t.cfg:2: servers[0].key_env: must be the base64 encoding of exactly 32 bytes");

	snprintf(path, sizeof(path), "%s/pw", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/key", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/empty", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/relay.cfg", dir);
	unlink(path);
	CHECK_EQ(rmdir(dir), 0);
}

static void test_load_file_errors(void)
{
	struct config cfg;

	CHECK_EQ(config_load_file("/nonexistent/ssring.cfg", &cfg, err, sizeof(err)), -ENOENT);
	CHECK(!strcmp(err, "/nonexistent/ssring.cfg: No such file or directory"));
	/* A zero-length err buffer is allowed. */
	CHECK_EQ(config_load_string("", "t.cfg", &cfg, NULL, 0), -EINVAL);
}

static bool is_cfg(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && !strcmp(name + n - 4, ".cfg");
}

/* Every shipped example must load as it is. */
static void test_shipped_configs(void)
{
	const char *dir = getenv("SSRING_CONFIG_DIR");
	bool have_default = false;
	char path[1024];
	struct dirent *de;
	struct config cfg;
	int n = 0;
	DIR *d;

	if (!dir)
		dir = "configs";
	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "cannot open config directory '%s' (set SSRING_CONFIG_DIR)\n", dir);
		exit(1);
	}
	while ((de = readdir(d))) {
		if (!is_cfg(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (config_load_file(path, &cfg, err, sizeof(err))) {
			fprintf(stderr, "shipped config does not load: %s\n", err);
			exit(1);
		}
		if (!strcmp(de->d_name, "default.cfg")) {
			/* The README's first command: loopback, usable as it is. */
			have_default = true;
			CHECK_EQ(cfg.n_servers, 1);
			CHECK(!strcmp(cfg.servers[0].listen.host, "127.0.0.1"));
			CHECK_EQ(cfg.servers[0].listen.port, 8388);
			CHECK(cfg.servers[0].allow_private);
			check_password_key(&cfg.servers[0].cipher, "aes-256-gcm",
					   "ssring-default-change-me");
		}
		config_free(&cfg);
		n++;
	}
	closedir(d);
	CHECK(have_default);
	CHECK(n >= 5);
}

/* user, group, metrics: the control plane's keys. */
static void test_control_keys(void)
{
	struct config cfg;

	EXPECT_OK("user = \"nobody\";\n"
		  "metrics = { listen = \"127.0.0.1:9810\"; };\n" SERVER_OK,
		  &cfg);
	CHECK(!strcmp(cfg.user, "nobody"));
	CHECK(cfg.uid != 0);
	CHECK(cfg.metrics.enabled);
	CHECK_EQ(cfg.metrics.listen.port, 9810);
	config_free(&cfg);
	EXPECT_OK("user = \"root\"; group = \"nogroup\";\n" SERVER_OK, &cfg);
	CHECK_EQ(cfg.uid, 0);
	CHECK(cfg.gid != 0);
	config_free(&cfg);
	EXPECT_OK(SERVER_OK, &cfg);
	CHECK(!cfg.metrics.enabled && !cfg.user[0]);
	config_free(&cfg);
	EXPECT_ERR("user = \"no-such-user-ssring\";\n" SERVER_OK,
		   "t.cfg:1: user: no such user: 'no-such-user-ssring'");
	EXPECT_ERR("group = \"nogroup\";\n" SERVER_OK, "t.cfg:1: group: needs user as well");
	EXPECT_ERR("user = \"nobody\";\ngroup = \"no-such-group-ssring\";\n" SERVER_OK,
		   "t.cfg:2: group: no such group: 'no-such-group-ssring'");
	EXPECT_ERR("metrics = { listen = \"localhost:9810\"; };\n" SERVER_OK,
		   "t.cfg:1: metrics.listen: 'localhost:9810' must be an IP address");
	EXPECT_ERR("metrics = { port = 9810; };\n" SERVER_OK,
		   "t.cfg:1: metrics: unknown key 'port' (expected one of: listen, token, "
		   "token_file, token_env)");
	EXPECT_ERR("metrics = { };\n" SERVER_OK, "t.cfg:1: metrics: missing required key 'listen'");
	/* The metrics port may not be a relay's port. */
	EXPECT_ERR("metrics = { listen = \"127.0.0.1:8388\"; };\n" SERVER_OK,
		   "t.cfg:2: servers[0].listen: 127.0.0.1:8388 collides with metrics.listen");
}

/* ---- a server's users -------------------------------------------------------- */

static void test_units(void)
{
	static const struct {
		const char *s;
		bool rate;
		int ret;
		uint64_t v;
	} c[] = {
		{ "0", false, 0, 0 },           { "1500", false, 0, 1500 },
		{ "64K", false, 0, 64000 },     { "64 KiB", false, 0, 65536 },
		{ "10M", true, 0, 10000000 },   { "10 MB/s", true, 0, 10000000 },
		{ "1.5G", false, 0, 1500000000 }, { "1.5GiB", false, 0, 1610612736 },
		{ "2T", false, 0, 2000000000000ull }, { "1 PiB", false, 0, 1ull << 50 },
		{ " 7 ", false, 0, 7 },         { "0.5k", false, 0, 500 },
		{ "1.0000000000000000000001K", false, 0, 1000 },
		{ "8388608 Ti", false, -ERANGE, 0 }, { "99999999999999999999", false, -ERANGE, 0 },
		{ "10 MB/s", false, -EINVAL, 0 }, { "10/s", true, 0, 10 },
		{ "", false, -EINVAL, 0 },      { "K", false, -EINVAL, 0 },
		{ "1.", false, -EINVAL, 0 },    { ".5", false, 0, 0 },
		{ "-1", false, -EINVAL, 0 },    { "1 KB B", false, -EINVAL, 0 },
		{ "1x", false, -EINVAL, 0 },    { "1 /s", true, 0, 1 },
		{ "1 MB/", true, -EINVAL, 0 },  { "1iB", false, -EINVAL, 0 },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint64_t v = 12345;
		int ret = units_parse_bytes(c[i].s, strlen(c[i].s), c[i].rate, &v);

		if (ret != c[i].ret || (ret == 0 && v != c[i].v)) {
			fprintf(stderr, "units_parse_bytes(\"%s\"): %d %llu, want %d %llu\n", c[i].s,
				ret, (unsigned long long)v, c[i].ret, (unsigned long long)c[i].v);
			exit(1);
		}
	}
	units_format_bytes(1536, buf, sizeof(buf));
	CHECK(!strcmp(buf, "1.50 KiB"));
	units_format_bytes(100, buf, sizeof(buf));
	CHECK(!strcmp(buf, "100 B"));
}

static void test_quota_periods(void)
{
	/* 2026-11-30 10:15:00 UTC = 1796033700 */
	CHECK_EQ(config_quota_period_start(QUOTA_DAY, 1796033700), 1795996800);
	CHECK_EQ(config_quota_period_start(QUOTA_MONTH, 1796033700), 1793491200); /* 11-01 */
	CHECK_EQ(config_quota_period_start(QUOTA_MONTH, 1793491200), 1793491200);
	CHECK_EQ(config_quota_period_start(QUOTA_MONTH, 1793491199), 1790812800); /* 10-01 */
	/* 2024-02-29 12:00 -> 2024-02-01; 2000-03-01 00:00 -> itself */
	CHECK_EQ(config_quota_period_start(QUOTA_MONTH, 1709208000), 1706745600);
	CHECK_EQ(config_quota_period_start(QUOTA_MONTH, 951868800), 951868800);
	CHECK_EQ(config_quota_period_start(QUOTA_NEVER, 1796033700), 0);
}

static void test_server_users(void)
{
	struct config cfg;
	const struct config_server *sv;
	char dir[] = "/tmp/ssring-users-XXXXXX", path[300], text[2048];
	uint8_t key[32];
	FILE *f;

	EXPECT_OK("servers = ( { name = \"edge-1\"; listen = \"127.0.0.1:8388\";\n"
		  "  method = \"chacha20-ietf-poly1305\";\n"
		  "  user_limits = { rate = \"1 MB/s\"; quota = \"10 GB\"; max_ips = 3; };\n"
		  "  trial_budget = 250;\n"
		  "  users = ( { name = \"alice\"; password = \"a1\"; },\n"
		  "            { name = \"bob\"; key = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\";\n"
		  "              limits = { max_sessions = 4; quota = 5000; quota_period = \"day\"; }; }\n"
		  "  ); } );\n", &cfg);
	sv = &cfg.servers[0];
	CHECK(!strcmp(sv->name, "edge-1"));
	CHECK(sv->users && sv->users->n == 2 && sv->users->refs == 1 && !sv->users->u2022);
	CHECK_EQ(sv->trial_budget_ms, 250);
	CHECK_EQ(config_users_find(sv->users, "bob"), 1);
	CHECK_EQ(config_users_find(sv->users, "carol"), -1);
	CHECK(!strcmp(sv->users->u[0].secret, "a1") && !sv->users->u[0].is_key);
	CHECK(sv->users->u[1].is_key);
	CHECK_EQ(aead_password_to_key(sv->cipher.method, "a1", 2, key), 0);
	CHECK_MEM(sv->users->u[0].key, key, 32);
	memset(key, 0, sizeof(key));
	CHECK_MEM(sv->users->u[1].key, key, 32);
	/* alice has the server's defaults, bob his own (no default carried over) */
	CHECK(!sv->users->u[0].own_limits && sv->users->u[1].own_limits);
	CHECK_EQ(sv->users->u[0].limits.rate, 1000000);
	CHECK_EQ(sv->users->u[0].limits.quota, 10000000000ull);
	CHECK_EQ(sv->users->u[0].limits.quota_period, QUOTA_MONTH);
	CHECK_EQ(sv->users->u[0].limits.max_ips, 3);
	CHECK_EQ(sv->users->u[1].limits.rate, 0);
	CHECK_EQ(sv->users->u[1].limits.max_sessions, 4);
	CHECK_EQ(sv->users->u[1].limits.quota, 5000);
	CHECK_EQ(sv->users->u[1].limits.quota_period, QUOTA_DAY);
	config_free(&cfg);

	/* 2022 AES: the server key is the identity key, each user has a uPSK. */
	EXPECT_OK("servers = ( { listen = \"127.0.0.1:8388\"; method = \"2022-blake3-aes-128-gcm\";\n"
		  "  key = \"AAAAAAAAAAAAAAAAAAAAAA==\";\n"
		  "  users = ( { name = \"a\"; key = \"5mOQSa20Kt6ay2LXruBoHQ==\"; } ); } );\n", &cfg);
	sv = &cfg.servers[0];
	CHECK(sv->users && sv->users->u2022 && sv->srv2022.n_users == 1 && sv->srv2022.index);
	CHECK_EQ(ss2022_user_find(&sv->srv2022, sv->users->u2022[0].hash), 0);
	config_free(&cfg);

	/* An empty list: nobody yet (users come through the API). */
	EXPECT_OK("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		  "  users = ( ); } );\n", &cfg);
	CHECK(cfg.servers[0].users && cfg.servers[0].users->n == 0);
	config_free(&cfg);

	/* A user's secret from a file, relative to the config. */
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/bob.pw", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("bob-secret\n", f);
	fclose(f);
	snprintf(text, sizeof(text),
		 "servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-128-gcm\";\n"
		 "  users = ( { name = \"bob\"; password_file = \"%s\"; } ); } );\n", path);
	EXPECT_OK(text, &cfg);
	CHECK(!strcmp(cfg.servers[0].users->u[0].secret, "bob-secret"));
	config_free(&cfg);
	unlink(path);
	rmdir(dir);

	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  password = \"x\";\n"
		   "  users = ( { name = \"a\"; password = \"b\"; } ); } );\n",
		   "t.cfg:3: servers[0].users: an AEAD-2017 server has either one secret");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  users = ( { name = \"a\"; password = \"b\"; },\n"
		   "            { name = \"a\"; password = \"c\"; } ); } );\n",
		   "t.cfg:3: servers[0].users[1].name: duplicate user name 'a'");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  users = ( { name = \"a b\"; password = \"b\"; } ); } );\n",
		   "t.cfg:2: servers[0].users[0].name: must be 1 to 128 characters");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  users = ( { name = \"a\"; } ); } );\n",
		   "t.cfg:2: servers[0].users[0]: missing secret");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"2022-blake3-aes-128-gcm\";\n"
		   "  key = \"AAAAAAAAAAAAAAAAAAAAAA==\";\n"
		   "  users = ( { name = \"a\"; password = \"b\"; } ); } );\n",
		   "t.cfg:3: servers[0].users[0].password: a 2022 user needs a base64 uPSK");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"2022-blake3-aes-128-gcm\";\n"
		   "  users = ( { name = \"a\"; key = \"AAAAAAAAAAAAAAAAAAAAAA==\"; } ); } );\n",
		   "t.cfg:1: servers[0]: a 2022 server with users still needs its own key");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\";\n"
		   "  method = \"2022-blake3-chacha20-poly1305\";\n"
		   "  key = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\";\n"
		   "  users = ( { name = \"a\"; key = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"; } ); } );\n",
		   "t.cfg:4: servers[0].users: 2022-blake3-chacha20-poly1305 has no identity header");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  password = \"x\"; trial_budget = 5; } );\n",
		   "t.cfg:2: servers[0].trial_budget: only with users");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  users = ( { name = \"a\"; password = \"b\";\n"
		   "              limits = { rate = -1; }; } ); } );\n",
		   "t.cfg:3: servers[0].users[0].limits.rate: must not be negative");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  users = ( { name = \"a\"; password = \"b\";\n"
		   "              limits = { quota_period = \"week\"; quota = 1; }; } ); } );\n",
		   "t.cfg:3: servers[0].users[0].limits.quota_period:");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  users = ( { name = \"a\"; password = \"b\";\n"
		   "              limits = { speed = 1; }; } ); } );\n",
		   "t.cfg:3: servers[0].users[0].limits: unknown key 'speed'");
	EXPECT_ERR("servers = ( { name = \"x\"; listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  password = \"a\"; },\n"
		   "  { name = \"x\"; listen = \"127.0.0.1:8389\"; method = \"aes-256-gcm\";\n"
		   "  password = \"a\"; } );\n",
		   "t.cfg:3: servers[1].name: duplicate server name 'x' (also line 1)");
	EXPECT_ERR("servers = ( { name = \"a/b\"; listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  password = \"a\"; } );\n",
		   "t.cfg:1: servers[0].name: must be 1 to 63 characters");
}

static void test_many_server_users(void)
{
	size_t cap = 100 * 20001, n;
	char *big = malloc(cap);
	struct config cfg;

	CHECK(big != NULL);
	n = (size_t)snprintf(big, cap, "servers = ( { listen = \"127.0.0.1:8388\"; "
			     "method = \"aes-256-gcm\"; users = (\n");
	for (int i = 0; i < 20000; i++)
		n += (size_t)snprintf(big + n, cap - n, "%s{ name = \"user%d\"; password = \"p%d\"; }",
				      i ? ",\n" : "", i, i);
	snprintf(big + n, cap - n, "); } );\n");
	EXPECT_OK(big, &cfg);
	CHECK_EQ(cfg.servers[0].users->n, 20000);
	CHECK_EQ(config_users_find(cfg.servers[0].users, "user19999"), 19999);
	CHECK_EQ(config_users_find(cfg.servers[0].users, "user20000"), -1);
	config_free(&cfg);
	free(big);
}


/* server = "ss://...": the link gives the address, the method and the secret. */
static void test_links(void)
{
	struct config cfg;

	EXPECT_OK("locals = ( { listen = \"127.0.0.1:1080\";\n"
		  "  server = \"ss://YWVzLTEyOC1nY206dGVzdA@192.168.100.1:8888#Example1\"; } );\n",
		  &cfg);
	CHECK(!strcmp(cfg.locals[0].cl.server.host, "192.168.100.1") &&
	      cfg.locals[0].cl.server.port == 8888);
	check_password_key(&cfg.locals[0].cl.cipher, "aes-128-gcm", "test");
	CHECK(!strcmp(cfg.locals[0].cl.cipher.text, "test") && !cfg.locals[0].cl.cipher.text_is_key);
	config_free(&cfg);
	/* a tunnel, a host name, IPv6, and a 2022 key with EIH */
	EXPECT_OK("tunnels = ( { listen = \"127.0.0.1:5300\"; forward = \"9.9.9.9:53\";\n"
		  "  server = \"ss://2022-blake3-aes-128-gcm:MTIzNDU2Nzg5MDEyMzQ1Ng%3D%3D%3AYWJjZGVmZ2hpamtsbW5vcA%3D%3D@[::1]:9000\"; },\n"
		  "  { listen = \"127.0.0.1:5301\"; forward = \"9.9.9.9:53\";\n"
		  "  server = \"ss://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTpzZWNyZXQ@ss.example.net:8388/\"; } );\n",
		  &cfg);
	CHECK(!strcmp(cfg.tunnels[0].cl.server.host, "::1") && cfg.tunnels[0].cl.server.is_ip);
	CHECK(cfg.tunnels[0].cl.cipher.m2022 == ss2022_method_find("2022-blake3-aes-128-gcm"));
	CHECK_EQ(cfg.tunnels[0].cl.cipher.keys2022.n_ipsk, 1);
	CHECK_MEM(cfg.tunnels[0].cl.cipher.keys2022.psk, "abcdefghijklmnop", 16);
	CHECK(!strcmp(cfg.tunnels[1].cl.server.host, "ss.example.net") && !cfg.tunnels[1].cl.server.is_ip);
	check_password_key(&cfg.tunnels[1].cl.cipher, "chacha20-ietf-poly1305", "secret");
	config_free(&cfg);
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\";\n"
		   "  server = \"ss://YWVzLTEyOC1nY206dGVzdA@192.168.100.1\"; } );\n",
		   "t.cfg:2: locals[0].server: not a usable ss:// link: the port is missing");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\";\n"
		   "  server = \"ss://YWVzLTEyOC1nY206dGVzdA@192.168.100.1:1\";\n"
		   "  method = \"aes-128-gcm\"; } );\n",
		   "t.cfg:3: locals[0].method: the ss:// link in server carries the method");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\";\n"
		   "  server = \"ss://YWVzLTEyOC1nY206dGVzdA@192.168.100.1:1\";\n"
		   "  password = \"x\"; } );\n",
		   "t.cfg:2: locals[0].server: the ss:// link in server carries the method");
	/* "foo:bar": shadowsocks-rust's test of an unknown method */
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\";\n"
		   "  server = \"ss://foo:bar@127.0.0.1:9999\"; } );\n",
		   "t.cfg:2: locals[0].server: unknown method 'foo'");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\";\n"
		   "  server = \"ss://2022-blake3-aes-256-gcm:c2hvcnQ%3D@127.0.0.1:9999\"; } );\n",
		   "t.cfg:2: locals[0].server: must be the base64 encoding of exactly 32 bytes");
	/* a link's plugin, and plugin keys that override it */
	EXPECT_OK("locals = ( { listen = \"127.0.0.1:1080\";\n"
		  "  server = \"ss://YWVzLTEyOC1nY206dGVzdA@192.168.100.1:8888/?plugin=obfs-local%3Bobfs%3Dhttp\"; },\n"
		  "  { listen = \"127.0.0.1:1081\"; plugin = \"ss-v2ray-plugin\";\n"
		  "  server = \"ss://YWVzLTEyOC1nY206dGVzdA@192.168.100.1:8888/?plugin=obfs-local%3Bobfs%3Dhttp\"; } );\n",
		  &cfg);
	CHECK(!strcmp(cfg.locals[0].cl.plugin.cmd, "obfs-local") &&
	      !strcmp(cfg.locals[0].cl.plugin.opts, "obfs=http"));
	CHECK(!strcmp(cfg.locals[1].cl.plugin.cmd, "ss-v2ray-plugin") && !cfg.locals[1].cl.plugin.opts[0]);
	CHECK(config_same_listen(&cfg.locals[0].cl.tcp_server, &cfg.locals[0].cl.server));
	config_free(&cfg);
}

static void test_plugins(void)
{
	struct config cfg;

	EXPECT_OK("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\"; password = \"pw\";\n"
		  "  plugin = \"obfs-server\"; plugin_opts = \"obfs=http;failover=127.0.0.1:80\"; } );\n"
		  "tunnels = ( { listen = \"127.0.0.1:5300\"; forward = \"9.9.9.9:53\"; server = \"h.example:1\";\n"
		  "  method = \"aes-256-gcm\"; password = \"pw\"; plugin = \"/usr/bin/obfs-local\"; } );\n",
		  &cfg);
	CHECK(!strcmp(cfg.servers[0].plugin.cmd, "obfs-server"));
	CHECK(!strcmp(cfg.servers[0].plugin.opts, "obfs=http;failover=127.0.0.1:80"));
	/* the control plane moves it; the loader starts it at listen */
	CHECK(config_same_listen(&cfg.servers[0].tcp_listen, &cfg.servers[0].listen));
	CHECK(!strcmp(cfg.tunnels[0].cl.plugin.cmd, "/usr/bin/obfs-local") &&
	      !cfg.tunnels[0].cl.plugin.opts[0]);
	config_free(&cfg);
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\"; password = \"pw\";\n"
		   "  plugin_opts = \"obfs=http\"; } );\n",
		   "t.cfg:2: servers[0].plugin_opts: only with plugin");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\"; password = \"pw\";\n"
		   "  plugin = \"\"; } );\n",
		   "t.cfg:2: servers[0].plugin: must be a command");
}

/* upstream_check: both forms, defaults, and every error. */
#define UPS "  upstreams = ( \"ss://YWVzLTEyOC1nY206dGVzdA@192.168.100.1:8888\" );\n"
static void test_upstream_check(void)
{
	struct config cfg;

	EXPECT_OK("locals = ( { listen = \"127.0.0.1:1080\";\n" UPS
		  "  upstream_check = { url = \"http://check.example:8080/ok?x\"; }; } );\n"
		  "redirs = ( { listen = \"127.0.0.1:1081\";\n" UPS
		  "  upstream_check = { target = \"[::1]:7\"; request = \"ping\\r\\n\";\n"
		  "                     interval = 2; timeout = 1; }; } );\n",
		  &cfg);
	CHECK_EQ(cfg.locals[0].cl.check.interval, 30);
	CHECK_EQ(cfg.locals[0].cl.check.timeout, 5);
	CHECK(cfg.locals[0].cl.check.http);
	CHECK(!strcmp(cfg.locals[0].cl.check.target.host, "check.example") &&
	      cfg.locals[0].cl.check.target.port == 8080 && !cfg.locals[0].cl.check.target.is_ip);
	CHECK(!strcmp(cfg.locals[0].cl.check.request,
		      "GET /ok?x HTTP/1.1\r\nHost: check.example:8080\r\nAccept: */*\r\n"
		      "Connection: close\r\n\r\n"));
	CHECK_EQ(cfg.locals[0].cl.check.request_len, strlen(cfg.locals[0].cl.check.request));
	CHECK_EQ(cfg.tunnels[0].cl.check.interval, 2);
	CHECK_EQ(cfg.tunnels[0].cl.check.timeout, 1);
	CHECK(!cfg.tunnels[0].cl.check.http && cfg.tunnels[0].cl.check.target.is_ip);
	CHECK_EQ(cfg.tunnels[0].cl.check.request_len, 6);
	CHECK_MEM(cfg.tunnels[0].cl.check.request, "ping\r\n", 6);
	config_free(&cfg);
	/* Without upstream_check: no check. */
	EXPECT_OK("locals = ( { listen = \"127.0.0.1:1080\";\n" UPS "} );\n", &cfg);
	CHECK_EQ(cfg.locals[0].cl.check.interval, 0);
	config_free(&cfg);
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\"; server = \"1.2.3.4:1\";\n"
		   "  method = \"aes-256-gcm\"; password = \"pw\";\n"
		   "  upstream_check = { target = \"1.1.1.1:80\"; }; } );\n",
		   "t.cfg:3: locals[0].upstream_check: upstream_check goes with upstreams = (...) "
		   "or servers_url");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\"; password = \"pw\";\n"
		   "  upstream_check = { target = \"1.1.1.1:80\"; }; } );\n",
		   "t.cfg:2: servers[0]: unknown key 'upstream_check'");
	EXPECT_ERR("tunnels = ( { listen = \"127.0.0.1:5300\"; forward = \"9.9.9.9:53\";\n" UPS
		   "  upstream_check = { target = \"1.1.1.1:80\"; intervall = 3; }; } );\n",
		   "t.cfg:3: tunnels[0].upstream_check: unknown key 'intervall'");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\";\n" UPS
		   "  upstream_check = { interval = 3; }; } );\n",
		   "t.cfg:3: locals[0].upstream_check: give either url");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\";\n" UPS
		   "  upstream_check = { url = \"http://a.example/\"; target = \"b.example:80\"; }; } );\n",
		   "t.cfg:3: locals[0].upstream_check: give either url");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\";\n" UPS
		   "  upstream_check = { url = \"http://a.example/\"; request = \"x\"; }; } );\n",
		   "t.cfg:3: locals[0].upstream_check.request: request goes with target");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\";\n" UPS
		   "  upstream_check = { url = \"https://a.example/\"; }; } );\n",
		   "t.cfg:3: locals[0].upstream_check.url: https is not supported");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\";\n" UPS
		   "  upstream_check = { url = \"http://a.example:0/\"; }; } );\n",
		   "t.cfg:3: locals[0].upstream_check.url: not a usable http:// URL: the port");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\";\n" UPS
		   "  upstream_check = { target = \"no port\"; }; } );\n",
		   "t.cfg:3: locals[0].upstream_check.target:");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\";\n" UPS
		   "  upstream_check = { target = \"a.example:80\"; interval = 0; }; } );\n",
		   "t.cfg:3: locals[0].upstream_check.interval:");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\";\n" UPS
		   "  upstream_check = { target = \"a.example:80\"; timeout = 301; }; } );\n",
		   "t.cfg:3: locals[0].upstream_check.timeout:");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\";\n" UPS
		   "  upstream_check = \"a.example:80\"; } );\n",
		   "t.cfg:3: locals[0].upstream_check: must be a group");
	{
		static char big[CONFIG_CHECK_REQUEST_MAX + 300];
		int n = snprintf(big, sizeof(big), "locals = ( { listen = \"127.0.0.1:1080\";\n" UPS
				 "  upstream_check = { target = \"a.example:80\"; request = \"");

		memset(big + n, 'x', CONFIG_CHECK_REQUEST_MAX);
		snprintf(big + n + CONFIG_CHECK_REQUEST_MAX, sizeof(big) - (size_t)n -
			 CONFIG_CHECK_REQUEST_MAX, "\"; }; } );\n");
		EXPECT_ERR(big, "t.cfg:3: locals[0].upstream_check.request: at most 1023 bytes");
	}
}
#undef UPS

/*
 * Method none (alias plain): no secret, and refused with a secret, with
 * users, with identity keys, and on a server outside loopback without a
 * plugin unless allow_plaintext; each message points at its line.
 */
static void test_method_none(void)
{
	struct config cfg;

	EXPECT_OK("servers = ( { listen = \"127.0.0.1:8388\"; method = \"none\"; } );\n"
		  "locals = ( { listen = \"127.0.0.1:1080\"; server = \"127.0.0.1:8388\";\n"
		  "  method = \"plain\"; } );\n"
		  "tunnels = ( { listen = \"127.0.0.1:5353\"; server = \"192.0.2.1:8388\";\n"
		  "  forward = \"1.1.1.1:53\"; method = \"none\"; } );\n"
		  "redirs = ( { listen = \"127.0.0.1:1081\"; server = \"192.0.2.1:8388\";\n"
		  "  method = \"none\"; } );\n",
		  &cfg);
	CHECK(cfg.servers[0].cipher.none && !cfg.servers[0].cipher.method);
	CHECK(!cfg.servers[0].cipher.m2022 && !cfg.servers[0].cipher.text);
	CHECK(cfg.locals[0].cl.cipher.none && cfg.tunnels[0].cl.cipher.none);
	CHECK(cfg.tunnels[1].cl.cipher.none);
	config_free(&cfg);
	/* Outside loopback: with a plugin, or said so on the entry. */
	EXPECT_OK("servers = ( { listen = \"0.0.0.0:8388\"; method = \"none\";\n"
		  "  plugin = \"obfs-server\"; udp = false; },\n"
		  "  { listen = \"[::]:8389\"; method = \"none\"; allow_plaintext = true; },\n"
		  "  { listen = \"[::ffff:127.0.0.1]:8390\"; method = \"none\"; } );\n",
		  &cfg);
	CHECK(!cfg.servers[0].allow_plaintext && cfg.servers[1].allow_plaintext);
	config_free(&cfg);
	EXPECT_ERR("servers = ( { listen = \"0.0.0.0:8388\";\n"
		   "  method = \"none\"; } );\n",
		   "t.cfg:2: servers[0].method: method none on a listener outside loopback");
	EXPECT_ERR("servers = ( { listen = \"192.0.2.1:8388\"; method = \"none\";\n"
		   "  allow_plaintext = false; } );\n",
		   "t.cfg:1: servers[0].method: method none on a listener outside loopback");
	/* A plugin carries TCP only: the UDP port would be open. */
	EXPECT_ERR("servers = ( { listen = \"0.0.0.0:8388\"; method = \"none\";\n"
		   "  plugin = \"obfs-server\"; } );\n",
		   "t.cfg:1: servers[0].method: method none on a listener outside loopback");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"
		   "  password = \"pw\"; allow_plaintext = true; } );\n",
		   "t.cfg:2: servers[0].allow_plaintext: only with method = \"none\"");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"none\";\n"
		   "  password = \"pw\"; } );\n",
		   "t.cfg:2: servers[0].password: method none has no cipher: it takes no password");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\"; server = \"127.0.0.1:8388\";\n"
		   "  method = \"none\";\n"
		   "  key = \"AAECAwQFBgcICQoLDA0ODw==:AAECAwQFBgcICQoLDA0ODw==\"; } );\n",
		   "t.cfg:3: locals[0].key: method none has no cipher: it takes no password or key "
		   "(nor identity keys");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\"; method = \"none\";\n"
		   "  users = ( { name = \"a\"; password = \"pw\"; } ); } );\n",
		   "t.cfg:2: servers[0].users: method none has no keys to tell users apart");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:1080\";\n"
		   "  server = \"ss://bm9uZTpwdw@127.0.0.1:8388\"; } );\n",
		   "t.cfg:2: locals[0].server: method none has no cipher");
	EXPECT_ERR("servers = ( { listen = \"127.0.0.1:8388\";\n"
		   "  method = \"nonE\"; } );\n",
		   "t.cfg:2: servers[0].method: unknown method 'nonE' (known: ");
	CHECK(strstr(err, " none)") != NULL);
}

/* dns_proxies: a client side (links, upstreams, outbound options) and two resolvers. */
static void test_dns_proxies(void)
{
	struct config cfg, *c;
	const char *acl = "/tmp/ssring-test-dns-proxy.acl";
	FILE *f = fopen(acl, "w");

	CHECK(f && fputs("[proxy_all]\n[bypass_list]\n10.0.0.0/8\n", f) >= 0 && !fclose(f));
	EXPECT_OK("dns_proxies = ( { listen = \"127.0.0.1:5353\";\n"
		  "  server = \"ss://YWVzLTI1Ni1nY206cHc@vpn.example.com:8388\";\n"
		  "  acl = \"/tmp/ssring-test-dns-proxy.acl\"; local_dns = \"192.168.1.1:53\";\n"
		  "  remote_dns = \"dns.example:53\"; outbound_fwmark = 7;\n"
		  "  fast_open = true; } );\n",
		  &cfg);
	CHECK_EQ(cfg.n_dns_proxies, 1);
	CHECK_EQ(cfg.n_servers + cfg.n_locals + cfg.n_tunnels, 0);
	CHECK(!strcmp(cfg.dns_proxies[0].cl.server.host, "vpn.example.com"));
	CHECK(!strcmp(cfg.dns_proxies[0].cl.tcp_server.host, "vpn.example.com"));
	CHECK(cfg.dns_proxies[0].cl.acl && cfg.dns_proxies[0].cl.cipher.method);
	CHECK(cfg.dns_proxies[0].local_dns.is_ip && cfg.dns_proxies[0].local_dns.port == 53);
	CHECK(!cfg.dns_proxies[0].remote_dns.is_ip);
	CHECK_EQ(cfg.dns_proxies[0].cl.outbound.fwmark, 7);
	/* A clone has its own secret and shares the ACL. */
	c = config_clone(&cfg);
	CHECK(c && c->n_dns_proxies == 1 && c->dns_proxies != cfg.dns_proxies);
	CHECK(c->dns_proxies[0].cl.acl == cfg.dns_proxies[0].cl.acl);
	CHECK(c->dns_proxies[0].cl.cipher.text != cfg.dns_proxies[0].cl.cipher.text);
	config_free(c);
	free(c);
	config_free(&cfg);
	/* Without an ACL everything goes to remote_dns: no local_dns needed. */
	EXPECT_OK("dns_proxies = ( { listen = \"[::1]:53\"; remote_dns = \"8.8.8.8:53\";\n"
		  "  upstreams = ( \"ss://YWVzLTI1Ni1nY206cHc@192.0.2.1:8388\",\n"
		  "                \"ss://YWVzLTI1Ni1nY206cHc@192.0.2.2:8388\" ); } );\n", &cfg);
	CHECK_EQ(cfg.dns_proxies[0].cl.n_ups, 2);
	CHECK_EQ(cfg.dns_proxies[0].local_dns.port, 0);
	config_free(&cfg);
	EXPECT_ERR("dns_proxies = ( { listen = \"127.0.0.1:5353\"; server = \"1.2.3.4:8388\";\n"
		   "  method = \"aes-256-gcm\"; password = \"pw\"; } );\n",
		   "t.cfg:1: dns_proxies[0]: missing required key 'remote_dns'");
	EXPECT_ERR("dns_proxies = ( { listen = \"127.0.0.1:5353\"; server = \"1.2.3.4:8388\";\n"
		   "  method = \"aes-256-gcm\"; password = \"pw\"; remote_dns = \"8.8.8.8:53\";\n"
		   "  acl = \"/tmp/ssring-test-dns-proxy.acl\"; } );\n",
		   "t.cfg:1: dns_proxies[0]: missing required key 'local_dns'");
	EXPECT_ERR("dns_proxies = ( { listen = \"127.0.0.1:5353\"; server = \"1.2.3.4:8388\";\n"
		   "  method = \"aes-256-gcm\"; password = \"pw\"; remote_dns = \"8.8.8.8:53\";\n"
		   "  local_dns = \"router.lan:53\"; } );\n",
		   "t.cfg:3: dns_proxies[0].local_dns: ");
	EXPECT_ERR("dns_proxies = ( { listen = \"127.0.0.1:5353\"; server = \"1.2.3.4:8388\";\n"
		   "  method = \"aes-256-gcm\"; password = \"pw\"; remote_dns = \"8.8.8.8:53\";\n"
		   "  plugin = \"obfs-local\"; } );\n",
		   "t.cfg:3: dns_proxies[0]: unknown key 'plugin'");
	EXPECT_ERR("dns_proxies = ( { listen = \"127.0.0.1:5353\"; remote_dns = \"8.8.8.8:53\";\n"
		   "  server = \"ss://YWVzLTI1Ni1nY206cHc@1.2.3.4:8388?plugin=obfs-local\"; } );\n",
		   "t.cfg:1: dns_proxies[0]: a DNS forwarder runs no plugin");
	EXPECT_ERR("dns_proxies = ( { listen = \"127.0.0.1:5353\"; remote_dns = \"8.8.8.8:53\";\n"
		   "  servers_url = \"https://example.com/ss.json\"; } );\n",
		   "t.cfg:2: dns_proxies[0]: unknown key 'servers_url'");
	EXPECT_ERR("locals = ( { listen = \"127.0.0.1:5353\"; server = \"1.2.3.4:8388\";\n"
		   "  method = \"aes-256-gcm\"; password = \"pw\"; } );\n"
		   "dns_proxies = ( { listen = \"127.0.0.1:5353\"; server = \"1.2.3.4:8388\";\n"
		   "  method = \"aes-256-gcm\"; password = \"pw\";\n"
		   "  remote_dns = \"8.8.8.8:53\"; } );\n",
		   "t.cfg:3: dns_proxies[0].listen: ");
	/* With a redir (whose entries move when parsed: listen addresses noted
	 * before them must stay valid), each on its own address or not. */
	EXPECT_OK("redirs = ( { listen = \"127.0.0.1:1081\"; server = \"1.2.3.4:8388\";\n"
		  "  method = \"aes-256-gcm\"; password = \"pw\"; } );\n"
		  "dns_proxies = ( { listen = \"127.0.0.1:5353\"; server = \"1.2.3.4:8388\";\n"
		  "  method = \"aes-256-gcm\"; password = \"pw\"; remote_dns = \"8.8.8.8:53\"; } );\n",
		  &cfg);
	CHECK(cfg.n_tunnels == 1 && cfg.n_dns_proxies == 1);
	config_free(&cfg);
	EXPECT_ERR("redirs = ( { listen = \"127.0.0.1:5353\"; server = \"1.2.3.4:8388\";\n"
		   "  method = \"aes-256-gcm\"; password = \"pw\"; } );\n"
		   "dns_proxies = ( { listen = \"127.0.0.1:5353\"; server = \"1.2.3.4:8388\";\n"
		   "  method = \"aes-256-gcm\"; password = \"pw\"; remote_dns = \"8.8.8.8:53\"; } );\n",
		   "t.cfg:1: redirs[0].listen: ");
	unlink(acl);
}

int main(void)
{
	test_defaults();
	test_control_keys();
	test_every_key();
	test_unknown_keys();
	test_types();
	test_endpoint_errors();
	test_hostport_errors();
	test_duplicate_listen();
	test_nothing_to_run();
	test_parse_errors();
	test_redirs();
	test_udp_over_tcp();
	test_upstreams();
	test_users();
	test_units();
	test_quota_periods();
	test_server_users();
	test_many_server_users();
	test_secret_sources();
	test_links();
	test_plugins();
	test_upstream_check();
	test_method_none();
	test_dns_proxies();
	test_load_file_errors();
	test_shipped_configs();
	printf("test_config: OK\n");
	return 0;
}
