/* SPDX-License-Identifier: MIT */
/*
 * parse_control — the keys of the control plane: the user and group to run
 * as, the metrics listener, the management API and its state file, and the
 * plugins a remote source may have ssring run.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse_int.h"

static const char *const metrics_keys[] = { "listen", "token", "token_file", "token_env", NULL };
static const char *const api_keys[] = { "listen", "token", "token_file", "token_env",
					"allowed_hosts", NULL };

/*
 * user = "name"; group = "name"; — looked up now (getpwnam_r reads
 * /etc/passwd or NSS), so a typo is a config error with its line rather
 * than a failure after the listeners are up.
 */
static int parse_identity(struct ctx *x, const config_setting_t *root, struct config *cfg)
{
	const char *user = NULL, *group = NULL;
	char buf[4096];
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	int ret;

	if ((ret = cf_get_string(x, root, "user", false, &user)) ||
	    (ret = cf_get_string(x, root, "group", false, &group)))
		return ret;
	if (group && !user)
		return fail(x, cf_member(root, "group"), "needs user as well (the user to run as)");
	if (!user)
		return 0;
	if (!user[0] || strlen(user) >= CONFIG_NAME_MAX)
		return fail(x, cf_member(root, "user"), "must be 1 to %d bytes", CONFIG_NAME_MAX - 1);
	if (getpwnam_r(user, &pw, buf, sizeof(buf), &pwp) != 0 || !pwp)
		return fail(x, cf_member(root, "user"), "no such user: '%s'", user);
	snprintf(cfg->user, sizeof(cfg->user), "%s", user);
	cfg->uid = pw.pw_uid;
	cfg->gid = pw.pw_gid;
	if (!group)
		return 0;
	if (!group[0] || strlen(group) >= CONFIG_NAME_MAX)
		return fail(x, cf_member(root, "group"), "must be 1 to %d bytes", CONFIG_NAME_MAX - 1);
	if (getgrnam_r(group, &gr, buf, sizeof(buf), &grp) != 0 || !grp)
		return fail(x, cf_member(root, "group"), "no such group: '%s'", group);
	snprintf(cfg->group, sizeof(cfg->group), "%s", group);
	cfg->gid = gr.gr_gid;
	return 0;
}

static int parse_metrics(struct ctx *x, const config_setting_t *root, struct config *cfg)
{
	const config_setting_t *g;
	int ret = cf_get_group(x, root, "metrics", metrics_keys, &g);

	if (ret || !g)
		return ret;
	cfg->metrics.enabled = true;
	if ((ret = cf_get_hostport(x, g, "listen", true, &cfg->metrics.listen)) ||
	    (ret = cf_note_listen(x, g, &cfg->metrics.listen)))
		return ret;
	return cf_get_token(x, g, cfg->metrics.token, sizeof(cfg->metrics.token));
}

/*
 * allowed_hosts = [ "relay.example.com" ]: the names (besides IP literals
 * and localhost, always allowed) a request's Host and Origin may carry.
 */
static int parse_allowed_hosts(struct ctx *x, const config_setting_t *g, struct config *cfg)
{
	const config_setting_t *list = cf_member(g, "allowed_hosts");
	int n;

	if (!list)
		return 0;
	if (!config_setting_is_array(list) && !config_setting_is_list(list))
		return fail(x, list, "must be an array of host names: allowed_hosts = [ "
			    "\"relay.example.com\" ];");
	n = config_setting_length(list);
	if (n > CONFIG_API_HOSTS_MAX)
		return fail(x, list, "has %d entries; at most %d are supported", n,
			    CONFIG_API_HOSTS_MAX);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned int)i);
		const char *v = config_setting_type(e) == CONFIG_TYPE_STRING
					? config_setting_get_string(e) : NULL;

		/* A name, not host:port (the port is not compared); IP literals need no entry. */
		if (!v || !hostport_is_host_name(v, strlen(v)) || v[strlen(v) - 1] == '.')
			return fail(x, e, "must be a host name such as \"relay.example.com\" (IP "
				    "addresses and localhost are always allowed; no port)");
		snprintf(cfg->api.allowed_hosts[i], sizeof(cfg->api.allowed_hosts[i]), "%s", v);
	}
	cfg->api.n_allowed_hosts = (size_t)n;
	return 0;
}

