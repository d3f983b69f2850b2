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
#define CONFIG_MAX_LOCAL_USERS 4096 /* SOCKS5 username/password pairs of a local */
#define CONFIG_MAX_WORKERS 256
#define CONFIG_ERR_BYTES 512
#define CONFIG_NAME_MAX 64
#define CONFIG_TOKEN_MAX 256
#define CONFIG_API_HOSTS_MAX 8
#define CONFIG_PATH_MAX 1024
#define CONFIG_PLUGIN_MAX 256       /* a SIP003 plugin's command */
#define CONFIG_PLUGIN_OPTS_MAX 1024 /* its SS_PLUGIN_OPTIONS */

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

/* How log lines are written (core/log.c): read at start only. */
enum log_format {
	LOG_FORMAT_TEXT = 0,
	LOG_FORMAT_JSON  /* one JSON object a line, for log shippers */
};

enum dns_prefer {
	DNS_PREFER_IPV4 = 0,
	DNS_PREFER_IPV6
};

/* What a server does with a connection that fails authentication. */
enum probe_policy {
	PROBE_DRAIN = 0,  /* keep reading, say nothing, close at a deadline drawn at accept */
	PROBE_CLOSE,      /* the same, at accept + timeouts.handshake exactly */
	PROBE_FORWARD     /* relay the bytes to a decoy and back, as a plain proxy */
};

/*
 * A SIP003 plugin in front of an endpoint (ctl/plugin.c runs it): the
 * command (found through PATH) and its options; cmd "" = none.
 */
struct config_plugin {
	char cmd[CONFIG_PLUGIN_MAX];
	char opts[CONFIG_PLUGIN_OPTS_MAX];
};

/*
 * plugins_allowed: the programs a remote source (a SIP008 document, its
 * servers_cache) may have ssring run as a plugin — bare names found through
 * PATH, never a path. Plugins in the operator's own file are not limited.
 */
#define CONFIG_PLUGINS_ALLOWED_MAX 16
#define CONFIG_PLUGIN_NAME_MAX 64
struct config_plugins_allowed {
	size_t n;
	char name[CONFIG_PLUGINS_ALLOWED_MAX][CONFIG_PLUGIN_NAME_MAX];
};

/*
 * A local's or tunnel's server list from a SIP008 document (ctl/sip008.c
 * fetches it): url "" = not used. The loader fills the entry's server from
 * a file url, or from the cache of an https one; without either the entry
 * has no server yet (server.port == 0) until the first fetch.
 */
struct config_sip008 {
	char url[CONFIG_PATH_MAX];   /* "https://..." or a file (absolute after loading) */
	char cache[CONFIG_PATH_MAX]; /* the last good document; "" = none */
	char ca[CONFIG_PATH_MAX];    /* CA file for https; "" = the system's */
	uint32_t refresh;            /* seconds between fetches */
	char remarks[256];           /* of the server in use */
	char note[512];              /* what the loader could not use (a bad cache, a
				      * server whose plugin is not allowed) */
};

/* Cipher + master key: what every ss endpoint (server, local, tunnel) needs. */
struct config_cipher {
	const struct aead_method *method; /* for 2022 methods: the chunk AEAD; NULL: none */
	uint8_t key[AEAD_MAX_KEY_BYTES]; /* master key (from password or base64 key) */
	const struct ss2022_method *m2022; /* non-NULL: a 2022-edition method */
	struct ss2022_keys keys2022;     /* its PSK (and identity keys, for EIH) */
	char *text;                      /* the secret as given (for links); NULL if none */
	bool text_is_key;                /* text is a base64 key, not a password */
	bool none;                       /* method "none" ("plain"): no cipher, no key */
};

struct config_user {
	char name[256];
	char password[256];
};

struct config_server;

/* ---- a server's users ---------------------------------------------------- */

enum quota_period {
	QUOTA_MONTH = 0,         /* calendar month, UTC (the default) */
	QUOTA_DAY,               /* calendar day, UTC */
	QUOTA_NEVER              /* one budget for good */
};

/* What one user may use; 0 = no limit. */
struct user_limits {
	uint64_t rate;           /* payload bytes per second, each way */
	uint64_t quota;          /* payload bytes per quota period, up + down */
	enum quota_period quota_period;
	uint32_t max_sessions;   /* TCP sessions + UDP associations open at once */
	uint32_t max_ips;        /* distinct client addresses within 5 minutes */
};

struct config_srv_user {
	char *name;
	char *secret;            /* as given: a password, or a base64 key / uPSK */
	uint8_t key[AEAD_MAX_KEY_BYTES]; /* AEAD-2017: the master key */
	struct user_limits limits; /* in force: its own, else the server's user_limits */
	uint8_t own_limits;      /* limits came with the user */
	uint8_t is_key;          /* secret is a base64 key (else a password) */
	uint8_t from_api;        /* added through the management API */
};

