/* SPDX-License-Identifier: MIT */
/*
 * ssm — the management API's JSON and the state file (proto/ssm.h), on
 * jansson. Everything a client sends is checked here: types, ranges, unknown
 * keys (a misspelt "uPSk" must not silently mean "no key"), NUL bytes.
 */
#include "proto/ssm.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/text.h"
#include "proto/units.h"

#define JSON_FLAGS (JSON_REJECT_DUPLICATES)
#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

static const char *const period_names[] = { "month", "day", "never" };

static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--)
		*v++ = 0;
}

/* A string member into buf (1..cap-1 bytes, no NUL inside). */
static int get_str(json_t *v, const char *key, char *buf, size_t cap, char *err, size_t err_len)
{
	size_t n;

	if (!json_is_string(v))
		return text_errf(err, err_len, "\"%s\" must be a string", key);
	n = json_string_length(v);
	if (n == 0 || n >= cap)
		return text_errf(err, err_len, "\"%s\" must be 1 to %zu bytes", key, cap - 1);
	if (memchr(json_string_value(v), '\0', n))
		return text_errf(err, err_len, "\"%s\" contains a NUL byte", key);
	memcpy(buf, json_string_value(v), n);
	buf[n] = '\0';
	return 0;
}

/* A byte count or rate: a non-negative integer, or a string with a unit. */
static int get_bytes(json_t *v, const char *key, bool rate, uint64_t *out, char *err,
		     size_t err_len)
{
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return text_errf(err, err_len, "\"%s\" must not be negative", key);
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && units_parse_bytes(json_string_value(v), json_string_length(v),
						   rate, out) == 0)
		return 0;
	return text_errf(err, err_len, "\"%s\" must be a number of bytes or a string such as \"%s\"",
		    key, rate ? "10 MB/s" : "100 GB");
}

static int get_u32(json_t *v, const char *key, uint32_t max, uint32_t *out, char *err,
		   size_t err_len)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > (json_int_t)max)
		return text_errf(err, err_len, "\"%s\" must be an integer from 0 to %u", key, max);
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

static int parse_limits(json_t *o, struct ssm_limits *l, char *err, size_t err_len)
{
	const char *key;
	json_t *v;
	int ret;

	memset(l, 0, sizeof(*l));
	if (!json_is_object(o))
		return text_errf(err, err_len, "\"limits\" must be an object or null");
	json_object_foreach(o, key, v) {
		if (!strcmp(key, "rate"))
			ret = get_bytes(v, "rate", true, &l->rate, err, err_len);
		else if (!strcmp(key, "quota"))
			ret = get_bytes(v, "quota", false, &l->quota, err, err_len);
		else if (!strcmp(key, "max_sessions"))
			ret = get_u32(v, "max_sessions", 10000000, &l->max_sessions, err, err_len);
		else if (!strcmp(key, "max_ips"))
			ret = get_u32(v, "max_ips", 64, &l->max_ips, err, err_len);
		else if (!strcmp(key, "quota_period")) {
			ret = text_errf(err, err_len, "\"quota_period\" must be \"month\", \"day\" or \"never\"");
			for (int i = 0; i < 3; i++)
				if (json_is_string(v) && !strcmp(json_string_value(v), period_names[i])) {
					l->period = i;
					ret = 0;
				}
		} else
			ret = text_errf(err, err_len, "unknown key \"limits.%s\" (expected rate, quota, "
				   "quota_period, max_sessions, max_ips)", key);
		if (ret)
			return ret;
	}
	return 0;
}

int ssm_parse_user(const char *body, size_t len, bool post, struct ssm_user_req *out, char *err,
		   size_t err_len)
{
	json_error_t je;
	json_t *root, *v;
	const char *key;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	root = json_loadb(body, len, JSON_FLAGS, &je);
	if (!root)
		return text_errf(err, err_len, "malformed JSON: %s (at byte %d)", je.text, je.position);
	if (!json_is_object(root)) {
		json_decref(root);
		return text_errf(err, err_len, "the body must be a JSON object");
	}
	json_object_foreach(root, key, v) {
		if (!strcmp(key, "username")) {
			ret = post ? get_str(v, key, out->username, sizeof(out->username), err, err_len)
				   : text_errf(err, err_len, "the username is the path, not a field");
			out->has_username = ret == 0;
		} else if (!strcmp(key, "uPSK") || !strcmp(key, "password")) {
			bool pw = key[0] == 'p';

			if (out->has_upsk || out->has_password)
				ret = text_errf(err, err_len, "give \"uPSK\" or \"password\", not both");
			else
				ret = get_str(v, key, out->secret, sizeof(out->secret), err, err_len);
			if (!ret) {
				out->has_upsk = !pw;
				out->has_password = pw;
			}
		} else if (!strcmp(key, "limits")) {
			out->has_limits = true;
			if (json_is_null(v))
				out->clear_limits = true;
			else
				ret = parse_limits(v, &out->limits, err, err_len);
		} else {
			ret = text_errf(err, err_len, "unknown key \"%s\" (expected username, uPSK, password, "
				   "limits)", key);
		}
		if (ret)
			break;
	}
	json_decref(root);
	if (ret)
		goto fail;
	if (post && !out->has_username)
		ret = text_errf(err, err_len, "\"username\" is missing");
	else if (post && !out->has_upsk && !out->has_password)
		ret = text_errf(err, err_len, "\"uPSK\" (or \"password\") is missing");
	else if (!post && !out->has_upsk && !out->has_password && !out->has_limits)
		ret = text_errf(err, err_len, "nothing to change: give \"uPSK\", \"password\" or \"limits\"");
	if (!ret)
		return 0;
fail:
	wipe(out->secret, sizeof(out->secret));
	return ret;
}

