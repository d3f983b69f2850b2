/* SPDX-License-Identifier: MIT */
/*
 * parse_roles — one element of servers, locals or tunnels, and the users
 * of servers (2022 identity keys) and locals (SOCKS5 username/password).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* explicit_bzero */
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "parse_int.h"

static const char *const server_keys[] = { "listen", "method", SECRET_KEYS,
					   "udp",    "allow_private", "users", "probe",
					   "probe_forward", NULL };
static const char *const user2022_keys[] = { "name", "key", NULL };
static const char *const local_keys[] = { "listen", "server", "method", SECRET_KEYS,
					  "udp",    "users",  NULL };
static const char *const tunnel_keys[] = { "listen", "forward", "server", "method", SECRET_KEYS,
					   "tcp",    "udp",	NULL };
static const char *const user_keys[] = { "name", "password", NULL };

/* 2022 multi-user server: users = ( { name = "alice"; key = "<uPSK>"; } ). */
static int parse_users2022(struct ctx *x, const config_setting_t *g, struct config_server *sv)
{
	const config_setting_t *list = cf_member(g, "users");
	const struct ss2022_method *m = sv->cipher.m2022;
	const char *name = NULL, *key = NULL;
	int n, ret;

	if (m) {
		sv->srv2022.m = m;
		memcpy(sv->srv2022.psk, sv->cipher.keys2022.psk, m->key_len);
		if (sv->cipher.keys2022.n_ipsk)
			return fail(x, g, "a server's key is one PSK, not a list");
	}
	if (!list)
		return 0;
	if (!m || !m->is_aes)
		return fail(x, list, "users need a 2022-blake3-aes-* method (identity headers)");
	if (!config_setting_is_list(list) || (n = config_setting_length(list)) == 0)
		return fail(x, list, "must be a non-empty list: users = ( { name = \"...\"; key = \"...\"; } );");
	if (n > CONFIG_MAX_USERS)
		return fail(x, list, "has %d entries; at most %d are supported", n, CONFIG_MAX_USERS);
	sv->users2022 = calloc((size_t)n, sizeof(*sv->users2022));
	if (!sv->users2022)
		return fail(x, list, "out of memory");
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned int)i);
		char *nm;

		if (!config_setting_is_group(e))
			return fail(x, e, "must be a group: { name = \"...\"; key = \"...\"; }");
		if ((ret = cf_check_keys(x, e, user2022_keys)) ||
		    (ret = cf_get_string(x, e, "name", true, &name)) ||
		    (ret = cf_get_string(x, e, "key", true, &key)))
			return ret;
		nm = strdup(name);
		if (!nm || ss2022_user_init(&sv->users2022[i], m, nm, key)) {
			free(nm);
			return fail(x, cf_member(e, "key"), "must be the base64 encoding of exactly %u bytes",
				    m->key_len);
		}
		explicit_bzero((char *)key, strlen(key));
		sv->n_users2022 = (size_t)i + 1;
	}
	sv->srv2022.users = sv->users2022;
	sv->srv2022.n_users = sv->n_users2022;
	return 0;
}

static int parse_probe(struct ctx *x, const config_setting_t *g, struct config_server *sv)
{
	const char *p = NULL;
	int ret = cf_get_string(x, g, "probe", false, &p);

	if (ret)
		return ret;
	sv->probe = PROBE_DRAIN;
	if (p && !strcmp(p, "close"))
		sv->probe = PROBE_CLOSE;
	else if (p && !strcmp(p, "forward"))
		sv->probe = PROBE_FORWARD;
	else if (p && strcmp(p, "drain"))
		return fail(x, cf_member(g, "probe"), "must be \"drain\", \"close\" or \"forward\"");
	if (sv->probe == PROBE_FORWARD)
		return cf_get_hostport(x, g, "probe_forward", true, &sv->probe_forward);
	if (cf_member(g, "probe_forward"))
		return fail(x, cf_member(g, "probe_forward"), "only with probe = \"forward\"");
	return 0;
}

int cf_parse_server(struct ctx *x, const config_setting_t *g, void *elem)
{
	struct config_server *sv = elem;
	int ret;

	sv->udp = true;
	sv->allow_private = false;
	sv->line = config_setting_source_line(g);
	if ((ret = cf_check_keys(x, g, server_keys)) ||
	    (ret = cf_get_hostport(x, g, "listen", true, &sv->listen)) ||
	    (ret = cf_note_listen(x, g, &sv->listen)) || (ret = cf_get_cipher(x, g, &sv->cipher)) ||
	    (ret = cf_get_bool(x, g, "udp", &sv->udp)) ||
	    (ret = cf_get_bool(x, g, "allow_private", &sv->allow_private)) ||
	    (ret = parse_users2022(x, g, sv)) || (ret = parse_probe(x, g, sv)))
		return ret;
	return 0;
}

