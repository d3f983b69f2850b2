/* SPDX-License-Identifier: MIT */
/*
 * plugin — SIP003 plugins as children of the control loop (ctl/plugin.h).
 *
 * Every role entry with a plugin has one plugin process. An entry is the
 * same across snapshots when its role, listen address, plugin command and
 * options (and, for locals and tunnels, its server) are the same; then its
 * plugin keeps running and keeps its loopback port, so a reload or an API
 * change does not touch it. Children are watched by a 250 ms timer
 * (waitpid WNOHANG: no SIGCHLD plumbing, no signal handler); one that dies
 * while wanted is started again after a back-off (0.5 s doubling to 30 s,
 * back to 0.5 s once a run lasted 30 s). Whether a plugin listens is read
 * from /proc/net/tcp{,6}, which costs the plugin no connection.
 *
 * Stopping: a plugin is its own process group (plugin_proc.c), and every
 * stop — a reload or an API change that drops it, the shutdown — sends
 * SIGTERM to the group and SIGKILL KILL_AFTER_MS later; when the leader
 * ends, whatever it left in its group is killed before it is reaped (the
 * leader's pid, the group's id, stays ours until then). A group that cannot
 * be signalled, or that outlives SIGKILL by GIVE_UP_MS, is given up on
 * (logged once), so that a shutdown always ends.
 */
#include "ctl/plugin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timer.h"
#include "ctl_int.h"
#include "plugin_int.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define STABLE_RUN_MS 30000
#define START_WAIT_MS 10000
#define KILL_AFTER_MS 3000
#define GIVE_UP_MS 2000

enum plug_role { PR_SERVER = 0, PR_LOCAL, PR_TUNNEL };
static const char *const role_names[] = { "server", "local", "tunnel" };

struct plug {
	struct plug *next;
	enum plug_role role;
	struct config_plugin p;
	struct hostport listen;   /* the entry's listen address */
	struct hostport server;   /* locals and tunnels: their server */
	bool upstream;            /* the plugin of one of their upstreams */
	uint16_t port;            /* the loopback port between ssring and the plugin */
	pid_t pid;                /* 0: not running; also its process group's id */
	int tty;                  /* master end of its terminal (plugin_proc.c), or -1 */
	bool wanted;              /* in the current snapshot */
	bool listening;           /* seen listening since its last start */
	bool killed;              /* SIGKILL went to its group (at kill_ms) */
	bool lost;                /* cannot be signalled or will not end: not waited for */
	uint64_t starts, exits;
	uint64_t started_ms, restart_at_ms;
	uint64_t term_ms, kill_ms; /* when SIGTERM and SIGKILL went; 0: not yet */
	unsigned backoff_ms;
};

static struct plug *plugs;      /* adopted: running or waiting to restart */
static struct plug *pending;    /* ports assigned for a snapshot not yet adopted */
static struct timer watch;
static bool stopping, terminated;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One role entry of a snapshot, seen the same way for all three roles. */
struct entry {
	enum plug_role role;
	const struct config_plugin *p;
	const struct hostport *listen, *server;
	struct hostport *tcp;     /* what the port goes into */
	int line;
	bool upstream;
};

/* The upstreams with plugins of a local or tunnel. */
static size_t upstream_entries(enum plug_role role, const struct hostport *listen,
			       struct config_upstream *ups, size_t n_ups, int line,
			       struct entry *out, size_t n, size_t max)
{
	for (size_t j = 0; j < n_ups; j++)
		if (ups[j].plugin.cmd[0] && n < max)
			out[n++] = (struct entry){ role, &ups[j].plugin, listen, &ups[j].server,
						   &ups[j].tcp_server, line, true };
	return n;
}

