/* SPDX-License-Identifier: MIT */
/*
 * config — the configuration model (struct config) and its loader. The
 * loader (src/conf/parse*.c) is the only code that includes libconfig. The
 * loaded config is read-only after config_load_* returns and is shared by
 * all workers.
 */
#ifndef SSRING_CONFIG_H
#define SSRING_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/aead.h"
#include "proto/hostport.h"
#include "proto/ss2022.h"

#define CONFIG_MAX_DNS_SERVERS 8
#define CONFIG_MAX_USERS 64
#define CONFIG_MAX_WORKERS 256
#define CONFIG_ERR_BYTES 512
#define CONFIG_NAME_MAX 64

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

/*
 * What the control plane attaches to a role entry of a snapshot before it
 * hands the snapshot to the workers (never parsed from the file).
 */
struct config_rt {
	uint32_t ep;             /* stable endpoint id: same (role, listen) = same id */
	int *tcp_fds;            /* listening sockets made for this snapshot, one per */
	int *udp_fds;            /*   worker (taken ones are -1); NULL: none, or the */
				 /*   worker keeps the socket it has */
	uint32_t *uids;          /* servers: a stable user id per users2022 entry */
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
	struct config_rt rt;
};

struct config_local {
	struct hostport listen;  /* IP literal required */
	struct hostport server;  /* IP literal or host name */
	struct config_cipher cipher;
	bool udp;                /* default true */
	struct config_user *users; /* SOCKS5 username/password; none = no auth */
	size_t n_users;
	int line;
	struct config_rt rt;
};

struct config_tunnel {
	struct hostport listen;
	struct hostport forward;
	struct hostport server;
	struct config_cipher cipher;
	bool tcp;                /* default true */
	bool udp;                /* default true */
	int line;
	struct config_rt rt;
};

/*
 * A configuration snapshot. Loaded, validated and then never changed while
 * anyone uses it (the control plane fills in struct config_rt before it
 * publishes it); a reload makes a new one with the next generation. Heap
 * snapshots (config_new_file) are reference-counted: every worker holds
 * one while it has sessions on it, and the last config_unref frees it.
 */
struct config {
	uint64_t generation;     /* 1 for the first, +1 per successful reload */
	_Atomic unsigned refs;
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
	/* Privilege drop after the listeners are bound: "" = stay as started. */
	char user[CONFIG_NAME_MAX];
	char group[CONFIG_NAME_MAX];
	uid_t uid;               /* resolved from user (and group, or user's group) */
	gid_t gid;
	struct {
		bool enabled;
		struct hostport listen;  /* GET /metrics (Prometheus text format) */
	} metrics;
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
/*
 * A heap snapshot from a file (refs = 1), or NULL with the message in err
 * (errno-style code in *ret if ret is not NULL).
 */
struct config *config_new_file(const char *path, char *err, size_t err_len, int *ret);
void config_ref(const struct config *cfg);
/* Drop a reference; the last one frees the snapshot (and closes its fds). */
void config_unref(const struct config *cfg);
/* Is a role entry the same listener (role and address) in two snapshots? */
bool config_same_listen(const struct hostport *a, const struct hostport *b);
/* Every key at its default; no roles. */
void config_defaults(struct config *cfg);
const char *config_log_level_name(enum log_level l);
/* The names of enum log_level, NULL-terminated. */
extern const char *const config_log_level_names[];

#endif
