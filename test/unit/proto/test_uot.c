/* SPDX-License-Identifier: MIT */
/*
 * UDP over TCP (sing's common/uot, version 2): the magic target, the request
 * (SOCKS5 address), frames in connect mode and with addresses (families 00
 * IPv4, 01 IPv6, 02 domain), incremental parsing byte by byte, bad input.
 * The vectors are the bytes sing's Go code writes for the same values
 * (protocol.go EncodeRequest, conn.go WritePacket with AddrParser).
 */
#include <errno.h>

#include "check.h"
#include "proto/uot.h"
#include "util.h"

/* The ss address header a client sends for the magic destination. */
#define MAGIC_HDR "031773702e76322e7564702d6f7665722d7463702e617270610000"

struct fvec {
	const char *name;
	bool connect;
	const char *hex;      /* the whole frame */
	const char *addr;     /* its address as a SOCKS5 header, "" in connect mode */
	const char *data;
};

static const struct fvec frames[] = {
	{ "connect, 2 bytes", true, "00026869", "", "6869" },
	{ "connect, empty", true, "0000", "", "" },
	{ "IPv4 8.8.8.8:53", false, "00080808080035" "0003" "616263", "01080808080035", "616263" },
	{ "IPv6 [2001:db8::1]:443", false,
	  "0120010db800000000000000000000000101bb" "0001" "ff",
	  "0420010db800000000000000000000000101bb", "ff" },
	{ "domain dns.google:53", false, "020a646e732e676f6f676c650035" "0000",
	  "030a646e732e676f6f676c650035", "" },
};

static void test_magic(void)
{
	struct ssaddr a;
	uint8_t want[64], enc[SSADDR_MAX_BYTES];
	size_t n = unhex(MAGIC_HDR, want, sizeof(want));

	uot_magic(&a);
	CHECK_EQ(uot_version(&a), 2);
	CHECK_EQ(ssaddr_encode(&a, enc), n);
	CHECK_MEM(enc, want, n);
	CHECK_EQ(ssaddr_parse(want, n, &a), (int)n);
	CHECK_EQ(uot_version(&a), 2);
	a.u.domain.len = (uint8_t)strlen(UOT_MAGIC_V1);
	memcpy(a.u.domain.name, UOT_MAGIC_V1, a.u.domain.len + 1);
	CHECK_EQ(uot_version(&a), 1);
	memcpy(a.u.domain.name, "SP.udp-over-tcp.arpa", a.u.domain.len + 1);
	CHECK_EQ(uot_version(&a), 0); /* sing compares exactly */
	a.atyp = SSADDR_ATYP_IPV4;
	CHECK_EQ(uot_version(&a), 0);
}

static void test_request(void)
{
	static const struct { const char *hex; bool connect; const char *addr; } v[] = {
		{ "01" "01080808080035", true, "01080808080035" },
		{ "00" "030b6578616d706c652e636f6d01bb", false, "030b6578616d706c652e636f6d01bb" },
		{ "01" "0420010db80000000000000000000000010035", true,
		  "0420010db80000000000000000000000010035" },
		{ "00" "0100000000" "0000", false, "01000000000000" },
	};
	uint8_t b[UOT_REQUEST_MAX], want[UOT_REQUEST_MAX], out[UOT_REQUEST_MAX];
	struct uot_request r;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = unhex(v[i].hex, b, sizeof(b)), an = unhex(v[i].addr, want, sizeof(want));
		uint8_t enc[SSADDR_MAX_BYTES];

		CHECK_EQ(uot_request_parse(b, n, &r), (int)n);
		CHECK_EQ(r.connect, v[i].connect);
		CHECK_EQ(ssaddr_encode(&r.dst, enc), an);
		CHECK_MEM(enc, want, an);
		for (size_t k = 0; k < n; k++)
			CHECK_EQ(uot_request_parse(b, k, &r), -EAGAIN);
		uot_request_parse(b, n, &r);
		CHECK_EQ(uot_request_build(&r, out), n);
		CHECK_MEM(out, b, n);
	}
	/* Any non-zero isConnect is connect mode (a Go bool). */
	{
		size_t n = unhex("07" "01080808080035", b, sizeof(b));

		CHECK_EQ(uot_request_parse(b, n, &r), (int)n);
		CHECK(r.connect);
	}
	/* An unknown ATYP, an empty name; the request is bounded. */
	CHECK_EQ(uot_request_parse((const uint8_t *)"\x00\x02\x01", 3, &r), -EINVAL);
	CHECK_EQ(uot_request_parse((const uint8_t *)"\x00\x03\x00\x00\x35", 5, &r), -EINVAL);
	memset(b, 0, sizeof(b));
	b[1] = SSADDR_ATYP_DOMAIN;
	b[2] = 255;
	memset(b + 3, 'a', 255);
	CHECK_EQ(uot_request_parse(b, UOT_REQUEST_MAX, &r), UOT_REQUEST_MAX);
	CHECK_EQ(uot_request_parse(b, UOT_REQUEST_MAX - 1, &r), -EAGAIN);
	/* An IPv4-mapped IPv6 destination is the IPv4 address. */
	{
		size_t n = unhex("01" "0400000000000000000000ffff010203040050", b, sizeof(b));

		CHECK_EQ(uot_request_parse(b, n, &r), (int)n);
		CHECK_EQ(r.dst.atyp, SSADDR_ATYP_IPV4);
		CHECK_MEM(r.dst.u.ipv4, "\x01\x02\x03\x04", 4);
		CHECK_EQ(r.dst.port, 80);
	}
}

