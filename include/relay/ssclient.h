/* SPDX-License-Identifier: MIT */
/*
 * ssclient — the client side of an ss TCP stream, shared by the client
 * roles' sessions (client.c) and the upstream check (upcheck.c): the
 * target as an address header, and the request prefix (salt, header, early
 * data) for either edition, which also sets up the reader of the answer.
 */
#ifndef SSRING_SSCLIENT_H
#define SSRING_SSCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "proto/aead.h"
#include "proto/ss2022.h"
#include "proto/ssaddr.h"

/* hp (an IP literal or a name) as the target of a request. */
void ssclient_target(struct ssaddr *a, const struct hostport *hp);
/*
 * The request to a server with cipher c for target, with early_len bytes
 * of early data, into out (cap bytes; early data up to 64 KiB needs
 * TX_BYTES): AEAD-2017 salt | sealed header | sealed data, or the 2022
 * edition's salt | [EIH] | fixed header | variable header (padded when
 * there is no early data) | the rest, or with method none the header and
 * the data as they are. wr seals the rest of the stream. Returns 1 for the
 * 2022 edition (rd2 is then set up to read the answer), 0 for AEAD-2017
 * (the caller's aead_reader, keyed with c, reads it) and none, or -errno.
 * *n: the bytes written.
 */
int ssclient_request(const struct config_cipher *c, const struct ssaddr *target,
		     const uint8_t *early, size_t early_len, struct aead_ctx *wr,
		     struct ss2022_reader *rd2, uint8_t *out, size_t cap, size_t *n);

#endif
