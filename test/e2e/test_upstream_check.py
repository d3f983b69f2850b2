# SPDX-License-Identifier: MIT
"""The active upstream check (upstream_check): one local with three
upstreams, two real ssring servers (AEAD-2017 and the 2022 edition) and a
black hole (a listener of this test that accepts and never answers, which
a failed connect can never show), checked every second (timeout 1 s) with
a url; a tunnel with a target check (request bytes to an echo server;
its first server given by name, resolved on the ring)
whose upstreams also include an echo server (AEAD-2017's request sent
back opens with the same key: it must fail) and a server of garbage.
- The checks are real relayed requests: the HTTP server sees each check's
  GET, through both real servers; the echo server sees the tunnel's.
- A connection that gets through does not bring a failing server back.
- Within a few seconds the black hole is out (ssring_upstream_up 0, its
  failed checks counted); new SOCKS5 connections all succeed and none is
  given to it (its picks stay put, the real servers' picks grow by exactly
  as many); the real servers have a latency (from the checks alone).
- A reload: the health (check counts too) carries over, the black hole
  stays out, and the checks go on on the new snapshot.
- The black hole turns into a real server on the same port: it comes back
  (ssring_upstream_up 1, passed checks) and takes connections again.
- /metrics passes promtool; the local stops cleanly with checks in flight."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

M, PW = "aes-256-gcm", "check"
M22 = "2022-blake3-aes-256-gcm"
PATH = "/generate_204"


class BlackHole(h.TcpListener):
    """Accepts TCP connections on port and holds them: never reads, never answers."""

    def __init__(self, port):
        self.conns, self.accepted = [], 0
        super().__init__(port)

    def handle(self, c):
        self.conns.append(c)
        self.accepted += 1

    def close(self):
        super().close()
        for c in self.conns:
            c.close()


class CheckTarget(h.TcpListener):
    """A minimal HTTP server: answers each request with 204 and keeps the
    request heads it saw."""

    def __init__(self):
        self.heads, self.lock = [], threading.Lock()
        super().__init__()

    def handle(self, c):
        buf = b""
        try:
            c.settimeout(10)
            while b"\r\n\r\n" not in buf and len(buf) < 8192:
                d = c.recv(4096)
                if not d:
                    return
                buf += d
            with self.lock:
                self.heads.append(buf.decode(errors="replace"))
            c.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        except OSError:
            pass
        finally:
            c.close()

    def count(self):
        with self.lock:
            return len(self.heads)


class Garbage(h.TcpListener):
    """Answers every connection with bytes that are no ss stream."""

    def handle(self, c):
        try:
            c.sendall(os.urandom(256))
            c.recv(65536)
        except OSError:
            pass
        c.close()


class CountingEcho(h.EchoServer):
    """The echo server, counting the check requests it echoed."""

    def __init__(self):
        self.pings = 0
        super().__init__()

    def _serve(self, c):
        try:
            first = c.recv(65536)
            if first == b"ping\r\n":
                self.pings += 1
            if first:
                c.sendall(first)
        except OSError:
            c.close()
            return
        h.EchoServer._serve(c)


def server(port, mport, method, secret, name):
    return h.start_server_with_metrics(port, mport, method, secret, name, udp=False)


def local_cfg(lport, tport, t2port, mport, ups, tups, t2ups, hport, eport, dport):
    return f"""
workers = 2;
log_level = "debug";
dns = {{ servers = [ "127.0.0.1:{dport}" ]; }};
metrics = {{ listen = "127.0.0.1:{mport}"; }};
locals = ( {{ listen = "127.0.0.1:{lport}"; upstreams = ( {", ".join(ups)} );
             upstream_retry = 5; udp = false;
             upstream_check = {{ url = "http://127.0.0.1:{hport}{PATH}"; interval = 1;
                                 timeout = 1; }}; }} );
tunnels = ( {{ listen = "127.0.0.1:{tport}"; forward = "127.0.0.1:{eport}"; udp = false;
              upstreams = ( {", ".join(tups)} );
              upstream_check = {{ target = "127.0.0.1:{eport}"; request = "ping\\r\\n";
                                  interval = 1; timeout = 1; }}; }},
            {{ listen = "127.0.0.1:{t2port}"; forward = "127.0.0.1:{eport}"; udp = false;
              upstreams = ( {", ".join(t2ups)} );
              upstream_check = {{ target = "127.0.0.1:{eport}"; interval = 1; timeout = 1; }};
            }} );
