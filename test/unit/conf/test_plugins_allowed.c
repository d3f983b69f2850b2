/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for plugins_allowed (conf/config.c, parse_control.c): the
 * default list, the key's forms and errors (a path is refused), the rule
 * itself, and where it applies — a SIP008 document's servers naming
 * another plugin are skipped with a note naming them while the others
 * serve, in a document file and in servers_cache read at start alike; a
 * document with nothing left is refused. Plugins and links in the
 * operator's own file are not limited.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif
#include "conf/config.h"
#include "proto/sip008.h"

#include <errno.h>
#include <unistd.h>

#include "check.h"

static char err[CONFIG_ERR_BYTES];
static char dir[] = "/tmp/ssring-test-plugins-XXXXXX";

static int load(const char *text, struct config *cfg)
{
	return config_load_string(text, "t.cfg", cfg, err, sizeof(err));
}

static void expect_err(int line, const char *text, const char *want)
{
	struct config cfg;

	if (load(text, &cfg) != -EINVAL || strncmp(err, want, strlen(want))) {
		fprintf(stderr, "%s:%d: message\n  '%s'\nexpected to start with\n  '%s'\n",
			__FILE__, line, err, want);
		exit(1);
	}
}
#define EXPECT_ERR(text, want) expect_err(__LINE__, (text), (want))

static void write_file(const char *name, const char *content)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	CHECK(fputs(content, f) >= 0);
	CHECK(fclose(f) == 0);
}

/* Load dir/relay.cfg with text: its return, err set. */
static int load_file(const char *text, struct config *cfg)
{
	char path[512];

	write_file("relay.cfg", text);
	snprintf(path, sizeof(path), "%s/relay.cfg", dir);
	return config_load_file(path, cfg, err, sizeof(err));
}

#define TUNNEL "tunnels = ( { listen = \"127.0.0.1:5300\"; forward = \"127.0.0.1:53\";\n"
#define SERVER                                                                              \
	"servers = ( { listen = \"127.0.0.1:8388\"; method = \"aes-256-gcm\";\n"               \
	"  password = \"p\"; } );\n"

static void test_key(void)
{
	struct config cfg;

	CHECK_EQ(load(SERVER, &cfg), 0);
	CHECK_EQ(cfg.plugins_allowed.n, 4);
	CHECK(!strcmp(cfg.plugins_allowed.name[0], "obfs-local"));
	CHECK(!strcmp(cfg.plugins_allowed.name[1], "v2ray-plugin"));
	CHECK(!strcmp(cfg.plugins_allowed.name[2], "ss-v2ray-plugin"));
	CHECK(!strcmp(cfg.plugins_allowed.name[3], "xray-plugin"));
	config_free(&cfg);
	CHECK_EQ(load("plugins_allowed = [ \"obfs-local\", \"kcptun-client_2.0+x\" ];\n" SERVER,
		      &cfg), 0);
	CHECK_EQ(cfg.plugins_allowed.n, 2);
	CHECK(!strcmp(cfg.plugins_allowed.name[1], "kcptun-client_2.0+x"));
	config_free(&cfg);
	CHECK_EQ(load("plugins_allowed = ( );\n" SERVER, &cfg), 0); /* none at all */
	CHECK_EQ(cfg.plugins_allowed.n, 0);
	config_free(&cfg);
	EXPECT_ERR("plugins_allowed = [ \"obfs-local\",\n  \"/usr/bin/obfs-local\" ];\n" SERVER,
		   "t.cfg:2: plugins_allowed[1]: '/usr/bin/obfs-local' is a path");
	EXPECT_ERR("plugins_allowed = [ \"../x\" ];\n" SERVER,
		   "t.cfg:1: plugins_allowed[0]: '../x' is a path");
	EXPECT_ERR("plugins_allowed = [ \"\" ];\n" SERVER,
		   "t.cfg:1: plugins_allowed[0]: must be a program name");
	EXPECT_ERR("plugins_allowed = [ \"a b\" ];\n" SERVER,
		   "t.cfg:1: plugins_allowed[0]: must be a program name");
	EXPECT_ERR("plugins_allowed = ( 1 );\n" SERVER,
		   "t.cfg:1: plugins_allowed[0]: must be a program name");
	EXPECT_ERR("plugins_allowed = \"obfs-local\";\n" SERVER,
		   "t.cfg:1: plugins_allowed: must be an array");
	EXPECT_ERR("plugins_allowed = [ \"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\",\n"
		   "  \"i\", \"j\", \"k\", \"l\", \"m\", \"n\", \"o\", \"p\", \"q\" ];\n" SERVER,
		   "t.cfg:1: plugins_allowed: has 17 entries; at most 16");
}

