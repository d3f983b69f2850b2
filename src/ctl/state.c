/* SPDX-License-Identifier: MIT */
/*
 * state — the users added through the management API (the overlay) and the
 * state file that keeps them and every user's quota usage across restarts.
 *
 * The file is JSON (proto/ssm.h), written by the control loop only, by
 * ctl_replace_file (safefile.c): a fresh FILE.tmp of mode 0600, fsync'd,
 * renamed over FILE, the directory fsync'd. No FILE.prev is kept: it would
 * hold a deleted or re-keyed user's secret until some later write, and the
 * atomic rename already leaves a whole file after a crash (one left by an
 * older ssring is removed at the first write). The file is read once, at
 * start, and never through a symbolic link (ssring may be root then). A
 * file that cannot be read as a state file stops the start with a message
 * naming it; nothing overwrites it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* explicit_bzero */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api_int.h"
#include "ctl_int.h"
#include "core/log.h"
#include "relay/limits.h"
#include "relay/users.h"

#define STATE_MAX_BYTES (256u << 20)

struct ssm_state api_overlay;
/* The file as read at start: its usage is restored once the users have ids. */
static struct ssm_state loaded;

void limits_from_ssm(const struct ssm_limits *in, struct user_limits *out)
{
	memset(out, 0, sizeof(*out));
	out->rate = in->rate;
	out->quota = in->quota;
	out->quota_period = in->period == 1 ? QUOTA_DAY : in->period == 2 ? QUOTA_NEVER
									 : QUOTA_MONTH;
	out->max_sessions = in->max_sessions;
	out->max_ips = in->max_ips;
}

void limits_to_ssm(const struct user_limits *in, struct ssm_limits *out)
{
	memset(out, 0, sizeof(*out));
	out->rate = in->rate;
	out->quota = in->quota;
	out->period = in->quota_period == QUOTA_DAY ? 1 : in->quota_period == QUOTA_NEVER ? 2 : 0;
	out->max_sessions = in->max_sessions;
	out->max_ips = in->max_ips;
}

/* ---- the overlay ----------------------------------------------------------------- */

struct ssm_state_server *overlay_server(const char *name, bool create)
{
	struct ssm_state_server *n;

	for (size_t i = 0; i < api_overlay.n; i++)
		if (!strcmp(api_overlay.servers[i].name, name))
			return &api_overlay.servers[i];
	if (!create)
		return NULL;
	n = realloc(api_overlay.servers, (api_overlay.n + 1) * sizeof(*n));
	if (!n)
		return NULL;
	api_overlay.servers = n;
	n = &api_overlay.servers[api_overlay.n];
	memset(n, 0, sizeof(*n));
	n->name = strdup(name);
	if (!n->name)
		return NULL;
	api_overlay.n++;
	return n;
}

int overlay_find(const struct ssm_state_server *sv, const char *name)
{
	for (size_t i = 0; sv && i < sv->n_users; i++)
		if (!strcmp(sv->users[i].username, name))
			return (int)i;
	return -1;
}

static void user_clear(struct ssm_state_user *u)
{
	free(u->username);
	if (u->secret) {
		explicit_bzero(u->secret, strlen(u->secret));
		free(u->secret);
	}
	memset(u, 0, sizeof(*u));
}

int overlay_put(struct ssm_state_server *sv, int i, const char *name, const char *secret,
		bool is_password, const struct ssm_limits *lim)
{
	struct ssm_state_user u = { .username = strdup(name), .secret = strdup(secret),
				    .is_password = is_password, .has_limits = lim != NULL };

	if (lim)
		u.limits = *lim;
	if (!u.username || !u.secret) {
		user_clear(&u);
		return -ENOMEM;
	}
	if (i < 0) {
		struct ssm_state_user *n = realloc(sv->users, (sv->n_users + 1) * sizeof(*n));

		if (!n) {
			user_clear(&u);
			return -ENOMEM;
		}
		sv->users = n;
		i = (int)sv->n_users++;
	} else {
		user_clear(&sv->users[i]);
	}
	sv->users[i] = u;
	return 0;
}

void overlay_del(struct ssm_state_server *sv, int i)
{
	user_clear(&sv->users[i]);
	memmove(&sv->users[i], &sv->users[i + 1], (sv->n_users - (size_t)i - 1) * sizeof(*sv->users));
	sv->n_users--;
}

/* Copy user i of from into slot k of to (keys as they are: nothing to derive). */
static int copy_user(struct config_users *to, size_t k, const struct config_users *from, size_t i)
{
	struct config_srv_user *u = &to->u[k];

	*u = from->u[i];
	u->name = strdup(from->u[i].name);
	u->secret = strdup(from->u[i].secret);
	if (to->u2022)
		to->u2022[k] = from->u2022[i];
	return u->name && u->secret ? 0 : -ENOMEM;
}

