# SPDX-License-Identifier: MIT
"""ssring server behaviour beyond plain relaying: --check, every example
config, graceful shutdown, pool exhaustion, descriptor limits, timeouts, refused targets,
probe absorption. Peer: the python ss client of harness.py."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

M, PW = "aes-256-gcm", "behaviour-pw"


def check_cli():
    names = [n for n in sorted(os.listdir(h.CONFIG_DIR)) if n.endswith(".cfg")]
    h.check("default.cfg" in names and "all-in-one.cfg" in names,
            "example configs missing from %s: %r" % (h.CONFIG_DIR, names))
    for name in names:
        r = subprocess.run([h.BIN, "--check", "-f", os.path.join(h.CONFIG_DIR, name)],
                           capture_output=True, text=True, timeout=30)
        h.check(r.returncode == 0, "%s: --check failed: %s" % (name, r.stderr))
    bad = h.write_config('workers = 1;\nservers = ( { listen = "127.0.0.1:1"; method = "aes-256-gcm";\n'
                         '  pasword = "x"; } );\n', "bad.cfg")
    r = subprocess.run([h.BIN, "--check", "-f", bad], capture_output=True, text=True, timeout=30)
    h.check(r.returncode == 1, "--check on a bad file: exit %d" % r.returncode)
    h.check("bad.cfg:3:" in r.stderr and "pasword" in r.stderr, "--check message: " + r.stderr)
    r = subprocess.run([h.BIN, "-f", bad], capture_output=True, text=True, timeout=30)
    h.check(r.returncode == 2 and "pasword" in r.stderr, "run with a bad file: %r" % r.stderr)
    r = subprocess.run([h.BIN, "--version"], capture_output=True, text=True, timeout=30)
    h.check(r.returncode == 0 and "wolfSSL" in r.stdout and "AES-NI" in r.stdout, r.stdout)
    r = subprocess.run([h.BIN, "--help"], capture_output=True, text=True, timeout=30)
    h.check(r.returncode == 0 and "aes-256-gcm" in r.stdout, r.stdout)


def default_config(echo):
    """The README's first command runs configs/default.cfg: it must serve."""
    path = os.path.join(h.CONFIG_DIR, "default.cfg")
    pr = h.Proc([h.BIN, "-f", path], "default")
    if not h.wait_port(8388, pr.p):
        h.fail("default.cfg did not come up:\n" + pr.output())
    local, lport = h.start_ss_local(8388, "aes-256-gcm", "ssring-default-change-me", "ss-local-default")
    h.check(h.echo_roundtrip(lport, echo.port, b"default config") == b"default config",
            "default.cfg relay")
    local.stop()
    # Its own local proxy on 1080, SOCKS5 and HTTP, through its own server.
    h.check(h.wait_port(1080, pr.p), "default.cfg local on 1080")
    h.check(h.echo_roundtrip(1080, echo.port, b"own local") == b"own local", "default.cfg local")
    h.check("127.0.0.1:1080" in pr.output() and "try: curl" in pr.output(),
            "startup log must say how to reach the local proxy")
    h.check(pr.stop(signal.SIGINT) == 0, "default.cfg: exit code on SIGINT")
    h.check("127.0.0.1:8388" in pr.output(), "startup log must say where it listens")


def all_in_one(echo):
    """configs/all-in-one.cfg: server, local and tunnel in one process."""
    path = os.path.join(h.CONFIG_DIR, "all-in-one.cfg")
    web = None
    try:
        import http.server
        web = http.server.ThreadingHTTPServer(("127.0.0.1", 8000), http.server.SimpleHTTPRequestHandler)
        threading.Thread(target=web.serve_forever, daemon=True).start()
    except OSError:
        h.skip_part("port 8000 busy: all-in-one tunnel part not checked")
    pr = h.Proc([h.BIN, "-f", path], "all-in-one")
    if not h.wait_port(1080, pr.p) or not h.wait_port(5300, pr.p):
        h.fail("all-in-one.cfg did not come up:\n" + pr.output())
    h.check(h.echo_roundtrip(1080, echo.port, b"all in one") == b"all in one", "all-in-one local")
    if web:
        s = socket.create_connection(("127.0.0.1", 5300), timeout=10)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        h.check(h.recv_all(s).startswith(b"HTTP/1.0 200"), "all-in-one tunnel")
        web.shutdown()
    h.check(pr.stop() == 0, "all-in-one exit code")