"""


def sample(text, name, port, **labels):
    return h.metric_sample(text, name, upstream="127.0.0.1:%d" % port, **labels)


def main():
    if not shutil.which("promtool"):
        h.fail("promtool is not installed (tools/bootstrap installs Debian's prometheus)")
    echo, target = CountingEcho(), CheckTarget()
    key = subprocess.run([h.BIN, "genkey", M22], capture_output=True, text=True,
                         check=True).stdout.strip()
    ports = [h.free_port() for _ in range(3)]
    mports = [h.free_port() for _ in range(3)]
    srv = [server(ports[0], mports[0], M, 'password = "%s";' % PW, "server0"),
           server(ports[1], mports[1], M22, 'key = "%s";' % key, "server1")]
    hole = BlackHole(ports[2])
    link = "ss://%s:%s@127.0.0.1:%d" % (M22, urllib.parse.quote(key, safe=""), ports[1])
    group = '{ server = "127.0.0.1:%d"; method = "%s"; password = "%s"; }'
    ups = [group % (ports[0], M, PW), '"%s"' % link, group % (ports[2], M, PW)]
    # The tunnel also has an echo server (which sends AEAD-2017's request
    # back: it would open with the same key) and a server of garbage.
    reflector, garbage = h.EchoServer(), Garbage()
    # Its first server by name: the check resolves it on the ring. The
    # name server of this test says 127.0.0.2 first, where nothing listens
    # (refused), then 127.0.0.1: checks and sessions try the next address.
    names = []
    dns = h.DnsResponder(lambda label, qtype: names.append(label) or
                         (["127.0.0.2", "127.0.0.1"] if qtype == 1 else 0))
    tups = ['{ server = "server0.test:%d"; method = "%s"; password = "%s"; }' % (ports[0], M, PW),
            group % (ports[2], M, PW),
            group % (reflector.port, M, PW), group % (garbage.port, M, PW)]
    # A second tunnel with only servers that fail their checks.
    t2ups = [group % (ports[2], M, PW), group % (reflector.port, M, PW)]
    lport, tport, t2port, lmport = h.free_port(), h.free_port(), h.free_port(), h.free_port()
    tun, tun2 = "127.0.0.1:%d" % tport, "127.0.0.1:%d" % t2port
    t0 = time.time()
    loc = h.start_ssring(local_cfg(lport, tport, t2port, lmport, ups, tups, t2ups, target.port,
                                   echo.port, dns.port), lport, "local")
    h.check(h.wait_port(lmport, loc.p), "the local's /metrics did not come up")

    # 1. The black hole is out within a few seconds; the checks were real.
    out = h.wait_until(lambda: sample(h.metrics_text(lmport), "ssring_upstream_up", ports[2],
                                      role="local") == 0, timeout=10, step=0.1)
    took = time.time() - t0
    h.check(out, "the black hole is still in after 10 s")
    h.check(h.wait_until(lambda: all(
        (sample(h.metrics_text(lmport), "ssring_upstream_checks_total", p, role="local",
                result="ok") or 0) >= 2 for p in ports[:2]), timeout=10),
        "the real servers did not pass two checks each")
    text = h.metrics_text(lmport)
    failed = sample(text, "ssring_upstream_checks_total", ports[2], role="local",
                    result="failed")
    oks = [sample(text, "ssring_upstream_checks_total", p, role="local", result="ok")
           for p in ports[:2]]
    lat = [sample(text, "ssring_upstream_latency_seconds", p, role="local") for p in ports[:2]]
    sess = [h.metric_sample(h.metrics_text(m), "ssring_tcp_sessions_total") or 0
            for m in mports[:2]]
    print("black hole out %.1f s after the local started (failed checks %r); real servers: "
          "passed checks %r, latency %r s, server sessions %r; %d GETs seen by the target"
          % (took, failed, oks, lat, sess, target.count()), flush=True)
    h.check(failed and failed >= 1, "no failed check counted for the black hole: %r" % failed)
    h.check(all(x and x > 0 for x in lat), "no latency from the checks: %r" % lat)
    h.check(all(s >= 2 for s in sess), "the servers did not relay the checks: %r" % sess)
    h.check(target.count() >= 4, "the HTTP target saw %d checks" % target.count())
    head = target.heads[0]
    h.check(head.startswith("GET %s HTTP/1.1\r\n" % PATH) and
            "\r\nHost: 127.0.0.1:%d\r\n" % target.port in head, "check request: %r" % head)
    h.check(hole.accepted >= 1, "the black hole saw no check connection")
    h.check(h.wait_until(lambda: sample(h.metrics_text(lmport), "ssring_upstream_up", ports[2],
                                        role="tunnel", listen=tun) == 0 and echo.pings >= 1,
                         timeout=10),
            "the tunnel's target check: black hole not out, or no ping echoed (%d)"
            % echo.pings)
    h.check("server0" in names, "the tunnel's server name was not resolved: %r" % names)
    named = {"upstream": "server0.test:%d" % ports[0], "role": "tunnel", "listen": tun}
    text = h.metrics_text(lmport)
    h.check(h.metric_sample(text, "ssring_upstream_up", **named) == 1 and
            h.metric_sample(text, "ssring_upstream_checks_total", result="ok", **named) >= 1 and
            not h.metric_sample(text, "ssring_upstream_checks_total", result="failed", **named),
            "the tunnel's server by name (its first address refuses) is not in, passed no "
            "check or failed one")
    for port, why in ((reflector.port, "the answer is the request sent back"),
                      (garbage.port, "the answer does not open")):
        h.check(h.wait_until(lambda: sample(h.metrics_text(lmport), "ssring_upstream_up", port,
                                            role="tunnel", listen=tun) == 0 and
                             why in loc.output()),
                "the tunnel's upstream %d is not out for '%s'" % (port, why))
    text = h.metrics_text(lmport)
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    h.check(p.returncode == 0, "promtool check metrics:\n%s%s" % (p.stdout.decode(),
                                                                 p.stderr.decode()))

    # 2. New connections fail over around it: all succeed, none is given to it.
    text = h.metrics_text(lmport)
    picks = [sample(text, "ssring_upstream_picks_total", p, role="local") for p in ports]
    n = 40
    for i in range(n):
        data = h.pattern(1000 + i, seed=i)
        h.check(h.echo_roundtrip(lport, echo.port, data, timeout=10) == data,
                "connection %d failed" % i)
    text = h.metrics_text(lmport)
    got = [sample(text, "ssring_upstream_picks_total", p, role="local") - b
           for p, b in zip(ports, picks)]
    print("%d connections with the black hole out: picks %r" % (n, got), flush=True)
    h.check(got[2] == 0, "the black hole was picked %d times" % got[2])
    h.check(got[0] + got[1] == n, "the real servers were picked %r times for %d" % (got, n))
    h.check(sample(text, "ssring_upstream_up", ports[2], role="local") == 0,
            "the black hole came back while it does not answer")

    # With checks, a connection that gets through does not bring a server
    # back (a black hole accepts connections too): the second tunnel has
    # every server out, so a connection goes to the one due back first,
    # whose connect succeeds; it stays out.
    def t2(name, port):
        return sample(h.metrics_text(lmport), name, port, role="tunnel", listen=tun2)
    h.check(h.wait_until(lambda: t2("ssring_upstream_up", ports[2]) == 0 and
                         t2("ssring_upstream_up", reflector.port) == 0, timeout=10),
            "the second tunnel's servers are not out")
    picks = t2("ssring_upstream_picks_total", ports[2]) + t2("ssring_upstream_picks_total",
                                                            reflector.port)
    conns = loc.output().count("connected to upstream")
    c = socket.create_connection(("127.0.0.1", t2port), timeout=5)
    h.check(h.wait_until(lambda: t2("ssring_upstream_picks_total", ports[2]) +
                         t2("ssring_upstream_picks_total", reflector.port) == picks + 1,
                         timeout=5), "the second tunnel's connection picked no server")
    # its connect completes (the local logs it); the checks fail every 0.5-1.5 s
    h.check(h.wait_log(loc, "connected to upstream", count=conns + 1, timeout=5),
            "the second tunnel's connection did not connect:\n" + loc.output()[-1500:])
    ups2 = [t2("ssring_upstream_up", p) for p in (ports[2], reflector.port)]
    c.close()
    print("a connection through the second tunnel (every server out): up %r" % ups2,
          flush=True)
    h.check(ups2 == [0, 0], "a connect that got through brought a failing server back: %r"
            % ups2)

    # 3. A reload: the health (check counts included) carries over to the
    # new snapshot, and the checks go on on it.
    text = h.metrics_text(lmport)
    pre = [sample(text, "ssring_upstream_checks_total", ports[0], role="local", result="ok"),
           sample(text, "ssring_upstream_checks_total", ports[2], role="local",
                  result="failed")]
    before = loc.output().count("reloaded ")
    loc.p.send_signal(signal.SIGHUP)
    h.check(h.wait_until(lambda: loc.output().count("reloaded ") > before, timeout=10),
            "the reload was not logged")
    t1 = time.time()
    text = h.metrics_text(lmport)
    h.check(h.metric_sample(text, "ssring_config_generation") == 2,
            "the reload did not make generation 2")
    h.check(sample(text, "ssring_upstream_up", ports[2], role="local") == 0,
            "the black hole is not out right after the reload (its health carries over)")

    def counts():
        t = h.metrics_text(lmport)
        return [sample(t, "ssring_upstream_checks_total", ports[0], role="local", result="ok"),
                sample(t, "ssring_upstream_checks_total", ports[2], role="local",
                       result="failed")]
    # /metrics shows the current snapshot's health: counts that grow there
    # come from checks on the new snapshot.
    h.check(h.wait_until(lambda: all(n >= p + 2 for n, p in zip(counts(), pre)), timeout=10,
                         step=0.1), "after the reload the checks did not go on: %r then %r"
            % (pre, counts()))
    print("reload: checks (server 0 passed, black hole failed) %r before, %r %.1f s after"
          % (pre, counts(), time.time() - t1), flush=True)
    h.check(sample(h.metrics_text(lmport), "ssring_upstream_up", ports[2], role="local") == 0,
            "the black hole came back after the reload")

    # 4. The black hole answers now (a real server on its port): it comes back.
    hole.close()
    srv.append(server(ports[2], mports[2], M, 'password = "%s";' % PW, "server2"))
    t2 = time.time()
    back = h.wait_until(lambda: sample(h.metrics_text(lmport), "ssring_upstream_up", ports[2],
                                       role="local") == 1, timeout=10, step=0.1)
    took2 = time.time() - t2
    h.check(back, "the server on the black hole's port did not come back within 10 s")
    h.check(h.wait_until(lambda: sample(h.metrics_text(lmport), "ssring_upstream_up",
                                        ports[2], role="tunnel", listen=tun) == 1, timeout=10),
            "the tunnel's third upstream did not come back")
    picks = sample(h.metrics_text(lmport), "ssring_upstream_picks_total", ports[2], role="local")
    total = 0
    deadline = time.time() + 30 * h.SCALE
    while total < 300 and time.time() < deadline:
        for i in range(10):
            data = h.pattern(500 + i, seed=total + i)
            h.check(h.echo_roundtrip(lport, echo.port, data, timeout=10) == data,
                    "connection %d after the comeback failed" % (total + i))
        total += 10
        if sample(h.metrics_text(lmport), "ssring_upstream_picks_total", ports[2],
                  role="local") > picks:
            break
    text = h.metrics_text(lmport)
    got2 = sample(text, "ssring_upstream_picks_total", ports[2], role="local") - picks
    print("back %.1f s after it answered; %d connections, %d of them to it; its passed "
          "checks %r" % (took2, total, got2, sample(text, "ssring_upstream_checks_total",
                                                     ports[2], role="local", result="ok")),
          flush=True)
    h.check(got2 > 0, "the server that came back got no connection in %d" % total)

    h.check(loc.stop() == 0, "local exit code")
    for s in srv:
        h.check(s.stop() == 0, "server exit code")
    print("test_upstream_check: ok")


if __name__ == "__main__":
    main()