static void test_rule(void)
{
	struct config cfg;
	const struct config_plugins_allowed *pa;

	config_defaults(&cfg);
	pa = &cfg.plugins_allowed;
	CHECK(config_plugin_allowed(pa, ""));
	CHECK(config_plugin_allowed(pa, "obfs-local"));
	CHECK(config_plugin_allowed(pa, "ss-v2ray-plugin"));
	CHECK(!config_plugin_allowed(pa, "/bin/sh"));
	CHECK(!config_plugin_allowed(pa, "sh"));
	CHECK(!config_plugin_allowed(pa, "/usr/bin/obfs-local")); /* a path, even to one */
	CHECK(!config_plugin_allowed(pa, "./obfs-local"));
	CHECK(!config_plugin_allowed(pa, "obfs-local "));
	CHECK(!config_plugin_allowed(pa, "OBFS-LOCAL"));
	CHECK(!config_plugin_allowed(NULL, "obfs-local"));
}

static char skipped[4][512];
static size_t n_skipped;

static void on_skip(void *arg, const char *why)
{
	(void)arg;
	if (n_skipped < 4)
		snprintf(skipped[n_skipped], sizeof(skipped[0]), "%s", why);
	n_skipped++;
}

#define ENTRY(remarks, port, plugin)                                                               \
	"{\"remarks\": \"" remarks "\", \"server\": \"127.0.0.1\", \"server_port\": " #port ", "   \
	"\"method\": \"aes-256-gcm\", \"password\": \"pw\"" plugin "}"

static const char doc_mixed[] =
	"{\"version\": 1, \"servers\": ["
	ENTRY("evil", 1001, ", \"plugin\": \"/bin/sh\", \"plugin_opts\": \"-c id\"") ","
	ENTRY("plain", 1002, "") ","
	ENTRY("other", 1003, ", \"plugin\": \"kcptun\"") ","
	ENTRY("obfs", 1004, ", \"plugin\": \"obfs-local\", \"plugin_opts\": \"obfs=http\"") "]}";

static void test_vet(void)
{
	struct config cfg;
	struct sip008_doc d;
	struct hostport hp;
	struct config_cipher c = { 0 };
	struct config_plugin p;
	char why[256];

	config_defaults(&cfg);
	CHECK_EQ(sip008_parse(doc_mixed, strlen(doc_mixed), &d, why, sizeof(why)), 0);
	CHECK_EQ(d.n_usable, 4);
	/* without vetting, the last line refuses it all the same */
	CHECK_EQ(config_take_sip008(&cfg.plugins_allowed, &hp, &c, &p, &d.s[0], why, sizeof(why)),
		 -EPERM);
	CHECK(strstr(why, "'/bin/sh' is not in plugins_allowed"));
	CHECK_EQ(config_sip008_vet(&cfg.plugins_allowed, &d, on_skip, NULL), 2);
	CHECK_EQ(n_skipped, 2);
	CHECK(!strcmp(skipped[0], "servers[0] (evil at 127.0.0.1:1001) names the plugin '/bin/sh', "
				  "which plugins_allowed does not list: skipped"));
	CHECK(strstr(skipped[1], "servers[2] (other at 127.0.0.1:1003)") &&
	      strstr(skipped[1], "'kcptun'"));
	CHECK_EQ(d.n_usable, 2);
	CHECK(!d.s[0].usable && d.s[1].usable && !d.s[2].usable && d.s[3].usable);
	CHECK(sip008_first(&d) == &d.s[1]);
	CHECK_EQ(config_take_sip008(&cfg.plugins_allowed, &hp, &c, &p, &d.s[3], why, sizeof(why)),
		 0);
	CHECK(!strcmp(p.cmd, "obfs-local") && !strcmp(p.opts, "obfs=http"));
	free(c.text);
	sip008_free(&d);
	/* an empty list allows no plugin at all, and none is always fine */
	cfg.plugins_allowed.n = 0;
	CHECK_EQ(sip008_parse(doc_mixed, strlen(doc_mixed), &d, why, sizeof(why)), 0);
	CHECK_EQ(config_sip008_vet(&cfg.plugins_allowed, &d, NULL, NULL), 3);
	CHECK(sip008_first(&d) == &d.s[1] && d.n_usable == 1);
	sip008_free(&d);
}

