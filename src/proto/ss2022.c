/* SPDX-License-Identifier: MIT */
/*
 * SS2022 methods, keys, subkeys and the TCP stream (protocol.md §5.1-5.4,
 * §5.6). UDP, the packet window and the salt set are in ss2022_udp.c.
 */
#include "proto/ss2022.h"

#include <errno.h>
#include <string.h>

#include "proto/blake3.h"
#include "ss2022_int.h"

static const char SESSION_CTX[] = "shadowsocks 2022 session subkey";
static const char IDENTITY_CTX[] = "shadowsocks 2022 identity subkey";

static const struct ss2022_method methods[SS2022_KIND_COUNT] = {
	[SS2022_AES_128_GCM] = { "2022-blake3-aes-128-gcm", SS2022_AES_128_GCM, 16, true,
				 AEAD_AES_128_GCM },
	[SS2022_AES_256_GCM] = { "2022-blake3-aes-256-gcm", SS2022_AES_256_GCM, 32, true,
				 AEAD_AES_256_GCM },
	[SS2022_CHACHA20_POLY1305] = { "2022-blake3-chacha20-poly1305", SS2022_CHACHA20_POLY1305,
				       32, false, AEAD_CHACHA20_POLY1305 },
};

/* Response fixed header: type | timestamp | request salt | length. */
static size_t resp_fixed_len(const struct ss2022_method *m)
{
	return 1 + 8 + m->key_len + 2;
}

/* aead_method_find() is what knows whether wolfSSL has the cipher. */
static bool is_available(const struct ss2022_method *m)
{
	if (!aead_method_find(ss2022_chunk_method(m)->name))
		return false;
	return m->is_aes || aead_method_find("xchacha20-ietf-poly1305") != NULL;
}

const struct ss2022_method *ss2022_method_find(const char *name)
{
	for (int k = 0; k < SS2022_KIND_COUNT; k++)
		if (strcmp(methods[k].name, name) == 0)
			return is_available(&methods[k]) ? &methods[k] : NULL;
	return NULL;
}

const struct aead_method *ss2022_chunk_method(const struct ss2022_method *m)
{
	return aead_method_get(m->chunk);
}

/* ---- base64 keys (standard alphabet only, as RUST's config parser) --------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char ch)
{
	const char *p = ch ? strchr(B64, ch) : NULL;

	return p ? (int)(p - B64) : -1;
}

/*
 * Exactly key_len bytes; "=" padding optional but, if present, complete; the
 * unused low bits of the last digit must be zero (one canonical text per key).
 */
int ss2022_decode_key(const struct ss2022_method *m, const char *text, size_t len, uint8_t *key)
{
	uint8_t out[SS2022_MAX_KEY_BYTES];
	size_t data = len, o = 0, want = ((size_t)m->key_len * 8 + 5) / 6;
	uint32_t acc = 0;
	unsigned bits = 0;

	while (data > 0 && len - data < 2 && text[data - 1] == '=')
		data--;
	if (data != want || (data != len && len % 4 != 0))
		return -EINVAL;
	for (size_t i = 0; i < data; i++) {
		int v = b64_value(text[i]);

		if (v < 0)
			goto bad;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (acc & ((1u << bits) - 1))
		goto bad;
	memcpy(key, out, m->key_len);
	ss2022_wipe(out, sizeof(out));
	return 0;
bad:
	ss2022_wipe(out, sizeof(out));
	return -EINVAL;
}

int ss2022_parse_keys(const struct ss2022_method *m, const char *text, struct ss2022_keys *k)
{
	size_t n = 1, i = 0;
	const char *p = text;

	memset(k, 0, sizeof(*k));
	for (const char *c = text; *c; c++)
		n += *c == ':';
	if (n > SS2022_MAX_IDENTITY_KEYS + 1 || (n > 1 && !m->is_aes))
		return -EINVAL;
	for (;; i++) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		uint8_t *dst = end ? k->ipsk[i] : k->psk;

		if (ss2022_decode_key(m, p, len, dst) < 0) {
			ss2022_wipe(k, sizeof(*k));
			return -EINVAL;
		}
		if (!end)
			break;
		p = end + 1;
	}
	k->n_ipsk = (uint8_t)i;
	return 0;
}

