# SPDX-License-Identifier: MIT
"""shadowsocks-libev ss-local -> ssring server, every AEAD-2017 cipher:
small and 64 MiB echo byte-for-byte, half-close, a refusing target,
200 concurrent connections, curl through SOCKS5, wrong password."""
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

BIG = int(os.environ.get("SSRING_BIG_BYTES", 64 << 20))
PASSWORD = "interop-test-pw"


def concurrent(lport, echo_port, n=200):
    errors = []
    payloads = [h.pattern(4096 + i * 37, seed=i) for i in range(n)]
    socks = []
    for i in range(n):  # all open at once
        socks.append(h.socks5_connect(lport, "127.0.0.1", echo_port))

    def run(i):
        try:
            s = socks[i]
            s.sendall(payloads[i])
            got = h.recv_exact(s, len(payloads[i]))
            s.close()
            if got != payloads[i]:
                errors.append("conn %d: %d bytes back, want %d" % (i, len(got), len(payloads[i])))
        except OSError as e:
            errors.append("conn %d: %r" % (i, e))

    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    h.check(not errors, "; ".join(errors[:5]))


def refused_target(lport):
    port = h.free_port()  # nothing listens there
    s = h.socks5_connect(lport, "127.0.0.1", port)
    s.settimeout(15)
    s.sendall(b"hello")
    try:
        got = h.recv_all(s)
    except ConnectionResetError:
        got = b""
    h.check(got == b"", "refused target: got data %r" % got[:40])


def curl(lport, http_port, name, want):
    out = subprocess.run(["curl", "-sS", "--max-time", "30", "--socks5-hostname",
                          "127.0.0.1:%d" % lport, "http://127.0.0.1:%d/%s" % (http_port, name)],
                         capture_output=True, timeout=60)
    h.check(out.returncode == 0, "curl failed: %s" % out.stderr.decode())
    h.check(out.stdout == want, "curl body differs (%d bytes)" % len(out.stdout))


def half_close(sport, method, echo_port):
    """The client sends EOF before the echo returns: the echo must still
    arrive in full, then EOF (python ss client: libev cannot half-close)."""
    data = h.pattern(200000, seed=11)
    s, up, down = h.ss_connect(sport, method, PASSWORD, "127.0.0.1", echo_port, data[:1000])
    s.sendall(up.seal(data[1000:]))
    s.shutdown(socket.SHUT_WR)
    got = h.ss_read_all(s, down)
    s.close()
    h.check(got == data, "%s: half-close echo: %d bytes, want %d" % (method, len(got), len(data)))


class ResetServer:
    """Accepts, reads a little, then aborts with RST (SO_LINGER 0)."""

    def __init__(self):
        import struct as st
        self.st = st
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.recv(100)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, self.st.pack("ii", 1, 0))
            c.close()


def reset_propagates(sport, method, rst_port):
    s, up, down = h.ss_connect(sport, method, PASSWORD, "127.0.0.1", rst_port, b"x" * 10)
    s.settimeout(10)
    try:
        got = s.recv(100)
        reset = False
    except ConnectionResetError:
        got, reset = b"", True
    s.close()
    h.check(reset and got == b"", "%s: target reset was not propagated as a reset (got %r)" % (method, got))


def wrong_password(server, sport, method, echo_port):
    local, lport = h.start_ss_local(sport, method, "not-the-password", name="ss-local-bad-" + method)
    s = h.socks5_connect(lport, "127.0.0.1", echo_port)
    s.settimeout(2)
    s.sendall(b"probe" * 100)
    got = b""
    try:
        got = s.recv(100)
    except socket.timeout:
        pass
    except ConnectionResetError:
        pass
    s.close()
    local.stop()
    h.check(got == b"", "wrong password: client got data %r" % got[:40])
    end = time.time() + 5
    while time.time() < end and "auth failure" not in server.output():
        time.sleep(0.1)
    h.check("auth failure" in server.output(), "server did not log the auth failure")


def main():
    h.need_tool("ss-local")
    echo = h.EchoServer()
    page = h.pattern(300000, seed=7)
    with open(os.path.join(h.tmpdir(), "page.bin"), "wb") as f:
        f.write(page)
    web = h.HttpServer(h.tmpdir())
    rst = ResetServer()
    big = h.pattern(BIG, seed=3)
    for i, method in enumerate(h.CIPHERS):
        t0 = time.time()
        sport = h.free_port()
        server = h.start_ssring(h.server_cfg(sport, method, PASSWORD, workers=1 + i % 2,
                                             top=h.BURSTY), sport,
                                name="ssring-" + method)
        local, lport = h.start_ss_local(sport, method, PASSWORD, name="ss-local-" + method)
        small = b"hello ssring " * 10
        h.check(h.echo_roundtrip(lport, echo.port, small) == small, method + ": small echo")
        h.check(h.echo_roundtrip(lport, echo.port, b"x") == b"x", method + ": 1-byte echo")
        got = h.echo_roundtrip(lport, echo.port, big)
        h.check(got == big, "%s: %d MiB echo differs (got %d bytes)" % (method, BIG >> 20, len(got)))
        refused_target(lport)
        half_close(sport, method, echo.port)
        reset_propagates(sport, method, rst.port)
        concurrent(lport, echo.port)
        curl(lport, web.port, "page.bin", page)
        wrong_password(server, sport, method, echo.port)
        local.stop()
        rc = server.stop()
        h.check(rc == 0, "%s: ssring exit code %r\n%s" % (method, rc, server.output()[-3000:]))
        out = server.output()
        h.check(" error [" not in out, method + ": errors logged:\n" + out[-2000:])
        print("%-24s ok (%.1fs)" % (method, time.time() - t0), flush=True)
    print("test_server_interop: ok")


if __name__ == "__main__":
    main()
