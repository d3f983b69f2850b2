/* SPDX-License-Identifier: MIT */
/* uot — see include/proto/uot.h. */
#include "proto/uot.h"

#include <errno.h>
#include <string.h>

/* A frame address's family byte (sing's AddrParser) and its SOCKS5 ATYP. */
#define UOT_FAM_IPV4 0x00
#define UOT_FAM_IPV6 0x01
#define UOT_FAM_DOMAIN 0x02

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* sing unwraps an IPv4-mapped IPv6 address: the datagram goes over IPv4. */
static void unmap(struct ssaddr *a)
{
	uint8_t v4[4];

	if (a->atyp != SSADDR_ATYP_IPV6 || memcmp(a->u.ipv6, v4mapped, sizeof(v4mapped)))
		return;
	memcpy(v4, a->u.ipv6 + 12, 4);
	a->atyp = SSADDR_ATYP_IPV4;
	memcpy(a->u.ipv4, v4, 4);
}

int uot_version(const struct ssaddr *target)
{
	if (target->atyp != SSADDR_ATYP_DOMAIN)
		return 0;
	if (!strcmp(target->u.domain.name, UOT_MAGIC))
		return 2;
	return strcmp(target->u.domain.name, UOT_MAGIC_V1) ? 0 : 1;
}

void uot_magic(struct ssaddr *target)
{
	memset(target, 0, sizeof(*target));
	target->atyp = SSADDR_ATYP_DOMAIN;
	target->u.domain.len = (uint8_t)strlen(UOT_MAGIC);
	memcpy(target->u.domain.name, UOT_MAGIC, target->u.domain.len);
}

int uot_request_parse(const uint8_t *p, size_t n, struct uot_request *r)
{
	int k;

	if (n < 1)
		return -EAGAIN;
	k = ssaddr_parse(p + 1, n - 1, &r->dst);
	if (k < 0)
		return k;
	r->connect = p[0] != 0;
	unmap(&r->dst);
	return 1 + k;
}

size_t uot_request_build(const struct uot_request *r, uint8_t *out)
{
	out[0] = r->connect ? 1 : 0;
	return 1 + ssaddr_encode(&r->dst, out + 1);
}

/* The length of the frame address at p[0..n) as far as its first bytes
 * tell (the whole of it once p[0] and, for a name, p[1] are in), or -EINVAL. */
static long addr_need(const uint8_t *p, size_t n)
{
	if (n < 1)
		return 1;
	switch (p[0]) {
	case UOT_FAM_IPV4:
		return 1 + 4 + 2;
	case UOT_FAM_IPV6:
		return 1 + 16 + 2;
	case UOT_FAM_DOMAIN:
		if (n < 2)
			return 2;
		return p[1] ? 2 + (long)p[1] + 2 : -EINVAL;
	default:
		return -EINVAL;
	}
}

int uot_frame_parse(const uint8_t *p, size_t n, bool connect, struct uot_frame *f, size_t *need)
{
	static const uint8_t atyp[] = { SSADDR_ATYP_IPV4, SSADDR_ATYP_IPV6, SSADDR_ATYP_DOMAIN };
	uint8_t tmp[SSADDR_MAX_BYTES];
	long alen = 0;
	size_t hlen;

	if (!connect) {
		alen = addr_need(p, n);
		if (alen < 0)
			return -EINVAL;
		if ((size_t)alen > n) {
			*need = (size_t)alen + 2;
			return -EAGAIN;
		}
		/* The same layout as a SOCKS5 address but for the family byte. */
		memcpy(tmp, p, (size_t)alen);
		tmp[0] = atyp[p[0]];
		if (ssaddr_parse(tmp, (size_t)alen, &f->addr) != alen)
			return -EINVAL;
		unmap(&f->addr);
	}
	hlen = (size_t)alen + 2;
	if (n < hlen) {
		*need = hlen;
		return -EAGAIN;
	}
	f->len = (uint16_t)(p[hlen - 2] << 8 | p[hlen - 1]);
	if (n < hlen + f->len) {
		*need = hlen + f->len;
		return -EAGAIN;
	}
	f->data = p + hlen;
	return (int)(hlen + f->len);
}

size_t uot_frame_header(bool connect, const struct ssaddr *a, size_t len, uint8_t *out)
{
	size_t n = 0;

	if (!connect) {
		n = ssaddr_encode(a, out);
		out[0] = a->atyp == SSADDR_ATYP_IPV4   ? UOT_FAM_IPV4
			 : a->atyp == SSADDR_ATYP_IPV6 ? UOT_FAM_IPV6
						       : UOT_FAM_DOMAIN;
	}
	out[n++] = (uint8_t)(len >> 8);
	out[n++] = (uint8_t)len;
	return n;
}
