/* SPDX-License-Identifier: MIT */
/*
 * AEAD-2017 on wolfCrypt. This is the only file that includes wolfSSL headers,
 * so a wolfSSL upgrade or a switch of crypto library touches nothing else.
 */
#include "proto/aead.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/random.h>

#include "proto/hkdf_sha1.h"

/*
 * options.h comes before every other wolfSSL header: it holds the configure
 * macros that decide struct layouts (sizeof(Aes)) and which ciphers exist.
 * WOLFSSL_OPTIONS_IGNORE_SYS keeps it from redefining _FORTIFY_SOURCE, which
 * would clash with our own build flags and break -O0 -Werror builds.
 */
#ifndef WOLFSSL_OPTIONS_IGNORE_SYS
#define WOLFSSL_OPTIONS_IGNORE_SYS
#endif
#include <wolfssl/options.h>
#include <wolfssl/version.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/md5.h>

#if defined(HAVE_AESGCM) && !defined(NO_AES)
#define AEAD_HAVE_GCM 1
#endif
#if defined(HAVE_CHACHA) && defined(HAVE_POLY1305)
#define AEAD_HAVE_CHACHA 1
#endif
#if defined(AEAD_HAVE_CHACHA) && defined(HAVE_XCHACHA)
#define AEAD_HAVE_XCHACHA 1
#endif

static const struct aead_method methods[AEAD_KIND_COUNT] = {
	[AEAD_AES_128_GCM] = { "aes-128-gcm", AEAD_AES_128_GCM, 16, 16, 12 },
	[AEAD_AES_192_GCM] = { "aes-192-gcm", AEAD_AES_192_GCM, 24, 24, 12 },
	[AEAD_AES_256_GCM] = { "aes-256-gcm", AEAD_AES_256_GCM, 32, 32, 12 },
	[AEAD_CHACHA20_POLY1305] = { "chacha20-ietf-poly1305", AEAD_CHACHA20_POLY1305, 32, 32, 12 },
	[AEAD_XCHACHA20_POLY1305] = { "xchacha20-ietf-poly1305", AEAD_XCHACHA20_POLY1305, 32, 32,
				      24 },
};

/*
 * wolfCrypt's ChaCha/XChaCha entry points reject NULL buffers even when their
 * length is 0 (protocol.md 4.4), so zero-length inputs point here instead.
 */
static const uint8_t empty_buf[1];

/* Is the cipher compiled into this wolfSSL? A missing one is "unknown". */
static bool is_available(enum aead_kind kind)
{
	switch (kind) {
#ifdef AEAD_HAVE_GCM
	case AEAD_AES_128_GCM:
	case AEAD_AES_256_GCM:
		return true;
#ifdef WOLFSSL_AES_192
	case AEAD_AES_192_GCM:
		return true;
#endif
#endif
#ifdef AEAD_HAVE_CHACHA
	case AEAD_CHACHA20_POLY1305:
		return true;
#endif
#ifdef AEAD_HAVE_XCHACHA
	case AEAD_XCHACHA20_POLY1305:
		return true;
#endif
	default:
		return false;
	}
}

