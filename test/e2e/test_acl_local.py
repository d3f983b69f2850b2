# SPDX-License-Identifier: MIT
"""ACLs on locals and tunnels: each target goes through the server or
directly, as shadowsocks-libev's ss-local decides with the same file.

Whether a request went through the server is read from the server's
ssring_tcp_sessions_total. Under [proxy_all] and [bypass_all] files:
- for IP literals, "localhost" (resolved by the local, from /etc/hosts) and
  a name listed to proxy, ssring's local and libev's ss-local (both in front
  of the same ssring server) must route every target the same way, and as
  expected;
- with a name server of the test's own (names under .test), ssring's local
  routes names listed to bypass, names whose address is listed, and names
  whose address is not listed by libev's rules; a name listed to bypass
  that does not resolve is proxied, as in libev;
- UDP through SOCKS5 follows the same decisions (libev's UDP relay ignores
  the ACL; shadowsocks-rust's follows it, as ssring's does);
- a tunnel whose forward target is listed to bypass connects directly."""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

M, PW = "aes-256-gcm", "acl local"

ACLS = {
    "proxy_all": "[proxy_all]\n[bypass_list]\n127.0.0.2\n(^|\\.)bypass\\.test$\n"
                 "[proxy_list]\n(^|\\.)proxy\\.test$\n",
    "bypass_all": "[bypass_all]\n[proxy_list]\n127.0.0.3\n(^|\\.)proxy\\.test$\n",
}
# target -> echo server index (its address), expected route per ACL:
# "direct" or "server". Compared with libev.
COMMON = [
    ("127.0.0.2", 2, {"proxy_all": "direct", "bypass_all": "direct"}),
    ("127.0.0.3", 3, {"proxy_all": "server", "bypass_all": "server"}),
    ("localhost", 1, {"proxy_all": "server", "bypass_all": "direct"}),
    ("three.proxy.test", 3, {"proxy_all": "server", "bypass_all": "server"}),
]
# Names the test's name server answers (first label: "two" -> 127.0.0.2,
# "three" -> 127.0.0.3): ssring's local only.
NAMES = [
    ("two.bypass.test", 2, {"proxy_all": "direct", "bypass_all": "direct"}),
    ("two.other.test", 2, {"proxy_all": "direct", "bypass_all": "direct"}),
    ("three.other.test", 3, {"proxy_all": "server", "bypass_all": "server"}),
    ("three.bypass.test", 3, {"proxy_all": "direct", "bypass_all": "server"}),
]


def test_names(label, qtype):
    """A for names whose first label is "two"/"three"; else NXDOMAIN."""
    ip = {"two": "127.0.0.2", "three": "127.0.0.3"}.get(label)
    return ip if ip and qtype == 1 else (0 if ip else 3)


UDP_CASES = [
    ("127.0.0.2", 2, {"proxy_all": "direct", "bypass_all": "direct"}),
    ("127.0.0.3", 3, {"proxy_all": "server", "bypass_all": "server"}),
    ("two.bypass.test", 2, {"proxy_all": "direct", "bypass_all": "direct"}),
    ("three.other.test", 3, {"proxy_all": "server", "bypass_all": "server"}),
    ("two.other.test", 2, {"proxy_all": "direct", "bypass_all": "direct"}),
]


def udp_assocs(mport):
    return h.metric_sample(h.metrics_text(mport), "ssring_udp_associations_total") or 0


def route_of(lport, mport, host, echo):
    """Echo through the SOCKS5 port; "server" if the server saw it."""
    before = h.metric_sample(h.metrics_text(mport), "ssring_tcp_sessions_total") or 0
    payload = h.pattern(5000, seed=len(host))
    got = h.echo_roundtrip(lport, echo.port, payload, host=host)
    h.check(got == payload, "%s: echo differs" % host)
    after = h.metric_sample(h.metrics_text(mport), "ssring_tcp_sessions_total") or 0
    return "server" if after > before else "direct"


def ssring_local(sport, acl_path, dns_port, name):
    lport = h.free_port()
    dns = 'dns = { servers = [ "127.0.0.1:%d" ]; };' % dns_port
    cfg = f"""
workers = 1;
log_level = "debug";
{dns}
locals = ( {{ listen = "127.0.0.1:{lport}"; server = "127.0.0.1:{sport}";
             method = "{M}"; password = "{PW}"; acl = "{acl_path}"; }} );
"""
    return h.start_ssring(cfg, lport, name), lport