/*
 * A server's users, never changed once published: the management API
 * makes a new set for a new snapshot. Snapshots that did not change a
 * server's users share its set (reference-counted). Up to
 * CONFIG_MAX_SERVER_USERS.
 */
struct config_users {
	_Atomic unsigned refs;
	size_t n;
	struct config_srv_user *u;
	struct ss2022_user *u2022;  /* 2022 AES methods: parallel to u (uPSK, hash) */
	uint32_t *by_name;          /* open addressing: index + 1, 0 = empty */
	uint32_t name_mask;
	uint32_t *by_hash;          /* 2022: identity hash -> index + 1 */
	uint32_t hash_mask;
};

#define CONFIG_MAX_SERVER_USERS 1000000
#define CONFIG_USER_NAME_MAX 128
/* max_ips: a device limit, not an address plan */
#define CONFIG_MAX_IPS 64

/* Index of the user called name, or -1. */
int config_users_find(const struct config_users *us, const char *name);
/*
 * Build both indexes (after u, u2022 and n are set). 0, -ENOMEM, or
 * -EEXIST with *dup the index of a name seen before.
 */
int config_users_index(struct config_users *us, size_t *dup);
/* A user name the API and the state file accept: 1..CONFIG_USER_NAME_MAX of A-Za-z0-9-_.@ */
bool config_user_name_ok(const char *name);
/* 1..max characters of A-Za-z0-9-_.@ (server and user names: safe in URL paths). */
bool config_name_ok(const char *name, size_t max);
/* An empty set (refs = 1) with room for cap users; NULL without memory. */
struct config_users *config_users_new(size_t cap, bool with_2022);
void config_users_ref(struct config_users *us);
/* Drop a reference; the last one wipes the secrets and frees (NULL is fine). */
void config_users_unref(struct config_users *us);
/*
 * Make user i of us (room for it, us->n not changed) from a secret for
 * server cipher c: a password (AEAD-2017 only) or a base64 key (the master
 * key, or the uPSK of a 2022 user). 0, or -EINVAL with the reason in err.
 */
int config_user_make(struct config_users *us, size_t i, const struct config_cipher *c,
		     const char *name, const char *secret, bool is_password, char *err,
		     size_t err_len);
/* Point a 2022 server's identity lookup at its (new) user set. */
void config_server_bind_users(struct config_server *sv);
/*
 * A new snapshot (refs = 1, the same generation) with everything of src:
 * user sets are shared, the rest copied, struct config_rt left empty for
 * the control plane to fill. NULL without memory.
 */
struct config *config_clone(const struct config *src);
/* The first quota period boundary at or before t (Unix seconds, UTC). */
int64_t config_quota_period_start(enum quota_period p, int64_t t);

/*
 * What the control plane attaches to a role entry of a snapshot before it
 * hands the snapshot to the workers (never parsed from the file).
 */
struct config_rt {
	uint32_t ep;             /* stable endpoint id: same (role, listen) = same id */
	int *tcp_fds;            /* listening sockets made for this snapshot, one per */
	int *udp_fds;            /*   worker (taken ones are -1); NULL: none, or the */
				 /*   worker keeps the socket it has */
	uint32_t *uids;          /* servers: a stable user id per user (users->u[i]) */
	uint32_t *uid_index;     /* servers: uid -> user index + 1 (open addressing) */
	uint32_t uid_mask;
	struct upstream_health *health; /* locals/tunnels with upstreams: one each */
};

/*
 * A loaded ACL file (proto/acl.h), shared by the snapshots that name it
 * (reference-counted like a server's users).
 */
struct config_acl {
	_Atomic unsigned refs;
	struct acl *acl;
	char path[CONFIG_PATH_MAX];
};

/* Load and parse an ACL file: NULL with "PATH: ..." in err. */
struct config_acl *config_acl_load(const char *path, char *err, size_t err_len);
void config_acl_ref(struct config_acl *a);
void config_acl_unref(struct config_acl *a);

/*
 * How a role's own outbound sockets are made: to targets (servers, and
 * locals' direct connections) and to the ss server (locals, tunnels).
 */
struct config_outbound {
	struct sockaddr_storage bind; /* outbound_bind_address; family 0 = none */
	char iface[16];               /* outbound_interface (SO_BINDTODEVICE); "" = none */
	uint32_t fwmark;              /* outbound_fwmark (SO_MARK); 0 = none */
	bool fast_open;               /* TCP Fast Open on listeners and connects */
	bool mptcp;                   /* Multipath TCP on listeners and connects */
};

