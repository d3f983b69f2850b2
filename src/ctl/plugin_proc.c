/* SPDX-License-Identifier: MIT */
/*
 * plugin_proc — starting a SIP003 plugin process (plugin_int.h).
 *
 * Not posix_spawn: a plugin must end with ssring even when ssring is
 * killed with SIGKILL (nothing is left then to stop it, and it would keep
 * the public port), and posix_spawn can set up neither way below; a helper
 * process in between would make the plugin nobody's child. So this is
 * vfork: the child does what posix_spawn would (signals, fds), the two
 * things below, checks that its parent is still the process that forked it
 * (which may have died just before), and execs. Until the exec the child
 * shares our memory: it makes system calls only and writes none of our
 * variables; an error goes back through a close-on-exec pipe (which also
 * works where a sanitizer turns vfork into fork).
 *
 * How a plugin learns that ssring died:
 * - PR_SET_PDEATHSIG (SIGKILL), sent when the thread that forked ends: the
 *   control loop's, the main thread, which ends with the process. But the
 *   kernel clears it when the exec raises privileges, and for a process
 *   that is not root any program with file capabilities does: Debian's
 *   obfs-server (cap_net_bind_service=ep) run as `user` loses it.
 * - So each plugin also leads a session of its own whose controlling
 *   terminal is a pseudo-terminal: ssring holds the master end and never
 *   uses it. When ssring's last fd on it closes, as the process dies, the
 *   kernel hangs the terminal up and sends SIGHUP to the session leader,
 *   the plugin, whatever its privileges; when that leader ends, the
 *   terminal's process group (the plugin's, with whatever it forked) gets
 *   SIGHUP too. A plugin that ignores SIGHUP and lost its parent-death
 *   signal outlives ssring; under systemd the unit's control group still
 *   ends it. Without /dev/ptmx the plugin runs without the terminal.
 *   The session is also a process group of its own: ^C on ssring's
 *   terminal is for ssring, which stops plugins in order, and ssring
 *   signals the whole group.
 *
 * The environment: a plugin is a program the operator named (or a SIP008
 * provider, within plugins_allowed), run as ssring's user; it gets what
 * SIP003 defines and nothing else of ssring's environment, which may hold
 * secrets (ssring removes *_env variables once read, but an operator may
 * keep others there), NOTIFY_SOCKET and the like:
 *   SS_REMOTE_HOST, SS_REMOTE_PORT, SS_LOCAL_HOST, SS_LOCAL_PORT,
 *   SS_PLUGIN_OPTIONS    SIP003
 *   PATH                 ssring's, else /usr/local/bin:/usr/bin:/bin: a
 *                        plugin that is a script runs other programs
 *   TZ                   if ssring has it: log times match ssring's
 *   SSL_CERT_FILE, SSL_CERT_DIR   if ssring has them: the CA certificates
 *                        a TLS client plugin (v2ray-plugin's "tls") checks
 *                        its server with, as it would have before
 * simple-obfs reads the SS_* variables only; v2ray-plugin (Go) those, TZ
 * and the SSL_CERT_* (its runtime also GODEBUG and the like, which a
 * wrapper script named as the plugin can set). No HOME, USER or locale:
 * neither reads them.
 */
#include "plugin_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define MAX_ENV 10

static bool executable(const char *path)
{
	struct stat st;

	/* access() alone says yes to a directory, which execve refuses. */
	return access(path, X_OK) == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int plugin_resolve(const char *cmd, char *out, size_t len)
{
	const char *path = getenv("PATH");
	int err = ENOENT;

	if (strchr(cmd, '/')) {
		if (strlen(cmd) >= len)
			return -ENAMETOOLONG;
		if (!executable(cmd))
			return errno == 0 || errno == ENOENT ? -ENOENT : -errno;
		strcpy(out, cmd);
		return 0;
	}
	if (!cmd[0])
		return -ENOENT;
	if (!path || !path[0])
		path = DEFAULT_PATH;
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);

		/* An empty entry (the current directory) is skipped on purpose. */
		if (n && n + 1 + strlen(cmd) < len) {
			memcpy(out, path, n);
			out[n] = '/';
			strcpy(out + n + 1, cmd);
			errno = 0;
			if (executable(out))
				return 0;
			if (errno == EACCES)
				err = EACCES;
		}
		path += n + (colon != NULL);
	}
	return -err;
}

static char *env_pair(const char *key, const char *val)
{
	size_t len = strlen(key) + strlen(val) + 2;
	char *s = malloc(len);

	if (s)
		snprintf(s, len, "%s=%s", key, val);
	return s;
}

/* What the child needs, all made before the vfork. */
struct child {
	const char *path;
	char *const *argv;
	char *const *env;
	int err_fd;   /* write end of the error pipe, close-on-exec */
	int tty;      /* the pseudo-terminal's slave end, or -1 */
	pid_t parent;
};

