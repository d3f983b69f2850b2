/* SPDX-License-Identifier: MIT */
#include "proto/socks4.h"

#include <errno.h>
#include <string.h>

/*
 * A NUL-terminated field of at most max bytes at buf[0..len): its length,
 * -EAGAIN while its NUL may still come, -E2BIG when it cannot any more.
 */
static int field(const uint8_t *buf, size_t len, size_t max)
{
	const uint8_t *nul = memchr(buf, 0, len < max + 1 ? len : max + 1);

	if (nul)
		return (int)(nul - buf);
	return len > max ? -E2BIG : -EAGAIN;
}

int socks4_parse_request(const uint8_t *buf, size_t len, struct socks4_request *r)
{
	size_t off = SOCKS4_HEAD_BYTES;
	int u, h;

	if (len < 1)
		return -EAGAIN;
	if (buf[0] != SOCKS4_VER)
		return -EPROTO;
	if (len < SOCKS4_HEAD_BYTES)
		return -EAGAIN;
	u = field(buf + off, len - off, SOCKS4_USERID_MAX);
	if (u < 0)
		return u;
	memset(&r->dst, 0, sizeof(r->dst));
	r->cmd = buf[1];
	r->user_len = (uint16_t)u;
	memcpy(r->user, buf + off, (size_t)u);
	r->user[u] = '\0';
	r->dst.port = (uint16_t)(buf[2] << 8 | buf[3]);
	off += (size_t)u + 1;
	/* 4a: 0.0.0.x, x != 0, is no address anyone means; a name follows. */
	r->is_4a = !buf[4] && !buf[5] && !buf[6] && buf[7];
	if (!r->is_4a) {
		r->dst.atyp = SSADDR_ATYP_IPV4;
		memcpy(r->dst.u.ipv4, buf + 4, 4);
		return (int)off;
	}
	h = field(buf + off, len - off, SOCKS4_HOST_MAX);
	if (h < 0)
		return h;
	if (h == 0)
		return -EINVAL;
	r->dst.atyp = SSADDR_ATYP_DOMAIN;
	r->dst.u.domain.len = (uint8_t)h;
	memcpy(r->dst.u.domain.name, buf + off, (size_t)h);
	r->dst.u.domain.name[h] = '\0';
	return (int)(off + (size_t)h + 1);
}

size_t socks4_build_reply(uint8_t *out, uint8_t code)
{
	/* DSTPORT and DSTIP: zeros, as clients ignore them after a CONNECT. */
	memset(out, 0, SOCKS4_REPLY_BYTES);
	out[1] = code;
	return SOCKS4_REPLY_BYTES;
}