/* A document file as servers_url, and servers_cache read at start. */
static void test_loader(void)
{
	struct config cfg;

	write_file("mixed.json", doc_mixed);
	CHECK_EQ(load_file(TUNNEL "  servers_url = \"mixed.json\"; } );\n", &cfg), 0);
	CHECK_EQ(cfg.tunnels[0].cl.server.port, 1002); /* the plain one, not /bin/sh's */
	CHECK(!cfg.tunnels[0].cl.plugin.cmd[0]);
	CHECK(!strcmp(cfg.tunnels[0].cl.sub.remarks, "plain"));
	CHECK(strstr(cfg.tunnels[0].cl.sub.note,
		     "servers[0] (evil at 127.0.0.1:1001) names the plugin '/bin/sh'") &&
	      strstr(cfg.tunnels[0].cl.sub.note, "(and 1 more)"));
	config_free(&cfg);
	/* the operator's list decides: with kcptun only, /bin/sh and obfs-local are skipped */
	CHECK_EQ(load_file("plugins_allowed = [ \"kcptun\" ];\n"
			   TUNNEL "  servers_url = \"mixed.json\"; } );\n", &cfg), 0);
	CHECK_EQ(cfg.tunnels[0].cl.server.port, 1002);
	CHECK(strstr(cfg.tunnels[0].cl.sub.note, "'/bin/sh'") &&
	      strstr(cfg.tunnels[0].cl.sub.note, "(and 1 more)"));
	config_free(&cfg);
	/* a document with nothing left: a configuration error that names the server */
	write_file("evil.json", "{\"version\": 1, \"servers\": ["
				ENTRY("evil", 1001, ", \"plugin\": \"/bin/sh\"") "]}");
	CHECK_EQ(load_file(TUNNEL "  servers_url = \"evil.json\"; } );\n", &cfg), -EINVAL);
	CHECK(strstr(err, "relay.cfg:2: tunnels[0].servers_url: ") &&
	      strstr(err, "no server left") && strstr(err, "names the plugin '/bin/sh'"));
	/* servers_cache edited to name /bin/sh: refused at start, no server until fetched */
	write_file("cache.json", "{\"version\": 1, \"servers\": ["
				 ENTRY("edited", 1001, ", \"plugin\": \"/bin/sh\"") "]}");
	CHECK_EQ(load_file("locals = ( { listen = \"127.0.0.1:1080\";\n"
			   "  servers_url = \"https://provider.example/s.json\";\n"
			   "  servers_cache = \"cache.json\"; } );\n", &cfg), 0);
	CHECK_EQ(cfg.locals[0].cl.server.port, 0);
	CHECK(!cfg.locals[0].cl.plugin.cmd[0]);
	CHECK(strstr(cfg.locals[0].cl.sub.note, "servers_cache ") &&
	      strstr(cfg.locals[0].cl.sub.note,
		     "servers[0] (edited at 127.0.0.1:1001) names the plugin '/bin/sh'"));
	config_free(&cfg);
	/* a cache with the bad one first and a plain one: the plain one is used */
	write_file("cache.json", doc_mixed);
	CHECK_EQ(load_file("locals = ( { listen = \"127.0.0.1:1080\";\n"
			   "  servers_url = \"https://provider.example/s.json\";\n"
			   "  servers_cache = \"cache.json\"; } );\n", &cfg), 0);
	CHECK_EQ(cfg.locals[0].cl.server.port, 1002);
	CHECK(!cfg.locals[0].cl.plugin.cmd[0]);
	CHECK(strstr(cfg.locals[0].cl.sub.note, "'/bin/sh'"));
	config_free(&cfg);
	/* a cache that is a symbolic link (to a good document even): not read */
	{
		char link[512], target[512];

		snprintf(link, sizeof(link), "%s/linked.json", dir);
		snprintf(target, sizeof(target), "%s/cache.json", dir);
		unlink(link);
		CHECK(symlink(target, link) == 0);
		CHECK_EQ(load_file("locals = ( { listen = \"127.0.0.1:1080\";\n"
				   "  servers_url = \"https://provider.example/s.json\";\n"
				   "  servers_cache = \"linked.json\"; } );\n", &cfg), 0);
		CHECK_EQ(cfg.locals[0].cl.server.port, 0);
		CHECK(strstr(cfg.locals[0].cl.sub.note, "a symbolic link, refused"));
		config_free(&cfg);
		unlink(link);
	}
}

/* The operator's own plugins and links: whatever they name. */
static void test_operator(void)
{
	struct config cfg;

	CHECK_EQ(load("plugins_allowed = [ ];\n"
		      "locals = ( { listen = \"127.0.0.1:1080\"; server = \"h.example:1\";\n"
		      "  method = \"aes-256-gcm\"; password = \"p\";\n"
		      "  plugin = \"/opt/my/plugin\"; },\n"
		      "  { listen = \"127.0.0.1:1081\";\n"
		      "    server = \"ss://YWVzLTEyOC1nY206dGVzdA@192.168.100.1:8888/"
		      "?plugin=/opt/x%3Bk%3Dv\"; } );\n",
		      &cfg), 0);
	CHECK(!strcmp(cfg.locals[0].cl.plugin.cmd, "/opt/my/plugin"));
	CHECK(!strcmp(cfg.locals[1].cl.plugin.cmd, "/opt/x") &&
	      !strcmp(cfg.locals[1].cl.plugin.opts, "k=v"));
	config_free(&cfg);
}

int main(void)
{
	CHECK(mkdtemp(dir) != NULL);
	test_key();
	test_rule();
	test_vet();
	test_loader();
	test_operator();
	for (size_t i = 0; i < 4; i++) {
		static const char *const files[] = { "relay.cfg", "mixed.json", "evil.json",
						     "cache.json" };
		char path[512];

		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
	printf("test_plugins_allowed: ok\n");
	return 0;
}
