/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for proto/ssm: request bodies (POST and PATCH) and state
 * files. Besides "no crash": a parsed request keeps its promises (a
 * username and one secret for POST, something to change for PATCH, no
 * limit out of range); a parsed state file builds back into JSON that
 * parses to the same users and usage.
 */
#include "proto/ssm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void check_state(const uint8_t *data, size_t size)
{
	struct ssm_state st, again;
	char err[SSM_ERR_BYTES], *s;
	size_t len = 0;

	if (ssm_state_parse((const char *)data, size, &st, err, sizeof(err)) != 0) {
		if (st.n || st.servers)
			abort();
		return;
	}
	s = ssm_state_build(&st, &len);
	if (!s)
		abort();
	if (ssm_state_parse(s, len, &again, err, sizeof(err)) != 0 || again.n != st.n)
		abort();
	for (size_t i = 0; i < st.n; i++) {
		if (again.servers[i].n_users != st.servers[i].n_users ||
		    again.servers[i].n_usage != st.servers[i].n_usage)
			abort();
		for (size_t k = 0; k < st.servers[i].n_users; k++)
			if (strcmp(again.servers[i].users[k].username, st.servers[i].users[k].username) ||
			    strcmp(again.servers[i].users[k].secret, st.servers[i].users[k].secret))
				abort();
	}
	ssm_state_free(&again);
	ssm_state_free(&st);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ssm_user_req r;
	char err[SSM_ERR_BYTES];
	int ret;

	if (size < 1 || size > 65536)
		return 0;
	if (data[0] & 1) {
		check_state(data + 1, size - 1);
		return 0;
	}
	ret = ssm_parse_user((const char *)data + 1, size - 1, data[0] & 2, &r, err, sizeof(err));
	if (ret != 0 && ret != -EINVAL)
		abort();
	if (ret == 0) {
		bool post = data[0] & 2;

		if (post && (!r.has_username || !r.username[0] || (!r.has_upsk && !r.has_password)))
			abort();
		if (!post && (r.has_username || (!r.has_upsk && !r.has_password && !r.has_limits)))
			abort();
		if (r.has_upsk && r.has_password)
			abort();
		if (r.limits.max_ips > 64 || r.limits.period < 0 || r.limits.period > 2)
			abort();
		if ((r.has_upsk || r.has_password) && !r.secret[0])
			abort();
	} else if (!err[0]) {
		abort(); /* a refusal always says why */
	}
	return 0;
}
