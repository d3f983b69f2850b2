/* SPDX-License-Identifier: MIT */
#include "proto/socks5.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

/* Offset of ATYP in a request (VER CMD RSV) and in a UDP header (RSV RSV FRAG). */
#define REQ_ATYP_OFF 3
#define UDP_ATYP_OFF 3
/* Span compared by socks5_auth_check: longer than any RFC 1929 field. */
#define AUTH_CMP_BYTES 256

static bool is_known_atyp(uint8_t atyp)
{
	return atyp == SSADDR_ATYP_IPV4 || atyp == SSADDR_ATYP_DOMAIN ||
	       atyp == SSADDR_ATYP_IPV6;
}

int socks5_parse_greeting(const uint8_t *buf, size_t len, struct socks5_greeting *g)
{
	size_t need;

	if (len < 1)
		return -EAGAIN;
	/* Reject SOCKS4 and garbage on the first byte, before waiting for more. */
	if (buf[0] != SOCKS5_VER)
		return -EPROTO;
	if (len < 2)
		return -EAGAIN;
	if (buf[1] == 0)
		return -EINVAL;
	need = 2 + (size_t)buf[1];
	if (len < need)
		return -EAGAIN;
	g->nmethods = buf[1];
	g->has_noauth = memchr(buf + 2, SOCKS5_METHOD_NOAUTH, buf[1]) != NULL;
	g->has_userpass = memchr(buf + 2, SOCKS5_METHOD_USERPASS, buf[1]) != NULL;
	return (int)need;
}

uint8_t socks5_choose_method(const struct socks5_greeting *g, bool auth_required)
{
	if (auth_required)
		return g->has_userpass ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NONE;
	return g->has_noauth ? SOCKS5_METHOD_NOAUTH : SOCKS5_METHOD_NONE;
}

int socks5_parse_auth(const uint8_t *buf, size_t len, struct socks5_auth *a)
{
	size_t ulen, plen;

	if (len < 1)
		return -EAGAIN;
	if (buf[0] != SOCKS5_AUTH_VER)
		return -EPROTO;
	if (len < 2)
		return -EAGAIN;
	ulen = buf[1];
	if (ulen == 0)
		return -EINVAL;
	if (len < 2 + ulen + 1)
		return -EAGAIN;
	plen = buf[2 + ulen];
	if (plen == 0)
		return -EINVAL;
	if (len < 3 + ulen + plen)
		return -EAGAIN;
	a->user_len = (uint8_t)ulen;
	memcpy(a->user, buf + 2, ulen);
	a->user[ulen] = '\0';
	a->pass_len = (uint8_t)plen;
	memcpy(a->pass, buf + 3 + ulen, plen);
	a->pass[plen] = '\0';
	return (int)(3 + ulen + plen);
}

/*
 * Accumulate the difference between got[0..got_len) and want[0..want_len)
 * over a fixed AUTH_CMP_BYTES span, both zero-padded, plus the length
 * difference. The loop count and memory accesses depend only on the lengths,
 * never on the bytes, so timing reveals nothing about how much matched.
 */
static unsigned int ct_diff(const char *got, size_t got_len, const char *want, size_t want_len)
{
	unsigned int d = 0;
	size_t i;

	for (i = 0; i < AUTH_CMP_BYTES; i++) {
		/* Masks instead of branches on the index-vs-length tests. */
		unsigned char gm = (unsigned char)-(unsigned char)(i < got_len);
		unsigned char wm = (unsigned char)-(unsigned char)(i < want_len);
		unsigned char g = (unsigned char)got[i < got_len ? i : 0] & gm;
		unsigned char w = (unsigned char)want[i < want_len ? i : 0] & wm;

		d |= (unsigned int)(g ^ w);
	}
	d |= (unsigned int)(got_len != want_len);
	/* A configured value longer than any RFC 1929 field can never match. */
	d |= (unsigned int)(want_len >= AUTH_CMP_BYTES);
	return d;
}

