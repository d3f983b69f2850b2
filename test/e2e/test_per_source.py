# SPDX-License-Identifier: MIT
"""Per-source limits on a server (2 workers): one source (127.0.0.2) opens
5,000 silent connections; past limits.handshakes_per_source (128) they are
closed at once and counted, and while all of them are held, requests from
other sources (127.0.0.1 through an ssring local, 127.0.0.3 directly)
still succeed; the log says which limit and which source; once the flood
is gone the flooding source is served again; sessions_per_source bounds
authenticated sessions too; a server behind a plugin is exempt (its
clients all come from loopback); the count returns to zero."""
import os
import resource
import socket
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

M = "aes-256-gcm"
PW = "per source"
FLOOD = 5000
LIMIT = 128


def open_sessions(mport):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=10).read()
    return sum(float(x.split()[-1]) for x in text.decode().splitlines()
               if x.startswith("ssring_tcp_sessions{") and 'role="server"' in x)


def direct_echo(sport, echo, source, payload):
    s, up, down = h.ss_connect_from(sport, M, PW, "127.0.0.1", echo.port, payload, source=source)
    s.shutdown(socket.SHUT_WR)
    got = h.ss_read_all(s, down)
    s.close()
    return got


def try_echo(sport, echo, source, payload):
    """direct_echo, or b"" when the server refuses (resets) the connection."""
    try:
        return direct_echo(sport, echo, source, payload)
    except OSError:
        return b""


