/* SPDX-License-Identifier: MIT */
/* ssclient — see include/relay/ssclient.h. */
#include "relay/ssclient.h"

#include <errno.h>
#include <string.h>
#include <time.h>

void ssclient_target(struct ssaddr *a, const struct hostport *hp)
{
	if (hp->is_ip && ssaddr_from_sockaddr((const struct sockaddr *)&hp->addr, a) == 0)
		return;
	memset(a, 0, sizeof(*a));
	a->atyp = SSADDR_ATYP_DOMAIN;
	a->u.domain.len = (uint8_t)strlen(hp->host);
	memcpy(a->u.domain.name, hp->host, a->u.domain.len + 1);
	a->port = hp->port;
}

int ssclient_request(const struct config_cipher *c, const struct ssaddr *target,
		     const uint8_t *early, size_t early_len, struct aead_ctx *wr,
		     struct ss2022_reader *rd2, uint8_t *out, size_t cap, size_t *n)
{
	const struct aead_method *m = c->method;
	const struct ss2022_method *m2 = c->m2022;
	uint8_t addr[SSADDR_MAX_BYTES], salt[AEAD_MAX_SALT_BYTES];
	size_t alen = ssaddr_encode(target, addr), head;
	int r;

	if (c->none) {
		/* Method none: the address header and the data, as they are. */
		if (cap < alen + early_len)
			return -E2BIG;
		memcpy(out, addr, alen);
		if (early_len)
			memcpy(out + alen, early, early_len);
		*n = alen + early_len;
		return 0;
	}
	if (m2) {
		/* salt | [EIH] | fixed header | variable header with the address,
		 * padding (only when there is no early data) and early data. */
		head = early_len < 60000 ? early_len : 60000;
		r = ss2022_build_request(m2, &c->keys2022, NULL, (uint64_t)time(NULL), addr, alen,
					 early, head, ss2022_pick_padding(head), NULL, wr, out, cap);
		if (r < 0)
			return r;
		ss2022_reader_init_client(rd2, m2, c->keys2022.psk, out);
		*n = (size_t)r;
		if (early_len > head)
			*n += aead_seal_chunks_max(wr, out + r, early + head, early_len - head,
						   SS2022_CHUNK_PREF);
		return 1;
	}
	if (cap < m->salt_len + aead_sealed_size(alen) + aead_sealed_size(early_len))
		return -E2BIG;
	if (aead_random(salt, m->salt_len) || aead_ctx_init(wr, m, c->key, salt))
		return -EIO;
	memcpy(out, salt, m->salt_len);
	*n = m->salt_len + aead_seal_chunks(wr, out + m->salt_len, addr, alen);
	if (early_len)
		*n += aead_seal_chunks(wr, out + *n, early, early_len);
	return 0;
}
