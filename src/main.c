/* SPDX-License-Identifier: MIT */
/*
 * ssring — the command line: parse arguments, load the config, and wire the
 * modules together: the resolver and the TCP and UDP relays run on every
 * worker; the control plane runs on this thread (ctl.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "conf/config.h"
#include "core/log.h"
#include "ctl/api.h"
#include "ctl/ctl.h"
#include "dns/dns.h"
#include "proto/aead.h"
#include "proto/ss2022.h"
#include "ctl/metrics.h"
#include "ctl/fetch.h"
#include "ctl/plugin.h"
#include "ctl/sip008.h"
#include "relay/dnsproxy.h"
#include "relay/relay.h"
#include "relay/sources.h"
#include "relay/stats.h"
#include "relay/tcp.h"
#include "relay/udp.h"
#include "relay/limits.h"
#include "relay/upstream.h"
#include "relay/users.h"

#ifndef SSRING_VERSION
#define SSRING_VERSION "0.0.0"
#endif

/*
 * What every worker runs, in this order: the resolver first, so that it is
 * torn down while the relays that wait on it still exist (loop.h).
 */
static struct loop_module *const worker_modules[] = { &dns_module,   &relay_module, &users_module,
						      &limits_module, &tcp_module, &udp_module,
						      &upcheck_module, &dnsproxy_module };

/*
 * What the control loop runs besides its own module. sip008 before plugin:
 * their pre_prepare hooks run in this order, and a SIP008 document's
 * server may bring a plugin, whose loopback port plugin's hook then picks.
 */
static struct loop_module *const ctl_modules[] = { &metrics_module, &api_module, &fetch_module,
						   &sip008_module, &plugin_module };

static void usage(FILE *f)
{
	fprintf(f, "usage: ssring -f FILE [-v|-q]   run the roles in FILE\n"
		   "       ssring --check -f FILE   validate FILE and exit\n"
		   "       ssring genkey METHOD     print a fresh random key for METHOD\n"
		   "       ssring url -f FILE [--host HOST] [--qr]   ss:// links of FILE's servers\n"
		   "       ssring url --config LINK [--listen ADDR]  a locals entry for LINK\n"
		   "       ssring --version | --help\n"
		   "  -f, --config FILE  libconfig file (see configs/)\n"
		   "  -v, --verbose      log at debug level\n"
		   "  -q, --quiet        log errors only\n"
		   "ciphers: %s 2022-blake3-aes-128-gcm 2022-blake3-aes-256-gcm "
		   "2022-blake3-chacha20-poly1305\n",
		aead_method_names());
}

static void version(void)
{
	printf("ssring %s\n", SSRING_VERSION);
	printf("wolfSSL %s (AES-NI: %s, AVX2: %s)\n", aead_backend_version(),
	       aead_backend_has_aesni() ? "yes" : "no", aead_backend_has_avx2() ? "yes" : "no");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'f' }, { "check", no_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },      { "quiet", no_argument, NULL, 'q' },
		{ "version", no_argument, NULL, 'V' },      { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = NULL;
	int check = 0, verbose = 0, quiet = 0, c, ret;
	char err[CONFIG_ERR_BYTES];
	struct config *cfg;
	struct ctl_opts ctl = { 0 };

	if (argc == 3 && strcmp(argv[1], "genkey") == 0)
		return cli_genkey(argv[2]);
	if (argc >= 2 && strcmp(argv[1], "url") == 0)
		return cli_url(argc - 1, argv + 1);
	while ((c = getopt_long(argc, argv, "f:vqVh", opts, NULL)) != -1) {
		switch (c) {
		case 'f': path = optarg; break;
		case 'c': check = 1; break;
		case 'v': verbose = 1; break;
		case 'q': quiet = 1; break;
		case 'V': version(); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 2;
	}
	cfg = config_new_file(path, err, sizeof(err), NULL);
	if (!cfg) {
		fprintf(stderr, "ssring: %s\n", err);
		return check ? 1 : 2;
	}
	if (check) {
		printf("%s: OK\n", path);
		config_unref(cfg);
		return 0;
	}
	log_detect_journal();
	log_set_format(cfg->log_format);
	log_set_level(verbose ? LOG_LEVEL_DEBUG : quiet ? LOG_LEVEL_ERROR : cfg->log_level);
	/* Once, before any worker counts a source: which sources share slots is ours alone. */
	if (sources_seed()) {
		log_error("no random bytes for the per-source limits (getrandom)");
		config_unref(cfg);
		return 2;
	}
	ctl.config_path = path;
	ctl.log_level_fixed = verbose || quiet;
	ctl.worker_mods = worker_modules;
	ctl.n_worker = sizeof(worker_modules) / sizeof(worker_modules[0]);
	ctl.ctl_mods = ctl_modules;
	ctl.n_ctl = sizeof(ctl_modules) / sizeof(ctl_modules[0]);
	ctl.on_ready = relay_log_roles;
	ret = ctl_main(cfg, &ctl);
	return ret;
}
