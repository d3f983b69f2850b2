/* SPDX-License-Identifier: MIT */
#include "relay/relay.h"

#include <sys/socket.h>

#include "core/log.h"
#include "proto/hostport.h"

struct relay_shared relay_shared;

bool relay_uses_2022(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_servers; i++)
		if (cfg->servers[i].cipher.m2022)
			return true;
	for (size_t i = 0; i < cfg->n_locals; i++)
		if (cfg->locals[i].cipher.m2022)
			return true;
	for (size_t i = 0; i < cfg->n_tunnels; i++)
		if (cfg->tunnels[i].cipher.m2022)
			return true;
	return false;
}

static const char *method_name(const struct config_cipher *c)
{
	return c->m2022 ? c->m2022->name : c->method->name;
}

void relay_log_roles(const struct config *cfg)
{
	char a[80];

	for (size_t i = 0; i < cfg->n_servers; i++) {
		const struct config_server *s = &cfg->servers[i];

		log_info("server listening on %s (tcp), method %s%s",
			 hostport_format_addr((const struct sockaddr *)&s->listen.addr, a,
					      sizeof(a)),
			 method_name(&s->cipher), s->allow_private ? ", private targets allowed" : "");
	}
	for (size_t i = 0; i < cfg->n_locals; i++)
		log_info("local (SOCKS5 + HTTP proxy) listening on %s -> server %s:%u, method %s",
			 hostport_format_addr((const struct sockaddr *)&cfg->locals[i].listen.addr,
					      a, sizeof(a)),
			 cfg->locals[i].server.host, cfg->locals[i].server.port,
			 method_name(&cfg->locals[i].cipher));
	for (size_t i = 0; i < cfg->n_tunnels; i++)
		log_info("tunnel listening on %s -> %s:%u via server %s:%u",
			 hostport_format_addr((const struct sockaddr *)&cfg->tunnels[i].listen.addr,
					      a, sizeof(a)),
			 cfg->tunnels[i].forward.host, cfg->tunnels[i].forward.port,
			 cfg->tunnels[i].server.host, cfg->tunnels[i].server.port);
	if (cfg->n_locals) {
		hostport_format_addr((const struct sockaddr *)&cfg->locals[0].listen.addr, a,
				     sizeof(a));
		log_info("try: curl --socks5 %s http://IP:PORT/  or  curl -x http://%s "
			 "http://IP:PORT/", a, a);
	}
}

void relay_log_user_bytes(const struct config *cfg, const uint64_t *bytes, const char *how)
{
	for (size_t i = 0; i < cfg->n_servers; i++) {
		const struct config_server *sv = &cfg->servers[i];

		for (size_t u = 0; u < sv->n_users2022 && u < RELAY_USER_COUNTERS; u++)
			if (bytes[u])
				log_info("user %s: %llu bytes%s", sv->users2022[u].name,
					 (unsigned long long)bytes[u], how);
	}
}