int ss2022_genkey(const struct ss2022_method *m, char *out, size_t cap)
{
	uint8_t key[SS2022_MAX_KEY_BYTES + 2] = { 0 };
	size_t o = 0, n = m->key_len;
	int ret;

	if (cap < (n + 2) / 3 * 4 + 1)
		return -ENOSPC;
	ret = aead_random(key, n);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)key[i] << 16 | (uint32_t)key[i + 1] << 8 | key[i + 2];

		out[o++] = B64[v >> 18 & 63];
		out[o++] = B64[v >> 12 & 63];
		out[o++] = i + 1 < n ? B64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? B64[v & 63] : '=';
	}
	out[o] = '\0';
	ss2022_wipe(key, sizeof(key));
	return (int)o;
}

/* ---- subkeys ----------------------------------------------------------------- */

static void derive(const char *context, const struct ss2022_method *m, const uint8_t *key,
		   const uint8_t *salt, size_t salt_len, uint8_t *out)
{
	uint8_t material[2 * SS2022_MAX_KEY_BYTES];

	memcpy(material, key, m->key_len);
	memcpy(material + m->key_len, salt, salt_len);
	blake3_derive_key(context, material, m->key_len + salt_len, out, m->key_len);
	ss2022_wipe(material, sizeof(material));
}

void ss2022_session_subkey(const struct ss2022_method *m, const uint8_t *psk, const uint8_t *salt,
			   size_t salt_len, uint8_t *out)
{
	derive(SESSION_CTX, m, psk, salt, salt_len, out);
}

void ss2022_identity_subkey(const struct ss2022_method *m, const uint8_t *ipsk,
			    const uint8_t *salt, uint8_t *out)
{
	derive(IDENTITY_CTX, m, ipsk, salt, m->key_len, out);
}

void ss2022_key_hash(const struct ss2022_method *m, const uint8_t *psk,
		     uint8_t out[SS2022_USER_HASH_BYTES])
{
	blake3_hash(psk, m->key_len, out, SS2022_USER_HASH_BYTES);
}

/* The chunk context for psk + salt, nonce 0. */
int ss2022_ctx_init(struct aead_ctx *c, const struct ss2022_method *m, const uint8_t *psk,
		    const uint8_t *salt, size_t salt_len)
{
	uint8_t subkey[SS2022_MAX_KEY_BYTES];
	int ret;

	ss2022_session_subkey(m, psk, salt, salt_len, subkey);
	ret = aead_ctx_init_subkey(c, ss2022_chunk_method(m), subkey);
	ss2022_wipe(subkey, sizeof(subkey));
	return ret;
}

/* ---- users ---------------------------------------------------------------------- */

int ss2022_user_init(struct ss2022_user *u, const struct ss2022_method *m, const char *name,
		     const char *psk_b64)
{
	memset(u, 0, sizeof(*u));
	if (ss2022_decode_key(m, psk_b64, strlen(psk_b64), u->psk) < 0)
		return -EINVAL;
	u->name = name;
	ss2022_key_hash(m, u->psk, u->hash);
	return 0;
}

int ss2022_user_find(const struct ss2022_server_cfg *cfg, const uint8_t *hash)
{
	if (cfg->index) {
		for (uint32_t i = ss2022_hash_slot(hash) & cfg->index_mask; cfg->index[i];
		     i = (i + 1) & cfg->index_mask) {
			uint32_t u = cfg->index[i] - 1;

			if (u < cfg->n_users &&
			    memcmp(cfg->users[u].hash, hash, SS2022_USER_HASH_BYTES) == 0)
				return (int)u;
		}
		return -1;
	}
	for (size_t i = 0; i < cfg->n_users; i++)
		if (memcmp(cfg->users[i].hash, hash, SS2022_USER_HASH_BYTES) == 0)
			return (int)i;
	return -1;
}