static int parse_user(struct ctx *x, const config_setting_t *g, struct config_user *u)
{
	const char *name = NULL, *pw = NULL;
	int ret;

	if (!config_setting_is_group(g))
		return fail(x, g, "must be a group: { name = \"...\"; password = \"...\"; }");
	if ((ret = cf_check_keys(x, g, user_keys)) || (ret = cf_get_string(x, g, "name", true, &name)) ||
	    (ret = cf_get_string(x, g, "password", true, &pw)))
		return ret;
	/* SOCKS5 username/password auth (RFC 1929) carries each in one length byte. */
	if (strlen(name) < 1 || strlen(name) > 255)
		return fail(x, cf_member(g, "name"), "must be 1 to 255 bytes long");
	if (strlen(pw) < 1 || strlen(pw) > 255)
		return fail(x, cf_member(g, "password"), "must be 1 to 255 bytes long");
	strcpy(u->name, name);
	strcpy(u->password, pw);
	explicit_bzero((char *)pw, strlen(pw));
	return 0;
}

static int parse_users(struct ctx *x, const config_setting_t *g, struct config_local *lc)
{
	const config_setting_t *list = cf_member(g, "users");
	int i, j, n, ret;

	if (!list)
		return 0;
	if (!config_setting_is_list(list))
		return fail(x, list, "must be a list: users = ( { name = \"...\"; password = \"...\"; } );");
	n = config_setting_length(list);
	/* An empty list would silently turn authentication off. */
	if (n == 0)
		return fail(x, list, "is empty; remove it to accept clients without authentication");
	if (n > CONFIG_MAX_USERS)
		return fail(x, list, "has %d entries; at most %d are supported", n, CONFIG_MAX_USERS);
	lc->users = calloc((size_t)n, sizeof(*lc->users));
	if (!lc->users)
		return fail(x, list, "out of memory");
	lc->n_users = (size_t)n;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned int)i);

		ret = parse_user(x, e, &lc->users[i]);
		if (ret)
			return ret;
		for (j = 0; j < i; j++)
			if (!strcmp(lc->users[j].name, lc->users[i].name))
				return fail(x, cf_member(e, "name"), "duplicate user name '%s'",
					    lc->users[i].name);
	}
	return 0;
}

int cf_parse_local(struct ctx *x, const config_setting_t *g, void *elem)
{
	struct config_local *lc = elem;
	int ret;

	lc->udp = true;
	lc->line = config_setting_source_line(g);
	if ((ret = cf_check_keys(x, g, local_keys)) ||
	    (ret = cf_get_hostport(x, g, "listen", true, &lc->listen)) ||
	    (ret = cf_note_listen(x, g, &lc->listen)) ||
	    (ret = cf_get_hostport(x, g, "server", false, &lc->server)) ||
	    (ret = cf_get_cipher(x, g, &lc->cipher)) || (ret = cf_get_bool(x, g, "udp", &lc->udp)) ||
	    (ret = parse_users(x, g, lc)))
		return ret;
	return 0;
}

int cf_parse_tunnel(struct ctx *x, const config_setting_t *g, void *elem)
{
	struct config_tunnel *t = elem;
	int ret;

	t->tcp = true;
	t->udp = true;
	t->line = config_setting_source_line(g);
	if ((ret = cf_check_keys(x, g, tunnel_keys)) ||
	    (ret = cf_get_hostport(x, g, "listen", true, &t->listen)) ||
	    (ret = cf_note_listen(x, g, &t->listen)) ||
	    (ret = cf_get_hostport(x, g, "forward", false, &t->forward)) ||
	    (ret = cf_get_hostport(x, g, "server", false, &t->server)) ||
	    (ret = cf_get_cipher(x, g, &t->cipher)) || (ret = cf_get_bool(x, g, "tcp", &t->tcp)) ||
	    (ret = cf_get_bool(x, g, "udp", &t->udp)))
		return ret;
	if (!t->tcp && !t->udp)
		return fail(x, g, "tcp and udp are both false: nothing to forward");
	return 0;
}
