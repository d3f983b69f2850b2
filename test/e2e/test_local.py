# SPDX-License-Identifier: MIT
"""ssring local role (SOCKS5 + HTTP proxy on one port) and TCP tunnels,
against shadowsocks-libev's ss-server and against ssring's own server."""
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

PW = "local-test-pw"
BIG = int(os.environ.get("SSRING_BIG_BYTES", 64 << 20))


def curl(args, want, what):
    out = subprocess.run(["curl", "-sS", "--max-time", "30", *args], capture_output=True,
                         timeout=60)
    h.check(out.returncode == 0, "%s: curl failed: %s" % (what, out.stderr.decode()))
    h.check(out.stdout == want, "%s: body differs (%d bytes)" % (what, len(out.stdout)))


def curl_all(lport, web, page, what):
    url = "http://127.0.0.1:%d/page.bin" % web.port
    proxy = "127.0.0.1:%d" % lport
    curl(["--socks5-hostname", proxy, url], page, what + " socks5-hostname")
    curl(["--socks5", proxy, url], page, what + " socks5")
    curl(["-x", "http://" + proxy, url], page, what + " http proxy")
    curl(["-x", "http://" + proxy, "--proxytunnel", url], page, what + " http CONNECT")


def concurrent(lport, echo_port, n):
    errors, socks = [], []
    for i in range(n):
        socks.append(h.socks5_connect(lport, "127.0.0.1", echo_port))

    def run(i):
        try:
            data = h.pattern(1000 + i, seed=i)
            socks[i].sendall(data)
            if h.recv_exact(socks[i], len(data)) != data:
                errors.append(i)
            socks[i].close()
        except OSError as e:
            errors.append((i, e))

    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    h.check(not errors, "concurrent: %r" % errors[:5])


def half_close(lport, echo_port):
    data = h.pattern(300000, seed=9)
    s = h.socks5_connect(lport, "127.0.0.1", echo_port)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = h.recv_all(s)
    s.close()
    h.check(got == data, "half-close: %d bytes back, want %d then EOF" % (len(got), len(data)))