static size_t entries(struct config *cfg, struct entry *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->n_servers; i++) {
		struct config_server *s = &cfg->servers[i];

		if (s->plugin.cmd[0] && n < max)
			out[n++] = (struct entry){ PR_SERVER, &s->plugin, &s->listen, NULL,
						   &s->tcp_listen, s->line };
	}
	for (size_t i = 0; i < cfg->n_locals; i++) {
		struct config_local *c = &cfg->locals[i];

		if (c->cl.plugin.cmd[0] && n < max)
			out[n++] = (struct entry){ PR_LOCAL, &c->cl.plugin, &c->cl.listen, &c->cl.server,
						   &c->cl.tcp_server, c->cl.line, false };
		n = upstream_entries(PR_LOCAL, &c->cl.listen, c->cl.ups, c->cl.n_ups, c->cl.line, out, n, max);
	}
	for (size_t i = 0; i < cfg->n_tunnels; i++) {
		struct config_tunnel *t = &cfg->tunnels[i];

		if (t->cl.plugin.cmd[0] && t->tcp && n < max)
			out[n++] = (struct entry){ PR_TUNNEL, &t->cl.plugin, &t->cl.listen, &t->cl.server,
						   &t->cl.tcp_server, t->cl.line, false };
		if (t->tcp)
			n = upstream_entries(PR_TUNNEL, &t->cl.listen, t->cl.ups, t->cl.n_ups, t->cl.line, out,
					     n, max);
	}
	return n;
}

static size_t count_entries(const struct config *cfg)
{
	size_t n = cfg->n_servers + cfg->n_locals + cfg->n_tunnels;

	for (size_t i = 0; i < cfg->n_locals; i++)
		n += cfg->locals[i].cl.n_ups;
	for (size_t i = 0; i < cfg->n_tunnels; i++)
		n += cfg->tunnels[i].cl.n_ups;
	return n;
}

static bool same(const struct plug *pl, const struct entry *e)
{
	if (pl->role != e->role || pl->upstream != e->upstream ||
	    !config_same_listen(&pl->listen, e->listen) ||
	    strcmp(pl->p.cmd, e->p->cmd) || strcmp(pl->p.opts, e->p->opts))
		return false;
	return !e->server ||
	       (!strcmp(pl->server.host, e->server->host) && pl->server.port == e->server->port);
}

static struct plug *find(struct plug *list, const struct entry *e)
{
	for (struct plug *pl = list; pl; pl = pl->next)
		if (same(pl, e))
			return pl;
	return NULL;
}

/* Is cmd an executable file, by path or through PATH? */
static bool command_exists(const char *cmd)
{
	char path[4096];

	return plugin_resolve(cmd, path, sizeof(path)) == 0;
}

/* A free loopback TCP port, by binding port 0 and letting it go. */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		port = -errno;
		close(fd);
		return port;
	}
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int loopback_at(uint16_t port, struct hostport *out)
{
	char hp[32];

	snprintf(hp, sizeof(hp), "127.0.0.1:%u", (unsigned)port);
	return hostport_parse(hp, false, out);
}

/*
 * pre_prepare: pick the loopback ports of cfg's plugins (the ones a running
 * plugin of the same entry already has are kept) into the entries'
 * tcp_listen / tcp_server, and check that every plugin command exists,
 * before any module's prepare binds or connects to them. It runs after
 * sip008's (main.c registers that module first): a document's server may
 * bring a plugin. 0 or -errno (logged).
 */
