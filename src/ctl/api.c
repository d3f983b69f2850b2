/* SPDX-License-Identifier: MIT */
/*
 * api — the Shadowsocks Server Management API v1 (ctl/api.h): routing,
 * the token, and each endpoint. A change to a server's users clones the
 * current snapshot, rebuilds that server's users from the overlay
 * (state.c), prepares and publishes it like a reload; a removed or
 * re-keyed user's open sessions are revoked for the workers to close.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* explicit_bzero */
#endif
#include "ctl/api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api_int.h"
#include "core/listener.h"
#include "core/log.h"
#include "ctl/httpd.h"
#include "ctl_int.h"
#include "proto/hostport.h"
#include "relay/limits.h"
#include "relay/stats.h"
#include "relay/users.h"

#ifndef SSRING_VERSION
#define SSRING_VERSION "0.0.0"
#endif

/* Quota usage reaches the state file this often while anything has a quota. */
#define STATE_SAVE_MS 60000

static const struct httpd_limits limits = {
	.max_conns = 32,
	.max_head = 8192,
	.max_body = 65536,
	.timeout_ms = 10000,
};

struct api_stats api_stats;
static struct httpd *server;
static struct timer save_timer;
static bool dirty; /* an API change not yet in the state file */

/* Cleared counters: what the traffic was at the last ?clear=true. */
struct base {
	uint64_t v[6]; /* struct ssm_traffic order */
};
static struct base *user_base, *ep_base;
static uint32_t n_user_base, n_ep_base;

/* ---- answers ----------------------------------------------------------------------- */

/* body was made with its length going to *len (read only here, after it is set). */
static void json(struct httpd_resp *resp, int status, char *body, const size_t *len)
{
	if (!body) {
		httpd_text(resp, 500, "application/json", "{\"error\":\"out of memory\"}");
		return;
	}
	resp->status = status;
	resp->content_type = "application/json";
	resp->body = body;
	resp->len = *len;
}

