/* SPDX-License-Identifier: MIT */
/*
 * sip008 — Shadowsocks online configuration documents (shadowsocks-org
 * SIP008): a JSON object with "version": 1 and "servers", each with
 * "server", "server_port", "method", "password" and optionally "id",
 * "remarks", "plugin", "plugin_opts"; "bytes_used" and "bytes_remaining"
 * may sit beside them. A pure codec (jansson); the control plane fetches.
 */
#ifndef SSRING_SIP008_H
#define SSRING_SIP008_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIP008_DOC_MAX (4u << 20)  /* a larger document is refused unread */
#define SIP008_SERVERS_MAX 4096

struct sip008_server {
	char id[64];
	char remarks[256];
	char host[256];
	uint16_t port;
	char method[64];
	char password[1024];
	char plugin[256];
	char plugin_opts[1024];
	bool usable;             /* a method ssring knows */
};

struct sip008_doc {
	size_t n;                /* entries in s (usable or not) */
	size_t n_usable;
	struct sip008_server *s;
	int64_t bytes_used, bytes_remaining; /* -1: not given */
};

/*
 * Parse len bytes of JSON. Servers whose method ssring does not know are
 * kept with usable = false (a provider may list methods for other
 * clients); a document without a usable server is an error. 0, or -EINVAL
 * (-ENOMEM) with a message naming what is wrong in err. On success free
 * with sip008_free.
 */
int sip008_parse(const char *json, size_t len, struct sip008_doc *out, char *err,
		 size_t err_len);
/* The first usable server, or NULL. */
const struct sip008_server *sip008_first(const struct sip008_doc *d);
void sip008_free(struct sip008_doc *d);

#endif