def socks_errors(lport):
    # BIND -> 07, then close.
    s = socket.create_connection(("127.0.0.1", lport), timeout=10)
    h.check(h.socks5_handshake(s) == 0, "greeting")
    s.sendall(b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50")
    rep = h.recv_exact(s, 10)
    h.check(rep[:2] == b"\x05\x07", "BIND must get 07, got %r" % rep)
    h.check(h.recv_all(s) == b"", "close after 07")
    # Unknown ATYP -> 08.
    s = socket.create_connection(("127.0.0.1", lport), timeout=10)
    h.socks5_handshake(s)
    s.sendall(b"\x05\x01\x00\x09\x00\x00")
    rep = h.recv_exact(s, 10)
    h.check(rep[:2] == b"\x05\x08", "bad ATYP must get 08, got %r" % rep)
    # Bad version byte (04 is SOCKS4's, test_local_socks4): closed without a reply.
    s = socket.create_connection(("127.0.0.1", lport), timeout=10)
    s.sendall(b"\x06\x01\x00\x50\x7f\x00\x00\x01\x00")
    h.check(h.recv_all(s) == b"", "bad version must close silently")
    # Malformed HTTP -> 400.
    s = socket.create_connection(("127.0.0.1", lport), timeout=10)
    s.sendall(b"GET /relative HTTP/1.1\r\nHost: x\r\n\r\n")
    got = h.recv_all(s)
    h.check(got.startswith(b"HTTP/1.1 400"), "malformed HTTP must get 400, got %r" % got[:40])


def socks_auth(sport, echo_port):
    lport = h.free_port()
    srv = h.start_ssring(h.local_cfg(lport, sport, "aes-256-gcm", PW,
                                     users=[("alice", "wonderland"), ("bob", "builder")]),
                         lport, "local-auth")
    s = socket.create_connection(("127.0.0.1", lport), timeout=10)
    h.check(h.socks5_handshake(s) == 0xFF, "no-auth offer must be refused with FF")
    h.check(h.recv_all(s) == b"", "close after FF")
    s = socket.create_connection(("127.0.0.1", lport), timeout=10)
    r = h.socks5_handshake(s, "alice", "wrong")
    h.check(isinstance(r, tuple) and r[1][0] == 1 and r[1][1] != 0, "wrong password: %r" % (r,))
    h.check(h.recv_all(s) == b"", "close after auth failure")
    s = socket.create_connection(("127.0.0.1", lport), timeout=10)
    h.check(h.socks5_handshake(s, "bob", "builder") == 2, "right password")
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", echo_port))
    h.check(h.recv_exact(s, 10)[:2] == b"\x05\x00", "connect after auth")
    s.sendall(b"authed")
    h.check(h.recv_exact(s, 6) == b"authed", "echo after auth")
    s.close()
    h.check(srv.stop() == 0, "exit code")


def keep_alive(lport, web):
    """Two requests on one proxy connection, same host: both answered."""
    s = socket.create_connection(("127.0.0.1", lport), timeout=10)
    f = s.makefile("rb")
    for name in ("a.txt", "b.txt"):
        s.sendall(("GET http://127.0.0.1:%d/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                   "Proxy-Connection: keep-alive\r\n\r\n" % (web.port, name, web.port)).encode())
        status = f.readline()
        h.check(status.startswith(b"HTTP/1.1 200"), "keep-alive %s: %r" % (name, status))
        length = 0
        while True:
            line = f.readline().strip()
            if not line:
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = f.read(length)
        h.check(body == (name * 3).encode(), "keep-alive body %s: %r" % (name, body))
    s.close()


def tunnel(sport, method, echo):
    tport = h.free_port()
    cfg = f"""workers = 1; log_level = "debug";
tunnels = ( {{ listen = "127.0.0.1:{tport}"; forward = "127.0.0.1:{echo.port}";
  server = "127.0.0.1:{sport}"; method = "{method}"; password = "{PW}"; udp = false; }} );"""
    t = h.start_ssring(cfg, tport, "tunnel-" + method)
    s = socket.create_connection(("127.0.0.1", tport), timeout=10)
    data = h.pattern(100000, seed=4)
    s.sendall(data)
    h.check(h.recv_exact(s, len(data)) == data, method + ": tunnel echo")
    s.close()
    h.check(t.stop() == 0, "tunnel exit code")


def server_dies(echo):
    """Kill the ss server mid-transfer: the client connection is closed, and
    the local keeps serving once a server is back."""
    sport, lport = h.free_port(), h.free_port()
    srv = h.start_ssring(h.server_cfg(sport, "aes-256-gcm", PW), sport, "dying-server")
    loc = h.start_ssring(h.local_cfg(lport, sport, "aes-256-gcm", PW), lport, "local-survivor")
    s = h.socks5_connect(lport, "127.0.0.1", echo.port)
    s.sendall(b"x" * 100000)
    h.recv_exact(s, 1000)
    srv.p.kill()
    srv.p.wait()
    s.settimeout(10)
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        pass
    s.close()
    # A killed io_uring process's listener can outlive it for a moment (the
    # kernel tears the ring down after the exit): connections hashed to it
    # by SO_REUSEPORT would be reset. Restart once it is gone.
    h.check(h.wait_until(lambda: not h.tcp_listening(sport)), "killed server's port released")
    # The local still answers, and relays again once a server is back.
    srv2 = h.start_ssring(h.server_cfg(sport, "aes-256-gcm", PW), sport, "server-again")
    h.check(h.echo_roundtrip(lport, echo.port, b"after") == b"after", "local after server restart")
    h.check(loc.p.poll() is None, "local died")
    srv2.stop()
    h.check(loc.stop() == 0, "local exit code")


def main():
    echo = h.EchoServer()
    page = h.pattern(500000, seed=8)
    with open(os.path.join(h.tmpdir(), "page.bin"), "wb") as f:
        f.write(page)
    for name in ("a.txt", "b.txt"):
        with open(os.path.join(h.tmpdir(), name), "w") as f:
            f.write(name * 3)
    web = h.HttpServer(h.tmpdir())
    big = h.pattern(BIG, seed=3)
    # ssring local -> shadowsocks-libev ss-server, every cipher.
    for method in h.CIPHERS:
        t0 = time.time()
        ss, sport = h.start_ss_server(method, PW, "ss-server-" + method)
        lport = h.free_port()
        loc = h.start_ssring(h.local_cfg(lport, sport, method, PW, workers=2), lport, "local-" + method)
        curl_all(lport, web, page, method)
        h.check(h.echo_roundtrip(lport, echo.port, big) == big, method + ": big echo via libev")
        concurrent(lport, echo.port, 100)
        tunnel(sport, method, echo)
        h.check(loc.stop() == 0, "local exit code")
        ss.stop()
        print("%-24s local->ss-server ok (%.1fs)" % (method, time.time() - t0), flush=True)
    # ssring local -> ssring server.
    for method in h.CIPHERS:
        t0 = time.time()
        sport, lport = h.free_port(), h.free_port()
        srv = h.start_ssring(h.server_cfg(sport, method, PW, workers=2, top=h.BURSTY), sport,
                             "server-" + method)
        loc = h.start_ssring(h.local_cfg(lport, sport, method, PW, workers=2), lport, "local2-" + method)
        curl_all(lport, web, page, method + " (ssring server)")
        h.check(h.echo_roundtrip(lport, echo.port, big) == big, method + ": big echo")
        half_close(lport, echo.port)
        tunnel(sport, method, echo)
        if method == "aes-256-gcm":
            concurrent(lport, echo.port, 500)
            socks_errors(lport)
            keep_alive(lport, web)
            socks_auth(sport, echo.port)
        h.check(loc.stop() == 0, "local exit code")
        h.check(srv.stop() == 0, "server exit code")
        print("%-24s local->ssring ok (%.1fs)" % (method, time.time() - t0), flush=True)
    server_dies(echo)
    print("test_local: ok")


if __name__ == "__main__":
    main()