def graceful_shutdown(echo):
    port = h.free_port()
    srv = h.start_ssring(h.server_cfg(port, M, PW, workers=2), port, "graceful")
    data = h.pattern(8 << 20, seed=5)
    s, up, down = h.ss_connect(port, M, PW, "127.0.0.1", echo.port, data[:100])
    h.check(h.wait_log(srv, "connecting to 127.0.0.1:%d" % echo.port), "session not started")
    srv.p.send_signal(signal.SIGTERM)  # the session is in flight
    h.check(h.wait_log(srv, "stopping:"), "SIGTERM not seen")
    s.sendall(up.seal(data[100:]))
    s.shutdown(socket.SHUT_WR)
    got = h.ss_read_all(s, down)
    h.check(got == data, "in-flight session cut by shutdown: %d of %d bytes" % (len(got), len(data)))
    h.check(srv.p.wait(15) == 0, "exit code after SIGTERM")
    h.check(not h.wait_port(port, timeout=0.5), "still accepting after stop")
    # An idle session past the deadline is closed, and the exit is still clean.
    port = h.free_port()
    srv = h.start_ssring(h.server_cfg(port, M, PW) + "timeouts = { shutdown = 1; };\n", port, "deadline")
    s, up, down = h.ss_connect(port, M, PW, "127.0.0.1", echo.port, b"ping")
    h.check(h.wait_log(srv, "connecting to 127.0.0.1:%d" % echo.port), "session not started")
    t0 = time.time()
    srv.p.send_signal(signal.SIGINT)
    h.check(srv.p.wait(15) == 0, "exit code after SIGINT with an idle session")
    h.check(time.time() - t0 < 5, "shutdown deadline not honoured")
    s.close()


def pool_full(echo):
    port = h.free_port()
    srv = h.start_ssring(h.server_cfg(port, M, PW) + "limits = { tcp_sessions = 2; };\n", port, "pool")
    # The readiness probe's session must be gone before counting.
    h.check(h.wait_log(srv, "closing ("), "readiness probe session still open")
    held = [h.ss_connect(port, M, PW, "127.0.0.1", echo.port, b"a")[0] for _ in range(2)]
    h.check(h.wait_log(srv, "connecting to", count=2), "held sessions not established")
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    h.check(h.recv_all(s) == b"", "third connection must be refused")
    s.close()
    for c in held:
        c.close()
    # the readiness probe's session and the two held ones (the refused third
    # connection never became a session)
    h.check(h.wait_log(srv, "closing (", count=3), "held sessions did not end")
    s, up, down = h.ss_connect(port, M, PW, "127.0.0.1", echo.port, b"again")
    s.shutdown(socket.SHUT_WR)
    h.check(h.ss_read_all(s, down) == b"again", "pool must recover after sessions end")
    h.check("session pool full" in srv.output(), "pool refusal must be logged")
    h.check("sessions: 2 of this worker's 2" in srv.output(),
            "a full pool must have been announced before the refusal")
    h.check(srv.stop() == 0, "exit code")