/* ---- TCP request ------------------------------------------------------------------ */

size_t ss2022_pick_padding(size_t payload_len)
{
	uint8_t r[2];

	if (payload_len > 0)
		return 0;
	/* 65536 % 900 leaves a bias below 1.4 %: harmless for padding. */
	if (aead_random(r, sizeof(r)) < 0)
		return SS2022_PADDING_MAX;
	return 1 + ((size_t)r[0] << 8 | r[1]) % SS2022_PADDING_MAX;
}

size_t ss2022_request_size(const struct ss2022_method *m, size_t n_eih, size_t addr_len,
			   size_t padding_len, size_t payload_len)
{
	return m->key_len + n_eih * SS2022_EIH_BYTES + SS2022_FIXED_HDR_BYTES + AEAD_TAG_BYTES +
	       addr_len + 2 + padding_len + payload_len + AEAD_TAG_BYTES;
}

/* EIH_i = AES(identity subkey(iPSK_i, salt), BLAKE3(next key)[0:16]) (§5.6). */
static int build_eih_tcp(const struct ss2022_method *m, const struct ss2022_keys *k,
			 const uint8_t *salt, uint8_t *out)
{
	uint8_t isub[SS2022_MAX_KEY_BYTES], h[SS2022_USER_HASH_BYTES];
	int ret = 0;

	for (size_t i = 0; i < k->n_ipsk && ret == 0; i++) {
		ss2022_identity_subkey(m, k->ipsk[i], salt, isub);
		ss2022_key_hash(m, i + 1 < k->n_ipsk ? k->ipsk[i + 1] : k->psk, h);
		ret = aead_aes_block(isub, m->key_len, true, h, out + i * SS2022_EIH_BYTES);
	}
	ss2022_wipe(isub, sizeof(isub));
	return ret;
}

/* Both header chunks, sealed in place at fixed (11 + 16 bytes) and right after it. */
static int seal_request_headers(const struct ss2022_method *m, const struct ss2022_keys *k,
				const uint8_t *salt, struct aead_ctx *ctx, uint8_t *fixed,
				size_t var_len)
{
	uint8_t *var = fixed + SS2022_FIXED_HDR_BYTES + AEAD_TAG_BYTES;
	int ret = ss2022_ctx_init(ctx, m, k->psk, salt, m->key_len);

	if (ret == 0)
		ret = aead_seal(ctx, fixed, fixed, SS2022_FIXED_HDR_BYTES);
	if (ret == 0)
		ret = aead_seal(ctx, var, var, var_len);
	return ret;
}

static int check_request_args(const struct ss2022_method *m, const struct ss2022_keys *k,
			      size_t addr_len, size_t payload_len, size_t padding_len)
{
	if (k->n_ipsk > SS2022_MAX_IDENTITY_KEYS || (k->n_ipsk > 0 && !m->is_aes))
		return -EINVAL;
	if (addr_len == 0 || padding_len > SS2022_PADDING_MAX)
		return -EINVAL;
	if (payload_len == 0 && padding_len == 0)
		return -EINVAL;
	if (addr_len + 2 + padding_len + payload_len > SS2022_CHUNK_MAX)
		return -EINVAL;
	return 0;
}