/* memset that the compiler may not drop as a dead store before free/return. */
static void wipe(void *p, size_t n)
{
	memset(p, 0, n);
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

const struct aead_method *aead_method_find(const char *name)
{
	for (int k = 0; k < AEAD_KIND_COUNT; k++)
		if (strcmp(methods[k].name, name) == 0)
			return is_available(methods[k].kind) ? &methods[k] : NULL;
	return NULL;
}

const struct aead_method *aead_method_get(enum aead_kind kind)
{
	return (unsigned)kind < AEAD_KIND_COUNT ? &methods[kind] : NULL;
}

const char *aead_method_names(void)
{
	return "aes-128-gcm"
#ifdef WOLFSSL_AES_192
	       " aes-192-gcm"
#endif
	       " aes-256-gcm chacha20-ietf-poly1305"
#ifdef AEAD_HAVE_XCHACHA
	       " xchacha20-ietf-poly1305"
#endif
		;
}

/* ---- keys ---------------------------------------------------------------- */

int aead_password_to_key(const struct aead_method *m, const char *pw, size_t pw_len,
			 uint8_t *key)
{
	const byte *p = pw ? (const byte *)pw : empty_buf;
	uint8_t d[WC_MD5_DIGEST_SIZE];
	wc_Md5 md5;
	size_t done = 0;
	int ret = 0;

	if (pw_len > UINT32_MAX)
		return -EINVAL;
	/* D(i) = MD5(D(i-1) | password); the key is D(1) | D(2) | ... cut to key_len. */
	while (done < m->key_len && ret == 0) {
		size_t n = m->key_len - done < sizeof(d) ? m->key_len - done : sizeof(d);

		ret = wc_InitMd5(&md5);
		if (ret == 0 && done > 0)
			ret = wc_Md5Update(&md5, d, sizeof(d));
		if (ret == 0)
			ret = wc_Md5Update(&md5, p, (word32)pw_len);
		if (ret == 0)
			ret = wc_Md5Final(&md5, d);
		wc_Md5Free(&md5);
		if (ret == 0)
			memcpy(key + done, d, n);
		done += n;
	}
	wipe(d, sizeof(d));
	wipe(&md5, sizeof(md5));
	return ret == 0 ? 0 : -EIO;
}

/* Both alphabets: '+' '/' (standard) and '-' '_' (URL-safe). -1 for anything else. */
static int b64_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+' || ch == '-')
		return 62;
	if (ch == '/' || ch == '_')
		return 63;
	return -1;
}