static void test_frames(void)
{
	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		const struct fvec *v = &frames[i];
		uint8_t b[512], addr[SSADDR_MAX_BYTES], data[256], hdr[UOT_FRAME_HDR_MAX];
		uint8_t enc[SSADDR_MAX_BYTES];
		size_t n = unhex(v->hex, b, sizeof(b)), an = unhex(v->addr, addr, sizeof(addr));
		size_t dn = unhex(v->data, data, sizeof(data)), need = 0, last = 0;
		struct uot_frame f;

		printf("frame %s: %s\n", v->name, v->hex);
		CHECK_EQ(uot_frame_parse(b, n, v->connect, &f, &need), (int)n);
		CHECK_EQ(f.len, dn);
		CHECK(f.data == b + n - dn);
		CHECK_MEM(f.data, data, dn);
		if (!v->connect) {
			CHECK_EQ(ssaddr_encode(&f.addr, enc), an);
			CHECK_MEM(enc, addr, an);
		}
		/* Byte by byte: -EAGAIN with a need that grows, never past the frame. */
		for (size_t k = 0; k < n; k++) {
			CHECK_EQ(uot_frame_parse(b, k, v->connect, &f, &need), -EAGAIN);
			CHECK(need > k);
			CHECK(need <= n);
			CHECK(need >= last);
			last = need;
		}
		/* Followed by more bytes: only this frame. */
		b[n] = 0xee;
		CHECK_EQ(uot_frame_parse(b, n + 1, v->connect, &f, &need), (int)n);
		/* Built: the header, then the data as it is. */
		uot_frame_parse(b, n, v->connect, &f, &need);
		CHECK_EQ(uot_frame_header(v->connect, &f.addr, f.len, hdr), n - dn);
		CHECK_MEM(hdr, b, n - dn);
	}
}

static void test_bad_frames(void)
{
	uint8_t b[UOT_FRAME_MAX + 1];
	struct uot_frame f;
	size_t need = 0;

	/* A family byte beyond 02 (SOCKS5's 01/03/04 mean other things here). */
	CHECK_EQ(uot_frame_parse((const uint8_t *)"\x03\x01", 2, false, &f, &need), -EINVAL);
	CHECK_EQ(uot_frame_parse((const uint8_t *)"\x04", 1, false, &f, &need), -EINVAL);
	/* An empty name. */
	CHECK_EQ(uot_frame_parse((const uint8_t *)"\x02\x00\x00\x35", 4, false, &f, &need), -EINVAL);
	/* The longest frame: a 255-byte name and 65,535 bytes. */
	memset(b, 'a', sizeof(b));
	b[0] = 0x02;
	b[1] = 255;
	b[2 + 255] = 0;
	b[2 + 255 + 1] = 53;
	b[2 + 255 + 2] = 0xff;
	b[2 + 255 + 3] = 0xff;
	CHECK_EQ(uot_frame_parse(b, sizeof(b), false, &f, &need), UOT_FRAME_MAX);
	CHECK_EQ(uot_frame_parse(b, UOT_FRAME_MAX - 1, false, &f, &need), -EAGAIN);
	CHECK_EQ(need, UOT_FRAME_MAX);
	/* An IPv4-mapped IPv6 address is the IPv4 address. */
	{
		size_t n = unhex("0100000000000000000000ffff0a0000010050" "0001" "00", b, sizeof(b));

		CHECK_EQ(uot_frame_parse(b, n, false, &f, &need), (int)n);
		CHECK_EQ(f.addr.atyp, SSADDR_ATYP_IPV4);
		CHECK_MEM(f.addr.u.ipv4, "\x0a\x00\x00\x01", 4);
	}
}

int main(void)
{
	test_magic();
	test_request();
	test_frames();
	test_bad_frames();
	printf("ok\n");
	return 0;
}
