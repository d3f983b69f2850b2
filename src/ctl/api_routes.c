/* SPDX-License-Identifier: MIT */
/*
 * api_routes — the management API's requests (ctl/api.h): who may ask
 * (the token; Host, Origin and Content-Type against a web page in a
 * browser on the host), routing, and each endpoint. A change to a
 * server's users is committed like a reload (ctl_commit: a clone of the
 * current snapshot, that server's users rebuilt from the overlay (state.c),
 * prepared and published through the api_ops), then saved; a removed or
 * re-keyed user's open sessions are revoked for the workers to close. No
 * socket here: api.c serves it.
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
#include <time.h>

#include "api_int.h"
#include "core/log.h"
#include "ctl_int.h"
#include "proto/http_host.h"
#include "relay/limits.h"
#include "relay/stats.h"
#include "relay/users.h"

#ifndef SSRING_VERSION
#define SSRING_VERSION "0.0.0"
#endif

struct api_stats api_stats;
bool api_dirty;

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
		/* Without memory even for this, a bare 500 (httpd_text leaves no body). */
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

/* One change to a server's users, for ctl_commit's hooks. */
struct change {
	size_t si;                /* the server */
	const uint32_t *revoke;   /* uids whose old keys are void from the new snapshot on */
	size_t n_revoke;
};

static int rebuild_users(struct config *cfg, void *arg, char *err, size_t err_len)
{
	const struct change *ch = arg;

	return overlay_apply_server(&cfg->servers[ch->si], err, err_len) ? -EINVAL : 0;
}

/* Before the hand-over: a worker adopting it closes what the revocation names. */
static void revoke_keys(const struct config *cfg, void *arg)
{
	const struct change *ch = arg;

	for (size_t i = 0; i < ch->n_revoke; i++)
		limits_revoke(ch->revoke[i], cfg->generation);
}

/*
 * A snapshot like the current one with server si's users rebuilt from the
 * overlay, committed and saved; revoke: uids whose old keys are void from
 * it on. 0, or -errno with err set.
 */
