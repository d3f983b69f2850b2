/* SPDX-License-Identifier: MIT */
/*
 * acl — shadowsocks-libev's ACL files, parsed and matched with libev's
 * meaning (its src/acl.c and rule.c):
 *
 *   [proxy_all] | [accept_all]     default: proxy / accept (libev: BLACK_LIST mode)
 *   [bypass_all] | [reject_all]    default: bypass / reject (WHITE_LIST mode)
 *   [bypass_list] | [black_list]   entries that bypass (local) / are refused (server)
 *   [proxy_list] | [white_list]    entries that are proxied / accepted
 *   [outbound_block_list]          targets a server refuses
 *
 * One entry per line: an IPv4/IPv6 address with an optional /prefix, or
 * else a regular expression matched unanchored against a host name
 * (PCRE2). Unlike libev, names match without regard to case or to one
 * trailing dot (as DNS treats them), so "BLOCKED.example." is
 * "blocked.example" to every list. '#' starts a comment anywhere; blank lines are skipped; lines
 * before any section belong to the bypass/black list, as in libev; a line
 * of 255 characters or more is discarded (libev reads 255 at a time).
 *
 * Matching is fast at size: addresses by prefix length (a binary search per
 * length in use), names by a hash of literal domain suffixes for patterns
 * of the form (^|\.)example\.com$ and exact names for ^example\.com$, and
 * all other patterns of a list in one combined PCRE2 expression (JIT).
 */
#ifndef SSRING_ACL_H
#define SSRING_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

enum acl_mode {
	ACL_MODE_PROXY_ALL = 0,  /* libev BLACK_LIST: proxy/accept unless listed to bypass */
	ACL_MODE_BYPASS_ALL      /* libev WHITE_LIST: bypass/reject unless listed to proxy */
};

enum acl_list {
	ACL_BYPASS = 0,          /* [bypass_list] / [black_list] */
	ACL_PROXY,               /* [proxy_list] / [white_list] */
	ACL_BLOCK,               /* [outbound_block_list] */
	ACL_LISTS
};

struct acl;

struct acl_stats {
	size_t lines, cidrs, suffixes, exact, regexes, discarded;
};

/*
 * Parse len bytes of ACL text. 0 with *out set, or -EINVAL (a regular
 * expression that does not compile, alone or combined with its list's
 * others: err starts "line N: " and quotes it) / -ENOMEM.
 */
int acl_parse(const char *text, size_t len, struct acl **out, char *err, size_t err_len);
void acl_free(struct acl *a);
enum acl_mode acl_get_mode(const struct acl *a);
void acl_get_stats(const struct acl *a, struct acl_stats *out);

/* Is the address (AF_INET/AF_INET6; v4-mapped as IPv4) in list l? */
bool acl_has_addr(const struct acl *a, enum acl_list l, const struct sockaddr *sa);
/*
 * Does a rule of list l match the host name (len bytes)? Each match is
 * bounded (PCRE2 match and depth limits); a lookup that cannot be decided
 * (a limit hit, a name over 255 bytes) counts as a match for the block and
 * proxy lists and as none for the bypass list: a server refuses such a
 * target, a local sends it through the server.
 */
bool acl_has_name(const struct acl *a, enum acl_list l, const char *name, size_t len);

/*
 * libev's acl_match_host: 1 if the target is in the bypass/black list,
 * -1 if in the proxy/white list (checked second), 0 if in neither.
 */
int acl_match_addr(const struct acl *a, const struct sockaddr *sa);
int acl_match_name(const struct acl *a, const char *name, size_t len);

/*
 * A local's (or tunnel's) route for a target, with libev's meaning (its
 * local.c): a host name listed to bypass goes direct, one listed to proxy
 * through the server, and any other name must be resolved first (a name
 * that does not resolve is proxied); an address (given, or the name's
 * first) goes direct if listed to bypass under [proxy_all], and under
 * [bypass_all] unless listed to proxy.
 */
enum acl_route { ACL_ROUTE_PROXY = 0, ACL_ROUTE_BYPASS, ACL_ROUTE_RESOLVE };
enum acl_route acl_route_name(const struct acl *a, const char *name, size_t len);
enum acl_route acl_route_addr(const struct acl *a, const struct sockaddr *sa);

#endif