int ss2022_build_request(const struct ss2022_method *m, const struct ss2022_keys *k,
			 const uint8_t *salt, uint64_t now, const uint8_t *addr_hdr,
			 size_t addr_len, const uint8_t *payload, size_t payload_len,
			 size_t padding_len, const uint8_t *padding, struct aead_ctx *out_ctx,
			 uint8_t *out, size_t out_cap)
{
	size_t var_len = addr_len + 2 + padding_len + payload_len;
	size_t total = ss2022_request_size(m, k->n_ipsk, addr_len, padding_len, payload_len);
	uint8_t *fixed = out + m->key_len + (size_t)k->n_ipsk * SS2022_EIH_BYTES;
	uint8_t *var = fixed + SS2022_FIXED_HDR_BYTES + AEAD_TAG_BYTES;
	int ret = check_request_args(m, k, addr_len, payload_len, padding_len);

	if (ret < 0)
		return ret;
	if (total > out_cap)
		return -ENOSPC;
	/* The payload first: it may sit where the headers go, or already in place. */
	if (payload_len > 0)
		memmove(var + addr_len + 2 + padding_len, payload, payload_len);
	if (salt)
		memmove(out, salt, m->key_len);
	else if ((ret = aead_random(out, m->key_len)) < 0)
		return ret;
	fixed[0] = SS2022_TYPE_CLIENT;
	ss2022_put_be64(fixed + 1, now);
	ss2022_put_be16(fixed + 9, var_len);
	memcpy(var, addr_hdr, addr_len);
	ss2022_put_be16(var + addr_len, padding_len);
	if (padding && padding_len > 0)
		memcpy(var + addr_len + 2, padding, padding_len);
	else if (padding_len > 0 && (ret = aead_random(var + addr_len + 2, padding_len)) < 0)
		return ret;
	ret = build_eih_tcp(m, k, out, out + m->key_len);
	if (ret == 0)
		ret = seal_request_headers(m, k, out, out_ctx, fixed, var_len);
	if (ret < 0) {
		aead_ctx_wipe(out_ctx);
		return ret;
	}
	return (int)total;
}

size_t ss2022_seal_chunk_inplace(struct aead_ctx *c, uint8_t *payload, size_t len)
{
	uint8_t *wire = payload - AEAD_LEN_BYTES;

	if (len == 0 || len > SS2022_CHUNK_MAX)
		return 0;
	ss2022_put_be16(wire, len);
	if (aead_seal(c, wire, wire, 2) < 0 || aead_seal(c, payload, payload, len) < 0)
		return 0;
	return AEAD_LEN_BYTES + len + AEAD_TAG_BYTES;
}

/* ---- TCP response ------------------------------------------------------------------ */

size_t ss2022_response_header_size(const struct ss2022_method *m)
{
	return m->key_len + resp_fixed_len(m) + AEAD_TAG_BYTES;
}

int ss2022_build_response_header(const struct ss2022_method *m, const uint8_t *psk,
				 const uint8_t *salt, uint64_t now, const uint8_t *req_salt,
				 size_t first_payload_len, struct aead_ctx *ctx, uint8_t *out)
{
	uint8_t *fixed = out + m->key_len;
	int ret;

	if (first_payload_len > SS2022_CHUNK_MAX)
		return -EINVAL;
	if (salt)
		memmove(out, salt, m->key_len);
	else if ((ret = aead_random(out, m->key_len)) < 0)
		return ret;
	fixed[0] = SS2022_TYPE_SERVER;
	ss2022_put_be64(fixed + 1, now);
	memmove(fixed + 9, req_salt, m->key_len);
	ss2022_put_be16(fixed + 9 + m->key_len, first_payload_len);
	ret = ss2022_ctx_init(ctx, m, psk, out, m->key_len);
	if (ret == 0)
		ret = aead_seal(ctx, fixed, fixed, resp_fixed_len(m));
	if (ret < 0) {
		aead_ctx_wipe(ctx);
		return ret;
	}
	return (int)ss2022_response_header_size(m);
}

/* ---- TCP reader ---------------------------------------------------------------------- */

int ss2022_reader_init_server(struct ss2022_reader *r, const struct ss2022_server_cfg *cfg,
			      struct ssaddr *target)
{
	memset(r, 0, sizeof(*r));
	r->target = target;
	r->m = cfg->m;
	r->cfg = cfg;
	r->user = -1;
	r->state = SS2022_RD_HEADER;
	if (cfg->n_users > 0 && !cfg->m->is_aes) {
		r->state = SS2022_RD_FAILED;
		return -EINVAL;
	}
	return 0;
}