def fd_limits(echo):
    """RLIMIT_NOFILE is logged at start (soft and hard), the start warns when
    the configured limits need more descriptors than that, and sessions that
    fill 90% of the descriptor table are announced once."""
    port = h.free_port()
    cfg = h.write_config(h.server_cfg(port, M, PW) + "limits = { tcp_sessions = 1000; };\n",
                         "fds.cfg")
    srv = h.Proc(["prlimit", "--nofile=100:100", h.BIN, "-f", cfg], "fds")
    h.check(h.wait_port(port, srv.p), "ssring under prlimit did not come up:\n" + srv.output())
    out = srv.output()
    h.check("open files: soft limit 100 (was 100), hard limit 100" in out,
            "the descriptor limits must be logged:\n" + out)
    h.check("need up to 18384 descriptors, RLIMIT_NOFILE is 100" in out,
            "limits beyond the descriptor table must be warned about:\n" + out)
    held = []
    # Two descriptors per session: the warning comes before 50 sessions.
    for _ in range(50):
        if "descriptors: at least" in srv.output():
            break
        held.append(h.ss_connect(port, M, PW, "127.0.0.1", echo.port, b"x")[0])
        h.check(h.wait_log(srv, "connecting to", count=len(held)), "session not established")
    h.check(h.wait_log(srv, "descriptors: at least"),
            "90%% of RLIMIT_NOFILE in use must be logged (%d sessions held)" % len(held))
    h.check(srv.output().count("descriptors: at least") == 1, "said once, not per session")
    for c in held:
        c.close()
    h.check(h.wait_log(srv, "closing (", count=len(held) + 1), "held sessions did not end")
    s, up, down = h.ss_connect(port, M, PW, "127.0.0.1", echo.port, b"still")
    s.shutdown(socket.SHUT_WR)
    h.check(h.ss_read_all(s, down) == b"still", "serving after the warning")
    h.check(srv.stop() == 0, "exit code")


def refusals_and_timeouts(echo):
    port = h.free_port()
    srv = h.start_ssring(h.server_cfg(port, M, PW) +
                         "timeouts = { handshake = 1; probe_window = 1; tcp_idle = 2; };\n",
                         port, "timeouts")
    # A name that cannot be resolved (no DNS server answers): a clean close
    # and a log line; "localhost" comes from /etc/hosts and works.
    up = h.SsStream(M, PW)
    salt = os.urandom(32)
    up.start(salt)
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    s.sendall(salt + up.seal(b"\x03\x0bexample.com\x00\x50GET /"))
    h.check(h.recv_all(s) == b"", "unresolvable domain target")
    h.check("cannot resolve" in srv.output() or "connect failed" in srv.output(),
            "resolution failure log")
    up = h.SsStream(M, PW)
    salt = os.urandom(32)
    up.start(salt)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(salt + up.seal(b"\x03\x09localhost" + echo.port.to_bytes(2, "big") + b"hosts"))
    down = h.SsStream(M, PW)
    s.shutdown(socket.SHUT_WR)
    h.check(h.ss_read_all(s, down) == b"hosts", "localhost from /etc/hosts")
    # A silent client is closed like any unauthenticated one: at its
    # deadline, 1 to 2 s after accept (handshake + probe_window).
    t0 = time.time()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    h.check(h.recv_all(s) == b"", "silent client")
    h.check(0.9 < time.time() - t0 < 2 + 3 * h.SCALE,
            "a silent client closed after %.1fs" % (time.time() - t0))
    # Idle timeout on an established session.
    s, up2, down = h.ss_connect(port, M, PW, "127.0.0.1", echo.port, b"x")
    t0 = time.time()
    got = h.ss_read_all(s, down)
    h.check(got == b"x" and 1.5 < time.time() - t0 < 6, "idle timeout after %.1fs" % (time.time() - t0))
    # A replayed request (same salt, same bytes) is treated as a probe.
    up = h.SsStream(M, PW)
    salt = os.urandom(32)
    up.start(salt)
    wire = salt + up.seal(b"\x01\x7f\x00\x00\x01" + echo.port.to_bytes(2, "big") + b"once")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(wire)
    s.shutdown(socket.SHUT_WR)
    down = h.SsStream(M, PW)
    h.check(h.ss_read_all(s, down) == b"once", "first use of a salt")
    t0 = time.time()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(wire)
    b = h.recv_all(s)  # a reset would raise: FIN at the deadline, nothing said
    h.check(b == b"" and 0.9 < time.time() - t0 < 2 + 3 * h.SCALE,
            "replay: %r after %.1fs, want silence and FIN 1 to 2 s after connect"
            % (b, time.time() - t0))
    s.close()
    h.check("replayed salt" in srv.output(), "replay must be logged")
    # A probe with random bytes is absorbed: no data, FIN at its deadline
    # (handshake 1 s + up to probe_window 1 s after accept).
    t0 = time.time()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(os.urandom(100))
    b = h.recv_all(s)
    h.check(b == b"" and 0.9 < time.time() - t0 < 2 + 3 * h.SCALE,
            "probe: %r after %.1fs, want silence and FIN 1 to 2 s after connect"
            % (b, time.time() - t0))
    s.close()
    h.check("auth failure" in srv.output(), "probe must be logged as an auth failure")
    h.check(srv.stop() == 0, "exit code")
    # Sessions closed with receives armed (the idle timeout, deadlines)
    # cancel them by user_data: a cancel by fd walks every armed request of
    # the ring, O(N) per close with N sessions held.
    h.check("cancels by fd 0" in srv.output(),
            "closes must cancel by user_data:\n" + srv.output()[-600:])
    # allow_private = false refuses loopback targets.
    port = h.free_port()
    cfg = h.server_cfg(port, M, PW).replace("allow_private = true;", "allow_private = false;")
    srv = h.start_ssring(cfg, port, "private")
    s, up, down = h.ss_connect(port, M, PW, "127.0.0.1", echo.port, b"x")
    h.check(h.recv_all(s) == b"", "private target must be refused")
    h.check("private/special" in srv.output(), "private refusal log")
    h.check(srv.stop() == 0, "exit code")