bool socks5_auth_check(const struct socks5_auth *a, const char *user, const char *pass)
{
	unsigned int d;

	if (!user || !pass)
		return false;
	/* Both fields always run in full: no early exit on a wrong user name. */
	d = ct_diff(a->user, a->user_len, user, strlen(user));
	d |= ct_diff(a->pass, a->pass_len, pass, strlen(pass));
	return d == 0;
}

int socks5_parse_request(const uint8_t *buf, size_t len, struct socks5_request *r)
{
	int n;

	if (len < 1)
		return -EAGAIN;
	if (buf[0] != SOCKS5_VER)
		return -EPROTO;
	if (len <= REQ_ATYP_OFF)
		return -EAGAIN;
	if (!is_known_atyp(buf[REQ_ATYP_OFF]))
		return -EAFNOSUPPORT;
	/* With ATYP known good, ssaddr_parse's -EINVAL can only mean an empty name. */
	n = ssaddr_parse(buf + REQ_ATYP_OFF, len - REQ_ATYP_OFF, &r->dst);
	if (n < 0)
		return n;
	r->cmd = buf[1];
	return REQ_ATYP_OFF + n;
}

/* Write the unspecified IPv4 bind address: ATYP 01, 0.0.0.0:0. */
static size_t build_zero_bnd(uint8_t *out)
{
	out[0] = SSADDR_ATYP_IPV4;
	memset(out + 1, 0, 4 + 2);
	return 1 + 4 + 2;
}

static size_t build_bnd(uint8_t *out, const struct sockaddr *bnd)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct ssaddr a;

	if (!bnd || ssaddr_from_sockaddr(bnd, &a) < 0)
		return build_zero_bnd(out);
	if (a.atyp == SSADDR_ATYP_IPV6 && memcmp(a.u.ipv6, mapped, sizeof(mapped)) == 0) {
		uint8_t v4[4];

		memcpy(v4, a.u.ipv6 + 12, 4);
		a.atyp = SSADDR_ATYP_IPV4;
		memcpy(a.u.ipv4, v4, 4);
	}
	return ssaddr_encode(&a, out);
}

size_t socks5_build_reply(uint8_t *out, uint8_t rep, const struct sockaddr *bnd)
{
	out[0] = SOCKS5_VER;
	out[1] = rep;
	out[2] = 0x00;
	return 3 + build_bnd(out + 3, bnd);
}

int socks5_rep_from_errno(int err)
{
	/* Both signs, without negating (which would overflow for INT_MIN). */
	switch (err) {
	case -ECONNREFUSED:
	case ECONNREFUSED:
		return SOCKS5_REP_CONNECTION_REFUSED;
	case -ENETUNREACH:
	case ENETUNREACH:
		return SOCKS5_REP_NETWORK_UNREACHABLE;
	case -EHOSTUNREACH:
	case EHOSTUNREACH:
		return SOCKS5_REP_HOST_UNREACHABLE;
	case -ETIMEDOUT:
	case ETIMEDOUT:
	case -ECANCELED:
	case ECANCELED:
		return SOCKS5_REP_TTL_EXPIRED;
	default:
		return SOCKS5_REP_GENERAL_FAILURE;
	}
}

int socks5_parse_udp(const uint8_t *buf, size_t len, struct socks5_udp *u)
{
	int n;

	if (len <= UDP_ATYP_OFF)
		return -EINVAL;
	if (!is_known_atyp(buf[UDP_ATYP_OFF]))
		return -EAFNOSUPPORT;
	n = ssaddr_parse(buf + UDP_ATYP_OFF, len - UDP_ATYP_OFF, &u->dst);
	/* A datagram is whole: "need more bytes" means it was truncated. */
	if (n < 0)
		return -EINVAL;
	u->frag = buf[2];
	return UDP_ATYP_OFF + n;
}

size_t socks5_build_udp_header(uint8_t *out, const struct ssaddr *src)
{
	out[0] = 0x00;
	out[1] = 0x00;
	out[2] = 0x00;
	return 3 + ssaddr_encode(src, out + 3);
}
