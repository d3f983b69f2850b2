/* SPDX-License-Identifier: MIT */
/*
 * metrics — the control loop's module for the Prometheus endpoint. Its
 * address is bound once at start (a reload that changes it says it needs a
 * restart).
 */
#include "ctl/metrics.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "core/listener.h"
#include "core/log.h"
#include "ctl/httpd.h"
#include "proto/hostport.h"

/*
 * A scrape is small and quick; anything slow or big is not Prometheus. One
 * address holds at most 4 of the 16 slots, so a client that reconnects
 * every 10 s cannot keep every scraper out.
 */
const struct httpd_limits metrics_limits = {
	.max_conns = 16,
	.max_per_addr = 4,
	.max_head = 8192,
	.max_body = 0,
	.timeout_ms = 10000,
};

static struct httpd *server;

void metrics_handle(struct loop *l, void *arg, const struct httpd_req *req,
		    struct httpd_resp *resp)
{
	const struct http_request *r = req->head;
	const char *path = (const char *)req->buf + r->path_off;
	size_t plen = r->path_len;
	const char *q = memchr(path, '?', plen);

	(void)arg;
	/* The figures name users and upstream addresses: with a token, only for its holder. */
	if (!httpd_token_ok(req, l->cfg->metrics.token)) {
		if (httpd_text(resp, 401, "text/plain; charset=utf-8",
			       "401 Unauthorized: Authorization: Bearer <metrics.token>\n"))
			resp->extra_headers = "WWW-Authenticate: Bearer\r\n";
		return;
	}
	if (q)
		plen = (size_t)(q - path); /* Prometheus may add query parameters */
	if (strcmp(r->method, "GET") || plen != 8 || memcmp(path, "/metrics", 8)) {
		httpd_text(resp, 404, "text/plain; charset=utf-8", "404 Not Found: try /metrics\n");
		return;
	}
	resp->body = metrics_render(l, &resp->len);
	if (!resp->body) {
		httpd_text(resp, 500, "text/plain; charset=utf-8", "out of memory\n");
		return;
	}
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static int metrics_init(struct loop *l)
{
	const struct hostport *hp = &l->cfg->metrics.listen;
	char a[80];
	int fd;

	if (!l->cfg->metrics.enabled)
		return 0;
	fd = listener_socket((const struct sockaddr *)&hp->addr, hp->addr_len, false);
	if (fd < 0)
		return fd;
	server = httpd_start(l, fd, "metrics", &metrics_limits, metrics_handle, NULL);
	if (!server)
		return -ENOMEM;
	log_info("metrics on http://%s/metrics%s",
		 hostport_format_addr((const struct sockaddr *)&hp->addr, a, sizeof(a)),
		 l->cfg->metrics.token[0] ? " (token required)" : "");
	return 0;
}

static void metrics_stop(struct loop *l)
{
	httpd_stop(l, server);
	server = NULL;
}

struct loop_module metrics_module = {
	.name = "metrics",
	.init = metrics_init,
	.stop = metrics_stop,
};
