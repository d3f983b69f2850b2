/* SPDX-License-Identifier: MIT */
/*
 * aead_stream — the AEAD-2017 TCP stream on top of aead.c's seal and open:
 * chunks (sealed length + sealed payload) and the reader that takes a
 * stream apart record by record, with or without the key known up front.
 * No wolfSSL here (aead.c holds it).
 */
#include "proto/aead.h"

#include <errno.h>
#include <string.h>

/* ---- TCP chunks ------------------------------------------------------------ */

static void put_be16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/*
 * Returns 0 (not a valid wire size) when len is out of range or sealing fails;
 * the nonce may then have moved, so the stream is unusable.
 */
size_t aead_seal_chunk_inplace(struct aead_ctx *c, uint8_t *payload, size_t len)
{
	uint8_t *wire = payload - AEAD_LEN_BYTES;

	if (len == 0 || len > AEAD_CHUNK_MAX)
		return 0;
	put_be16(wire, len);
	if (aead_seal(c, wire, wire, 2) < 0 || aead_seal(c, payload, payload, len) < 0)
		return 0;
	return AEAD_LEN_BYTES + len + AEAD_TAG_BYTES;
}

/* Returns 0 if sealing fails (see aead_seal_chunk_inplace). */
size_t aead_seal_chunks(struct aead_ctx *c, uint8_t *out, const uint8_t *in, size_t len)
{
	return aead_seal_chunks_max(c, out, in, len, AEAD_CHUNK_MAX);
}

size_t aead_seal_chunks_max(struct aead_ctx *c, uint8_t *out, const uint8_t *in, size_t len,
			    size_t max)
{
	size_t w = 0;

	while (len > 0) {
		size_t n = len < max ? len : max;
		uint8_t be[2];

		put_be16(be, n);
		if (aead_seal(c, out + w, be, 2) < 0 ||
		    aead_seal(c, out + w + AEAD_LEN_BYTES, in, n) < 0)
			return 0;
		w += AEAD_LEN_BYTES + n + AEAD_TAG_BYTES;
		in += n;
		len -= n;
	}
	return w;
}

size_t aead_sealed_size(size_t len)
{
	size_t chunks = len / AEAD_CHUNK_MAX + (len % AEAD_CHUNK_MAX != 0);

	return len + chunks * (AEAD_LEN_BYTES + AEAD_TAG_BYTES);
}

/* ---- stream reader ----------------------------------------------------------- */

void aead_reader_init(struct aead_reader *r, const struct aead_method *m, const uint8_t *master)
{
	memset(r, 0, sizeof(*r));
	r->m = m;
	r->master = master;
	r->state = AEAD_RD_SALT;
}

void aead_reader_init_trial(struct aead_reader *r, const struct aead_method *m)
{
	memset(r, 0, sizeof(*r));
	r->m = m;
	r->state = AEAD_RD_TRIAL;
}

int aead_reader_try(struct aead_reader *r, const struct aead_trial *t, const uint8_t *buf,
		    const uint8_t *master)
{
	uint16_t plen;

	if (r->state != AEAD_RD_TRIAL || t->m != r->m ||
	    memcmp(t->salt, buf, r->m->salt_len) != 0)
		return -EINVAL;
	if (aead_trial_len(t, master, buf + r->m->salt_len, &r->ctx, &plen) != 0)
		return -EBADMSG;
	memcpy(r->salt, buf, r->m->salt_len);
	r->master = master;
	r->plen = plen;
	r->state = AEAD_RD_KEYED;
	return 0;
}

size_t aead_reader_need(const struct aead_reader *r)
{
	switch (r->state) {
	case AEAD_RD_TRIAL:
	case AEAD_RD_KEYED:
		return (size_t)r->m->salt_len + AEAD_LEN_BYTES;
	case AEAD_RD_SALT:
		return r->m->salt_len;
	case AEAD_RD_LEN:
		return AEAD_LEN_BYTES;
	case AEAD_RD_DATA:
		return (size_t)r->plen + AEAD_TAG_BYTES;
	default:
		return 0;
	}
}

static int reader_fail(struct aead_reader *r, int err)
{
	r->state = AEAD_RD_FAILED;
	return err;
}

/* Open a sealed length; 0 and lengths with the reserved top bits set are framing errors. */
static int read_len(struct aead_reader *r, const uint8_t *buf)
{
	uint8_t be[2];
	size_t plen;
	int ret = aead_open(&r->ctx, be, buf, AEAD_LEN_BYTES);

	if (ret < 0)
		return reader_fail(r, ret);
	plen = (size_t)be[0] << 8 | be[1];
	if (plen == 0 || plen > AEAD_CHUNK_MAX)
		return reader_fail(r, -EBADMSG);
	r->plen = (uint16_t)plen;
	r->state = AEAD_RD_DATA;
	return AEAD_RD_GOT_LEN;
}

static int reader_step(struct aead_reader *r, uint8_t *buf, size_t len, size_t *consumed,
		       uint8_t *out, uint8_t **plain, size_t *plain_len)
{
	size_t need = aead_reader_need(r);
	int ret;

	*consumed = 0;
	*plain = NULL;
	*plain_len = 0;
	if (r->state == AEAD_RD_FAILED)
		return -EBADMSG;
	if (len < need)
		return AEAD_RD_NEED_MORE;
	switch (r->state) {
	case AEAD_RD_TRIAL:
		return AEAD_RD_NEED_KEY;
	case AEAD_RD_KEYED:
		r->state = AEAD_RD_DATA;
		ret = AEAD_RD_GOT_LEN;
		break;
	case AEAD_RD_SALT:
		memcpy(r->salt, buf, need);
		ret = aead_ctx_init(&r->ctx, r->m, r->master, r->salt);
		if (ret < 0)
			return reader_fail(r, ret);
		r->state = AEAD_RD_LEN;
		ret = AEAD_RD_GOT_SALT;
		break;
	case AEAD_RD_LEN:
		ret = read_len(r, buf);
		break;
	default: /* AEAD_RD_DATA */
		ret = aead_open(&r->ctx, out ? out : buf, buf, need);
		if (ret < 0)
			return reader_fail(r, ret);
		*plain = out ? out : buf;
		*plain_len = r->plen;
		r->state = AEAD_RD_LEN;
		ret = AEAD_RD_GOT_DATA;
		break;
	}
	if (ret > 0)
		*consumed = need;
	return ret;
}

int aead_reader_step(struct aead_reader *r, uint8_t *buf, size_t len, size_t *consumed,
		     uint8_t **plain, size_t *plain_len)
{
	return reader_step(r, buf, len, consumed, NULL, plain, plain_len);
}

int aead_reader_step_out(struct aead_reader *r, const uint8_t *buf, size_t len, size_t *consumed,
			 uint8_t *out, size_t *plain_len)
{
	uint8_t *plain;

	/* buf is only written in place when out is NULL, which it is not here. */
	return reader_step(r, (uint8_t *)buf, len, consumed, out, &plain, plain_len);
}