struct config_server {
	struct hostport listen;  /* IP literal required */
	struct config_acl *acl;  /* client black/white lists, outbound block list; NULL = none */
	struct config_outbound outbound;
	struct config_plugin plugin;
	/* Where the TCP listener binds: listen, or with a plugin (which binds
	 * listen itself) a loopback port the control plane picks. */
	struct hostport tcp_listen;
	struct config_cipher cipher;
	bool udp;                /* default true */
	bool allow_private;      /* default false */
	bool allow_plaintext;    /* method none on a non-loopback listener without a plugin */
	char name[CONFIG_NAME_MAX]; /* "" = none; the management API's path */
	struct config_users *users;  /* NULL = one secret for all (cipher); a reference */
	struct user_limits user_limits; /* the default of its users' limits */
	uint32_t trial_budget_ms; /* AEAD-2017 users: cold-trial CPU ms per second per worker */
	struct ss2022_server_cfg srv2022; /* the 2022 server keys (m2022 set) */
	enum probe_policy probe;       /* default drain */
	struct hostport probe_forward; /* decoy for PROBE_FORWARD (IP literal) */
	int line;                /* line of the group in the file, for messages */
	struct config_rt rt;
};

enum redir_mode {
	REDIR_NONE = 0,          /* a tunnel: forward */
	REDIR_REDIRECT,          /* NAT REDIRECT: SO_ORIGINAL_DST */
	REDIR_TPROXY             /* TPROXY: the accepted socket's own address */
};

/* One of several servers a local or tunnel chooses from (relay/upstream.c). */
struct config_upstream {
	struct hostport server;
	struct config_cipher cipher;
	struct config_plugin plugin;  /* its SIP003 plugin, or none */
	struct hostport tcp_server;   /* where its TCP goes: server, or its plugin's port */
};

/*
 * upstream_check = { ... }: each upstream is asked now and then, through
 * the server, for target (relay/upcheck.c). interval 0 = no check.
 */
#define CONFIG_CHECK_REQUEST_MAX 1024
struct config_upcheck {
	uint32_t interval;        /* seconds between checks of one upstream (±50 %) */
	uint32_t timeout;         /* seconds a check may take, connect to answer */
	struct hostport target;   /* what the server is asked to connect to */
	bool http;                /* url: the answer must begin with "HTTP/1." */
	uint16_t request_len;     /* bytes sent to target; 0: it speaks first */
	char request[CONFIG_CHECK_REQUEST_MAX];
};

/*
 * What every client side has (locals, tunnels, redirs): where it listens,
 * the server or servers it speaks to and how, its routing and its outbound
 * options. The client code of the relays works on it alone.
 */
struct config_client {
	struct hostport listen;  /* IP literal required */
	struct hostport server;  /* IP literal or host name */
	struct config_plugin plugin;
	/* Where TCP goes: server, or with a plugin its loopback port. UDP
	 * always goes to server (SIP003). */
	struct hostport tcp_server;
	struct config_sip008 sub;
	struct config_cipher cipher;
	/* upstreams = (...): several servers (server and cipher are then the
	 * first one's, cipher.text NULL); n_ups = 0 without */
	struct config_upstream *ups;
	size_t n_ups;
	uint32_t upstream_retry;  /* seconds a failed upstream stays out (first time) */
	struct config_upcheck check; /* upstream_check (only with upstreams) */
	bool udp;                /* default true */
	bool udp_over_tcp;       /* UDP through a TCP session to the server (relay/uot*.c) */
	struct config_acl *acl;  /* bypass/proxy lists; NULL = all proxied */
	struct config_outbound outbound;
	int line;
	struct config_rt rt;
};

struct config_local {
	struct config_client cl;
	struct config_user *users; /* SOCKS5 username/password; none = no auth */
	size_t n_users;
};

struct config_tunnel {
	struct config_client cl;
	struct hostport forward;
	/* redirs = (...) are tunnels whose target is each connection's original
	 * destination (transparent proxy, like ss-redir): */
	uint8_t redir;           /* enum redir_mode */
	bool tcp;                /* default true */
};

/*
 * dns_proxies = (...): a DNS forwarder on listen (UDP and TCP) that follows
 * the ACL (relay/dnsproxy.c): names it bypasses are asked of local_dns over
 * UDP, the others of remote_dns through the ss server, over TCP.
 */