int overlay_apply_server(struct config_server *sv, char *err, size_t err_len)
{
	const struct ssm_state_server *ov = overlay_server(sv->name, false);
	const struct config_users *old = sv->users;
	struct config_users *us;
	size_t n = 0, cap;
	int ret = 0;

	if (!sv->name[0] || !old)
		return 0;
	cap = old->n + (ov ? ov->n_users : 0);
	us = config_users_new(cap, sv->cipher.m2022 != NULL);
	if (!us) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; !ret && i < old->n; i++) {
		if (old->u[i].from_api)
			continue;
		us->n = n + 1; /* freed with the set if the copy fails */
		ret = copy_user(us, n++, old, i);
	}
	for (size_t i = 0; !ret && ov && i < ov->n_users; i++) {
		const struct ssm_state_user *o = &ov->users[i];
		struct config_srv_user *u;

		/* A user of the configuration file wins over the API's. */
		if (config_users_find(old, o->username) >= 0 && !old->u[config_users_find(
			    old, o->username)].from_api) {
			log_warn("server %s: API user %s is shadowed by a user of the same name in the "
				 "configuration file", sv->name, o->username);
			continue;
		}
		us->n = n + 1;
		if (config_user_make(us, n, &sv->cipher, o->username, o->secret, o->is_password,
				     err, err_len)) {
			ret = -EINVAL;
			break;
		}
		u = &us->u[n++];
		u->from_api = 1;
		u->own_limits = o->has_limits;
		if (o->has_limits)
			limits_from_ssm(&o->limits, &u->limits);
		else
			u->limits = sv->user_limits;
	}
	/* After a failure us->n still counts the half-made user, for the free below. */
	if (!ret)
		us->n = n;
	if (!ret && config_users_index(us, NULL)) {
		snprintf(err, err_len, "out of memory");
		ret = -ENOMEM;
	}
	if (ret) {
		config_users_unref(us);
		return ret;
	}
	config_users_unref(sv->users);
	sv->users = us;
	config_server_bind_users(sv);
	return 0;
}