/* api = { listen = "127.0.0.1:6001" | "unix:/run/ssring/api.sock"; token...; }; */
static int parse_api(struct ctx *x, const config_setting_t *root, struct config *cfg)
{
	const config_setting_t *g;
	const char *listen = NULL;
	int ret = cf_get_group(x, root, "api", api_keys, &g);

	if (ret || !g)
		return ret;
	cfg->api.enabled = true;
	if ((ret = cf_get_string(x, g, "listen", true, &listen)))
		return ret;
	if (!strncmp(listen, "unix:", 5)) {
		if (listen[5] != '/' || strlen(listen + 5) >= sizeof(cfg->api.unix_path))
			return fail(x, cf_member(g, "listen"), "a Unix socket needs an absolute path "
				    "of at most %zu bytes: \"unix:/run/ssring/api.sock\"",
				    sizeof(cfg->api.unix_path) - 1);
		snprintf(cfg->api.unix_path, sizeof(cfg->api.unix_path), "%s", listen + 5);
	} else if ((ret = cf_get_hostport(x, g, "listen", true, &cfg->api.listen)) ||
		   (ret = cf_note_listen(x, g, &cfg->api.listen))) {
		return ret;
	}
	if ((ret = cf_get_token(x, g, cfg->api.token, sizeof(cfg->api.token))) ||
	    (ret = parse_allowed_hosts(x, g, cfg)))
		return ret;
	/* Anyone reaching a TCP port (a web page in a local browser too) could manage users. */
	if (!cfg->api.unix_path[0] && !cfg->api.token[0])
		return fail(x, cf_member(g, "listen"), "a TCP address needs a token (token, "
			    "token_file or token_env; make one with: head -c 32 /dev/urandom | "
			    "base64), or use a Unix socket: \"unix:/run/ssring/api.sock\"");
	return 0;
}

static int parse_state_file(struct ctx *x, const config_setting_t *root, struct config *cfg)
{
	return cf_get_path(x, root, "state_file", cfg->state_file, sizeof(cfg->state_file));
}

/*
 * plugins_allowed = [ "obfs-local", ... ]; — bare names only: a provider's
 * document names a program, and the operator's list says which names it
 * may, each found through PATH as the operator's own plugins are. A path
 * would let a document pick one file, and any file can be put at a path.
 */
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-"

static int parse_plugins_allowed(struct ctx *x, const config_setting_t *root,
				 struct config *cfg)
{
	const config_setting_t *list = cf_member(root, "plugins_allowed");
	struct config_plugins_allowed *pa = &cfg->plugins_allowed;
	int n;

	x->plugins = pa;
	if (!list)
		return 0;
	if (!config_setting_is_array(list) && !config_setting_is_list(list))
		return fail(x, list, "must be an array of program names: plugins_allowed = "
			    "[ \"obfs-local\", \"v2ray-plugin\" ];");
	n = config_setting_length(list);
	if (n > CONFIG_PLUGINS_ALLOWED_MAX)
		return fail(x, list, "has %d entries; at most %d are supported", n,
			    CONFIG_PLUGINS_ALLOWED_MAX);
	pa->n = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned int)i);
		const char *v = config_setting_type(e) == CONFIG_TYPE_STRING ?
					config_setting_get_string(e) : NULL;

		if (v && strchr(v, '/'))
			return fail(x, e, "'%s' is a path: plugins_allowed holds bare program "
				    "names, found through PATH (a plugin at a path of your choosing "
				    "goes in the entry's own plugin setting)", v);
		if (!v || !v[0] || strlen(v) >= CONFIG_PLUGIN_NAME_MAX ||
		    strspn(v, NAME_CHARS) != strlen(v))
			return fail(x, e, "must be a program name of 1 to %d letters, digits, '.', "
				    "'_', '+' or '-'", CONFIG_PLUGIN_NAME_MAX - 1);
		snprintf(pa->name[pa->n++], sizeof(pa->name[0]), "%s", v);
	}
	return 0;
}

int cf_parse_control(struct ctx *x, const config_setting_t *root, struct config *cfg)
{
	int ret = parse_plugins_allowed(x, root, cfg);

	if (!ret)
		ret = parse_identity(x, root, cfg);

	if (!ret)
		ret = parse_metrics(x, root, cfg);
	if (!ret)
		ret = parse_api(x, root, cfg);
	if (!ret)
		ret = parse_state_file(x, root, cfg);
	return ret;
}