struct config_dns_proxy {
	struct config_client cl;    /* no servers_url, plugin or upstream_check */
	struct hostport local_dns;  /* an IP literal; port 0 = none (needs no acl) */
	struct hostport remote_dns; /* as the server sees it: an IP literal or a name */
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
	enum log_format log_format; /* default text */
	struct {
		uint32_t tcp_sessions;     /* per process; default 65536 */
		uint32_t udp_associations; /* default 16384 */
		/* per client source (IPv4 address, IPv6 /64), process-wide; 0 = none */
		uint32_t handshakes_per_source; /* before authentication; default 128 */
		uint32_t sessions_per_source;   /* all TCP sessions; default 0 */
	} limits;
	struct {                 /* seconds */
		uint32_t connect;    /* default 10 */
		uint32_t handshake;  /* default 10 */
		/* servers: unauthenticated connections end at accept + handshake
		 * + a draw from 0 to this (probe = "drain"); default 60 */
		uint32_t probe_window;
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
		char token[CONFIG_TOKEN_MAX]; /* Authorization: Bearer; "" = none */
	} metrics;
	struct {
		bool enabled;            /* the management API (ctl/api.c) */
		struct hostport listen;  /* TCP, or ... */
		char unix_path[108];     /* ... a Unix socket ("unix:/run/ssring/api.sock") */
		char token[CONFIG_TOKEN_MAX]; /* Authorization: Bearer; "" = none (Unix only) */
		/* Host names a request's Host and Origin may carry (besides IPs, localhost). */
		char allowed_hosts[CONFIG_API_HOSTS_MAX][HOSTPORT_HOST_MAX + 1];
		size_t n_allowed_hosts;
	} api;
	char state_file[CONFIG_PATH_MAX]; /* API users and quota usage; "" = none */
	struct config_plugins_allowed plugins_allowed; /* default: config_plugins_default */
	struct config_server *servers;
	size_t n_servers;
	struct config_local *locals;
	size_t n_locals;
	struct config_tunnel *tunnels;
	size_t n_tunnels;
	struct config_dns_proxy *dns_proxies;
	size_t n_dns_proxies;
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
/* Free n upstreams (their secrets wiped). */
void config_upstreams_free(struct config_upstream *ups, size_t n);
void config_ref(const struct config *cfg);
/* Drop a reference; the last one frees the snapshot (and closes its fds). */
void config_unref(const struct config *cfg);
/* c's method by name: 0, or -EINVAL with the known names in err. */
int config_cipher_method(struct config_cipher *c, const char *method, char *err, size_t err_len);
/*
 * c's key from a secret (after config_cipher_method): a password or a base64
 * key (is_key; 2022 methods take only keys, iPSK:uPSK included). The text
 * is kept in c->text (replacing an older one). 0, or -EINVAL/-ENOMEM with
 * the reason in err.
 */
int config_cipher_secret(struct config_cipher *c, const char *buf, size_t len, bool is_key,
			 char *err, size_t err_len);
struct sip008_server;
struct sip008_doc;
/* The default plugins_allowed: well-known client plugins, NULL-terminated. */
extern const char *const config_plugins_default[];
/* May a remote source name plugin cmd? "" (none) may always be named. */
bool config_plugin_allowed(const struct config_plugins_allowed *pa, const char *cmd);
/*
 * Vet a document from a remote source: each usable server whose plugin pa
 * does not allow loses its usable mark (the others still serve), and
 * skipped(arg, why) hears why ("servers[1] (remarks at host:port) names
 * the plugin '/bin/sh', ..."). Returns how many were skipped.
 */
size_t config_sip008_vet(const struct config_plugins_allowed *pa, struct sip008_doc *d,
			 void (*skipped)(void *arg, const char *why), void *arg);
/*
 * Take an entry's server, cipher and plugin from a SIP008 server entry
 * whose plugin pa allows. 0, or -EINVAL/-EPERM with the reason in err (the
 * entry is then unchanged but for its cipher text).
 */
int config_take_sip008(const struct config_plugins_allowed *pa, struct hostport *server,
		       struct config_cipher *c, struct config_plugin *p,
		       const struct sip008_server *s, char *err, size_t err_len);
/*
 * Read a SIP008 document file (bounded), vet it (config_sip008_vet) and use
 * its first usable server for the entry: sub's remarks are that server's,
 * sub's note says which servers were skipped. 0, or -errno with the reason
 * in err.
 */
int config_sip008_file(const char *path, const struct config_plugins_allowed *pa,
		       struct hostport *server, struct config_cipher *c, struct config_plugin *p,
		       struct config_sip008 *sub, char *err, size_t err_len);
/* Is a role entry the same listener (role and address) in two snapshots? */
bool config_same_listen(const struct hostport *a, const struct hostport *b);
/* Every key at its default; no roles. */
void config_defaults(struct config *cfg);
const char *config_log_level_name(enum log_level l);
/* The names of enum log_level, NULL-terminated. */
extern const char *const config_log_level_names[];
/* The names of enum log_format ("text", "json"), NULL-terminated. */
extern const char *const config_log_format_names[];

#endif
