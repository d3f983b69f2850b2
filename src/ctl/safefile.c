/* SPDX-License-Identifier: MIT */
/*
 * safefile — replacing a file the control loop owns (the state file, a
 * SIP008 servers_cache) so that a crash leaves the old or the new version,
 * never half of one, and so that whoever can write to the folder cannot
 * turn the write against another file: ssring may be root when it writes.
 *
 * PATH.tmp is always made afresh. Whatever is there is removed first (a
 * leftover of a crash, or a symbolic link someone planted to have us write
 * through it), and the new one is created with O_EXCL | O_NOFOLLOW, so a
 * link put back in between makes the write fail instead of following it.
 * Its mode is set to 0600 on the descriptor: neither an old file's mode
 * nor the umask decides who can read the secrets in it.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/config.h"
#include "core/log.h"
#include "ctl_int.h"

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int ctl_replace_file(const char *path, const void *data, size_t len, bool keep_prev)
{
	char tmp[CONFIG_PATH_MAX + 8], prev[CONFIG_PATH_MAX + 8], dir[CONFIG_PATH_MAX];
	int fd, ret = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	if (unlink(tmp) < 0 && errno != ENOENT)
		return -errno;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0600) < 0 || (ret = write_all(fd, data, len)) || fsync(fd) < 0) {
		if (!ret)
			ret = -errno;
		close(fd);
		unlink(tmp);
		return ret;
	}
	close(fd);
	if (keep_prev) {
		snprintf(prev, sizeof(prev), "%s.prev", path);
		unlink(prev);
		if (link(path, prev) < 0 && errno != ENOENT)
			log_warn("cannot keep %s: %s", prev, strerror(errno));
	}
	/* rename replaces PATH itself, a link there included: never what it points to. */
	if (rename(tmp, path) < 0) {
		ret = -errno;
		unlink(tmp);
		return ret;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}
