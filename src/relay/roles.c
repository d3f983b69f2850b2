/* SPDX-License-Identifier: MIT */
/*
 * roles — which role a new TCP session has (relay/role.h): chosen once, at
 * accept, from the kind of listener and its entry.
 */
#include "client_int.h"
#include "server_int.h"

const struct session_role *session_role_of(enum role role, const void *conf)
{
	const struct config_tunnel *t = conf;

	switch (role) {
	case ROLE_SERVER:
		return &role_server;
	case ROLE_LOCAL:
		return &role_local.base;
	default:
		return t->redir ? &role_redir.base : &role_tunnel.base;
	}
}
