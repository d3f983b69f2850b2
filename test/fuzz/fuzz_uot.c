/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: UDP over TCP (proto/uot.h). Byte 0 picks the mode (bit 0:
 * connect, bit 1: a request first); the rest is parsed as a request and a
 * run of frames, as a session would meet them. Oracles: a frame never
 * claims more bytes than it was given, an incomplete one asks for more than
 * it has and at most UOT_FRAME_MAX, and a parsed one re-encodes to its own
 * header (but for an IPv4-mapped address, which is read as IPv4).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/uot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool connect;
	uint8_t hdr[UOT_FRAME_HDR_MAX], req[UOT_REQUEST_MAX];
	struct uot_request r;
	struct uot_frame f;
	size_t need;
	int n;

	if (size < 1)
		return 0;
	connect = data[0] & 1;
	if (data[0] & 2) {
		n = uot_request_parse(data + 1, size - 1, &r);
		if (n > 0) {
			if ((size_t)n > size - 1 || n > UOT_REQUEST_MAX ||
			    uot_request_build(&r, req) > UOT_REQUEST_MAX)
				abort();
			connect = r.connect;
			data += n;
			size -= (size_t)n;
		} else if (n == -EAGAIN && size - 1 >= UOT_REQUEST_MAX) {
			abort();
		}
	}
	data++;
	size--;
	while (size) {
		need = 0;
		n = uot_frame_parse(data, size, connect, &f, &need);
		if (n == -EAGAIN) {
			if (need <= size || need > UOT_FRAME_MAX)
				abort();
			break;
		}
		if (n < 0)
			break;
		if ((size_t)n > size || n > UOT_FRAME_MAX || f.data + f.len != data + n)
			abort();
		if ((connect || data[0] != 0x01 || f.addr.atyp != SSADDR_ATYP_IPV4) &&
		    (uot_frame_header(connect, &f.addr, f.len, hdr) != (size_t)(f.data - data) ||
		     memcmp(hdr, data, (size_t)(f.data - data))))
			abort();
		data += n;
		size -= (size_t)n;
	}
	return 0;
}
