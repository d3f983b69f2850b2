/* SPDX-License-Identifier: MIT */
/*
 * reload — SIGHUP: read and validate the configuration file completely,
 * keep what cannot change while running, let every module prepare the new
 * snapshot (ids, listening sockets for new listeners), then hand it to each
 * worker by message and wait for their acknowledgements. Any failure before
 * the hand-over leaves everything exactly as it was. API changes and SIP008
 * documents take the same path (ctl_commit, here). Design:
 * docs/design-notes.md, "Configuration snapshots and reload".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "ctl/notify.h"
#include "ctl_int.h"

static void say_ready(struct loop *l)
{
	char status[256];

	ctl_status(l, status, sizeof(status));
	notify_ready(status);
}

static void fail(struct loop *l, const char *what)
{
	ctl_stats.reloads_error++;
	log_error("reload failed, keeping configuration generation %llu: %s",
		  (unsigned long long)l->cfg->generation, what);
	say_ready(l);
}

/*
 * Settings that are sized or bound once (pools, threads, caches, identity,
 * the metrics port): the running value stays, and the log says so.
 */
static void keep_restart_only(const struct config *old, struct config *cfg)
{
#define KEEP(field, fmt, cast)                                                                \
	do {                                                                                  \
		if (cfg->field != old->field) {                                               \
			log_warn("reload: %s changed (" fmt " -> " fmt "): needs a restart; "    \
				 "keeping " fmt,                                              \
				 #field, (cast)old->field, (cast)cfg->field, (cast)old->field);  \
			cfg->field = old->field;                                              \
		}                                                                             \
	} while (0)
	KEEP(workers, "%d", int);
	KEEP(limits.tcp_sessions, "%u", unsigned);
	KEEP(limits.udp_associations, "%u", unsigned);
	KEEP(dns.cache_entries, "%u", unsigned);
#undef KEEP
	if (strcmp(cfg->user, old->user) || strcmp(cfg->group, old->group)) {
		log_warn("reload: user/group changed: needs a restart; keeping \"%s\"/\"%s\"",
			 old->user, old->group);
		memcpy(cfg->user, old->user, sizeof(cfg->user));
		memcpy(cfg->group, old->group, sizeof(cfg->group));
		cfg->uid = old->uid;
		cfg->gid = old->gid;
	}
	if (cfg->api.enabled != old->api.enabled ||
	    strcmp(cfg->api.unix_path, old->api.unix_path) ||
	    (cfg->api.enabled && !cfg->api.unix_path[0] &&
	     !config_same_listen(&cfg->api.listen, &old->api.listen))) {
		log_warn("reload: api.listen changed: needs a restart; keeping the old one");
		cfg->api.enabled = old->api.enabled;
		cfg->api.listen = old->api.listen;
		memcpy(cfg->api.unix_path, old->api.unix_path, sizeof(cfg->api.unix_path));
	}
	if (cfg->log_format != old->log_format) {
		/* The lines already written and the shipper reading them agree on one format. */
		log_warn("reload: %s changed (%s -> %s): needs a restart; keeping %s", "log_format",
			 config_log_format_names[old->log_format],
			 config_log_format_names[cfg->log_format],
			 config_log_format_names[old->log_format]);
		cfg->log_format = old->log_format;
	}
	if (strcmp(cfg->state_file, old->state_file)) {
		log_warn("reload: state_file changed: needs a restart; keeping \"%s\"",
			 old->state_file);
		memcpy(cfg->state_file, old->state_file, sizeof(cfg->state_file));
	}
	if (cfg->metrics.enabled != old->metrics.enabled ||
	    (cfg->metrics.enabled &&
	     !config_same_listen(&cfg->metrics.listen, &old->metrics.listen))) {
		log_warn("reload: metrics.listen changed: needs a restart; keeping the old one");
		cfg->metrics = old->metrics;
	}
}

/* One snapshot on its way to the workers. */
struct publication {
	struct loop_cfg_msg msg;
	int acks_left;
	bool reload;            /* a SIGHUP reload (else an API change) */
};

static void finish_reload(struct loop *l)
{
	struct ctl_state *c = ctl_of(l);

	c->reloading = false;
	ctl_stats.reloads_ok++;
	log_info("reloaded %s: configuration generation %llu", c->opts->config_path,
		 (unsigned long long)l->cfg->generation);
	say_ready(l);
	if (c->reload_again && !l->stopping) {
		c->reload_again = false;
		ctl_reload(l);
	}
}

static void finish(struct loop *l, struct publication *p)
{
	bool reload = p->reload;

	free(p);
	if (reload)
		finish_reload(l);
}

int ctl_publish(struct loop *l, struct config *cfg, bool reload)
{
	struct ctl_state *c = ctl_of(l);
	struct publication *p = calloc(1, sizeof(*p));
	int n = workers_count(c->workers);

	if (!p) {
		config_unref(cfg);
		return -ENOMEM;
	}
	/* Set before the hand-over: with no worker to wait for, finish() ends it below. */
	c->reloading |= reload;
	p->reload = reload;
	p->msg.cfg = cfg;
	p->msg.reply_fd = l->ring.ring_fd;
	p->msg.reply_ud = ud_pack_ptr(loop_tag(&ctl_module, CTL_OP_ACK), p);
	/* One reference for each worker; each lets go when it is done with it. */
	for (int w = 0; w < n; w++) {
		int fd = worker_ring_fd(w);

		if (fd < 0)
			continue;
		config_ref(cfg);
		p->acks_left++;
		loop_post(l, fd, ud_pack_ptr(loop_tag(&core_module, CORE_OP_CONFIG), &p->msg), 0,
			  ud_pack_ptr(loop_tag(&ctl_module, CTL_OP_POSTED), p));
	}
	io_uring_submit(&l->ring);
	/* The control loop's own modules move over too (its reference is ours). */
	loop_adopt_config(l, cfg);
	if (!p->acks_left)
		finish(l, p);
	return 0;
}

int ctl_commit(struct loop *l, struct config *cfg, const struct ctl_change *ch, char *err,
	       size_t err_len)
{
	static const struct ctl_change none;
	const struct config *old = l->cfg;
	int ret;

	if (!ch)
		ch = &none;
	if (!cfg)
		cfg = config_clone(old); /* arrays copied, user sets shared, config_rt empty */
	if (!cfg) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	cfg->generation = old->generation + 1;
	ret = ch->edit ? ch->edit(cfg, ch->arg, err, err_len) : 0;
	if (ret)
		goto drop;
	if ((ch->prepare ? ch->prepare : ctl_prepare)(old, cfg)) {
		snprintf(err, err_len, "the new configuration could not be prepared (see the log)");
		ret = -EIO;
		goto drop;
	}
	if (ch->ready)
		ch->ready(cfg, ch->arg);
	ret = ch->publish ? ch->publish(l, cfg) : ctl_publish(l, cfg, ch->reload);
	if (ret)
		snprintf(err, err_len, "out of memory");
	return ret;
drop:
	config_unref(cfg); /* closes what prepare made */
	return ret;
}

/* Users added through the API join the servers they were added to. */
static int add_overlay(struct config *cfg, void *l, char *err, size_t err_len)
{
	return ctl_overlay(l, cfg, err, err_len);
}

void ctl_reload(struct loop *l)
{
	const struct ctl_change ch = { .edit = add_overlay, .arg = l, .reload = true };
	struct ctl_state *c = ctl_of(l);
	char err[CONFIG_ERR_BYTES];
	struct config *cfg;
	int ret;

	if (c->reloading) {
		c->reload_again = true; /* after the one in progress */
		return;
	}
	log_info("SIGHUP received: reloading %s", c->opts->config_path);
	notify_reloading();
	cfg = config_new_file(c->opts->config_path, err, sizeof(err), NULL);
	if (!cfg) {
		fail(l, err);
		return;
	}
	keep_restart_only(l->cfg, cfg);
	ret = ctl_commit(l, cfg, &ch, err, sizeof(err));
	if (ret)
		fail(l, ret == -EIO ? "see the messages above" : err);
}

void ctl_reload_ack(struct loop *l, unsigned op, const struct io_uring_cqe *cqe)
{
	struct publication *p = ud_ptr(cqe->user_data);

	if (op == CTL_OP_POSTED) {
		if (cqe->res >= 0)
			return;
		/* The worker never got it (its ring is gone): its reference too. */
		log_warn("configuration generation %llu did not reach a worker: %s",
			 (unsigned long long)p->msg.cfg->generation, strerror(-cqe->res));
		config_unref(p->msg.cfg);
	}
	if (--p->acks_left == 0)
		finish(l, p);
}
