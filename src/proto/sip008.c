/* SPDX-License-Identifier: MIT */
/*
 * sip008 — SIP008 online configuration documents (proto/sip008.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* explicit_bzero */
#endif
#include "proto/sip008.h"

#include <errno.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/aead.h"
#include "proto/hostport.h"
#include "proto/ss2022.h"
#include "proto/text.h"

/* A string member into out (cap bytes). required: absent is an error. */
static int get_str(json_t *o, const char *key, bool required, char *out, size_t cap, size_t i,
		   char *err, size_t err_len)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	if (!v) {
		if (!required)
			return 0;
		return text_errf(err, err_len, "servers[%zu]: \"%s\" is missing", i, key);
	}
	if (json_is_null(v) && !required)
		return 0;
	if (!json_is_string(v))
		return text_errf(err, err_len, "servers[%zu]: \"%s\" must be a string", i, key);
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return text_errf(err, err_len, "servers[%zu]: \"%s\" contains a NUL byte", i, key);
	if (strlen(s) >= cap)
		return text_errf(err, err_len, "servers[%zu]: \"%s\" is too long", i, key);
	if (required && !s[0])
		return text_errf(err, err_len, "servers[%zu]: \"%s\" is empty", i, key);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int64_t get_bytes(json_t *root, const char *key)
{
	json_t *v = json_object_get(root, key);

	return json_is_integer(v) && json_integer_value(v) >= 0 ? (int64_t)json_integer_value(v)
								 : -1;
}

static int one_server(json_t *o, size_t i, struct sip008_server *s, char *err, size_t err_len)
{
	json_t *port = json_object_get(o, "server_port");
	struct hostport hp;
	char buf[sizeof(s->host) + 16];
	int ret;

	if (!json_is_object(o))
		return text_errf(err, err_len, "servers[%zu]: must be an object", i);
	if ((ret = get_str(o, "server", true, s->host, sizeof(s->host), i, err, err_len)) ||
	    (ret = get_str(o, "method", true, s->method, sizeof(s->method), i, err, err_len)) ||
	    (ret = get_str(o, "password", true, s->password, sizeof(s->password), i, err,
			   err_len)) ||
	    (ret = get_str(o, "id", false, s->id, sizeof(s->id), i, err, err_len)) ||
	    (ret = get_str(o, "remarks", false, s->remarks, sizeof(s->remarks), i, err, err_len)) ||
	    (ret = get_str(o, "plugin", false, s->plugin, sizeof(s->plugin), i, err, err_len)) ||
	    (ret = get_str(o, "plugin_opts", false, s->plugin_opts, sizeof(s->plugin_opts), i, err,
			   err_len)))
		return ret;
	if (!port)
		return text_errf(err, err_len, "servers[%zu]: \"%s\" is missing", i, "server_port");
	if (!json_is_integer(port) || json_integer_value(port) < 1 ||
	    json_integer_value(port) > 65535)
		return text_errf(err, err_len, "servers[%zu]: \"server_port\" must be a number from 1 to "
			   "65535", i);
	s->port = (uint16_t)json_integer_value(port);
	/* The host as the configuration would take it: a name or an address. */
	snprintf(buf, sizeof(buf), strchr(s->host, ':') ? "[%s]:1" : "%s:1", s->host);
	if (hostport_parse(buf, false, &hp))
		return text_errf(err, err_len, "servers[%zu]: \"server\" is not a host name or an address",
			   i);
	if (s->plugin_opts[0] && !s->plugin[0])
		return text_errf(err, err_len, "servers[%zu]: \"plugin_opts\" without \"plugin\"", i);
	s->usable = aead_method_find(s->method) || ss2022_method_find(s->method);
	return 0;
}

int sip008_parse(const char *json, size_t len, struct sip008_doc *out, char *err,
		 size_t err_len)
{
	json_error_t je;
	json_t *root, *version, *servers;
	size_t n;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (err_len)
		err[0] = '\0';
	if (len > SIP008_DOC_MAX)
		return text_errf(err, err_len, "the document is over %u bytes", SIP008_DOC_MAX);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		if (err_len)
			snprintf(err, err_len, "not JSON: %s (line %d, column %d)", je.text, je.line,
				 je.column);
		return -EINVAL;
	}
	version = json_object_get(root, "version");
	servers = json_object_get(root, "servers");
	if (!json_is_object(root)) {
		ret = text_errf(err, err_len, "the document must be a JSON object");
	} else if (!json_is_integer(version) || json_integer_value(version) != 1) {
		ret = text_errf(err, err_len, "\"version\" must be 1 (SIP008)");
	} else if (!json_is_array(servers)) {
		ret = text_errf(err, err_len, "\"servers\" must be an array");
	} else if ((n = json_array_size(servers)) == 0 || n > SIP008_SERVERS_MAX) {
		ret = text_errf(err, err_len, "\"servers\" %s",
			  n ? "has too many entries" : "is empty");
	} else if (!(out->s = calloc(n, sizeof(*out->s)))) {
		ret = -ENOMEM;
		if (err_len)
			snprintf(err, err_len, "out of memory");
	} else {
		out->n = n;
		for (size_t i = 0; i < n && !ret; i++) {
			ret = one_server(json_array_get(servers, i), i, &out->s[i], err, err_len);
			out->n_usable += !ret && out->s[i].usable;
		}
		if (!ret && !out->n_usable)
			ret = text_errf(err, err_len, "no server has a method ssring knows (the first has "
				  "'%s')", out->s[0].method);
		out->bytes_used = get_bytes(root, "bytes_used");
		out->bytes_remaining = get_bytes(root, "bytes_remaining");
	}
	json_decref(root);
	if (ret)
		sip008_free(out);
	return ret;
}

const struct sip008_server *sip008_first(const struct sip008_doc *d)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->s[i].usable)
			return &d->s[i];
	return NULL;
}

void sip008_free(struct sip008_doc *d)
{
	if (d->s) {
		explicit_bzero(d->s, d->n * sizeof(*d->s));
		free(d->s);
	}
	memset(d, 0, sizeof(*d));
}
