/* SPDX-License-Identifier: MIT */
/*
 * fetch — one HTTPS GET on the control loop, never blocking it: the name is
 * resolved by getaddrinfo in a short-lived thread of its own (the loop
 * reads an eventfd), the TCP connect, sends and receives are io_uring operations,
 * and wolfSSL's TLS client runs over memory buffers between them. The
 * certificate chain is verified against the system's trust store
 * (/etc/ssl/certs/ca-certificates.crt) or a given CA file, and the name
 * against the URL's host; TLS 1.2 or 1.3 only. The whole fetch has a
 * deadline. Only wolfSSL's TLS lives here (src/ctl/fetch.c).
 */
#ifndef SSRING_FETCH_H
#define SSRING_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"

#define FETCH_DEADLINE_MS 30000

struct fetch;
/*
 * The outcome, on the control loop: err 0 with the HTTP status and body
 * (valid during the call), or a negative errno with a message (why) that
 * says which step failed and how.
 */
typedef void (*fetch_done_fn)(struct loop *l, void *arg, int err, const char *why, int status,
			      const uint8_t *body, size_t len);

/*
 * GET url (https://...) with at most body_max bytes of body. ca: a CA file,
 * NULL or "" for the system's. done is called exactly once (also on
 * fetch_cancel, with -ECANCELED), never from inside fetch_start. NULL if
 * it cannot even start (no memory): nothing will be called then.
 */
struct fetch *fetch_start(struct loop *l, const char *url, const char *ca, size_t body_max,
			  fetch_done_fn done, void *arg);
void fetch_cancel(struct loop *l, struct fetch *f);

extern struct loop_module fetch_module;

#endif
