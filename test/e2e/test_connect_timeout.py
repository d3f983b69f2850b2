# SPDX-License-Identifier: MIT
"""timeouts.connect: a connect that gets no answer fails after the deadline,
on the local side (the SOCKS5 client hears TTL expired, 0x06) and on the
server side (the session ends, the log says the connect timed out). The
peer that never answers is a loopback listener whose accept queue is full:
the kernel drops further SYNs, so the connect neither succeeds nor is
refused."""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

METHOD = "aes-128-gcm"
PW = "timeout-pw"


def black_hole():
    """A listener that never accepts, its queue already full."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(0)
    port = s.getsockname()[1]
    held = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        held.append(c)
    # Now a new connect hangs: check it before relying on it.
    probe = socket.socket()
    probe.settimeout(0.5)
    try:
        probe.connect(("127.0.0.1", port))
        h.skip("this kernel accepts beyond a full backlog; no black hole on loopback")
    except socket.timeout:
        pass
    finally:
        probe.close()
    return s, held, port


def main():
    hole, held, hport = black_hole()
    sport, lport = h.free_port(), h.free_port()
    cfg = f"""
workers = 1;
log_level = "debug";
{h.NO_DNS}
timeouts = {{ connect = 1; }};
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "{METHOD}"; password = "{PW}";
             allow_private = true; }} );
locals = ( {{ listen = "127.0.0.1:{lport}"; server = "127.0.0.1:{hport}";
             method = "{METHOD}"; password = "{PW}"; }} );
"""
    pr = h.start_ssring(cfg, lport, "timeout")
    # Local: its ss server is the black hole.
    s = socket.create_connection(("127.0.0.1", lport), timeout=10)
    s.sendall(b"\x05\x01\x00")
    h.check(h.recv_exact(s, 2) == b"\x05\x00", "greeting")
    t0 = time.monotonic()
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", 80))
    rep = h.recv_exact(s, 4)
    took = time.monotonic() - t0
    s.close()
    h.check(rep[:2] == b"\x05\x06", "SOCKS5 reply %r, want TTL expired (0x06)" % rep)
    h.check(0.9 <= took <= 3.0, "the connect failed after %.2f s, want about 1 s" % took)
    # Server: its target is the black hole.
    c, up, down = h.ss_connect(sport, METHOD, PW, "127.0.0.1", hport, b"hello")
    c.settimeout(10)
    t0 = time.monotonic()
    try:
        got = c.recv(100)
    except ConnectionResetError:
        got = b""
    took = time.monotonic() - t0
    c.close()
    h.check(got == b"", "the server answered %r" % got)
    h.check(0.9 <= took <= 3.0, "the server gave up after %.2f s, want about 1 s" % took)
    h.check(h.wait_log(pr, "timed out", count=2), "timeouts not logged:\n" + pr.output()[-2000:])
    h.check(pr.stop() == 0, "exit code")
    hole.close()
    for x in held:
        x.close()
    print("ok: connect deadline of 1 s: SOCKS5 TTL expired on the local, the server closed")


if __name__ == "__main__":
    main()