def probe_policies(echo):
    """probe = "close" ends a failed request with FIN at the handshake time
    (test_probing has every length); probe = "forward" hands the prober's
    bytes to a decoy (here an echo) and relays its answers."""
    port = h.free_port()
    cfg = h.server_cfg(port, M, PW, extra='probe = "close";') + "timeouts = { handshake = 1; };\n"
    srv = h.start_ssring(cfg, port, "probe-close")
    t0 = time.time()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(os.urandom(100))
    got = h.recv_all(s)  # a reset would raise: FIN is the reaction
    h.check(got == b"" and 0.9 < time.time() - t0 < 1 + 3 * h.SCALE,
            "probe = close: %r after %.1fs" % (got, time.time() - t0))
    # A real client still works.
    s, up, down = h.ss_connect(port, M, PW, "127.0.0.1", echo.port, b"real")
    s.shutdown(socket.SHUT_WR)
    h.check(h.ss_read_all(s, down) == b"real", "probe = close: a real client")
    h.check(srv.stop() == 0, "exit code")
    port = h.free_port()
    cfg = h.server_cfg(port, M, PW, extra='probe = "forward"; probe_forward = "127.0.0.1:%d";' % echo.port)
    srv = h.start_ssring(cfg, port, "probe-forward")
    probe = os.urandom(300)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(probe)
    h.check(h.recv_exact(s, 300) == probe, "probe = forward: the decoy must answer the prober")
    s.sendall(b"more")
    h.check(h.recv_exact(s, 4) == b"more", "probe = forward: relayed both ways")
    s.close()
    s, up, down = h.ss_connect(port, M, PW, "127.0.0.1", echo.port, b"real")
    s.shutdown(socket.SHUT_WR)
    h.check(h.ss_read_all(s, down) == b"real", "probe = forward: a real client")
    h.check(srv.stop() == 0, "exit code")


def main():
    h.need_tool("ss-local")
    echo = h.EchoServer()
    check_cli()
    default_config(echo)
    all_in_one(echo)
    graceful_shutdown(echo)
    pool_full(echo)
    fd_limits(echo)
    refusals_and_timeouts(echo)
    probe_policies(echo)
    print("test_server_behaviour: ok")


if __name__ == "__main__":
    main()