static void fail_json(struct httpd_resp *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail_json(struct httpd_resp *resp, int status, const char *fmt, ...)
{
	char msg[400];
	size_t len = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json(resp, status, ssm_json_error(msg, &len), &len);
}

/* ---- counters ---------------------------------------------------------------------- */

static struct base *base_of(struct base **arr, uint32_t *n, uint32_t id)
{
	if (id >= *n) {
		uint32_t cap = id + 64;
		struct base *b = realloc(*arr, cap * sizeof(*b));

		if (!b)
			return NULL;
		memset(b + *n, 0, (cap - *n) * sizeof(*b));
		*arr = b;
		*n = cap;
	}
	return &(*arr)[id];
}

static void read_user(int workers, uint32_t uid, struct ssm_traffic *t)
{
	t->down_bytes = stats_user_sum(workers, uid, UC_TCP_DOWN) +
			stats_user_sum(workers, uid, UC_UDP_DOWN);
	t->up_bytes = stats_user_sum(workers, uid, UC_TCP_UP) + stats_user_sum(workers, uid, UC_UDP_UP);
	t->down_packets = stats_user_sum(workers, uid, UC_PKT_DOWN);
	t->up_packets = stats_user_sum(workers, uid, UC_PKT_UP);
	t->tcp_sessions = stats_user_sum(workers, uid, UC_TCP_TOTAL);
	t->udp_sessions = stats_user_sum(workers, uid, UC_UDP_TOTAL);
}

static void read_ep(int workers, uint32_t ep, struct ssm_traffic *t)
{
	t->down_bytes = stats_ep_sum(workers, ep, EPC_TCP_DOWN) + stats_ep_sum(workers, ep, EPC_UDP_DOWN);
	t->up_bytes = stats_ep_sum(workers, ep, EPC_TCP_UP) + stats_ep_sum(workers, ep, EPC_UDP_UP);
	t->down_packets = stats_ep_sum(workers, ep, EPC_DGRAM_DOWN);
	t->up_packets = stats_ep_sum(workers, ep, EPC_DGRAM_UP);
	t->tcp_sessions = stats_ep_sum(workers, ep, EPC_TCP_TOTAL);
	t->udp_sessions = stats_ep_sum(workers, ep, EPC_UDP_TOTAL);
}

/* t minus the baseline; with clear, the baseline becomes t. */
static void since_clear(struct ssm_traffic *t, struct base *b, bool clear)
{
	uint64_t *v = &t->down_packets;

	for (int i = 0; i < 6; i++) {
		uint64_t now = v[i];

		v[i] = b && now >= b->v[i] ? now - b->v[i] : now;
		if (b && clear)
			b->v[i] = now;
	}
}

/* ---- views of users ------------------------------------------------------------------ */

static void view(const struct loop *l, const struct config_server *sv, size_t i,
		 struct ssm_user_view *v, bool traffic, bool clear)
{
	const struct config_srv_user *u = &sv->users->u[i];
	uint32_t uid = sv->rt.uids ? sv->rt.uids[i] : STATS_NONE;
	int64_t now = (int64_t)time(NULL);

	memset(v, 0, sizeof(*v));
	v->username = u->name;
	v->upsk = u->is_key ? u->secret : NULL;
	v->password = u->is_key ? NULL : u->secret;
	v->has_limits = u->own_limits;
	limits_to_ssm(&u->limits, &v->limits);
	v->from_api = u->from_api;
	if (!traffic || uid == STATS_NONE)
		return;
	v->with_traffic = true;
	read_user(l->cfg->workers, uid, &v->t);
	since_clear(&v->t, base_of(&user_base, &n_user_base, uid), clear);
	v->with_extra = true;
	v->quota_used = u->limits.quota ? limits_quota_used(uid, u->limits.quota_period, now) : 0;
	v->open_sessions = limits_sessions(uid);
	v->last_seen = limits_last_seen(uid);
}

/* ---- changes ----------------------------------------------------------------------- */

/*
 * A snapshot like the current one with server si's users rebuilt from the
 * overlay, prepared and handed to the workers; revoke: uids whose old keys
 * are void from it on. 0, or -errno with err set.
 */
static int publish_change(struct loop *l, size_t si, const uint32_t *revoke, size_t n_revoke,
			  char *err, size_t err_len)
{
	const struct config *old = l->cfg;
	struct config *cfg = config_clone(old);

	if (!cfg) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	cfg->generation = old->generation + 1;
	if (overlay_apply_server(&cfg->servers[si], err, err_len)) {
		config_unref(cfg);
		return -EINVAL;
	}
	if (ctl_prepare(old, cfg)) {
		config_unref(cfg);
		snprintf(err, err_len, "the new configuration could not be prepared (see the log)");
		return -EIO;
	}
	/* Before the hand-over: a worker adopting it closes what the revocation names. */
	for (size_t i = 0; i < n_revoke; i++)
		limits_revoke(revoke[i], cfg->generation);
	if (ctl_publish(l, cfg, false)) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	api_stats.changes++;
	dirty = true;
	if (state_save(l->cfg) == 0) {
		api_stats.state_writes++;
		dirty = false;
	} else {
		api_stats.state_errors++;
	}
	return 0;
}

/* Is the secret valid for sv (and different from u's, for a re-key)? */
static int check_secret(const struct config_server *sv, const struct ssm_user_req *r, char *err,
			size_t err_len)
{
	struct config_users *t = config_users_new(1, sv->cipher.m2022 != NULL);
	int ret;

	if (!t) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	if (sv->cipher.m2022 && r->has_password) {
		snprintf(err, err_len, "%s users have a \"uPSK\", not a password",
			 sv->cipher.m2022->name);
		config_users_unref(t);
		return -EINVAL;
	}
	ret = config_user_make(t, 0, &sv->cipher, "check", r->secret, r->has_password, err,
			       err_len);
	t->n = 1;
	config_users_unref(t);
	return ret;
}

static void add_user(struct loop *l, size_t si, const struct httpd_req *req,
		     struct httpd_resp *resp)
{
	const struct config_server *sv = &l->cfg->servers[si];
	struct ssm_state_server *ov;
	struct ssm_user_req r;
	char err[SSM_ERR_BYTES];
	int i;

	if (ssm_parse_user((const char *)req->body, req->body_len, true, &r, err, sizeof(err))) {
		fail_json(resp, 400, "%s", err);
		return;
	}
	if (!config_user_name_ok(r.username)) {
		fail_json(resp, 400, "\"username\" must be 1 to %d characters of A-Z a-z 0-9 - _ . @",
		      CONFIG_USER_NAME_MAX);
		goto out;
	}
	i = config_users_find(sv->users, r.username);
	if (i >= 0) {
		fail_json(resp, 400, "a user named %s exists%s", r.username,
		      sv->users->u[i].from_api ? "" : " (in the configuration file)");
		goto out;
	}
	if (check_secret(sv, &r, err, sizeof(err))) {
		fail_json(resp, 400, "%s", err);
		goto out;
	}
	ov = overlay_server(sv->name, true);
	if (!ov || overlay_put(ov, -1, r.username, r.secret, r.has_password,
			       r.has_limits && !r.clear_limits ? &r.limits : NULL)) {
		fail_json(resp, 500, "out of memory");
		goto out;
	}
	if (publish_change(l, si, NULL, 0, err, sizeof(err))) {
		overlay_del(ov, overlay_find(ov, r.username));
		fail_json(resp, 500, "%s", err);
		goto out;
	}
	/* sv belonged to the snapshot just replaced (and perhaps freed). */
	sv = NULL;
	log_info("api: server %s: user %s added", l->cfg->servers[si].name, r.username);
	{
		const struct config_server *nsv = &l->cfg->servers[si];
		int k = config_users_find(nsv->users, r.username);
		struct ssm_user_view v;
		size_t len = 0;

		view(l, nsv, (size_t)k, &v, false, false);
		json(resp, 201, ssm_json_user(&v, &len), &len);
	}
out:
	explicit_bzero(&r, sizeof(r));
}

static void change_user(struct loop *l, size_t si, const char *name, const struct httpd_req *req,
			struct httpd_resp *resp, bool del)
{
	const struct config_server *sv = &l->cfg->servers[si];
	int i = config_users_find(sv->users, name), oi;
	struct ssm_state_server *ov = overlay_server(sv->name, false);
	struct ssm_state_user saved = { 0 };
	struct ssm_user_req r;
	char err[SSM_ERR_BYTES];
	uint32_t uid;
	bool rekey;

	memset(&r, 0, sizeof(r));
	if (i < 0) {
		fail_json(resp, 404, "user not found");
		return;
	}
	if (!sv->users->u[i].from_api || (oi = overlay_find(ov, name)) < 0) {
		fail_json(resp, 400, "user %s is in the configuration file: change it there (and "
		      "reload)", name);
		return;
	}
	uid = sv->rt.uids ? sv->rt.uids[i] : STATS_NONE;
	if (!del && ssm_parse_user((const char *)req->body, req->body_len, false, &r, err,
				   sizeof(err))) {
		fail_json(resp, 400, "%s", err);
		return;
	}
	rekey = !del && (r.has_upsk || r.has_password);
	if (rekey && !strcmp(r.secret, sv->users->u[i].secret)) {
		fail_json(resp, 400, "the new %s is the same as the current one",
		      r.has_upsk ? "uPSK" : "password");
		goto out;
	}
	if (rekey && check_secret(sv, &r, err, sizeof(err))) {
		fail_json(resp, 400, "%s", err);
		goto out;
	}
	/* Keep the old entry to undo a change that cannot be published. */
	saved = ov->users[oi];
	saved.username = strdup(saved.username);
	saved.secret = strdup(saved.secret);
	if (!saved.username || !saved.secret) {
		fail_json(resp, 500, "out of memory");
		goto out;
	}
	if (del) {
		overlay_del(ov, oi);
	} else if (overlay_put(ov, oi, name, rekey ? r.secret : saved.secret,
			       rekey ? r.has_password : saved.is_password,
			       r.has_limits ? (r.clear_limits ? NULL : &r.limits)
					    : (saved.has_limits ? &saved.limits : NULL))) {
		fail_json(resp, 500, "out of memory");
		goto out;
	}
	if (publish_change(l, si, &uid, (del || rekey) && uid != STATS_NONE ? 1 : 0, err,
			   sizeof(err))) {
		if (del)
			overlay_put(ov, -1, saved.username, saved.secret, saved.is_password,
				    saved.has_limits ? &saved.limits : NULL);
		else
			overlay_put(ov, oi, saved.username, saved.secret, saved.is_password,
				    saved.has_limits ? &saved.limits : NULL);
		fail_json(resp, 500, "%s", err);
		goto out;
	}
	log_info("api: server %s: user %s %s", l->cfg->servers[si].name, name,
		 del ? "deleted" : rekey ? "re-keyed" : "updated");
	resp->status = 204;
out:
	if (saved.secret)
		explicit_bzero(saved.secret, strlen(saved.secret));
	free(saved.secret);
	free(saved.username);
	explicit_bzero(&r, sizeof(r));
}

static void list_users(struct loop *l, const struct config_server *sv, struct httpd_resp *resp)
{
	struct ssm_user_view *v = calloc(sv->users->n + 1, sizeof(*v));
	size_t len = 0;

	if (!v) {
		fail_json(resp, 500, "out of memory");
		return;
	}
	for (size_t i = 0; i < sv->users->n; i++)
		view(l, sv, i, &v[i], false, false);
	json(resp, 200, ssm_json_users(v, sv->users->n, &len), &len);
	free(v);
}

static void get_user(struct loop *l, const struct config_server *sv, const char *name,
		     struct httpd_resp *resp)
{
	int i = config_users_find(sv->users, name);
	struct ssm_user_view v;
	size_t len = 0;

	if (i < 0) {
		fail_json(resp, 404, "user not found");
		return;
	}
	view(l, sv, (size_t)i, &v, true, false);
	json(resp, 200, ssm_json_user(&v, &len), &len);
}

static void stats(struct loop *l, const struct config_server *sv, bool clear,
		  struct httpd_resp *resp)
{
	size_t n = sv->users ? sv->users->n : 0, len = 0;
	struct ssm_user_view *v = calloc(n + 1, sizeof(*v));
	struct ssm_traffic total;

	if (!v) {
		fail_json(resp, 500, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		view(l, sv, i, &v[i], true, clear);
		v[i].with_extra = false;
	}
	read_ep(l->cfg->workers, sv->rt.ep, &total);
	since_clear(&total, base_of(&ep_base, &n_ep_base, sv->rt.ep), clear);
	json(resp, 200, ssm_json_stats(&total, v, n, &len), &len);
	free(v);
}

static void info(struct loop *l, struct httpd_resp *resp, bool all)
{
	const char *names[64];
	size_t n = 0, len = 0;

	for (size_t i = 0; all && i < l->cfg->n_servers && n < 64; i++)
		if (l->cfg->servers[i].name[0])
			names[n++] = l->cfg->servers[i].name;
	json(resp, 200, ssm_json_info("ssring " SSRING_VERSION, all ? names : NULL, n, &len), &len);
}

/* ---- routing -------------------------------------------------------------------------- */

/* Constant time in the token's length. */
static bool token_ok(const struct loop *l, const struct httpd_req *req)
{
	const char *tok = l->cfg->api.token;
	size_t tl = strlen(tok), vl;
	const uint8_t *v;
	unsigned diff = 0;

	if (!tl)
		return true;
	if (!http_header_value(req->buf, req->head, "Authorization", &v, &vl) || vl != 7 + tl ||
	    strncasecmp((const char *)v, "Bearer ", 7))
		return false;
	for (size_t i = 0; i < tl; i++)
		diff |= (unsigned)(v[7 + i] ^ (uint8_t)tok[i]);
	return diff == 0;
}

/* The next path segment (up to '/' or the end) into seg; false if too long. */
static bool segment(const char **p, const char *end, char *seg, size_t cap)
{
	size_t n = 0;

	while (*p < end && **p != '/') {
		if (n + 1 >= cap)
			return false;
		seg[n++] = *(*p)++;
	}
	seg[n] = '\0';
	return true;
}

static void handle(struct loop *l, void *arg, const struct httpd_req *req,
		   struct httpd_resp *resp)
{
	const struct http_request *r = req->head;
	const char *path = (const char *)req->buf + r->path_off, *end = path + r->path_len;
	const char *q = memchr(path, '?', r->path_len), *m = r->method;
	char name[CONFIG_NAME_MAX + 1], what[16], user[CONFIG_USER_NAME_MAX + 2];
	bool clear = false;
	size_t si;

	(void)arg;
	api_stats.requests++;
	if (!token_ok(l, req)) {
		api_stats.unauthorized++;
		log_info("api: %s request without a valid token: 401", m);
		fail_json(resp, 401, "a valid token is needed: Authorization: Bearer <token>");
		resp->extra_headers = "WWW-Authenticate: Bearer\r\n";
		return;
	}
	if (q) {
		/* The query runs to the end of the target (the head is not NUL-terminated). */
		size_t ql = (size_t)(end - q);

		clear = (ql == 11 && !memcmp(q, "?clear=true", 11)) ||
			(ql > 11 && !memcmp(q, "?clear=true&", 12)) ||
			(ql == 6 && !memcmp(q, "?clear", 6)) || (ql == 8 && !memcmp(q, "?clear=1", 8));
		end = q;
	}
	if (path == end || *path != '/') {
		fail_json(resp, 404, "not found");
		return;
	}
	path++;
	if (path == end) {
		if (strcmp(m, "GET"))
			goto method;
		info(l, resp, true);
		return;
	}
	if (!segment(&path, end, name, sizeof(name)))
		goto nf;
	for (si = 0; si < l->cfg->n_servers; si++)
		if (!strcmp(l->cfg->servers[si].name, name))
			break;
	if (si == l->cfg->n_servers) {
		fail_json(resp, 404, "server not found");
		return;
	}
	if (path < end)
		path++; /* the '/' */
	if (!segment(&path, end, what, sizeof(what)))
		goto nf;
	if (!what[0] && path == end) {
		if (strcmp(m, "GET"))
			goto method;
		info(l, resp, false);
		return;
	}
	if (!strcmp(what, "stats") && path == end) {
		if (strcmp(m, "GET"))
			goto method;
		stats(l, &l->cfg->servers[si], clear, resp);
		return;
	}
	if (strcmp(what, "users"))
		goto nf;
	if (!l->cfg->servers[si].users) {
		fail_json(resp, 404, "server %s has one secret and no users (give it users = ( ... ) "
		      "in the configuration file)", name);
		return;
	}
	if (path == end || (path + 1 == end && *path == '/')) {
		if (!strcmp(m, "GET"))
			list_users(l, &l->cfg->servers[si], resp);
		else if (!strcmp(m, "POST"))
			add_user(l, si, req, resp);
		else
			goto method;
		return;
	}
	path++;
	if (!segment(&path, end, user, sizeof(user)) || path != end || !user[0])
		goto nf;
	if (!strcmp(m, "GET"))
		get_user(l, &l->cfg->servers[si], user, resp);
	else if (!strcmp(m, "PATCH"))
		change_user(l, si, user, req, resp, false);
	else if (!strcmp(m, "DELETE"))
		change_user(l, si, user, req, resp, true);
	else
		goto method;
	return;
nf:
	fail_json(resp, 404, "not found");
	return;
method:
	fail_json(resp, 405, "method %s not allowed here", m);
}

/* ---- module ----------------------------------------------------------------------------- */

static int unix_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path); /* a socket left by an earlier run */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
	    listen(fd, 64) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void save_tick(struct loop *l, struct timer *t)
{
	bool quota = false;

	for (size_t i = 0; i < l->cfg->n_servers; i++)
		for (size_t u = 0; l->cfg->servers[i].users && u < l->cfg->servers[i].users->n; u++)
			quota |= l->cfg->servers[i].users->u[u].limits.quota != 0;
	if (quota || dirty) {
		if (state_save(l->cfg) == 0) {
			api_stats.state_writes++;
			dirty = false;
		} else {
			api_stats.state_errors++;
		}
	}
	timer_arm(&l->wheel, t, l->now_ms + STATE_SAVE_MS);
}

static int api_setup(const struct config *cfg)
{
	char err[CONFIG_PATH_MAX + 400];

	if (!cfg->state_file[0])
		return 0;
	if (state_load(cfg->state_file, err, sizeof(err))) {
		log_error("%s", err);
		return -EINVAL;
	}
	return 0;
}

static void api_teardown(void)
{
	ssm_state_free(&api_overlay);
	free(user_base);
	free(ep_base);
	user_base = ep_base = NULL;
	n_user_base = n_ep_base = 0;
}

static int api_prepare(const struct config *old, struct config *cfg)
{
	/* At start, once users have ids: the quota usage the file remembers. */
	if (!old)
		state_restore_usage(cfg);
	return 0;
}

static int api_init(struct loop *l)
{
	const struct config *c = l->cfg;
	char a[160];
	int fd;

	timer_init_fn(&save_timer, save_tick);
	if (c->state_file[0])
		timer_arm(&l->wheel, &save_timer, l->now_ms + STATE_SAVE_MS);
	if (!c->api.enabled)
		return 0;
	if (c->api.unix_path[0]) {
		fd = unix_socket(c->api.unix_path);
		snprintf(a, sizeof(a), "unix:%s", c->api.unix_path);
	} else {
		fd = listener_socket((const struct sockaddr *)&c->api.listen.addr,
				     c->api.listen.addr_len, false);
		snprintf(a, sizeof(a), "http://");
		hostport_format_addr((const struct sockaddr *)&c->api.listen.addr, a + 7,
				     sizeof(a) - 7);
	}
	if (fd < 0) {
		log_error("api: cannot listen on %s: %s", a, strerror(-fd));
		return fd;
	}
	server = httpd_start(l, fd, "api", &limits, handle, NULL);
	if (!server)
		return -ENOMEM;
	log_info("management API on %s%s", a, c->api.token[0] ? " (token required)" : "");
	if (!c->api.token[0] && !c->api.unix_path[0])
		log_warn("api: no token: anyone who can reach %s can manage users", a);
	return 0;
}

static void api_stop(struct loop *l)
{
	httpd_stop(l, server);
	server = NULL;
	timer_cancel(&save_timer);
	if (l->cfg->state_file[0] && state_save(l->cfg) == 0)
		api_stats.state_writes++;
}

struct loop_module api_module = {
	.name = "api",
	.setup = api_setup,
	.teardown = api_teardown,
	.prepare = api_prepare,
	.init = api_init,
	.stop = api_stop,
};
