# SPDX-License-Identifier: MIT
"""Method none (alias plain; shadowsocks-rust's and go-shadowsocks2's): no
cipher, the ss address header and the payload as they are. An ssring local
and a tunnel in front of an ssring server with none, TCP and UDP,
byte-exact; the wire checked by hand (TCP: header | data, no salt, no
chunks; UDP: header | payload in one datagram, both ways); a connection
whose header is bad gets the probe policy; the warning at start; the
configuration refusals with their lines; plain HTTP, CONNECT and SOCKS4
through the local; a none upstream and its active check; shadowsocks-libev's
ss-server, which has no none, noted."""
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402


def wire_tcp(sport, echo):
    """A hand-made none request: the header and the data, answered in clear."""
    s = socket.create_connection(("127.0.0.1", sport), timeout=15)
    data = h.pattern(70000, seed=3)
    s.sendall(h.socks_addr("127.0.0.1", echo.port) + data[:10])
    s.sendall(data[10:])
    got = h.recv_exact(s, len(data))
    s.close()
    h.check(got == data, "none TCP by hand: %d of %d bytes back" % (len(got), len(data)))
    # The header split over two writes.
    s = socket.create_connection(("127.0.0.1", sport), timeout=15)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    hdr = h.socks_addr("127.0.0.1", echo.port)
    s.sendall(hdr[:3])
    time.sleep(0.2)
    s.sendall(hdr[3:] + b"split")
    h.check(h.recv_exact(s, 5) == b"split", "none TCP: a header split over two receives")
    s.close()


def wire_udp(sport, uecho):
    s = h.udp_socket()
    s.sendto(h.socks_addr("127.0.0.1", uecho.port) + b"plain datagram", ("127.0.0.1", sport))
    d, _ = s.recvfrom(70000)
    addr, end = h.parse_socks_addr(d)
    h.check(addr == ("127.0.0.1", uecho.port) and d[end:] == uecho.tag + b"plain datagram",
            "none UDP by hand: %r" % d[:40])
    # A datagram without a valid header: dropped without an answer.
    s.sendto(b"\x09junk", ("127.0.0.1", sport))
    h.check(h.no_datagram(s, 0.5), "none UDP: a bad header was answered")
    s.close()


def bad_header(sport):
    """No key to fail: a bad address header is what meets the probe policy
    (close: FIN at accept + timeouts.handshake, nothing sent back)."""
    s = socket.create_connection(("127.0.0.1", sport), timeout=15)
    t0 = time.monotonic()
    s.sendall(b"\x09" + b"x" * 50)
    got = h.recv_all(s)
    took = time.monotonic() - t0
    h.check(got == b"" and took >= 0.8, "bad header: %r after %.2f s" % (got[:20], took))


def refusals(sport):
    # (text, the line the message must name, counted in text, what it says)
    cases = [
        ('servers = ( { listen = "0.0.0.0:%d";\n  method = "none"; } );\n' % sport, 2,
         "outside loopback"),
        ('servers = ( { listen = "127.0.0.1:%d"; method = "none";\n'
         '  password = "x"; } );\n' % sport, 2, "takes no password or key"),
        ('servers = ( { listen = "127.0.0.1:%d"; method = "plain";\n'
         '  users = ( { name = "a"; password = "b"; } ); } );\n' % sport, 2, "users"),
        ('locals = ( { listen = "127.0.0.1:%d"; server = "127.0.0.1:1";\n'
         '  method = "none";\n'
         '  key = "AAECAwQFBgcICQoLDA0ODw==:AAECAwQFBgcICQoLDA0ODw=="; } );\n' % sport, 3,
         "identity keys"),
        ('servers = ( { listen = "127.0.0.1:%d"; method = "aes-128-gcm"; password = "x";\n'
         '  allow_plaintext = true; } );\n' % sport, 2, 'only with method = "none"'),
    ]
    for i, (text, line, what) in enumerate(cases):
        path = h.write_config(h.NO_DNS + "\n" + text, "refuse%d.cfg" % i)
        r = subprocess.run([h.BIN, "--check", "-f", path], capture_output=True, text=True,
                           timeout=30)
        want = "%s:%d:" % (path, line + 1)  # NO_DNS is line 1
        h.check(r.returncode != 0 and want in r.stderr and what in r.stderr,
                "refusal %d: exit %d, %r (want %s and %r)" % (i, r.returncode, r.stderr, want,
                                                              what))
    # With a plugin or allow_plaintext, outside loopback is accepted.
    path = h.write_config(h.NO_DNS + '\nservers = ( { listen = "0.0.0.0:%d"; method = "none";'
                          ' allow_plaintext = true; } );\n' % sport, "accept.cfg")
    r = subprocess.run([h.BIN, "--check", "-f", path], capture_output=True, text=True,
                       timeout=30)
    h.check(r.returncode == 0, "allow_plaintext = true refused: %r" % r.stderr)


