/* SPDX-License-Identifier: MIT */
/*
 * privs — setresuid/setresgid and the capability calls. The two capability
 * syscalls are used directly (linux/capability.h, the kernel's own ABI)
 * rather than through libcap: two calls do not justify a dependency.
 */
#include "ctl/privs.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "proto/sockaddr.h"

static bool is_loopback(const struct hostport *hp)
{
	return sockaddr_is_loopback((const struct sockaddr *)&hp->addr);
}

static bool serves_outside(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_servers; i++)
		if (!is_loopback(&cfg->servers[i].listen))
			return true;
	for (size_t i = 0; i < cfg->n_locals; i++)
		if (!is_loopback(&cfg->locals[i].cl.listen))
			return true;
	for (size_t i = 0; i < cfg->n_tunnels; i++)
		if (!is_loopback(&cfg->tunnels[i].cl.listen))
			return true;
	for (size_t i = 0; i < cfg->n_dns_proxies; i++)
		if (!is_loopback(&cfg->dns_proxies[i].cl.listen))
			return true;
	return cfg->metrics.enabled && !is_loopback(&cfg->metrics.listen);
}

/* The capabilities the configuration needs besides binding low ports:
 * SO_MARK (outbound_fwmark) needs CAP_NET_ADMIN, SO_BINDTODEVICE
 * (outbound_interface) CAP_NET_RAW on kernels before 5.7. */
static uint32_t caps_needed(const struct config *cfg)
{
	uint32_t caps = 1u << CAP_NET_BIND_SERVICE;
	const struct config_outbound *o;

	for (size_t i = 0; i < cfg->n_servers + cfg->n_locals + cfg->n_tunnels; i++) {
		o = i < cfg->n_servers		      ? &cfg->servers[i].outbound
		    : i < cfg->n_servers + cfg->n_locals ? &cfg->locals[i - cfg->n_servers].cl.outbound
						       : &cfg->tunnels[i - cfg->n_servers -
								       cfg->n_locals].cl.outbound;
		if (o->fwmark)
			caps |= 1u << CAP_NET_ADMIN;
		if (o->iface[0])
			caps |= 1u << CAP_NET_RAW;
	}
	for (size_t i = 0; i < cfg->n_tunnels; i++)
		if (cfg->tunnels[i].redir == REDIR_TPROXY ||
		    (cfg->tunnels[i].redir && cfg->tunnels[i].cl.udp))
			/* IP_TRANSPARENT: reloads bind listeners, UDP replies bind
			 * each original destination */
			caps |= 1u << CAP_NET_ADMIN;
	for (size_t i = 0; i < cfg->n_dns_proxies; i++) {
		o = &cfg->dns_proxies[i].cl.outbound;
		caps |= o->fwmark ? 1u << CAP_NET_ADMIN : 0;
		caps |= o->iface[0] ? 1u << CAP_NET_RAW : 0;
	}
	return caps;
}

/* These capabilities alone: effective, permitted and inheritable. */
static int keep_caps(uint32_t caps)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = data[0].inheritable = caps;
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	/* Ambient: kept across execve for the plugins this process starts. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0) < 0)
		log_warn("cannot raise CAP_NET_BIND_SERVICE as an ambient capability: %s",
			 strerror(errno));
	return 0;
}

int privs_drop(const struct config *cfg)
{
	uint32_t caps;
	int err;

	/* Plugins run as our user and may be a provider's choice: not dumpable,
	 * we cannot be traced or have our memory or environment read by them.
	 * (A uid change below does this too; started as the user, nothing
	 * would.) No core dump either: it would hold the keys. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		log_warn("cannot make the process non-dumpable: %s", strerror(errno));
	if (!cfg->user[0]) {
		if (geteuid() == 0 && serves_outside(cfg))
			log_warn("running as root with a listener outside loopback: set user (and "
				 "group) in the configuration to drop privileges");
		return 0;
	}
	if (geteuid() != 0) {
		if (geteuid() == cfg->uid)
			return 0; /* started as that user already */
		log_error("user = \"%s\": ssring must start as root to switch users", cfg->user);
		return -EPERM;
	}
	/* Keep the permitted set across the uid change, then trim it. */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(1, &cfg->gid) < 0 ||
	    setresgid(cfg->gid, cfg->gid, cfg->gid) < 0 ||
	    setresuid(cfg->uid, cfg->uid, cfg->uid) < 0) {
		err = -errno;
		log_error("cannot switch to user %s: %s", cfg->user, strerror(-err));
		return err;
	}
	caps = caps_needed(cfg);
	err = keep_caps(caps);
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	if (err) {
		log_error("cannot keep CAP_NET_BIND_SERVICE%s%s: %s",
			  caps & (1u << CAP_NET_ADMIN) ? ", CAP_NET_ADMIN" : "",
			  caps & (1u << CAP_NET_RAW) ? ", CAP_NET_RAW" : "", strerror(-err));
		return err;
	}
	log_info("running as user %s (uid %u, gid %u), keeping CAP_NET_BIND_SERVICE%s%s",
		 cfg->user, (unsigned)cfg->uid, (unsigned)cfg->gid,
		 caps & (1u << CAP_NET_ADMIN) ? ", CAP_NET_ADMIN (outbound_fwmark, TPROXY)" : "",
		 caps & (1u << CAP_NET_RAW) ? ", CAP_NET_RAW (outbound_interface)" : "");
	return 0;
}
