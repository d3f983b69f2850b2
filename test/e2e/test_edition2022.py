# SPDX-License-Identifier: MIT
"""Shadowsocks 2022 edition, TCP, ssring <-> ssring (no second implementation
of the 2022 edition is installable here; the byte layouts are anchored by the
known-answer vectors in test/unit/proto/test_ss2022.c): local -> server and
tunnel -> server for all three methods, identity headers with two users,
replay and probe absorption."""
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

METHODS = ["2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm", "2022-blake3-chacha20-poly1305"]


def genkey(method):
    r = subprocess.run([h.BIN, "genkey", method], capture_output=True, text=True, timeout=10)
    h.check(r.returncode == 0 and len(r.stdout.strip()) in (24, 44), "genkey: %r" % r.stdout)
    return r.stdout.strip()


def server_cfg(port, method, key, users=""):
    return f"""workers = 2; log_level = "debug"; {h.NO_DNS}
servers = ( {{ listen = "127.0.0.1:{port}"; method = "{method}"; key = "{key}";
             allow_private = true; udp = true; {users} }} );
"""


def local_cfg(lport, sport, method, key, tport=None, fwd=None):
    t = ""
    if tport:
        t = f"""tunnels = ( {{ listen = "127.0.0.1:{tport}"; forward = "127.0.0.1:{fwd}";
  server = "127.0.0.1:{sport}"; method = "{method}"; key = "{key}"; udp = true; }} );"""
    return f"""workers = 1; log_level = "debug"; {h.NO_DNS}
locals = ( {{ listen = "127.0.0.1:{lport}"; server = "127.0.0.1:{sport}";
            method = "{method}"; key = "{key}"; udp = true; }} );
{t}
"""


def udp_checks(lport, tport, uecho, method, what=""):
    """SOCKS5 UDP through the local, and the UDP half of the tunnel."""
    c = h.Socks5Udp(lport)
    for n in (1, 1400, 65000):
        data = h.pattern(n, seed=n)
        got = None
        for _ in range(3):
            c.send("127.0.0.1", uecho.port, data)
            try:
                got = c.recv()
                break
            except OSError:
                continue
        h.check(got is not None and got[1] == data and got[0][1] == uecho.port,
                "%s%s: UDP %d bytes through the local" % (method, what, n))
    c.close()
    if tport:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(2)
        u.sendto(b"via the tunnel", ("127.0.0.1", tport))
        h.check(u.recvfrom(70000)[0] == b"via the tunnel", method + ": UDP tunnel")
        u.close()


def relay_checks(lport, tport, echo, method):
    small = b"ss2022 " * 20
    h.check(h.echo_roundtrip(lport, echo.port, small) == small, method + ": small echo")
    big = h.pattern(8 << 20, seed=22)
    h.check(h.echo_roundtrip(lport, echo.port, big) == big, method + ": 8 MiB echo")
    # Half-close: the echo still arrives, then EOF.
    s = h.socks5_connect(lport, "127.0.0.1", echo.port)
    data = h.pattern(200000, seed=23)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    h.check(h.recv_all(s) == data, method + ": half-close")
    s.close()
    # The tunnel.
    s = socket.create_connection(("127.0.0.1", tport), timeout=10)
    s.sendall(big[:100000])
    h.check(h.recv_exact(s, 100000) == big[:100000], method + ": tunnel")
    s.close()


