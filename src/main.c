/* SPDX-License-Identifier: MIT */
/* ssring — command line: parse arguments, load the config, start workers. */
#include <ares.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "aead.h"
#include "config.h"
#include "log.h"
#include "worker.h"

#ifndef SSRING_VERSION
#define SSRING_VERSION "0.0.0"
#endif

static void usage(FILE *f)
{
	fprintf(f, "usage: ssring -f FILE [-v|-q]   run the roles in FILE\n"
		   "       ssring --check -f FILE   validate FILE and exit\n"
		   "       ssring --version | --help\n"
		   "  -f, --config FILE  libconfig file (see configs/)\n"
		   "  -v, --verbose      log at debug level\n"
		   "  -q, --quiet        log errors only\n"
		   "ciphers: %s\n",
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
	struct config cfg;

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
	if (config_load_file(path, &cfg, err, sizeof(err))) {
		fprintf(stderr, "ssring: %s\n", err);
		return check ? 1 : 2;
	}
	if (check) {
		printf("%s: OK\n", path);
		config_free(&cfg);
		return 0;
	}
	log_set_level(verbose ? LOG_LEVEL_DEBUG : quiet ? LOG_LEVEL_ERROR : cfg.log_level);
	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
		fprintf(stderr, "ssring: cannot initialise c-ares\n");
		return 1;
	}
	ret = worker_run_all(&cfg);
	ares_library_cleanup();
	config_free(&cfg);
	return ret;
}
