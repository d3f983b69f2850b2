/* SPDX-License-Identifier: MIT */
/*
 * http_host — what a server of our own (the management API) checks in a
 * request's Host, Origin and Content-Type before it acts on it: the guards
 * against a web page in a browser on the same host (a cross-site "simple"
 * POST, DNS rebinding). Pure: header values in, a verdict out.
 */
#ifndef SSRING_HTTP_HOST_H
#define SSRING_HTTP_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Is a Host value ("host" or "host:port") one a browser can only send when
 * the page's own address is ours: an IPv4 literal, a bracketed IPv6
 * literal, "localhost", or one of names[0..n) (exact, case-insensitive)?
 * A name a page's author controls (DNS rebinding: evil.example resolving
 * to 127.0.0.1) is not. The port, if any, must be 0..65535 digits.
 */
bool http_host_allowed(const uint8_t *v, size_t len, const char *const *names, size_t n);

/*
 * An Origin value ("http://host[:port]" or "https://..."): whether its host
 * passes http_host_allowed. "null", other schemes, paths: false.
 */
bool http_origin_allowed(const uint8_t *v, size_t len, const char *const *names, size_t n);

/*
 * Is a Content-Type value the media type `type` ("application/json"),
 * case-insensitive, with or without parameters ("; charset=utf-8")?
 */
bool http_media_type_is(const uint8_t *v, size_t len, const char *type);

#endif