int aead_key_from_base64(const struct aead_method *m, const char *b64, uint8_t *key)
{
	uint8_t out[AEAD_MAX_KEY_BYTES];
	size_t len = strlen(b64), data = len, o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	while (data > 0 && len - data < 2 && b64[data - 1] == '=')
		data--;
	/* With padding the text is whole quads; a lone 6-bit digit is never valid. */
	if ((data != len && len % 4 != 0) || data % 4 == 1)
		return -EINVAL;
	if (data / 4 * 3 + (data % 4 ? data % 4 - 1 : 0) != m->key_len)
		return -EINVAL;
	for (size_t i = 0; i < data; i++) {
		int v = b64_value(b64[i]);

		if (v < 0) {
			wipe(out, sizeof(out));
			return -EINVAL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	memcpy(key, out, m->key_len);
	wipe(out, sizeof(out));
	return 0;
}

int aead_derive_subkey(const struct aead_method *m, const uint8_t *master, const uint8_t *salt,
		       uint8_t *subkey)
{
	static const byte info[] = "ss-subkey";

	/* Every AEAD-2017 size is within hkdf_sha1's limits (32-byte salts and keys). */
	return hkdf_sha1(salt, m->salt_len, master, m->key_len, info, sizeof(info) - 1, subkey,
			 m->key_len) == 0 ? 0 : -EIO;
}

/*
 * getrandom(2) rather than a WC_RNG: the kernel CSPRNG needs no per-thread
 * state to set up or free, is safe from any thread, and never blocks once the
 * pool is initialised at boot. Requests over 256 bytes may come back short,
 * hence the loop.
 */
static int random_fill(uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = getrandom(buf, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -EIO;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Salts are small and wanted often (one per UDP packet in AEAD-2017): a
 * per-thread stock of kernel randomness turns a getrandom call per packet
 * into one per RANDOM_STOCK / 32 salts. Bytes handed out are wiped from the
 * stock; nothing is ever handed out twice. ssring never forks.
 */
#define RANDOM_STOCK 1024
static _Thread_local struct {
	uint8_t b[RANDOM_STOCK];
	size_t left; /* the last `left` bytes of b are not handed out yet */
} stock;

int aead_random(uint8_t *buf, size_t len)
{
	uint8_t *p;

	if (len > RANDOM_STOCK / 8)
		return random_fill(buf, len);
	if (stock.left < len) {
		if (random_fill(stock.b, RANDOM_STOCK) < 0)
			return -EIO;
		stock.left = RANDOM_STOCK;
	}
	p = stock.b + RANDOM_STOCK - stock.left;
	memcpy(buf, p, len);
	wipe(p, len);
	stock.left -= len;
	return 0;
}

/* ---- one direction: key schedule + nonce counter ------------------------ */

#ifdef AEAD_HAVE_GCM
static bool is_gcm(const struct aead_method *m)
{
	return m->kind == AEAD_AES_128_GCM || m->kind == AEAD_AES_192_GCM ||
	       m->kind == AEAD_AES_256_GCM;
}

/*
 * GCM key schedules (with their GHASH tables, ~0.85-1.1 KiB each) are not
 * kept per ctx: a relay holds two per connection, mostly idle, and memory
 * per idle connection is what a proxy is judged by. Each thread caches the
 * schedules of the few keys it used last; a miss costs one key setup (well
 * under a microsecond with AES-NI) against a receive of up to 256 KiB.
 */
#define GCM_CACHE_SLOTS 4

struct gcm_slot {
	Aes aes;
	uint8_t key[AEAD_MAX_KEY_BYTES];
	uint8_t key_len;
	bool used;
};

static _Thread_local struct gcm_slot gcm_cache[GCM_CACHE_SLOTS];
static _Thread_local unsigned gcm_next;

static Aes *ctx_aes(struct aead_ctx *c)
{
	struct gcm_slot *e;

	for (unsigned i = 0; i < GCM_CACHE_SLOTS; i++) {
		e = &gcm_cache[i];
		if (e->used && e->key_len == c->m->key_len &&
		    memcmp(e->key, c->key, e->key_len) == 0)
			return &e->aes;
	}
	e = &gcm_cache[gcm_next++ % GCM_CACHE_SLOTS];
	if (e->used)
		wc_AesFree(&e->aes);
	e->used = false;
	if (wc_AesInit(&e->aes, NULL, INVALID_DEVID) != 0 ||
	    wc_AesGcmSetKey(&e->aes, c->key, c->m->key_len) != 0)
		return NULL;
	memcpy(e->key, c->key, c->m->key_len);
	e->key_len = c->m->key_len;
	e->used = true;
	return &e->aes;
}

/* A closed ctx's key must not linger in the cache. */
static void gcm_forget(const struct aead_ctx *c)
{
	for (unsigned i = 0; i < GCM_CACHE_SLOTS; i++) {
		struct gcm_slot *e = &gcm_cache[i];

		if (e->used && e->key_len == c->m->key_len &&
		    memcmp(e->key, c->key, e->key_len) == 0) {
			wc_AesFree(&e->aes);
			wipe(e, sizeof(*e));
		}
	}
}
#endif

int aead_ctx_init(struct aead_ctx *c, const struct aead_method *m, const uint8_t *master,
		  const uint8_t *salt)
{
	int ret = aead_derive_subkey(m, master, salt, c->key);

	if (ret < 0) {
		wipe(c, sizeof(*c));
		return ret;
	}
	return aead_ctx_init_subkey(c, m, c->key);
}

int aead_ctx_init_subkey(struct aead_ctx *c, const struct aead_method *m, const uint8_t *subkey)
{
	if (!is_available(m->kind)) {
		wipe(c, sizeof(*c));
		return -ENOTSUP;
	}
	if (subkey != c->key)
		memcpy(c->key, subkey, m->key_len);
	memset(c->nonce, 0, sizeof(c->nonce));
	c->m = m;
	return 0;
}

void aead_ctx_wipe(struct aead_ctx *c)
{
#ifdef AEAD_HAVE_GCM
	if (c->m && is_gcm(c->m))
		gcm_forget(c);
#endif
	wipe(c, sizeof(*c));
}

/* The nonce is a little-endian counter over all nonce_len bytes. */
static void nonce_increment(struct aead_ctx *c)
{
	for (size_t i = 0; i < c->m->nonce_len; i++)
		if (++c->nonce[i] != 0)
			break;
}

#ifdef AEAD_HAVE_XCHACHA
/*
 * wc_XChaCha20Poly1305_Decrypt cannot work in place: it decrypts a block and
 * then feeds the same (now plaintext) block to Poly1305. The streaming API
 * authenticates the ciphertext before decrypting it, so it is used instead.
 * wc_XChaCha20Poly1305_Init does not clear the length counters Final uses,
 * hence the memset.
 */
static int xchacha_open(const struct aead_ctx *c, uint8_t *out, const uint8_t *in, size_t len)
{
	ChaChaPoly_Aead st;
	uint8_t tag[AEAD_TAG_BYTES];
	int ret;

	memset(&st, 0, sizeof(st));
	ret = wc_XChaCha20Poly1305_Init(&st, empty_buf, 0, c->nonce, c->m->nonce_len, c->key,
					c->m->key_len, CHACHA20_POLY1305_AEAD_DECRYPT);
	if (ret == 0)
		ret = wc_ChaCha20Poly1305_UpdateData(&st, in, out, (word32)len);
	if (ret == 0)
		ret = wc_ChaCha20Poly1305_Final(&st, tag);
	if (ret == 0)
		ret = wc_ChaCha20Poly1305_CheckTag(in + len, tag);
	wipe(&st, sizeof(st));
	return ret;
}
#endif

/* One wolfCrypt seal; out gets len bytes of ciphertext, then the tag. */
static int do_seal(struct aead_ctx *c, uint8_t *out, const uint8_t *in, size_t len)
{
	switch (c->m->kind) {
#ifdef AEAD_HAVE_GCM
	case AEAD_AES_128_GCM:
	case AEAD_AES_192_GCM:
	case AEAD_AES_256_GCM:
	{
		Aes *aes = ctx_aes(c);

		return aes ? wc_AesGcmEncrypt(aes, out, in, (word32)len, c->nonce, c->m->nonce_len,
					      out + len, AEAD_TAG_BYTES, NULL, 0)
			   : -EIO;
	}
#endif
#ifdef AEAD_HAVE_CHACHA
	case AEAD_CHACHA20_POLY1305:
		return wc_ChaCha20Poly1305_Encrypt(c->key, c->nonce, NULL, 0, in, (word32)len, out,
						   out + len);
#endif
#ifdef AEAD_HAVE_XCHACHA
	case AEAD_XCHACHA20_POLY1305:
		return wc_XChaCha20Poly1305_Encrypt(out, len + AEAD_TAG_BYTES, in, len, empty_buf,
						    0, c->nonce, c->m->nonce_len, c->key,
						    c->m->key_len);
#endif
	default:
		return BAD_FUNC_ARG;
	}
}

/* One wolfCrypt open of len plaintext bytes; the tag follows in[len). */
static int do_open(struct aead_ctx *c, uint8_t *out, const uint8_t *in, size_t len)
{
	switch (c->m->kind) {
#ifdef AEAD_HAVE_GCM
	case AEAD_AES_128_GCM:
	case AEAD_AES_192_GCM:
	case AEAD_AES_256_GCM:
	{
		Aes *aes = ctx_aes(c);

		return aes ? wc_AesGcmDecrypt(aes, out, in, (word32)len, c->nonce, c->m->nonce_len,
					      in + len, AEAD_TAG_BYTES, NULL, 0)
			   : -EIO;
	}
#endif
#ifdef AEAD_HAVE_CHACHA
	case AEAD_CHACHA20_POLY1305:
		return wc_ChaCha20Poly1305_Decrypt(c->key, c->nonce, NULL, 0, in, (word32)len,
						   in + len, out);
#endif
#ifdef AEAD_HAVE_XCHACHA
	case AEAD_XCHACHA20_POLY1305:
		return xchacha_open(c, out, in, len);
#endif
	default:
		return BAD_FUNC_ARG;
	}
}

int aead_seal(struct aead_ctx *c, uint8_t *out, const uint8_t *in, size_t len)
{
	if (!c->m || len > INT_MAX - AEAD_TAG_BYTES)
		return -EINVAL;
	if (!in && len == 0)
		in = empty_buf;
	if (do_seal(c, out, in, len) != 0)
		return -EIO;
	nonce_increment(c);
	return 0;
}

int aead_open(struct aead_ctx *c, uint8_t *out, const uint8_t *in, size_t ct_len)
{
	size_t len = ct_len - AEAD_TAG_BYTES;
	uint8_t scratch[1];
	int ret;

	if (!c->m || ct_len < AEAD_TAG_BYTES || len > INT_MAX)
		return -EINVAL;
	if (!out && len == 0)
		out = scratch;
	ret = do_open(c, out, in, len);
	if (ret != 0) {
		/* Some paths decrypt before they verify: never leave unauthenticated plaintext. */
		wipe(out, len);
		return ret == AES_GCM_AUTH_E || ret == MAC_CMP_FAILED_E ? -EBADMSG : -EIO;
	}
	nonce_increment(c);
	return (int)len;
}

/* ---- UDP ------------------------------------------------------------------------- */

int aead_udp_seal(const struct aead_method *m, const uint8_t *master, uint8_t *out,
		  const uint8_t *plain, size_t len)
{
	uint8_t salt[AEAD_MAX_SALT_BYTES];
	int ret = aead_random(salt, m->salt_len);

	return ret < 0 ? ret : aead_udp_seal_salt(m, master, salt, out, plain, len);
}

int aead_udp_seal_salt(const struct aead_method *m, const uint8_t *master, const uint8_t *salt,
		       uint8_t *out, const uint8_t *plain, size_t len)
{
	struct aead_ctx c;
	int ret;

	if (len > (size_t)INT_MAX - m->salt_len - AEAD_TAG_BYTES)
		return -EMSGSIZE;
	/* Each packet has its own subkey, so the nonce is always zero. */
	ret = aead_ctx_init(&c, m, master, salt);
	if (ret < 0)
		return ret;
	memmove(out, salt, m->salt_len);
	ret = aead_seal(&c, out + m->salt_len, plain, len);
	aead_ctx_wipe(&c);
	return ret < 0 ? ret : (int)(m->salt_len + len + AEAD_TAG_BYTES);
}

int aead_udp_open(const struct aead_method *m, const uint8_t *master, uint8_t *out,
		  const uint8_t *pkt, size_t len)
{
	struct aead_ctx c;
	int ret;

	if (len < (size_t)m->salt_len + AEAD_TAG_BYTES)
		return -EINVAL;
	ret = aead_ctx_init(&c, m, master, pkt);
	if (ret < 0)
		return ret;
	ret = aead_open(&c, out, pkt + m->salt_len, len - m->salt_len);
	aead_ctx_wipe(&c);
	return ret;
}

/* ---- trial decryption (servers with several users) ----------------------------- */

#ifdef AEAD_HAVE_GCM
/* The tries' own key schedule: trying a thousand keys must not evict the
 * few the thread's sessions use from gcm_cache. */
static _Thread_local struct {
	Aes aes;
	bool ready;
} trial_gcm;
#endif

void aead_trial_init(struct aead_trial *t, const struct aead_method *m, const uint8_t *salt)
{
	t->m = m;
	memcpy(t->salt, salt, m->salt_len);
	hkdf_sha1_salt_init(&t->hs, salt, m->salt_len);
}

void aead_trial_wipe(struct aead_trial *t)
{
	wipe(t, sizeof(*t));
}

/* Open len bytes + tag at in with subkey and the all-zero nonce (the first). */
static int trial_open(const struct aead_trial *t, const uint8_t *subkey, uint8_t *out,
		      const uint8_t *in, size_t len)
{
	static const uint8_t zero_nonce[AEAD_MAX_NONCE_BYTES];
	const struct aead_method *m = t->m;

	switch (m->kind) {
#ifdef AEAD_HAVE_GCM
	case AEAD_AES_128_GCM:
	case AEAD_AES_192_GCM:
	case AEAD_AES_256_GCM:
		if (!trial_gcm.ready) {
			if (wc_AesInit(&trial_gcm.aes, NULL, INVALID_DEVID) != 0)
				return -EIO;
			trial_gcm.ready = true;
		}
		if (wc_AesGcmSetKey(&trial_gcm.aes, subkey, m->key_len) != 0)
			return -EIO;
		return wc_AesGcmDecrypt(&trial_gcm.aes, out, in, (word32)len, zero_nonce,
					m->nonce_len, in + len, AEAD_TAG_BYTES, NULL, 0) == 0
			       ? 0 : -EBADMSG;
#endif
#ifdef AEAD_HAVE_CHACHA
	case AEAD_CHACHA20_POLY1305:
		return wc_ChaCha20Poly1305_Decrypt(subkey, zero_nonce, NULL, 0, in, (word32)len,
						   in + len, out) == 0 ? 0 : -EBADMSG;
#endif
#ifdef AEAD_HAVE_XCHACHA
	case AEAD_XCHACHA20_POLY1305:
	{
		struct aead_ctx c;
		int ret;

		memcpy(c.key, subkey, m->key_len);
		memset(c.nonce, 0, sizeof(c.nonce));
		c.m = m;
		ret = xchacha_open(&c, out, in, len);
		wipe(&c, sizeof(c));
		return ret == 0 ? 0 : -EBADMSG;
	}
#endif
	default:
		return -ENOTSUP;
	}
}

static int trial_subkey(const struct aead_trial *t, const uint8_t *master, uint8_t *subkey)
{
	static const uint8_t info[] = "ss-subkey";

	return hkdf_sha1_salted(&t->hs, master, t->m->key_len, info, sizeof(info) - 1, subkey,
				t->m->key_len) == 0 ? 0 : -EIO;
}

int aead_trial_len(const struct aead_trial *t, const uint8_t *master, const uint8_t *chunk,
		   struct aead_ctx *ctx, uint16_t *plen)
{
	uint8_t subkey[AEAD_MAX_KEY_BYTES], be[2];
	size_t n;
	int ret = trial_subkey(t, master, subkey);

	if (ret == 0)
		ret = trial_open(t, subkey, be, chunk, 2);
	if (ret == 0) {
		n = (size_t)be[0] << 8 | be[1];
		ret = n == 0 || n > AEAD_CHUNK_MAX ? -EBADMSG : 0;
		*plen = (uint16_t)n;
	}
	if (ret == 0) {
		aead_ctx_init_subkey(ctx, t->m, subkey);
		nonce_increment(ctx);
	}
	wipe(subkey, sizeof(subkey));
	return ret < 0 && ret != -EBADMSG && ret != -ENOTSUP ? -EBADMSG : ret;
}

int aead_trial_udp(const struct aead_trial *t, const uint8_t *master, uint8_t *out,
		   const uint8_t *ct, size_t ct_len)
{
	uint8_t subkey[AEAD_MAX_KEY_BYTES];
	int ret;

	if (ct_len < AEAD_TAG_BYTES || ct_len > INT_MAX)
		return -EBADMSG;
	ret = trial_subkey(t, master, subkey);
	if (ret == 0)
		ret = trial_open(t, subkey, out, ct, ct_len - AEAD_TAG_BYTES);
	wipe(subkey, sizeof(subkey));
	if (ret < 0)
		return -EBADMSG;
	return (int)(ct_len - AEAD_TAG_BYTES);
}

/* ---- backend ------------------------------------------------------------------- */

const char *aead_backend_version(void)
{
	return LIBWOLFSSL_VERSION_STRING;
}

bool aead_backend_has_aesni(void)
{
#ifdef WOLFSSL_AESNI
	return true;
#else
	return false;
#endif
}

bool aead_backend_has_avx2(void)
{
#if defined(HAVE_INTEL_AVX2) || defined(USE_INTEL_SPEEDUP)
	return true;
#else
	return false;
#endif
}

/* ---- single AES block (SS2022) --------------------------------------------------- */

/*
 * A fresh key schedule per call: SS2022 uses it once or twice per packet or
 * stream with a long-lived PSK, and the expansion costs far less than the
 * BLAKE3 subkey derivation that follows anyway.
 */
int aead_aes_block(const uint8_t *key, size_t key_len, bool encrypt, const uint8_t in[16],
		   uint8_t out[16])
{
#if !defined(NO_AES) && defined(WOLFSSL_AES_DIRECT)
	uint8_t blk[16];
	Aes aes;
	int ret;

	if (key_len != 16 && key_len != 24 && key_len != 32)
		return -EINVAL;
	/* Copy first so in == out is safe whatever wolfCrypt's code path does. */
	memcpy(blk, in, sizeof(blk));
	ret = wc_AesInit(&aes, NULL, INVALID_DEVID);
	if (ret == 0)
		ret = wc_AesSetKeyDirect(&aes, key, (word32)key_len, NULL,
					 encrypt ? AES_ENCRYPTION : AES_DECRYPTION);
	if (ret == 0)
		ret = encrypt ? wc_AesEncryptDirect(&aes, out, blk)
			      : wc_AesDecryptDirect(&aes, out, blk);
	wc_AesFree(&aes);
	wipe(&aes, sizeof(aes));
	wipe(blk, sizeof(blk));
	return ret == 0 ? 0 : -EIO;
#else
	(void)key;
	(void)key_len;
	(void)encrypt;
	(void)in;
	(void)out;
	return -ENOTSUP;
#endif
}
