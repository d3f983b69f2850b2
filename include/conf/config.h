/* SPDX-License-Identifier: MIT */
/*
 * config — the configuration model (struct config) and its loader. The
 * loader (src/conf/parse*.c) is the only code that includes libconfig. The
 * loaded config is read-only after config_load_* returns and is shared by
 * all workers.
 */
#ifndef SSRING_CONFIG_H
#define SSRING_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/aead.h"
#include "proto/hostport.h"
#include "proto/ss2022.h"

#define CONFIG_MAX_DNS_SERVERS 8
#define CONFIG_MAX_USERS 64
#define CONFIG_MAX_WORKERS 256
#define CONFIG_ERR_BYTES 512

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

enum dns_prefer {
	DNS_PREFER_IPV4 = 0,
	DNS_PREFER_IPV6
};

/* What a server does with a connection that fails authentication. */
enum probe_policy {
	PROBE_DRAIN = 0,  /* keep reading, say nothing, close after a random delay */
	PROBE_CLOSE,      /* reset at once */
	PROBE_FORWARD     /* relay the bytes to a decoy and back, as a plain proxy */
};

/* Cipher + master key: what every ss endpoint (server, local, tunnel) needs. */
struct config_cipher {
	const struct aead_method *method; /* for 2022 methods: the chunk AEAD */
	uint8_t key[AEAD_MAX_KEY_BYTES]; /* master key (from password or base64 key) */
	const struct ss2022_method *m2022; /* non-NULL: a 2022-edition method */
	struct ss2022_keys keys2022;     /* its PSK (and identity keys, for EIH) */
};

struct config_user {
	char name[256];
	char password[256];
};

struct config_server {
	struct hostport listen;  /* IP literal required */
	struct config_cipher cipher;
	bool udp;                /* default true */
	bool allow_private;      /* default false */
	struct ss2022_user *users2022; /* 2022 AES methods: users = ( { name; key; } ) */
	size_t n_users2022;
	struct ss2022_server_cfg srv2022; /* the 2022 server keys (m2022 set) */
	enum probe_policy probe;       /* default drain */
	struct hostport probe_forward; /* decoy for PROBE_FORWARD (IP literal) */
	int line;                /* line of the group in the file, for messages */
};

struct config_local {
	struct hostport listen;  /* IP literal required */
	struct hostport server;  /* IP literal or host name */
	struct config_cipher cipher;
	bool udp;                /* default true */
	struct config_user *users; /* SOCKS5 username/password; none = no auth */
	size_t n_users;
	int line;
};

struct config_tunnel {
	struct hostport listen;
	struct hostport forward;
	struct hostport server;
	struct config_cipher cipher;
	bool tcp;                /* default true */
	bool udp;                /* default true */
	int line;
};

struct config {
	int workers;             /* default: number of online CPUs */
	enum log_level log_level; /* default info */
	struct {
		uint32_t tcp_sessions;     /* per process; default 65536 */
		uint32_t udp_associations; /* default 16384 */
	} limits;
	struct {                 /* seconds */
		uint32_t connect;    /* default 10 */
		uint32_t handshake;  /* default 10 */
		uint32_t tcp_idle;   /* default 300 */
		uint32_t udp_idle;   /* default 300 */
		uint32_t shutdown;   /* graceful shutdown deadline; default 5 */
	} timeouts;
	struct {
		struct hostport servers[CONFIG_MAX_DNS_SERVERS];
		size_t n_servers;    /* 0: use /etc/resolv.conf */
		uint32_t cache_entries; /* default 4096 */
		enum dns_prefer prefer;  /* default ipv4 */
	} dns;
	struct config_server *servers;
	size_t n_servers;
	struct config_local *locals;
	size_t n_locals;
	struct config_tunnel *tunnels;
	size_t n_tunnels;
};

/*
 * Load and validate. On failure returns -EINVAL (or -ENOENT/-EIO for the
 * file) and writes one message "FILE:LINE: what is wrong" into err.
 * Unknown keys are errors. At least one of servers/locals/tunnels is required.
 */
int config_load_file(const char *path, struct config *cfg, char *err, size_t err_len);
/* Same from a string (tests); name is used in messages. */
int config_load_string(const char *text, const char *name, struct config *cfg, char *err,
		       size_t err_len);
void config_free(struct config *cfg);
/* Every key at its default; no roles. */
void config_defaults(struct config *cfg);
const char *config_log_level_name(enum log_level l);
/* The names of enum log_level, NULL-terminated. */
extern const char *const config_log_level_names[];

#endif