/* ---- responses ---------------------------------------------------------------- */

/* The text of a dump as it is written, and whether any part of it could not be. */
struct dumpbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

static int dump_part(const char *buf, size_t size, void *data)
{
	struct dumpbuf *d = data;

	if (d->failed)
		return -1;
	if (d->len + size + 1 > d->cap) {
		size_t cap = d->cap ? d->cap : 1024;
		char *n;

		while (cap < d->len + size + 1)
			cap *= 2;
		/* Not realloc: the old buffer may hold secrets, and is wiped before it goes. */
		n = malloc(cap);
		if (!n) {
			d->failed = true;
			return -1;
		}
		if (d->p) {
			memcpy(n, d->p, d->len);
			wipe(d->p, d->len);
			free(d->p);
		}
		d->p = n;
		d->cap = cap;
	}
	memcpy(d->p + d->len, buf, size);
	d->len += size;
	d->p[d->len] = '\0';
	return 0;
}

/*
 * o as text, or NULL. Not json_dumps: jansson (2.14, dump.c) ignores a
 * failure to write an object's key and still returns the text, without
 * the key or its quotes, which would be a state file that does not load
 * again. Our own writer remembers any failure.
 */
static char *dumps_checked(json_t *o, size_t flags, size_t *len)
{
	struct dumpbuf d = { 0 };

	if (!o)
		return NULL;
	if (json_dump_callback(o, dump_part, &d, flags) || d.failed || !d.p) {
		if (d.p) {
			wipe(d.p, d.len);
			free(d.p);
		}
		return NULL;
	}
	*len = d.len;
	return d.p;
}

static char *dump(json_t *o, size_t *len)
{
	char *s = dumps_checked(o, DUMP_FLAGS, len);

	json_decref(o);
	return s;
}

/* json_object_set_new that remembers a failure (NULL value or no memory). */
static void put(json_t *o, const char *key, json_t *v, bool *bad)
{
	if (!v || json_object_set_new(o, key, v))
		*bad = true;
}