def main():
    ns, nx = h.DnsResponder(test_names), h.DnsResponder(lambda label, qtype: 3)
    echo = {i: h.EchoServer("127.0.0.%d" % i) for i in (1, 2, 3)}
    uecho = {i: h.UdpEcho(tag=b"%d:" % i, host="127.0.0.%d" % i) for i in (2, 3)}
    sport, mport = h.free_port(), h.free_port()
    srv = h.start_ssring(f"""
workers = 1;
log_level = "debug";
dns = {{ servers = [ "127.0.0.1:{ns.port}" ]; }};
metrics = {{ listen = "127.0.0.1:{mport}"; }};
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "{M}"; password = "{PW}";
             allow_private = true; udp = true; }} );
""", sport, "server")
    for mode, text in ACLS.items():
        path = os.path.join(h.tmpdir(), mode + ".acl")
        with open(path, "w") as f:
            f.write(text)
        # ssring's local with a name server that knows none of the .test
        # names (as the machine's resolver libev uses), and libev's.
        loc, lport = ssring_local(sport, path, nx.port, "local-" + mode)
        libev_port = h.free_port()
        libev = h.Proc(["ss-local", "-s", "127.0.0.1", "-p", str(sport), "-l",
                        str(libev_port), "-b", "127.0.0.1", "-k", PW, "-m", M, "-t", "30",
                        "--acl", path], "ss-local-" + mode)
        h.check(h.wait_port(libev_port, libev.p), "ss-local did not come up")
        for host, e, want in COMMON:
            ours = route_of(lport, mport, host, echo[e])
            theirs = route_of(libev_port, mport, host, echo[e])
            print("%-10s %-18s ssring %-6s libev %-6s (expected %s)"
                  % (mode, host, ours, theirs, want[mode]), flush=True)
            h.check(theirs == want[mode], "%s %s: libev went %s, expected %s"
                    % (mode, host, theirs, want[mode]))
            h.check(ours == theirs, "%s %s: ssring went %s, libev %s" % (mode, host, ours, theirs))
        libev.stop()
        # A name listed to bypass that does not resolve here is proxied, as
        # libev does (the server resolves it with its own name server).
        if mode == "proxy_all":
            route = route_of(lport, mport, "two.bypass.test", echo[2])
            print("%-10s %-18s ssring %-6s (unresolvable here; expected server)"
                  % (mode, "two.bypass.test", route), flush=True)
            h.check(route == "server", "an unresolvable bypass-listed name went %s" % route)
        h.check(loc.stop() == 0, "local exit code")
        # ssring's local with the name server that answers the .test names.
        loc, lport = ssring_local(sport, path, ns.port, "local-dns-" + mode)
        for host, e, want in NAMES:
            ours = route_of(lport, mport, host, echo[e])
            print("%-10s %-18s ssring %-6s (expected %s)" % (mode, host, ours, want[mode]),
                  flush=True)
            h.check(ours == want[mode], "%s %s: went %s, expected %s"
                    % (mode, host, ours, want[mode]))
        # UDP follows the ACL too (shadowsocks-libev's UDP relay ignores it;
        # shadowsocks-rust's follows it): one SOCKS5 association, datagrams
        # to each target; the server makes an association only for the
        # first one that goes through it.
        u = h.Socks5Udp(lport)
        for host, e, want in UDP_CASES:
            before = udp_assocs(mport)
            back = None
            for _ in range(10):  # a name's first datagram waits for its address
                u.send(host, uecho[e].port, b"udp to " + host.encode())
                try:
                    _, back = u.recv(timeout=0.5)
                    break
                except socket.timeout:
                    continue
            h.check(back == uecho[e].tag + b"udp to " + host.encode(),
                    "%s %s: UDP echo %r" % (mode, host, back))
            route = "server" if udp_assocs(mport) > before else "direct"
            if route == "server":
                u.close()  # a new association: the next proxied one counts again
                u = h.Socks5Udp(lport)
            print("%-10s %-18s UDP    %-6s (expected %s)" % (mode, host, route, want[mode]),
                  flush=True)
            h.check(route == want[mode], "%s %s: UDP went %s, expected %s"
                    % (mode, host, route, want[mode]))
        u.close()
        h.check(loc.stop() == 0, "local exit code")
        # A tunnel: its forward target decides once.
        for e, want in ((2, "direct"), (3, "server")):
            tport = h.free_port()
            tun = h.start_ssring(f"""
workers = 1;
log_level = "debug";
tunnels = ( {{ listen = "127.0.0.1:{tport}"; forward = "127.0.0.{e}:{echo[e].port}";
              server = "127.0.0.1:{sport}"; method = "{M}"; password = "{PW}";
              udp = false; acl = "{path}"; }} );
""", tport, "tunnel-%s-%d" % (mode, e))
            before = h.metric_sample(h.metrics_text(mport), "ssring_tcp_sessions_total") or 0
            s = socket.create_connection(("127.0.0.1", tport), timeout=10)
            s.sendall(b"tunnel " + mode.encode())
            s.shutdown(socket.SHUT_WR)
            got = h.recv_all(s)
            s.close()
            after = h.metric_sample(h.metrics_text(mport), "ssring_tcp_sessions_total") or 0
            route = "server" if after > before else "direct"
            h.check(got == b"tunnel " + mode.encode(), "tunnel echo: %r" % got)
            print("%-10s tunnel to 127.0.0.%d  %s (expected %s)" % (mode, e, route, want),
                  flush=True)
            h.check(route == want, "tunnel to 127.0.0.%d went %s" % (e, route))
            h.check(tun.stop() == 0, "tunnel exit code")
    h.check(srv.stop() == 0, "server exit code")
    print("test_acl_local: ok")


if __name__ == "__main__":
    main()