static void __attribute__((noreturn)) child_fail(int fd, int err)
{
	while (write(fd, &err, sizeof(err)) < 0 && errno == EINTR)
		;
	_exit(127);
}

/* After vfork, in the child: system calls only, then exec or _exit. */
static void __attribute__((noreturn)) child_run(const struct child *c)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	char *sh[3] = { "/bin/sh", (char *)c->path, NULL };
	sigset_t none;
	int fd = c->err_fd, nul;

	/* Every signal is blocked (the parent blocked them around vfork).
	 * Handlers are ours, in memory shared until the exec, and ignored
	 * signals (SIGPIPE) would stay ignored across it: all go to default
	 * now, and the mask is emptied just before the exec. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL); /* glibc's own signals say EINVAL */
	if (fd < 3) { /* ssring runs with a standard fd closed: keep clear of 0-2 */
		fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			_exit(127);
	}
	/* Its own session and group, with the terminal (see the top). */
	if (setsid() < 0 || (c->tty >= 0 && ioctl(c->tty, TIOCSCTTY, 0) < 0))
		child_fail(fd, errno);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(fd, errno);
	/* ssring died before the prctl: no signal would come. */
	if (getppid() != c->parent)
		_exit(127);
	nul = open("/dev/null", O_RDONLY);
	if (nul < 0)
		child_fail(fd, errno);
	if (nul != 0) {
		if (dup2(nul, 0) < 0)
			child_fail(fd, errno);
		close(nul);
	}
	/* No listener, ring or client socket of ours goes to the plugin. */
	if ((fd > 3 && close_range(3, (unsigned)fd - 1, 0) < 0) ||
	    close_range((unsigned)fd + 1, ~0U, 0) < 0)
		child_fail(fd, errno);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(c->path, c->argv, c->env);
	if (errno == ENOEXEC) /* a script without #!, as execvp runs it */
		execve(sh[0], sh, c->env);
	child_fail(fd, errno);
}

/* vfork with every signal blocked in both, so that nothing of ours runs in
 * the child. Apart, so that the parent has no variable live across it. */
static pid_t __attribute__((noinline)) fork_child(const struct child *c)
{
	sigset_t all, old;
	pid_t pid;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = vfork();
	if (pid == 0)
		child_run(c);
	err = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return pid < 0 ? -err : pid;
}

/* A pseudo-terminal: the master end, its slave in *slave; or -errno. */
static int open_pty(int *slave)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), err;

	if (m < 0)
		return -errno;
	if (unlockpt(m) == 0) {
		*slave = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (*slave >= 0)
			return m;
	}
	err = -errno;
	close(m);
	return err;
}

pid_t plugin_spawn(const struct plugin_exec *x, int *tty)
{
	static const char *const passed[] = { "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR" };
	const char *path_env = getenv("PATH");
	char path[4096], *env[MAX_ENV + 1] = { 0 }, *argv[2] = { (char *)x->cmd, NULL };
	struct child c;
	int pipefd[2], err = 0, n = 0, slave = -1;
	pid_t pid;
	ssize_t r;

	*tty = -1;
	pid = plugin_resolve(x->cmd, path, sizeof(path));
	if (pid < 0)
		return pid;
	env[n++] = env_pair("PATH", path_env && path_env[0] ? path_env : DEFAULT_PATH);
	for (size_t i = 0; i < sizeof(passed) / sizeof(passed[0]); i++)
		if (getenv(passed[i]))
			env[n++] = env_pair(passed[i], getenv(passed[i]));
	env[n++] = env_pair("SS_REMOTE_HOST", x->remote_host);
	env[n++] = env_pair("SS_REMOTE_PORT", x->remote_port);
	env[n++] = env_pair("SS_LOCAL_HOST", x->local_host);
	env[n++] = env_pair("SS_LOCAL_PORT", x->local_port);
	env[n++] = env_pair("SS_PLUGIN_OPTIONS", x->opts);
	for (int i = 0; i < n; i++)
		if (!env[i])
			pid = -ENOMEM;
	if (pid >= 0 && pipe2(pipefd, O_CLOEXEC) < 0)
		pid = -errno;
	if (pid >= 0) {
		*tty = open_pty(&slave);
		if (*tty < 0)
			*tty = -1; /* none: the parent-death signal alone */
		c = (struct child){ path, argv, env, pipefd[1], slave, getpid() };
		pid = fork_child(&c);
		close(pipefd[1]);
		if (pid > 0) {
			/* EOF: the exec happened (the pipe closed with it). */
			do
				r = read(pipefd[0], &err, sizeof(err));
			while (r < 0 && errno == EINTR);
			if (r != 0) {
				while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
					;
				pid = r == (ssize_t)sizeof(err) && err > 0 ? -err : -ECHILD;
			}
		}
		close(pipefd[0]);
		if (slave >= 0)
			close(slave);
		if (pid < 0 && *tty >= 0) {
			close(*tty);
			*tty = -1;
		}
	}
	for (int i = 0; i < n; i++)
		free(env[i]);
	return pid;
}
