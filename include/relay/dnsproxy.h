/* SPDX-License-Identifier: MIT */
/*
 * dnsproxy — the DNS forwarder (dns_proxies = (...)), a worker module like
 * the upstream check: it opens its own sockets and ss streams on the ring,
 * never through the relays' sessions. Each entry listens on UDP and TCP
 * (DNS over TCP, RFC 7766) and sends each query where the ACL says:
 *
 *   a name the ACL bypasses      -> local_dns, over UDP (TCP when the
 *                                   answer comes back cut for a TCP client)
 *   a name the ACL proxies       -> remote_dns, through the ss server: one
 *                                   ss stream per query, the query in it as
 *                                   DNS over TCP (so it works where UDP
 *                                   does not)
 *   a name the ACL does not list -> with address rules in the ACL, both:
 *                                   the local answer is kept when none of
 *                                   its addresses would be proxied, else
 *                                   the remote one (as shadowsocks-rust
 *                                   does); without, the ACL's mode
 *   no ACL                       -> remote_dns
 *
 * Answers are cached per worker for their least TTL (at most an hour;
 * negative ones briefly), given the client's ID and letter case, cut with
 * TC for a UDP client they do not fit (whole over TCP). Counters in
 * relay/stats.h (WC_DNSP_*).
 */
#ifndef SSRING_DNSPROXY_H
#define SSRING_DNSPROXY_H

#include "core/loop.h"

extern struct loop_module dnsproxy_module;

#endif