void ss2022_reader_init_client(struct ss2022_reader *r, const struct ss2022_method *m,
			       const uint8_t *psk, const uint8_t *req_salt)
{
	memset(r, 0, sizeof(*r));
	r->m = m;
	r->user = -1;
	r->state = SS2022_RD_HEADER;
	memcpy(r->psk, psk, m->key_len);
	memcpy(r->req_salt, req_salt, m->key_len);
}

void ss2022_reader_wipe(struct ss2022_reader *r)
{
	aead_ctx_wipe(&r->ctx);
	ss2022_wipe(r, sizeof(*r));
}

size_t ss2022_reader_need(const struct ss2022_reader *r)
{
	size_t n_eih;

	switch (r->state) {
	case SS2022_RD_HEADER:
		if (!r->cfg)
			return ss2022_response_header_size(r->m);
		n_eih = r->cfg->n_users > 0 ? 1 : 0;
		return r->m->key_len + n_eih * SS2022_EIH_BYTES + SS2022_FIXED_HDR_BYTES +
		       AEAD_TAG_BYTES;
	case SS2022_RD_LEN:
		return AEAD_LEN_BYTES;
	case SS2022_RD_FIRST:
	case SS2022_RD_DATA:
		return (size_t)r->plen + AEAD_TAG_BYTES;
	default:
		return 0;
	}
}

static int reader_fail(struct ss2022_reader *r, int err)
{
	r->state = SS2022_RD_FAILED;
	return err;
}

/* Server: the EIH names the user whose uPSK keys this session (§5.6). */
static int resolve_user(struct ss2022_reader *r, const uint8_t *eih)
{
	const struct ss2022_server_cfg *cfg = r->cfg;
	uint8_t isub[SS2022_MAX_KEY_BYTES], h[SS2022_USER_HASH_BYTES];
	int ret;

	ss2022_identity_subkey(r->m, cfg->psk, r->salt, isub);
	ret = aead_aes_block(isub, r->m->key_len, false, eih, h);
	ss2022_wipe(isub, sizeof(isub));
	if (ret < 0)
		return ret;
	r->user = ss2022_user_find(cfg, h);
	if (r->user < 0)
		return -EACCES;
	memcpy(r->psk, cfg->users[r->user].psk, r->m->key_len);
	return 0;
}

/* Key the stream from r->psk + r->salt and open the fixed header in place. */
static int open_fixed(struct ss2022_reader *r, uint8_t *sealed, size_t plain_len, int type,
		      uint64_t now)
{
	int ret = ss2022_ctx_init(&r->ctx, r->m, r->psk, r->salt, r->m->key_len);

	if (ret == 0)
		ret = aead_open(&r->ctx, sealed, sealed, plain_len + AEAD_TAG_BYTES);
	if (ret < 0)
		return ret;
	if (sealed[0] != type)
		return -EPROTO;
	r->ts = ss2022_get_be64(sealed + 1);
	if (!ss2022_is_fresh(r->ts, now))
		return -ETIME;
	r->plen = (uint16_t)ss2022_get_be16(sealed + plain_len - 2);
	return 0;
}

static int read_header(struct ss2022_reader *r, uint8_t *buf, uint64_t now)
{
	uint8_t *p = buf + r->m->key_len;
	int ret = 0;

	memcpy(r->salt, buf, r->m->key_len);
	if (!r->cfg) {
		ret = open_fixed(r, p, resp_fixed_len(r->m), SS2022_TYPE_SERVER, now);
		/* The echo binds the response to our request (the client's replay defence). */
		if (ret == 0 && memcmp(p + 9, r->req_salt, r->m->key_len) != 0)
			ret = -EBADMSG;
		return ret;
	}
	if (r->cfg->n_users > 0) {
		ret = resolve_user(r, p);
		p += SS2022_EIH_BYTES;
	} else {
		memcpy(r->psk, r->cfg->psk, r->m->key_len);
	}
	if (ret == 0)
		ret = open_fixed(r, p, SS2022_FIXED_HDR_BYTES, SS2022_TYPE_CLIENT, now);
	return ret;
}

