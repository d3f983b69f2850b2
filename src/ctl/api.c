/* SPDX-License-Identifier: MIT */
/*
 * api — the management API's module on the control loop (ctl/api.h): its
 * listener (TCP, or a Unix socket made with its mode and owner from the
 * start), the state file read at start and written once a minute while a
 * user has a quota, and at the stop. The requests themselves are
 * api_routes.c's.
 */
#include "ctl/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api_int.h"
#include "core/listener.h"
#include "core/log.h"
#include "ctl/httpd.h"
#include "proto/hostport.h"

/* Quota usage reaches the state file this often while anything has a quota. */
#define STATE_SAVE_MS 60000

const struct httpd_limits api_limits = {
	.max_conns = 32,
	.max_per_addr = 8,
	.max_head = 8192,
	.max_body = 65536,
	.timeout_ms = 10000,
};

static struct httpd *server;
static struct timer save_timer;

/* A change: every module prepares the snapshot, the workers get it (the control
 * loop's steps: prepare and publish left NULL), the file keeps it. */
static const struct api_ops ops = {
	.save = state_save,
};

/*
 * The Unix socket at path: mode 0660 from its creation (the umask around
 * bind, not a chmod by path afterwards, which a writable folder lets
 * someone race), owned by the user and group ssring runs as when it is
 * made before the privileges are dropped. What is at the path already is
 * replaced only if it is a socket (one left by an earlier run).
 */
static int unix_socket(const struct config *c, const char **what)
{
	const char *path = c->api.unix_path;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t mask;
	int fd, err, r;

	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			*what = "something that is not a socket is there";
			return -EEXIST;
		}
		if (unlink(path) < 0 && errno != ENOENT) {
			*what = "the old socket cannot be removed";
			return -errno;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* The control thread alone makes files; the workers never do. */
	mask = umask(0117);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(mask);
	if (r < 0) {
		*what = "bind";
		goto fail;
	}
	/* lchown: a link put at the path since the bind is not followed. */
	if (c->user[0] && geteuid() == 0 && (c->uid != 0 || c->gid != 0) &&
	    lchown(path, c->uid, c->gid) < 0) {
		*what = "chown to the run user";
		goto fail;
	}
	if (listen(fd, 64) < 0) {
		*what = "listen";
		goto fail;
	}
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

static void save_tick(struct loop *l, struct timer *t)
{
	bool quota = false;

	for (size_t i = 0; i < l->cfg->n_servers; i++)
		for (size_t u = 0; l->cfg->servers[i].users && u < l->cfg->servers[i].users->n; u++)
			quota |= l->cfg->servers[i].users->u[u].limits.quota != 0;
	if (quota || api_dirty) {
		if (state_save(l->cfg) == 0) {
			api_stats.state_writes++;
			api_dirty = false;
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
	api_routes_free();
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
	const char *what = "listen";
	char a[160];
	int fd;

	timer_init_fn(&save_timer, save_tick);
	if (c->state_file[0])
		timer_arm(&l->wheel, &save_timer, l->now_ms + STATE_SAVE_MS);
	if (!c->api.enabled)
		return 0;
	if (c->api.unix_path[0]) {
		fd = unix_socket(c, &what);
		snprintf(a, sizeof(a), "unix:%s", c->api.unix_path);
	} else {
		fd = listener_socket((const struct sockaddr *)&c->api.listen.addr,
				     c->api.listen.addr_len, false);
		snprintf(a, sizeof(a), "http://");
		hostport_format_addr((const struct sockaddr *)&c->api.listen.addr, a + 7,
				     sizeof(a) - 7);
	}
	if (fd < 0) {
		log_error("api: cannot listen on %s: %s: %s", a, what, strerror(-fd));
		return fd;
	}
	server = httpd_start(l, fd, "api", &api_limits, api_handle, (void *)&ops);
	if (!server)
		return -ENOMEM;
	/* A TCP address without a token is a configuration error (conf/parse_control.c). */
	log_info("management API on %s%s", a, c->api.token[0] ? " (token required)" : "");
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