class Recorder:
    """Pretends to be an ss server: records the first request it gets."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.data = b""
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        c, _ = self.sock.accept()
        c.settimeout(2)
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                self.data += b
        except OSError:
            pass
        c.close()


def replay_and_probe(method, key, echo):
    """A captured request works once; replayed, it is absorbed (no reply)."""
    sport = h.free_port()
    srv = h.start_ssring(server_cfg(sport, method, key), sport, "replay-" + method)
    rec = Recorder()
    lport = h.free_port()
    loc = h.start_ssring(local_cfg(lport, rec.port, method, key), lport, "rec-local-" + method)
    s = h.socks5_connect(lport, "127.0.0.1", echo.port)
    s.sendall(b"captured")
    h.wait_until(lambda: len(rec.data) > 32, timeout=5)
    s.close()
    loc.stop()
    h.check(len(rec.data) > 32, "nothing captured")
    s = socket.create_connection(("127.0.0.1", sport), timeout=10)
    s.sendall(rec.data)
    first = s.recv(100)
    h.check(len(first) > 0, method + ": the original request must get a response")
    s.close()
    s = socket.create_connection(("127.0.0.1", sport), timeout=2)
    s.sendall(rec.data)
    try:
        b = s.recv(100)
        h.check(b == b"" and False, method + ": replay answered with %r" % b)
    except socket.timeout:
        pass
    s.close()
    s = socket.create_connection(("127.0.0.1", sport), timeout=2)
    s.sendall(os.urandom(200))
    try:
        b = s.recv(100)
        h.fail(method + ": probe answered with %r" % b)
    except socket.timeout:
        pass
    s.close()
    out = srv.output()
    h.check("replayed salt" in out, method + ": replay must be logged")
    h.check(srv.stop() == 0, "exit code")


def eih(method, echo, uecho):
    """Two users on one port (identity headers): each with its own key."""
    spsk, alice, bob, mallory = (genkey(method) for _ in range(4))
    users = f'users = ( {{ name = "alice"; key = "{alice}"; }}, {{ name = "bob"; key = "{bob}"; }} );'
    sport = h.free_port()
    srv = h.start_ssring(server_cfg(sport, method, spsk, users), sport, "eih-" + method)
    for name, upsk in (("alice", alice), ("bob", bob)):
        lport = h.free_port()
        loc = h.start_ssring(local_cfg(lport, sport, method, spsk + ":" + upsk), lport,
                             "eih-local-" + name)
        data = h.pattern(300000, seed=len(name))
        h.check(h.echo_roundtrip(lport, echo.port, data) == data, method + ": user " + name)
        udp_checks(lport, None, uecho, method, " (user %s)" % name)
        loc.stop()
    lport = h.free_port()
    loc = h.start_ssring(local_cfg(lport, sport, method, spsk + ":" + mallory), lport, "eih-bad")
    s = h.socks5_connect(lport, "127.0.0.1", echo.port)
    s.settimeout(2)
    s.sendall(b"who am i")
    try:
        got = s.recv(10)
    except (socket.timeout, ConnectionResetError):
        got = b""
    h.check(got == b"", method + ": unknown user got %r" % got)
    loc.stop()
    h.wait_log(srv, "unknown identity header", timeout=5)
    out_before_stop = srv.output()
    h.check("unknown identity header" in out_before_stop, method + ": unknown user must be logged")
    h.check(srv.stop() == 0, "exit code")
    out = srv.output()
    h.check("user alice:" in out and "user bob:" in out, method + ": per-user counters:\n" + out[-1500:])


def roaming(echo_udp):
    """A 2022 UDP client that changes its source port keeps its session,
    even when SO_REUSEPORT hands the new port to the other worker: the
    packet is routed to the owning worker (MSG_RING). The client is written
    here for the chacha method (XChaCha20-Poly1305 with the PSK; no BLAKE3
    needed): nonce | seal(sid | pid | 0 | ts | 0000 | addr | payload)."""
    import base64
    import re
    import struct as st
    method = "2022-blake3-chacha20-poly1305"
    key = genkey(method)
    psk = base64.b64decode(key)
    aead = h._XChaCha20Poly1305(psk)
    port = h.free_port()
    srv = h.start_ssring(server_cfg(port, method, key), port, "roaming")
    sid = int.from_bytes(os.urandom(8), "big") | 1
    addr = b"\x01" + socket.inet_aton("127.0.0.1") + st.pack(">H", echo_udp.port)
    server_sids = set()
    for pid in range(1, 25):
        body = (st.pack(">QQ", sid, pid) + b"\x00" + st.pack(">Q", int(time.time())) +
                b"\x00\x00" + addr + b"roam %d" % pid)
        nonce = os.urandom(24)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a new source port each time
        u.settimeout(2)
        u.sendto(nonce + aead.encrypt(nonce, body, None), ("127.0.0.1", port))
        pkt = u.recvfrom(70000)[0]
        u.close()
        plain = aead.decrypt(pkt[:24], pkt[24:], None)
        ssid, spid = st.unpack(">QQ", plain[:16])
        h.check(plain[16] == 1 and st.unpack(">Q", plain[25:33])[0] == sid,
                "roaming: reply must be a server packet for our session")
        h.check(plain.endswith(b"roam %d" % pid), "roaming: payload %d" % pid)
        server_sids.add(ssid)
    h.check(len(server_sids) == 1, "roaming: %d server sessions, want 1" % len(server_sids))
    h.check(srv.stop() == 0, "exit code")
    out = srv.output()
    created = sum(int(m) for m in re.findall(r"(\d+) associations", out))
    handed = sum(int(m) for m in re.findall(r"(\d+) handed to another worker", out))
    h.check(created == 1, "roaming: %d associations created, want 1" % created)
    h.check(handed > 0, "roaming: no packet reached the other worker (24 source ports)")
    print("roaming: 24 source ports, 1 session, %d packets handed between workers" % handed)


def main():
    echo = h.EchoServer()
    uecho = h.UdpEcho()
    # The tunnel forwards TCP and UDP to one address: a UDP echo on the TCP
    # echo's port number too.
    same = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    same.bind(("127.0.0.1", echo.port))

    def echo_same():
        while True:
            d, a = same.recvfrom(70000)
            same.sendto(d, a)

    threading.Thread(target=echo_same, daemon=True).start()
    for method in METHODS:
        t0 = time.time()
        key = genkey(method)
        sport, lport, tport = h.free_port(), h.free_port(), h.free_port()
        srv = h.start_ssring(server_cfg(sport, method, key), sport, "s22-" + method)
        loc = h.start_ssring(local_cfg(lport, sport, method, key, tport, echo.port), lport,
                             "l22-" + method)
        relay_checks(lport, tport, echo, method)
        udp_checks(lport, tport, uecho, method)
        # A wrong key: the client sees nothing, the server logs an auth failure.
        lport2 = h.free_port()
        bad = h.start_ssring(local_cfg(lport2, sport, method, genkey(method)), lport2, "bad-" + method)
        s = h.socks5_connect(lport2, "127.0.0.1", echo.port)
        s.settimeout(2)
        s.sendall(b"x")
        try:
            got = s.recv(10)
        except (socket.timeout, ConnectionResetError):
            got = b""
        h.check(got == b"", method + ": wrong key got data")
        bad.stop()
        h.check(loc.stop() == 0 and srv.stop() == 0, method + ": exit codes")
        h.check("auth failure" in srv.output(), method + ": wrong key must be logged")
        replay_and_probe(method, key, echo)
        if "aes" in method:
            eih(method, echo, uecho)
        print("%-32s ok (%.1fs)" % (method, time.time() - t0), flush=True)
    roaming(uecho)
    print("test_edition2022: ok")


if __name__ == "__main__":
    main()
