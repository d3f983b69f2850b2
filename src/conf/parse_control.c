/* SPDX-License-Identifier: MIT */
/*
 * parse_control — the keys of the control plane: the user and group to run
 * as, the metrics listener, the management API and its state file.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse_int.h"

static const char *const metrics_keys[] = { "listen", NULL };
static const char *const api_keys[] = { "listen", "token", "token_file", "token_env", NULL };

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
	if ((ret = cf_get_hostport(x, g, "listen", true, &cfg->metrics.listen)))
		return ret;
	return cf_note_listen(x, g, &cfg->metrics.listen);
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
	return cf_get_token(x, g, cfg->api.token, sizeof(cfg->api.token));
}

static int parse_state_file(struct ctx *x, const config_setting_t *root, struct config *cfg)
{
	return cf_get_path(x, root, "state_file", cfg->state_file, sizeof(cfg->state_file));
}

int cf_parse_control(struct ctx *x, const config_setting_t *root, struct config *cfg)
{
	int ret = parse_identity(x, root, cfg);

	if (!ret)
		ret = parse_metrics(x, root, cfg);
	if (!ret)
		ret = parse_api(x, root, cfg);
	if (!ret)
		ret = parse_state_file(x, root, cfg);
	return ret;
}