static int publish_change(struct loop *l, const struct api_ops *ops, size_t si,
			  const uint32_t *revoke, size_t n_revoke, char *err, size_t err_len)
{
	struct change c = { .si = si, .revoke = revoke, .n_revoke = n_revoke };
	const struct ctl_change ch = { .edit = rebuild_users, .ready = revoke_keys, .arg = &c,
				       .prepare = ops->prepare, .publish = ops->publish };
	int ret = ctl_commit(l, NULL, &ch, err, err_len);

	if (ret)
		return ret;
	api_stats.changes++;
	api_dirty = true;
	if (ops->save(l->cfg) == 0) {
		api_stats.state_writes++;
		api_dirty = false;
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

static void add_user(struct loop *l, const struct api_ops *ops, size_t si,
		     const struct httpd_req *req, struct httpd_resp *resp)
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
	if (publish_change(l, ops, si, NULL, 0, err, sizeof(err))) {
		overlay_del(ov, overlay_find(ov, r.username));
		fail_json(resp, 500, "%s", err);
		goto out;
	}
	/* sv belonged to the snapshot just replaced (and perhaps freed). */
	sv = NULL;
	log_info("api: server %s: user %s added", l->cfg->servers[si].name, r.username);
	{
		const struct config_server *nsv = &l->cfg->servers[si];
		int k = nsv->users ? config_users_find(nsv->users, r.username) : -1;
		struct ssm_user_view v;
		size_t len = 0;

		if (k < 0) {
			/* Shadowed since: the change stands, but there is no user to show. */
			fail_json(resp, 500, "user %s was added but is not in the new "
				  "configuration", r.username);
			goto out;
		}
		view(l, nsv, (size_t)k, &v, false, false);
		json(resp, 201, ssm_json_user(&v, &len), &len);
	}
out:
	explicit_bzero(&r, sizeof(r));
}

static void change_user(struct loop *l, const struct api_ops *ops, size_t si, const char *name,
			const struct httpd_req *req, struct httpd_resp *resp, bool del)
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
	if (publish_change(l, ops, si, &uid, (del || rekey) && uid != STATS_NONE ? 1 : 0, err,
			   sizeof(err))) {
		/* Undo in the overlay: the snapshot in use still has the old entry. */
		if (overlay_put(ov, del ? -1 : oi, saved.username, saved.secret, saved.is_password,
				saved.has_limits ? &saved.limits : NULL))
			log_error("api: server %s: user %s: out of memory undoing a failed change; "
				  "the state file may lose the user at the next write",
				  l->cfg->servers[si].name, name);
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

/* The allowed_hosts of the configuration, as the pointers http_host.h takes. */
static size_t host_names(const struct config *c, const char **names)
{
	size_t n = 0;

	for (size_t i = 0; i < c->api.n_allowed_hosts && i < CONFIG_API_HOSTS_MAX; i++)
		names[n++] = c->api.allowed_hosts[i];
	return n;
}

/*
 * Could a web page in a browser have sent this? 0 when it could not: the
 * Host names us (a literal IP, localhost or an allowed name: DNS rebinding
 * gives a page a name of its own author's), an Origin, if any, passes the
 * same rule (browsers send it with cross-site requests), and a body comes
 * as application/json (a page may POST text/plain to anyone without
 * asking; JSON needs a CORS preflight, which is never answered). Else the
 * status to refuse with, and why.
 */
static int browser_check(const struct loop *l, const struct httpd_req *req, const char **why)
{
	const struct config *c = l->cfg;
	const char *names[CONFIG_API_HOSTS_MAX];
	size_t n = host_names(c, names), vl = 0;
	const uint8_t *v = NULL;
	const char *m = req->head->method;
	unsigned k = httpd_header(req, "Host", &v, &vl);

	/* A Unix socket is beyond a browser's reach; clients send all kinds of Host there. */
	if (!c->api.unix_path[0]) {
		if (k > 1 || (k == 0 && req->head->version_minor >= 1)) {
			*why = "one Host header is needed";
			return 400;
		}
		if (k == 1 && !http_host_allowed(v, vl, names, n)) {
			*why = "the Host is not an IP address, localhost or in api.allowed_hosts";
			return 421;
		}
	}
	k = httpd_header(req, "Origin", &v, &vl);
	if (k > 1 || (k == 1 && !http_origin_allowed(v, vl, names, n))) {
		*why = "requests from a web page of another origin are refused";
		return 403;
	}
	if (!strcmp(m, "POST") || !strcmp(m, "PATCH") || !strcmp(m, "PUT")) {
		k = httpd_header(req, "Content-Type", &v, &vl);
		/* Typed or not, a body must be JSON; no body and no type: routing decides. */
		if ((k || req->body_len) &&
		    (k != 1 || !http_media_type_is(v, vl, "application/json"))) {
			*why = "the body must be Content-Type: application/json";
			return 415;
		}
	}
	return 0;
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

void api_handle(struct loop *l, void *arg, const struct httpd_req *req, struct httpd_resp *resp)
{
	const struct api_ops *ops = arg;
	const struct http_request *r = req->head;
	const char *path = (const char *)req->buf + r->path_off, *end = path + r->path_len;
	const char *q = memchr(path, '?', r->path_len), *m = r->method;
	char name[CONFIG_NAME_MAX + 1], what[16], user[CONFIG_USER_NAME_MAX + 2];
	const char *why = NULL;
	bool clear = false;
	size_t si;
	int st;

	api_stats.requests++;
	if ((st = browser_check(l, req, &why))) {
		api_stats.forbidden++;
		log_info("api: %s request refused (%d): %s", m, st, why);
		fail_json(resp, st, "%s", why);
		return;
	}
	if (!httpd_token_ok(req, l->cfg->api.token)) {
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
			add_user(l, ops, si, req, resp);
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
		change_user(l, ops, si, user, req, resp, false);
	else if (!strcmp(m, "DELETE"))
		change_user(l, ops, si, user, req, resp, true);
	else
		goto method;
	return;
nf:
	fail_json(resp, 404, "not found");
	return;
method:
	fail_json(resp, 405, "method %s not allowed here", m);
}


void api_routes_free(void)
{
	free(user_base);
	free(ep_base);
	user_base = ep_base = NULL;
	n_user_base = n_ep_base = 0;
}