static int plugin_assign(const struct config *old, struct config *cfg)
{
	size_t n_max = count_entries(cfg), n;
	struct entry *e = calloc(n_max ? n_max : 1, sizeof(*e));
	int ret = 0;

	(void)old;
	if (!e)
		return -ENOMEM;
	n = entries(cfg, e, n_max);
	for (size_t i = 0; i < n && !ret; i++) {
		struct plug *pl;

		/* Links name v2ray-plugin; Debian installs it as ss-v2ray-plugin. */
		if (!strcmp(e[i].p->cmd, "v2ray-plugin") && !command_exists("v2ray-plugin") &&
		    command_exists("ss-v2ray-plugin"))
			strcpy(((struct config_plugin *)e[i].p)->cmd, "ss-v2ray-plugin");
		pl = find(plugs, &e[i]);

		if (!pl)
			pl = find(pending, &e[i]);
		if (!pl) {
			int port;

			if (!command_exists(e[i].p->cmd)) {
				log_error("line %d: plugin '%s' not found (no executable of that name "
					  "in PATH)", e[i].line, e[i].p->cmd);
				ret = -ENOENT;
				break;
			}
			port = free_port();
			pl = port > 0 ? calloc(1, sizeof(*pl)) : NULL;
			if (!pl) {
				log_error("line %d: plugin '%s': no loopback port: %s", e[i].line,
					  e[i].p->cmd, port < 0 ? strerror(-port) : "out of memory");
				ret = port < 0 ? port : -ENOMEM;
				break;
			}
			pl->role = e[i].role;
			pl->upstream = e[i].upstream;
			pl->p = *e[i].p;
			pl->listen = *e[i].listen;
			if (e[i].server)
				pl->server = *e[i].server;
			pl->port = (uint16_t)port;
			pl->tty = -1;
			pl->backoff_ms = BACKOFF_MIN_MS;
			pl->next = pending;
			pending = pl;
		}
		if (loopback_at(pl->port, e[i].tcp))
			ret = -EINVAL;
	}
	free(e);
	return ret;
}

/* Start pl's plugin with the SIP003 environment (plugin_proc.c). 0 or -errno. */
static int spawn(struct plug *pl, uint64_t now)
{
	char port_l[8], port_r[8];
	struct plugin_exec x = { .cmd = pl->p.cmd, .opts = pl->p.opts, .local_host = "127.0.0.1" };
	pid_t pid;

	/* SIP003: REMOTE is the plugin service on the public side, LOCAL the
	 * Shadowsocks end on loopback; for a server the plugin listens on
	 * REMOTE (our listen address), for a client on LOCAL. */
	snprintf(port_l, sizeof(port_l), "%u", (unsigned)pl->port);
	if (pl->role == PR_SERVER) {
		x.remote_host = pl->listen.host;
		snprintf(port_r, sizeof(port_r), "%u", (unsigned)pl->listen.port);
	} else {
		x.remote_host = pl->server.host;
		snprintf(port_r, sizeof(port_r), "%u", (unsigned)pl->server.port);
	}
	x.local_port = port_l;
	x.remote_port = port_r;
	pid = plugin_spawn(&x, &pl->tty);
	if (pid < 0) {
		pl->pid = 0;
		return (int)pid;
	}
	pl->pid = pid;
	pl->starts++;
	pl->started_ms = now;
	pl->listening = false;
	pl->killed = pl->lost = false;
	pl->term_ms = pl->kill_ms = 0;
	log_info("plugin %s (pid %d) for the %s on %s:%u: SS_LOCAL %s:%s, SS_REMOTE %s:%s%s%s",
		 pl->p.cmd, (int)pl->pid, role_names[pl->role], pl->listen.host,
		 (unsigned)pl->listen.port, x.local_host, port_l, x.remote_host, port_r,
		 pl->p.opts[0] ? ", options " : "", pl->p.opts);
	return 0;
}

/*
 * Signal pl's process group (its id is the leader's pid). One we may not
 * signal (EPERM: the plugin changed its user) is given up on, said once.
 */
static void signal_group(struct plug *pl, int sig)
{
	if (pl->pid <= 0 || pl->lost)
		return;
	if (kill(-pl->pid, sig) == 0)
		return;
	/* No group of that id: the leader left it (setpgid); it is still ours. */
	if (errno == ESRCH && (kill(pl->pid, sig) == 0 || errno == ESRCH))
		return;
	log_error("plugin %s (pid %d) cannot be sent signal %d: %s; not waiting for it",
		  pl->p.cmd, (int)pl->pid, sig, strerror(errno));
	pl->lost = true;
}

/* Begin stopping pl: SIGTERM to its group now, SIGKILL later (escalate). */
static void stop_plug(struct plug *pl, uint64_t now)
{
	if (pl->pid <= 0 || pl->term_ms)
		return;
	pl->term_ms = now ? now : 1;
	signal_group(pl, SIGTERM);
}