def flood(sport, mport, echo, lport):
    held, closed = [], 0
    for i in range(FLOOD):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.bind(("127.0.0.2", 0))
        s.settimeout(10)
        s.connect(("127.0.0.1", sport))
        held.append(s)
    refused = 'ssring_sessions_refused_total{reason="handshakes_per_source"}'
    # every connection past the limit is closed by the server, without a byte read
    h.check(h.wait_until(lambda: (h.metric(mport, refused) or 0) >= FLOOD - LIMIT - 2, timeout=30),
            "refusals counted: %r" % h.metric(mport, refused))
    n = h.metric(mport, refused)
    h.check(FLOOD - LIMIT - 2 <= n <= FLOOD - LIMIT,
            "%d refused of %d over a limit of %d (2 workers may overshoot by 2)" % (n, FLOOD, LIMIT))
    for s in held:
        s.settimeout(0)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    h.check(closed >= FLOOD - LIMIT - 2, "only %d of the flood were closed" % closed)
    # others are served while the flood's live part is still held
    payload = h.pattern(100000, seed=5)
    t0 = time.monotonic()
    h.check(direct_echo(sport, echo, "127.0.0.3", payload) == payload, "127.0.0.3 starved")
    h.check(h.echo_roundtrip(lport, echo.port, payload) == payload, "the local's source starved")
    took = time.monotonic() - t0
    print("flood of %d from 127.0.0.2: %d refused, %d closed; others served in %.3f s while it "
          "was held" % (FLOOD, n, closed, took))
    # the flooding source itself is still refused while its handshakes are held ...
    got = try_echo(sport, echo, "127.0.0.2", b"x")
    h.check(got == b"", "127.0.0.2 was served while at its limit")
    for s in held:
        s.close()
    # ... and served again once they are gone
    h.check(h.wait_until(lambda: try_echo(sport, echo, "127.0.0.2", b"back") == b"back",
                         timeout=15), "127.0.0.2 is not served after its flood ended")


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < FLOOD + 1000:
        try:  # root may raise its hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (FLOOD + 1000, FLOOD + 1000))
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        except (ValueError, OSError):
            pass
    if hard != resource.RLIM_INFINITY and hard < FLOOD + 500:
        h.skip("RLIMIT_NOFILE hard limit %d < %d" % (hard, FLOOD + 500))
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    echo = h.EchoServer()
    sport, mport, lport = h.free_port(), h.free_port(), h.free_port()
    srv = h.start_ssring(f"""
workers = 2;
log_level = "info";
{h.NO_DNS}
timeouts = {{ handshake = 60; }};
limits = {{ handshakes_per_source = {LIMIT}; }};
metrics = {{ listen = "127.0.0.1:{mport}"; }};
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "{M}"; password = "{PW}";
              allow_private = true; probe = "close"; }} );
""", sport, name="server")
    loc = h.start_ssring(h.local_cfg(lport, sport, M, PW), lport, name="local")
    flood(sport, mport, echo, lport)
    h.check("connection from 127.0.0.2" in srv.output() and
            "limits.handshakes_per_source = 128" in srv.output(), "no log of the refusals")

    loc.stop()
    srv.stop()

    # sessions_per_source: 20 authenticated sessions from 127.0.0.4, the 21st is refused
    sport, mport = h.free_port(), h.free_port()
    srv = h.start_ssring(f"""
workers = 2;
{h.NO_DNS}
limits = {{ sessions_per_source = 20; }};
metrics = {{ listen = "127.0.0.1:{mport}"; }};
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "{M}"; password = "{PW}";
              allow_private = true; }} );
""", sport, name="server-sessions")
    open_ = []
    for i in range(20):
        s, up, down = h.ss_connect_from(sport, M, PW, "127.0.0.1", echo.port, b"hold",
                                        source="127.0.0.4")
        open_.append(s)
    # Every one of them admitted and relaying (each has its echo back), not
    # only the last: two workers accept in no set order, and one not yet
    # accepted would let the 21st in before it.
    for s in open_:
        s.settimeout(10 * h.SCALE)
        h.check(len(s.recv(64)) > 0, "a held session got no echo")
    refused = 'ssring_sessions_refused_total{reason="sessions_per_source"}'
    before = h.metric(mport, refused)
    got = try_echo(sport, echo, "127.0.0.4", b"one more")
    h.check(got == b"" and h.metric(mport, refused) == before + 1,
            "the 21st session was not refused: %r" % got)
    for s in open_:
        s.close()
    h.check(h.wait_until(lambda: try_echo(sport, echo, "127.0.0.4", b"later") == b"later",
                         timeout=15), "127.0.0.4 not served after closing its sessions")
    srv.stop()

    # behind a plugin every client is 127.0.0.1: not counted
    h.need_tool("obfs-server")
    h.need_tool("obfs-local")
    sport2, mport2 = h.free_port(), h.free_port()
    srv2 = h.start_ssring(f"""
workers = 1;
{h.NO_DNS}
limits = {{ handshakes_per_source = 2; }};
metrics = {{ listen = "127.0.0.1:{mport2}"; }};
servers = ( {{ listen = "127.0.0.1:{sport2}"; method = "{M}"; password = "{PW}";
              allow_private = true; plugin = "obfs-server"; plugin_opts = "obfs=http"; }} );
""", sport2, name="server-plugin")
    lport2 = h.free_port()
    loc2 = h.start_ssring(h.local_cfg(lport2, sport2, M, PW,
                                      extra='plugin = "obfs-local"; '
                                            'plugin_opts = "obfs=http;obfs-host=x.example";'),
                          lport2, name="local-plugin")
    # five half-sent requests through the client plugin reach the server as
    # handshakes from 127.0.0.1 (the server plugin): with a limit of 2 they
    # would be refused if the plugin's connections were counted
    import re
    h.check(h.wait_until(lambda: re.search(r"obfs-local listens on 127\.0\.0\.1:(\d+)",
                                           loc2.output()), timeout=15),
            "no plugin port in the local's log")
    m = re.search(r"obfs-local listens on 127\.0\.0\.1:(\d+)", loc2.output())
    silent = [socket.create_connection(("127.0.0.1", int(m.group(1)))) for _ in range(5)]
    for s in silent:
        s.sendall(os.urandom(10))  # part of a salt: the server waits for the rest
    h.check(h.wait_until(lambda: open_sessions(mport2) >= 5, timeout=10),
            "the half-sent requests did not reach the server: %r" % open_sessions(mport2))
    payload = h.pattern(50000, seed=9)
    h.check(h.echo_roundtrip(lport2, echo.port, payload) == payload,
            "a server behind a plugin applied the per-source limit to loopback")
    h.check(h.metric(mport2, 'ssring_sessions_refused_total{reason="handshakes_per_source"}') == 0,
            "plugin traffic was counted")
    for s in silent:
        s.close()
    loc2.stop()
    srv2.stop()
    print("ok")


if __name__ == "__main__":
    main()