/* Variable header: address, padding, initial payload, all inside this chunk (§5.3). */
static int parse_varhdr(struct ss2022_reader *r, uint8_t *p, size_t len, uint8_t **plain,
			size_t *plain_len)
{
	size_t off, pad;
	int ret = r->target ? ssaddr_parse(p, len, r->target) : -EINVAL;

	if (ret < 0)
		return -EINVAL;
	off = (size_t)ret;
	if (len - off < 2)
		return -EINVAL;
	pad = ss2022_get_be16(p + off);
	off += 2;
	if (pad > len - off)
		return -EINVAL;
	off += pad;
	if (off == len && pad == 0)
		return -EINVAL;
	*plain = p + off;
	*plain_len = len - off;
	return 0;
}

/* One record at buf of exactly need bytes; returns the result, the reader moves on. */
static int read_record(struct ss2022_reader *r, uint8_t *buf, size_t need, uint64_t now,
		       uint8_t *out, uint8_t **plain, size_t *plain_len)
{
	int ret;

	if (r->state == SS2022_RD_HEADER) {
		ret = read_header(r, buf, now);
		r->state = SS2022_RD_FIRST;
		return ret < 0 ? ret : SS2022_RD_GOT_FIXED;
	}
	/* Payload records: DATA, and the client's FIRST (a response's first
	 * record is all payload; a request's carries the address). */
	if (out && (r->state == SS2022_RD_DATA || (r->state == SS2022_RD_FIRST && !r->cfg))) {
		ret = aead_open(&r->ctx, out, buf, need);
		if (ret < 0)
			return ret;
		*plain = out;
		*plain_len = r->plen;
		r->state = SS2022_RD_LEN;
		return SS2022_RD_GOT_DATA;
	}
	ret = aead_open(&r->ctx, buf, buf, need);
	if (ret < 0)
		return ret;
	if (r->state == SS2022_RD_LEN) {
		r->plen = (uint16_t)ss2022_get_be16(buf);
		r->state = SS2022_RD_DATA;
		return SS2022_RD_GOT_LEN;
	}
	if (r->state == SS2022_RD_FIRST && r->cfg) {
		ret = parse_varhdr(r, buf, r->plen, plain, plain_len);
		r->state = SS2022_RD_LEN;
		return ret < 0 ? ret : SS2022_RD_GOT_VARHDR;
	}
	*plain = buf;
	*plain_len = r->plen;
	r->state = SS2022_RD_LEN;
	return SS2022_RD_GOT_DATA;
}

int ss2022_reader_step(struct ss2022_reader *r, uint8_t *buf, size_t len, uint64_t now,
		       size_t *consumed, uint8_t **plain, size_t *plain_len)
{
	return ss2022_reader_step_out(r, buf, len, now, consumed, NULL, plain, plain_len);
}

int ss2022_reader_step_out(struct ss2022_reader *r, uint8_t *buf, size_t len, uint64_t now,
			   size_t *consumed, uint8_t *out, uint8_t **plain, size_t *plain_len)
{
	size_t need = ss2022_reader_need(r);
	int ret;

	*consumed = 0;
	*plain = NULL;
	*plain_len = 0;
	if (r->state == SS2022_RD_FAILED)
		return -EBADMSG;
	if (len < need)
		return SS2022_RD_NEED_MORE;
	ret = read_record(r, buf, need, now, out, plain, plain_len);
	if (ret < 0) {
		*plain = NULL;
		*plain_len = 0;
		return reader_fail(r, ret);
	}
	*consumed = need;
	return ret;
}