static json_t *uint_json(uint64_t v)
{
	/* JSON numbers in jansson are signed 64-bit; counters stay far below. */
	return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static json_t *limits_json(const struct ssm_limits *l)
{
	json_t *o = json_object();
	bool bad = !o;

	if (o) {
		put(o, "rate", uint_json(l->rate), &bad);
		put(o, "quota", uint_json(l->quota), &bad);
		put(o, "quota_period", json_string(period_names[l->period >= 0 && l->period < 3
							     ? l->period : 0]), &bad);
		put(o, "max_sessions", uint_json(l->max_sessions), &bad);
		put(o, "max_ips", uint_json(l->max_ips), &bad);
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void traffic_into(json_t *o, const struct ssm_traffic *t, bool *bad)
{
	put(o, "downlinkPackets", uint_json(t->down_packets), bad);
	put(o, "downlinkBytes", uint_json(t->down_bytes), bad);
	put(o, "uplinkPackets", uint_json(t->up_packets), bad);
	put(o, "uplinkBytes", uint_json(t->up_bytes), bad);
	put(o, "tcpSessions", uint_json(t->tcp_sessions), bad);
	put(o, "udpSessions", uint_json(t->udp_sessions), bad);
}

static json_t *user_json(const struct ssm_user_view *u, bool secrets)
{
	json_t *o = json_object();
	bool bad = !o;

	if (!o)
		return NULL;
	put(o, "username", json_string(u->username), &bad);
	if (secrets && u->upsk)
		put(o, "uPSK", json_string(u->upsk), &bad);
	if (secrets && u->password)
		put(o, "password", json_string(u->password), &bad);
	if (u->with_traffic)
		traffic_into(o, &u->t, &bad);
	if (secrets)
		put(o, "limits", limits_json(&u->limits), &bad);
	if (u->with_extra) {
		put(o, "quotaUsed", uint_json(u->quota_used), &bad);
		put(o, "openSessions", uint_json(u->open_sessions), &bad);
		put(o, "lastSeen", json_integer(u->last_seen), &bad);
		put(o, "source", json_string(u->from_api ? "api" : "config"), &bad);
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

char *ssm_json_error(const char *msg, size_t *len)
{
	json_t *o = json_object();
	bool bad = !o;

	if (o)
		put(o, "error", json_string(msg), &bad);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return dump(o, len);
}

char *ssm_json_info(const char *server, const char *const *names, size_t n, size_t *len)
{
	json_t *o = json_object(), *a = json_array();
	bool bad = !o || !a;

	for (size_t i = 0; !bad && i < n; i++)
		if (json_array_append_new(a, json_string(names[i])))
			bad = true;
	if (o) {
		put(o, "server", json_string(server), &bad);
		put(o, "apiVersion", json_string("v1"), &bad);
		if (names)
			put(o, "servers", a, &bad);
		else
			json_decref(a);
	} else {
		json_decref(a);
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return dump(o, len);
}

static json_t *user_array(const struct ssm_user_view *u, size_t n, bool secrets)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++) {
		if (json_array_append_new(a, user_json(&u[i], secrets))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

char *ssm_json_users(const struct ssm_user_view *u, size_t n, size_t *len)
{
	json_t *o = json_object();
	bool bad = !o;

	if (o)
		put(o, "users", user_array(u, n, true), &bad);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return dump(o, len);
}

char *ssm_json_user(const struct ssm_user_view *u, size_t *len)
{
	return dump(user_json(u, true), len);
}

char *ssm_json_stats(const struct ssm_traffic *total, const struct ssm_user_view *u, size_t n,
		     size_t *len)
{
	json_t *o = json_object();
	bool bad = !o;

	if (o) {
		traffic_into(o, total, &bad);
		put(o, "users", user_array(u, n, false), &bad);
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return dump(o, len);
}

/* ---- the state file --------------------------------------------------------------- */

static char *dup_str(json_t *v)
{
	size_t n = json_string_length(v);
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, json_string_value(v), n);
		s[n] = '\0';
	}
	return s;
}

static int state_user(json_t *u, struct ssm_state_user *out, const char *where, char *err,
		      size_t err_len)
{
	json_t *name = json_object_get(u, "username"), *upsk = json_object_get(u, "uPSK");
	json_t *pw = json_object_get(u, "password"), *lim = json_object_get(u, "limits");
	json_t *secret = upsk ? upsk : pw;

	if (!json_is_object(u) || !json_is_string(name) || !json_is_string(secret) ||
	    (upsk && pw) || json_string_length(name) == 0 ||
	    memchr(json_string_value(name), '\0', json_string_length(name)) ||
	    memchr(json_string_value(secret), '\0', json_string_length(secret)))
		return text_errf(err, err_len, "%s: a user needs \"username\" and one of \"uPSK\" or "
			    "\"password\" (strings)", where);
	if (lim && !json_is_null(lim)) {
		if (parse_limits(lim, &out->limits, err, err_len))
			return -EINVAL;
		out->has_limits = true;
	}
	out->username = dup_str(name);
	out->secret = dup_str(secret);
	out->is_password = pw != NULL;
	if (!out->username || !out->secret)
		return text_errf(err, err_len, "out of memory");
	return 0;
}

static int state_server(const char *name, json_t *s, struct ssm_state_server *out, char *err,
			size_t err_len)
{
	json_t *users = json_object_get(s, "users"), *usage = json_object_get(s, "usage"), *v;
	const char *uname;
	size_t i;

	out->name = strdup(name);
	if (!out->name)
		return text_errf(err, err_len, "out of memory");
	if (!json_is_object(s) || (users && !json_is_array(users)) ||
	    (usage && !json_is_object(usage)))
		return text_errf(err, err_len, "servers.%s: must be an object with a \"users\" array and "
			    "a \"usage\" object", name);
	out->users = calloc(json_array_size(users) + 1, sizeof(*out->users));
	out->usage = calloc(json_object_size(usage) + 1, sizeof(*out->usage));
	if (!out->users || !out->usage)
		return text_errf(err, err_len, "out of memory");
	json_array_foreach(users, i, v) {
		char where[200];

		snprintf(where, sizeof(where), "servers.%s.users[%zu]", name, i);
		out->n_users = i + 1; /* freed with the rest if it fails half-way */
		if (state_user(v, &out->users[i], where, err, err_len))
			return -EINVAL;
	}
	json_object_foreach(usage, uname, v) {
		struct ssm_state_usage *q = &out->usage[out->n_usage];
		json_t *p = json_object_get(v, "period"), *u = json_object_get(v, "used");

		if (!json_is_integer(p) || !json_is_integer(u) || json_integer_value(u) < 0)
			return text_errf(err, err_len, "servers.%s.usage.%s: needs integer \"period\" and "
				    "\"used\"", name, uname);
		q->username = strdup(uname);
		if (!q->username)
			return text_errf(err, err_len, "out of memory");
		q->period = json_integer_value(p);
		q->used = (uint64_t)json_integer_value(u);
		out->n_usage++;
	}
	return 0;
}

int ssm_state_parse(const char *buf, size_t len, struct ssm_state *st, char *err, size_t err_len)
{
	json_error_t je;
	json_t *root, *servers, *v, *ver;
	const char *name;
	int ret = 0;

	memset(st, 0, sizeof(*st));
	root = json_loadb(buf, len, JSON_FLAGS, &je);
	if (!root)
		return text_errf(err, err_len, "line %d: %s", je.line, je.text);
	servers = json_object_get(root, "servers");
	ver = json_object_get(root, "version");
	if (!json_is_object(root) || !json_is_integer(ver) || json_integer_value(ver) != 1 ||
	    !json_is_object(servers)) {
		json_decref(root);
		return text_errf(err, err_len, "not an ssring state file (version 1 with \"servers\")");
	}
	st->servers = calloc(json_object_size(servers) + 1, sizeof(*st->servers));
	if (!st->servers)
		ret = text_errf(err, err_len, "out of memory");
	json_object_foreach(servers, name, v) {
		if (ret)
			break;
		ret = state_server(name, v, &st->servers[st->n], err, err_len);
		st->n++;
	}
	json_decref(root);
	if (ret)
		ssm_state_free(st);
	return ret;
}

char *ssm_state_build(const struct ssm_state *st, size_t *len)
{
	json_t *root = json_object(), *servers = json_object();
	bool bad = !root || !servers;
	char *s;

	for (size_t i = 0; !bad && i < st->n; i++) {
		const struct ssm_state_server *sv = &st->servers[i];
		json_t *o = json_object(), *users = json_array(), *usage = json_object();

		bad = !o || !users || !usage;
		for (size_t k = 0; !bad && k < sv->n_users; k++) {
			const struct ssm_state_user *u = &sv->users[k];
			json_t *uo = json_object();

			if (!uo) {
				bad = true;
				break;
			}
			put(uo, "username", json_string(u->username), &bad);
			put(uo, u->is_password ? "password" : "uPSK", json_string(u->secret), &bad);
			if (u->has_limits)
				put(uo, "limits", limits_json(&u->limits), &bad);
			if (json_array_append_new(users, uo))
				bad = true;
		}
		for (size_t k = 0; !bad && k < sv->n_usage; k++) {
			json_t *q = json_object();

			if (!q) {
				bad = true;
				break;
			}
			put(q, "period", json_integer(sv->usage[k].period), &bad);
			put(q, "used", uint_json(sv->usage[k].used), &bad);
			put(usage, sv->usage[k].username, q, &bad);
		}
		if (o) {
			put(o, "users", users, &bad);
			put(o, "usage", usage, &bad);
			put(servers, sv->name, o, &bad);
		} else {
			json_decref(users);
			json_decref(usage);
		}
	}
	if (root) {
		put(root, "version", json_integer(1), &bad);
		put(root, "servers", servers, &bad);
	} else {
		json_decref(servers);
	}
	if (bad) {
		json_decref(root);
		return NULL;
	}
	s = dumps_checked(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER, len);
	json_decref(root);
	return s;
}

void ssm_state_free(struct ssm_state *st)
{
	for (size_t i = 0; st->servers && i < st->n; i++) {
		struct ssm_state_server *sv = &st->servers[i];

		for (size_t k = 0; sv->users && k < sv->n_users; k++) {
			free(sv->users[k].username);
			if (sv->users[k].secret) {
				wipe(sv->users[k].secret, strlen(sv->users[k].secret));
				free(sv->users[k].secret);
			}
		}
		for (size_t k = 0; sv->usage && k < sv->n_usage; k++)
			free(sv->usage[k].username);
		free(sv->users);
		free(sv->usage);
		free(sv->name);
	}
	free(st->servers);
	memset(st, 0, sizeof(*st));
}
