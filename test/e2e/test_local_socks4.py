# SPDX-License-Identifier: MIT
"""SOCKS4 and SOCKS4a on a local's port (src/relay/socks4.c): curl --socks4
and --socks4a through an ssring server (4a's name resolved by the server,
against a name server of the test's own) and through shadowsocks-libev's
ss-server; a hand-written client for the edges: an empty user id, a 255-byte
name (256 is refused), BIND (91), a truncated request then close, a request
sent byte by byte, data sent before the reply, a local with users (93), a
server that cannot be reached (91)."""
import os
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

METHOD = "aes-256-gcm"
PW = "socks4-test-pw"
NAME = "s4name.example"


def curl(args, want, what):
    out = subprocess.run(["curl", "-sS", "--max-time", "30", *args], capture_output=True,
                         timeout=60)
    h.check(out.returncode == 0, "%s: curl failed: %s" % (what, out.stderr.decode()))
    h.check(out.stdout == want, "%s: body differs (%d bytes)" % (what, len(out.stdout)))


def request(port, cmd=1, ip="127.0.0.1", user=b"", host=None):
    """VN 04 | CD | DSTPORT | DSTIP | USERID 00 [| HOST 00] (4a when host)."""
    dst = bytes([0, 0, 0, 1]) if host is not None else socket.inet_aton(ip)
    r = bytes([4, cmd]) + struct.pack(">H", port) + dst + user + b"\0"
    return r + (host + b"\0" if host is not None else b"")


def reply(s):
    r = h.recv_exact(s, 8)
    h.check(len(r) == 8 and r[0] == 0, "SOCKS4 reply %r" % r)
    return r[1]


def connect(lport, req, first=b""):
    s = socket.create_connection(("127.0.0.1", lport), timeout=15)
    s.sendall(req + first)
    return s


def echo_through(lport, req, what, n=100000):
    s = connect(lport, req)
    code = reply(s)
    h.check(code == 90, "%s: reply %d, want 90" % (what, code))
    data = h.pattern(n, seed=n)
    s.sendall(data)
    got = h.recv_exact(s, len(data))
    s.close()
    h.check(got == data, "%s: echo is not byte-exact (%d of %d)" % (what, len(got), n))


def edges(lport, echo, ulport, dead_lport):
    # An empty user id, and one the local ignores.
    echo_through(lport, request(echo.port), "empty user id")
    echo_through(lport, request(echo.port, user=b"someone"), "a user id")
    # 4a, a name the test's name server answers, resolved by the server.
    echo_through(lport, request(echo.port, user=b"u", host=NAME.encode()), "4a name")
    # Sent a byte at a time: the parser waits for the rest.
    req = request(echo.port, user=b"slow", host=NAME.encode())
    s = socket.create_connection(("127.0.0.1", lport), timeout=15)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for b in req:
        s.send(bytes([b]))
        time.sleep(0.005)
    h.check(reply(s) == 90, "byte by byte: not granted")
    s.sendall(b"split")
    h.check(h.recv_exact(s, 5) == b"split", "byte by byte: no echo")
    s.close()
    # Data sent right behind the request, before the reply: it goes first.
    s = connect(lport, request(echo.port), b"early bytes")
    h.check(reply(s) == 90, "early data: not granted")
    h.check(h.recv_exact(s, 11) == b"early bytes", "early data: not relayed")
    s.close()
    # The longest name (255 bytes) is taken: granted (the ss stream is up),
    # then the server, which cannot resolve it, ends the connection.
    long_name = b".".join([b"a" * 63] * 4)
    h.check(len(long_name) == 255, "255-byte name")
    s = connect(lport, request(echo.port, host=long_name))
    h.check(reply(s) == 90, "255-byte name: not granted")
    h.check(h.recv_all(s) == b"", "255-byte name: no close")
    # One byte more: 91, then close.
    s = connect(lport, request(echo.port, host=long_name + b"b"))
    h.check(reply(s) == 91, "256-byte name: not refused with 91")
    h.check(h.recv_all(s) == b"", "256-byte name: not closed")
    # A 256-byte user id.
    s = connect(lport, request(echo.port, user=b"u" * 256))
    h.check(reply(s) == 91, "256-byte user id: not refused with 91")
    # An empty 4a name.
    s = connect(lport, request(echo.port, host=b""))
    h.check(reply(s) == 91, "empty 4a name: not refused with 91")
    # BIND: 91, then close.
    s = connect(lport, request(echo.port, cmd=2))
    h.check(reply(s) == 91, "BIND: not refused with 91")
    h.check(h.recv_all(s) == b"", "BIND: not closed after 91")
    # A truncated request, then close: no reply, and the local goes on.
    s = connect(lport, request(echo.port, user=b"half")[:10])
    s.shutdown(socket.SHUT_WR)
    h.check(h.recv_all(s) == b"", "truncated request: something came back")
    echo_through(lport, request(echo.port), "after a truncated request", n=1000)
    # A local with users: SOCKS4 has no password, so it is refused (93).
    s = connect(ulport, request(echo.port, user=b"alice"))
    h.check(reply(s) == 93, "local with users: not refused with 93")
    h.check(h.recv_all(s) == b"", "local with users: not closed after 93")
    # The server cannot be reached: 91.
    s = connect(dead_lport, request(echo.port))
    h.check(reply(s) == 91, "unreachable server: not 91")