/* A stopping plugin that has not ended: SIGKILL, then stop waiting. */
static void escalate(struct plug *pl, uint64_t now)
{
	if (pl->pid <= 0 || !pl->term_ms || pl->lost)
		return;
	if (!pl->killed && now - pl->term_ms >= KILL_AFTER_MS) {
		log_warn("plugin %s (pid %d) did not stop within %d s of SIGTERM: killing its "
			 "process group", pl->p.cmd, (int)pl->pid, KILL_AFTER_MS / 1000);
		pl->killed = true;
		pl->kill_ms = now;
		signal_group(pl, SIGKILL);
	} else if (pl->killed && now - pl->kill_ms >= GIVE_UP_MS) {
		log_error("plugin %s (pid %d) has not ended %d s after SIGKILL; not waiting for it",
			  pl->p.cmd, (int)pl->pid, GIVE_UP_MS / 1000);
		pl->lost = true;
	}
}

/*
 * Has pl's leader ended? Then kill what it left in its group and reap it
 * (status into *st). Seen with WNOWAIT first: until it is reaped its pid,
 * and so its group's id, cannot be taken by another process.
 */
static bool reap(struct plug *pl, int *st)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pl->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
	    si.si_pid != pl->pid)
		return false;
	kill(-pl->pid, SIGKILL);
	while (waitpid(pl->pid, st, 0) < 0)
		if (errno != EINTR)
			break;
	if (pl->tty >= 0)
		close(pl->tty);
	pl->tty = -1;
	return true;
}

/*
 * Without /proc/net (systemd's ProcSubset=pid): is the address taken? A
 * bind that fails with EADDRINUSE says someone holds it; we let go at once.
 */
static bool address_taken(const struct hostport *hp)
{
	int fd = socket(hp->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool taken;

	if (fd < 0)
		return false;
	taken = bind(fd, (const struct sockaddr *)&hp->addr, hp->addr_len) < 0 &&
		errno == EADDRINUSE;
	close(fd);
	return taken;
}

/* Does some socket listen on TCP port hp->port? From /proc, no connect. */
static bool port_listening(const struct hostport *hp)
{
	static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	bool readable = false;
	uint16_t port = hp->port;

	for (int f = 0; f < 2; f++) {
		FILE *fp = fopen(files[f], "re");
		char line[512];

		if (!fp)
			continue;
		readable = true;
		while (fgets(line, sizeof(line), fp)) {
			char local[80];
			unsigned st, p;
			const char *colon;

			if (sscanf(line, " %*u: %79s %*s %x", local, &st) != 2 || st != 0x0A)
				continue;
			colon = strrchr(local, ':');
			if (colon && sscanf(colon + 1, "%x", &p) == 1 && p == port) {
				fclose(fp);
				return true;
			}
		}
		fclose(fp);
	}
	return !readable && address_taken(hp);
}

/* The address the plugin itself listens on. */
static struct hostport plugin_addr(const struct plug *pl)
{
	struct hostport hp = pl->listen;

	if (pl->role != PR_SERVER)
		loopback_at(pl->port, &hp);
	return hp;
}

static void describe_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(st));
	else
		snprintf(buf, len, "status %d", st);
}

/* Reap, escalate stops, restart, notice listening. Returns false if a
 * child died (for start). */