def curl_through(lport, web, page):
    """The local's other front ends over none: plain HTTP (its requests
    rewritten, later outputs copied where they would be sealed), CONNECT,
    SOCKS4."""
    url = "http://127.0.0.1:%d/page.bin" % web.port
    proxy = "127.0.0.1:%d" % lport
    for args, what in ((["-x", "http://" + proxy], "plain HTTP"),
                       (["-x", "http://" + proxy, "--proxytunnel"], "HTTP CONNECT"),
                       (["--socks4", proxy], "SOCKS4")):
        out = subprocess.run(["curl", "-sS", "--max-time", "30", *args, url, url],
                             capture_output=True, timeout=60)
        h.check(out.returncode == 0 and out.stdout == page + page,
                "none, %s: curl %d, %d bytes: %s" % (what, out.returncode, len(out.stdout),
                                                      out.stderr.decode()[-300:]))


def upstream_check(sport, echo):
    """A none upstream among upstreams, and its active check (upcheck.c),
    whose answer is read in clear."""
    lport = h.free_port()
    pr = h.start_ssring(f"""
workers = 1;
log_level = "debug";
{h.NO_DNS}
locals = ( {{ listen = "127.0.0.1:{lport}";
            upstreams = ( {{ server = "127.0.0.1:{sport}"; method = "none"; }} );
            upstream_check = {{ target = "127.0.0.1:{echo.port}"; request = "ping";
                                interval = 1; }}; }} );
""", lport, "local-upstreams")
    h.check(h.wait_until(lambda: "passed its check" in pr.output(), timeout=15),
            "the none upstream's check did not pass:\n" + pr.output()[-1500:])
    got = h.echo_roundtrip(lport, echo.port, b"through the upstream")
    h.check(got == b"through the upstream", "none upstream: %r" % got)
    pr.stop()


def libev_none():
    """shadowsocks-libev has no none (its AEAD builds have only ciphers)."""
    if not shutil.which("ss-server"):
        return "not installed"
    port = h.free_port()
    r = subprocess.run(["ss-server", "-s", "127.0.0.1", "-p", str(port), "-k", "x", "-m",
                        "none"], capture_output=True, text=True, timeout=10)
    if r.returncode != 0 and "invalid cipher" in (r.stdout + r.stderr):
        return "refuses -m none (invalid cipher name), as expected"
    h.fail("ss-server -m none: exit %d, %r: it has a none now? test interop" %
           (r.returncode, (r.stdout + r.stderr)[-300:]))


def main():
    echo, uecho = h.EchoServer(), h.UdpEcho(tag=b"E:")
    web, page = h.serve_page(200000, seed=5)
    sport, lport, tport, uport = (h.free_port() for _ in range(4))
    srv = h.start_ssring(f"""
workers = 2;
log_level = "debug";
{h.NO_DNS}
timeouts = {{ handshake = 1; }};
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "none"; allow_private = true;
             probe = "close"; }} );
""", sport, "server")
    h.check(h.wait_until(lambda: "method none: no encryption" in srv.output()),
            "no warning at start:\n" + srv.output()[-1500:])
    loc = h.start_ssring(f"""
workers = 2;
log_level = "debug";
{h.NO_DNS}
locals = ( {{ listen = "127.0.0.1:{lport}"; server = "127.0.0.1:{sport}"; method = "plain"; }} );
tunnels = ( {{ listen = "127.0.0.1:{tport}"; server = "127.0.0.1:{sport}"; method = "none";
              forward = "127.0.0.1:{echo.port}"; udp = false; }},
            {{ listen = "127.0.0.1:{uport}"; server = "127.0.0.1:{sport}"; method = "none";
              forward = "127.0.0.1:{uecho.port}"; tcp = false; }} );
""", lport, "local")
    h.check(h.wait_until(lambda: "method none: what it sends" in loc.output()),
            "no warning at the local's start")

    # Local: SOCKS5 TCP (4 MiB) and UDP ASSOCIATE, byte-exact.
    h.echo_tcp_udp(lport, echo, uecho, "local none", n=4 << 20)
    # Tunnel: TCP and UDP.
    s = socket.create_connection(("127.0.0.1", tport), timeout=15)
    data = h.pattern(1 << 20, seed=7)
    s.sendall(data)
    h.check(h.recv_exact(s, len(data)) == data, "tunnel none: TCP not byte-exact")
    s.close()
    u = h.udp_socket()
    u.sendto(b"tunnel datagram", ("127.0.0.1", uport))
    d, _ = u.recvfrom(70000)
    h.check(d == b"E:tunnel datagram", "tunnel none: UDP %r" % d)
    u.close()
    if shutil.which("curl"):
        curl_through(lport, web, page)
    print("ok: local (SOCKS5 TCP 4 MiB, UDP, plain HTTP, CONNECT, SOCKS4) and tunnel (TCP, "
          "UDP) through a none server", flush=True)

    upstream_check(sport, echo)
    print("ok: a none upstream and its check", flush=True)
    wire_tcp(sport, echo)
    wire_udp(sport, uecho)
    print("ok: the wire is the address header and the data (TCP, UDP)", flush=True)
    bad_header(sport)
    print("ok: a bad header meets the probe policy", flush=True)
    refusals(sport)
    print("ok: configuration refusals name their lines", flush=True)
    print("note: shadowsocks-libev: " + libev_none(), flush=True)
    srv.check_sanitizers()
    loc.check_sanitizers()
    print("PASS")


if __name__ == "__main__":
    main()