def main():
    h.need_tool("curl")
    echo = h.EchoServer()
    web, page = h.serve_page(300000, seed=4)
    ns = h.DnsResponder(lambda label, qtype: ("127.0.0.1" if qtype == 1 else 0)
                        if label == "s4name" else 3)

    sport, lport, ulport, dead_lport = (h.free_port() for _ in range(4))
    h.start_ssring(f"""
workers = 2;
log_level = "debug";
dns = {{ servers = [ "127.0.0.1:{ns.port}" ]; }};
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "{METHOD}"; password = "{PW}";
             allow_private = true; }} );
""", sport, "server")
    # The locals ask nobody: a 4a name is resolved by the server alone.
    dead = h.free_port()
    h.start_ssring(f"""
workers = 2;
log_level = "debug";
{h.NO_DNS}
locals = ( {{ listen = "127.0.0.1:{lport}"; server = "127.0.0.1:{sport}";
            method = "{METHOD}"; password = "{PW}"; }},
          {{ listen = "127.0.0.1:{ulport}"; server = "127.0.0.1:{sport}";
            method = "{METHOD}"; password = "{PW}";
            users = ( {{ name = "alice"; password = "pw"; }} ); }},
          {{ listen = "127.0.0.1:{dead_lport}"; server = "127.0.0.1:{dead}";
            method = "{METHOD}"; password = "{PW}"; }} );
""", lport, "local")

    proxy = "127.0.0.1:%d" % lport
    curl(["--socks4", proxy, "http://127.0.0.1:%d/page.bin" % web.port], page, "curl --socks4")
    curl(["--socks4a", proxy, "http://%s:%d/page.bin" % (NAME, web.port)], page,
         "curl --socks4a")
    print("ok: curl --socks4 and --socks4a through an ssring server", flush=True)
    edges(lport, echo, ulport, dead_lport)
    print("ok: SOCKS4 edges (user ids, 255/256-byte names, BIND 91, truncated, byte by "
          "byte, early data, users 93, unreachable 91)", flush=True)

    # Interop: the same local in front of shadowsocks-libev's ss-server. Its
    # resolver is the system's: a 4a name it knows is localhost.
    _, libev = h.start_ss_server(METHOD, PW)
    l2 = h.free_port()
    h.start_ssring(h.local_cfg(l2, libev, METHOD, PW), l2, "local-libev")
    proxy = "127.0.0.1:%d" % l2
    curl(["--socks4", proxy, "http://127.0.0.1:%d/page.bin" % web.port], page,
         "libev: curl --socks4")
    curl(["--socks4a", proxy, "http://localhost:%d/page.bin" % web.port], page,
         "libev: curl --socks4a")
    echo_through(l2, request(echo.port, user=b"x", host=b"localhost"), "libev: 4a")
    print("ok: curl --socks4 and --socks4a through shadowsocks-libev's ss-server", flush=True)
    print("PASS")


if __name__ == "__main__":
    main()