static bool check(uint64_t now)
{
	bool all_alive = true;

	for (struct plug **pp = &plugs; *pp;) {
		struct plug *pl = *pp;
		int st = 0;

		if (pl->pid > 0 && reap(pl, &st)) {
			char why[48];

			describe_status(st, why, sizeof(why));
			pl->pid = 0;
			if (pl->wanted && !stopping) {
				if (now - pl->started_ms >= STABLE_RUN_MS)
					pl->backoff_ms = BACKOFF_MIN_MS;
				pl->exits++;
				pl->restart_at_ms = now + pl->backoff_ms;
				log_warn("plugin %s (for the %s on %s:%u) ended (%s); starting it again "
					 "in %u ms", pl->p.cmd, role_names[pl->role], pl->listen.host,
					 (unsigned)pl->listen.port, why, pl->backoff_ms);
				pl->backoff_ms = pl->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
										     : pl->backoff_ms * 2;
				all_alive = false;
			} else {
				log_info("plugin %s (for the %s on %s:%u) stopped (%s)", pl->p.cmd,
					 role_names[pl->role], pl->listen.host,
					 (unsigned)pl->listen.port, why);
			}
		}
		escalate(pl, now);
		if (!pl->wanted && pl->pid == 0) {
			*pp = pl->next;
			free(pl);
			continue;
		}
		if (pl->wanted && !stopping && pl->pid == 0 && now >= pl->restart_at_ms) {
			int ret = spawn(pl, now);

			if (ret) {
				log_error("plugin %s cannot be started: %s", pl->p.cmd, strerror(-ret));
				pl->restart_at_ms = now + pl->backoff_ms;
			}
		}
		if (pl->pid > 0 && !pl->listening) {
			struct hostport at = plugin_addr(pl);

			if (port_listening(&at)) {
				pl->listening = true;
				log_info("plugin %s listens on %s:%u", pl->p.cmd, at.host,
					 (unsigned)at.port);
			}
		}
		pp = &pl->next;
	}
	return all_alive;
}

/*
 * Make the plugins match l->cfg: keep the same ones, start new, stop
 * dropped. at_start: a plugin that cannot be spawned is an error (later,
 * it is retried with back-off).
 */
static int reconcile(struct loop *l, bool at_start)
{
	struct config *cfg = (struct config *)l->cfg;
	size_t n_max = count_entries(cfg), n;
	struct entry *e = calloc(n_max ? n_max : 1, sizeof(*e));
	uint64_t now = mono_ms();
	int ret = 0;

	if (!e)
		return -ENOMEM;
	n = entries(cfg, e, n_max);
	for (struct plug *pl = plugs; pl; pl = pl->next)
		pl->wanted = false;
	for (size_t i = 0; i < n; i++) {
		struct plug *pl = find(plugs, &e[i]);

		if (!pl) {
			struct plug **pp = &pending;

			while (*pp && !same(*pp, &e[i]))
				pp = &(*pp)->next;
			if (!*pp)
				continue; /* cannot happen: plugin_assign made it */
			pl = *pp;
			*pp = pl->next;
			pl->next = plugs;
			plugs = pl;
			pl->wanted = true;
			ret = spawn(pl, now);
			if (ret) {
				log_error("plugin %s (line %d) cannot be started: %s", pl->p.cmd,
					  e[i].line, strerror(-ret));
				pl->restart_at_ms = now + pl->backoff_ms;
				if (at_start)
					break;
				ret = 0; /* a reload: keep trying */
			}
		}
		pl->wanted = true;
	}
	free(e);
	for (struct plug *pl = plugs; pl; pl = pl->next)
		if (!pl->wanted && pl->pid > 0) {
			log_info("plugin %s (for the %s on %s:%u) is no longer configured: stopping "
				 "it", pl->p.cmd, role_names[pl->role], pl->listen.host,
				 (unsigned)pl->listen.port);
			stop_plug(pl, now);
		}
	while (pending) {
		struct plug *pl = pending;

		pending = pl->next;
		free(pl);
	}
	return ret;
}

static void on_watch(struct loop *l, struct timer *t)
{
	uint64_t now = mono_ms();

	check(now);
	timer_arm(&l->wheel, t, l->now_ms + TIMER_TICK_MS);
}

static int plugin_init(struct loop *l)
{
	(void)l;
	stopping = terminated = false;
	timer_init_fn(&watch, on_watch);
	return 0;
}