int ctl_overlay(struct loop *l, struct config *cfg, char *err, size_t err_len)
{
	(void)l;
	for (size_t i = 0; i < cfg->n_servers; i++) {
		struct config_server *sv = &cfg->servers[i];
		char why[256];

		if (!overlay_server(sv->name, false))
			continue;
		if (!sv->users) {
			log_warn("server %s has no users in the configuration (users = ( ... )): its "
				 "API users wait until it has", sv->name);
			continue;
		}
		if (overlay_apply_server(sv, why, sizeof(why))) {
			snprintf(err, err_len, "server %s: API users: %s", sv->name, why);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- the file -------------------------------------------------------------------- */

int state_load(const char *path, char *err, size_t err_len)
{
	struct stat st;
	char *buf, why[SSM_ERR_BYTES];
	ssize_t r = 0;
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), ret;

	if (fd < 0 && errno == ENOENT)
		return 0; /* the first start */
	if (fd < 0 && errno == ELOOP) {
		/* A link could have root read (and replace) a file of someone else's choosing. */
		snprintf(err, err_len, "%s: the state file is a symbolic link; refused: give "
			 "state_file the real path", path);
		return -ELOOP;
	}
	if (fd < 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > STATE_MAX_BYTES) {
		close(fd);
		snprintf(err, err_len, "%s: not a regular file under %u MiB", path,
			 STATE_MAX_BYTES >> 20);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		snprintf(err, err_len, "%s: out of memory", path);
		return -ENOMEM;
	}
	while (n < (size_t)st.st_size && (r = read(fd, buf + n, (size_t)st.st_size - n)) > 0)
		n += (size_t)r;
	close(fd);
	if (r < 0) {
		free(buf);
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -EIO;
	}
	ret = ssm_state_parse(buf, n, &loaded, why, sizeof(why));
	explicit_bzero(buf, n);
	free(buf);
	if (ret) {
		snprintf(err, err_len, "%s is not a valid state file (%s); it is left as it is: fix "
			 "or remove it", path, why);
		return ret;
	}
	/* The overlay takes the users; the usage waits for ids. */
	api_overlay.servers = calloc(loaded.n + 1, sizeof(*api_overlay.servers));
	if (!api_overlay.servers) {
		snprintf(err, err_len, "%s: out of memory", path);
		return -ENOMEM;
	}
	for (size_t i = 0; i < loaded.n; i++) {
		struct ssm_state_server *s = &loaded.servers[i], *o = &api_overlay.servers[i];

		o->name = strdup(s->name);
		if (!o->name) {
			snprintf(err, err_len, "%s: out of memory", path);
			return -ENOMEM;
		}
		o->users = s->users;
		o->n_users = s->n_users;
		s->users = NULL;
		s->n_users = 0;
		api_overlay.n++;
	}
	log_info("state %s: %zu server(s) with API users", path, api_overlay.n);
	return 0;
}

void state_restore_usage(const struct config *cfg)
{
	int64_t now = (int64_t)time(NULL);

	for (size_t i = 0; i < loaded.n; i++) {
		const struct ssm_state_server *s = &loaded.servers[i];

		for (size_t k = 0; k < cfg->n_servers; k++) {
			const struct config_server *sv = &cfg->servers[k];

			if (strcmp(sv->name, s->name) || !sv->users || !sv->rt.uids)
				continue;
			for (size_t q = 0; q < s->n_usage; q++) {
				int u = config_users_find(sv->users, s->usage[q].username);
				const struct user_limits *lim;

				if (u < 0)
					continue;
				lim = &sv->users->u[u].limits;
				/* A past period's usage counts no more. */
				if (lim->quota && s->usage[q].period ==
				    config_quota_period_start(lim->quota_period, now))
					limits_quota_set(sv->rt.uids[u], s->usage[q].period,
							 s->usage[q].used);
			}
		}
	}
	ssm_state_free(&loaded);
}

/* The state now: the overlay, and the usage of every user with a quota. */
static int build(const struct config *cfg, struct ssm_state *st)
{
	int64_t now = (int64_t)time(NULL);

	memset(st, 0, sizeof(*st));
	st->servers = calloc(api_overlay.n + cfg->n_servers + 1, sizeof(*st->servers));
	if (!st->servers)
		return -ENOMEM;
	/* Shallow: names and users are the overlay's (not freed here). */
	for (size_t i = 0; i < api_overlay.n; i++)
		st->servers[st->n++] = (struct ssm_state_server){
			.name = api_overlay.servers[i].name, .users = api_overlay.servers[i].users,
			.n_users = api_overlay.servers[i].n_users };
	for (size_t k = 0; k < cfg->n_servers; k++) {
		const struct config_server *sv = &cfg->servers[k];
		struct ssm_state_server *s = NULL;

		if (!sv->name[0] || !sv->users || !sv->rt.uids)
			continue;
		for (size_t i = 0; i < st->n; i++)
			if (!strcmp(st->servers[i].name, sv->name))
				s = &st->servers[i];
		if (!s) {
			s = &st->servers[st->n++];
			s->name = (char *)sv->name;
		}
		s->usage = calloc(sv->users->n + 1, sizeof(*s->usage));
		if (!s->usage)
			return -ENOMEM;
		for (size_t u = 0; u < sv->users->n; u++) {
			const struct user_limits *lim = &sv->users->u[u].limits;

			if (!lim->quota)
				continue;
			s->usage[s->n_usage++] = (struct ssm_state_usage){
				.username = sv->users->u[u].name,
				.period = config_quota_period_start(lim->quota_period, now),
				.used = limits_quota_used(sv->rt.uids[u], lim->quota_period, now) };
		}
	}
	return 0;
}

/* A FILE.prev of an older ssring holds removed users' secrets: gone at the first write. */
static void drop_prev(const char *path)
{
	static bool done;
	char prev[CONFIG_PATH_MAX + 8];

	if (done)
		return;
	done = true;
	snprintf(prev, sizeof(prev), "%s.prev", path);
	if (unlink(prev) == 0)
		log_info("state: removed %s (the previous state, with secrets of removed users; "
			 "no longer kept)", prev);
}

int state_save(const struct config *cfg)
{
	struct ssm_state st;
	char *json = NULL;
	size_t len = 0;
	int ret = -ENOMEM;

	if (!cfg->state_file[0])
		return 0;
	if (build(cfg, &st) == 0)
		json = ssm_state_build(&st, &len);
	for (size_t i = 0; i < st.n; i++)
		free(st.servers[i].usage);
	free(st.servers);
	if (json) {
		/* the document and a final newline */
		char *t = realloc(json, len + 1);

		if (t) {
			json = t;
			json[len++] = '\n';
			ret = ctl_replace_file(cfg->state_file, json, len, false);
			if (!ret)
				drop_prev(cfg->state_file);
		}
		explicit_bzero(json, len);
		free(json);
	}
	if (ret)
		log_error("state: cannot write %s: %s", cfg->state_file, strerror(-ret));
	return ret;
}