int plugin_launch(struct loop *l)
{
	uint64_t start = mono_ms();
	bool waiting = true;
	int ret;

	ret = reconcile(l, true);
	if (ret || !plugs)
		return ret;
	/*
	 * The first plugins start before the workers serve: wait (on this
	 * thread, before any loop runs) until each listens, so that the first
	 * connections find them. A plugin that dies now is a start error.
	 */
	while (waiting && mono_ms() - start < START_WAIT_MS) {
		struct timespec ts = { 0, 20 * 1000000 };

		if (!check(mono_ms())) {
			log_error("a plugin ended while starting (see above): not starting");
			return -ECHILD;
		}
		waiting = false;
		for (struct plug *pl = plugs; pl; pl = pl->next)
			waiting |= pl->pid > 0 && !pl->listening;
		if (waiting)
			nanosleep(&ts, NULL);
	}
	if (waiting)
		log_warn("a plugin does not listen after %d s; serving anyway",
			 START_WAIT_MS / 1000);
	return 0;
}

static void plugin_start(struct loop *l)
{
	timer_arm(&l->wheel, &watch, l->now_ms + TIMER_TICK_MS);
}

static void plugin_reconfig(struct loop *l, const struct config *old)
{
	(void)old;
	reconcile(l, false);
}

static void plugin_stop(struct loop *l)
{
	(void)l;
	stopping = true;
}

/* On shutdown the plugins go once the workers have ended (their sessions
 * may run through them until then). */
static void plugin_tick(struct loop *l)
{
	const struct ctl_state *c = ctl_of(l);
	uint64_t now;

	if (!stopping || terminated || c->exited < workers_count(c->workers))
		return;
	terminated = true;
	now = mono_ms();
	for (struct plug *pl = plugs; pl; pl = pl->next)
		stop_plug(pl, now);
}

/* The stop waits for every plugin but those given up on (escalate()): at
 * most KILL_AFTER_MS + GIVE_UP_MS after the workers have ended. */
static bool plugin_busy(const struct loop *l)
{
	(void)l;
	for (struct plug *pl = plugs; pl; pl = pl->next)
		if (pl->pid > 0 && !pl->lost)
			return true;
	return false;
}

static void plugin_destroy(struct loop *l)
{
	uint64_t deadline = mono_ms() + GIVE_UP_MS;

	(void)l;
	timer_cancel(&watch);
	/* Whatever still runs (a failed start, one given up on) goes now; the
	 * wait for it is bounded, as the stop's. */
	for (struct plug *pl = plugs; pl; pl = pl->next)
		signal_group(pl, SIGKILL);
	for (struct plug *pl = plugs; pl; pl = pl->next) {
		int st;

		while (pl->pid > 0 && !pl->lost && !reap(pl, &st) && mono_ms() < deadline) {
			struct timespec ts = { 0, 10 * 1000000 };

			nanosleep(&ts, NULL);
		}
	}
	while (plugs) {
		struct plug *pl = plugs;

		/* One given up on gets the hang-up (SIGHUP) as well. */
		if (pl->tty >= 0)
			close(pl->tty);
		plugs = pl->next;
		free(pl);
	}
	while (pending) {
		struct plug *pl = pending;

		pending = pl->next;
		free(pl);
	}
}

size_t plugin_list(struct plugin_info *out, size_t max)
{
	size_t n = 0;

	for (struct plug *pl = plugs; pl; pl = pl->next, n++) {
		if (n >= max)
			continue;
		snprintf(out[n].cmd, sizeof(out[n].cmd), "%s", pl->p.cmd);
		hostport_format_addr((const struct sockaddr *)&pl->listen.addr, out[n].listen,
				     sizeof(out[n].listen));
		out[n].role = role_names[pl->role];
		out[n].upstream[0] = '\0';
		if (pl->upstream)
			snprintf(out[n].upstream, sizeof(out[n].upstream), "%s:%u", pl->server.host,
				 (unsigned)pl->server.port);
		out[n].pid = (int)pl->pid;
		out[n].starts = pl->starts;
		out[n].exits = pl->exits;
	}
	return n;
}

struct loop_module plugin_module = {
	.name = "plugin",
	.pre_prepare = plugin_assign,
	.init = plugin_init,
	.start = plugin_start,
	.tick = plugin_tick,
	.stop = plugin_stop,
	.busy = plugin_busy,
	.destroy = plugin_destroy,
	.reconfig = plugin_reconfig,
};
