# SPDX-License-Identifier: MIT
"""Several servers for one local (upstreams = (...)): three ssring servers
(two AEAD-2017 given as groups, one 2022 given as an ss:// link).
- New connections spread over all three.
- One server stops: every connection still succeeds (a connect that fails
  moves on to another server), and once one has tried it the local's
  /metrics shows it out (ssring_upstream_up 0) and counts its failure.
- It comes back: once its time out is over it gets connections again.
- A server behind a proxy that holds each first answer 150 ms: after a
  warm-up, the latency weighting sends it only a small share.
- A UDP association keeps one server for all its datagrams."""
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

M, PW = "aes-256-gcm", "upstreams"
M22 = "2022-blake3-aes-128-gcm"
RETRY = 5  # seconds out after a failure: longer than a batch of connections takes


class SlowProxy(h.TcpListener):
    """TCP proxy to port that holds the first answer chunk of each
    connection for delay seconds."""

    def __init__(self, port, delay):
        self.port_to, self.delay = port, delay
        super().__init__()

    def handle(self, c):
        try:
            u = socket.create_connection(("127.0.0.1", self.port_to), timeout=10)
        except OSError:
            c.close()
            return
        threading.Thread(target=self.pipe, args=(c, u, 0), daemon=True).start()
        self.pipe(u, c, self.delay)

    @staticmethod
    def pipe(a, b, delay):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                if delay:
                    time.sleep(delay)
                    delay = 0
                b.sendall(d)
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def sessions(mport):
    try:
        return h.metric_sample(h.metrics_text(mport), "ssring_tcp_sessions_total") or 0
    except OSError:
        return None


def server(port, mport, method, secret, name):
    return h.start_server_with_metrics(port, mport, method, secret, name)


def local(lport, mport, ups, name):
    return h.start_ssring(f"""
workers = 2;
log_level = "debug";
{h.NO_DNS}
metrics = {{ listen = "127.0.0.1:{mport}"; }};
locals = ( {{ listen = "127.0.0.1:{lport}"; upstreams = ( {", ".join(ups)} );
             upstream_retry = {RETRY}; }} );
""", lport, name)


def echo_many(lport, echo, n, what):
    for i in range(n):
        data = h.pattern(2000 + i, seed=i)
        h.check(h.echo_roundtrip(lport, echo.port, data) == data, "%s: echo %d failed" % (what, i))


def up_metric(mport, port, name="ssring_upstream_up"):
    return h.metric_sample(h.metrics_text(mport), name, upstream="127.0.0.1:%d" % port)


def main():
    echo, uecho = h.EchoServer(), h.UdpEcho()
    key = subprocess.run([h.BIN, "genkey", M22], capture_output=True, text=True,
                         check=True).stdout.strip()
    ports = [h.free_port() for _ in range(3)]
    mports = [h.free_port() for _ in range(3)]
    secrets = ['password = "%s";' % PW, 'password = "%s";' % PW, 'key = "%s";' % key]
    methods = [M, M, M22]
    srv = [server(ports[i], mports[i], methods[i], secrets[i], "server%d" % i) for i in range(3)]
    link = "ss://%s:%s@127.0.0.1:%d" % (M22, urllib.parse.quote(key, safe=""), ports[2])
    ups = ['{ server = "127.0.0.1:%d"; method = "%s"; password = "%s"; }' % (ports[i], M, PW)
           for i in range(2)] + ['"%s"' % link]
    lport, lmport = h.free_port(), h.free_port()
    loc = local(lport, lmport, ups, "local")

    # 1. Spread.
    # 60 connections, then (latency weights can make one server rare in a
    # slow build) 20 more at a time until each server had one, 300 at most.
    base = [sessions(m) for m in mports]
    n = 0
    while n < 60 or (n < 300 and not all(sessions(m) > b for m, b in zip(mports, base))):
        echo_many(lport, echo, 20, "spread")
        n += 20
    got = [sessions(m) - b for m, b in zip(mports, base)]
    print("%d connections over three servers: %r" % (n, got), flush=True)
    h.check(all(g > 0 for g in got), "not every server got connections: %r" % got)

    # 2. Server 1 stops: failover, no connection lost.
    h.check(srv[1].stop() == 0, "server 1 exit code")
    base = [sessions(m) for i, m in enumerate(mports) if i != 1]
    # Until a connection has tried server 1 (its weight may be small if its
    # first answers were slow), at most 600; every one must get through.
    n, fails, up1 = 0, 0, None
    while n < 600 and not fails:
        echo_many(lport, echo, 20, "server 1 down")
        n += 20
        text = h.metrics_text(lmport)
        lab = {"upstream": "127.0.0.1:%d" % ports[1]}
        fails = h.metric_sample(text, "ssring_upstream_failures_total", **lab) or 0
        up1 = h.metric_sample(text, "ssring_upstream_up", **lab)
    got = [sessions(m) - b for m, b in zip([mports[0], mports[2]], base)]
    print("server 1 stopped: %d connections, all echoed; servers 0 and 2 took %r; "
          "ssring_upstream_up %r, failures %r" % (n, got, up1, fails), flush=True)
    h.check(sum(got) == n, "the other servers took %r of %d" % (got, n))
    h.check(fails and fails >= 1, "no failure counted for the stopped server: %r" % fails)
    h.check(up1 == 0, "the stopped server is not shown out: %r" % up1)

    # 2b. A reload keeps what the local knew of its servers (same entry,
    # same host and port): picks and failures go on from where they were,
    # and the stopped server is still out right after it.
    text = h.metrics_text(lmport)
    picks = [h.metric_sample(text, "ssring_upstream_picks_total", upstream="127.0.0.1:%d" % p)
             for p in ports]
    fails = h.metric_sample(text, "ssring_upstream_failures_total",
                            upstream="127.0.0.1:%d" % ports[1])
    with open(os.path.join(h._tmp, "local.cfg")) as f:
        cfg = f.read()
    h.reload_with(loc, "local", cfg.replace('log_level = "debug";', 'log_level = "info";'))
    text = h.metrics_text(lmport)
    picks2 = [h.metric_sample(text, "ssring_upstream_picks_total", upstream="127.0.0.1:%d" % p)
              for p in ports]
    fails2 = h.metric_sample(text, "ssring_upstream_failures_total",
                             upstream="127.0.0.1:%d" % ports[1])
    up2 = h.metric_sample(text, "ssring_upstream_up", upstream="127.0.0.1:%d" % ports[1])
    print("reload: picks %r -> %r, failures of the stopped server %r -> %r, up %r"
          % (picks, picks2, fails, fails2, up2), flush=True)
    h.check(picks2 == picks and all(p > 0 for p in picks), "picks after the reload: %r, before %r"
            % (picks2, picks))
    h.check(fails2 == fails, "failures after the reload: %r, before %r" % (fails2, fails))

    # 3. It comes back.
    srv[1] = server(ports[1], mports[1], M, secrets[1], "server1-again")
    ok = h.wait_until(lambda: up_metric(lmport, ports[1]) == 1, timeout=RETRY * 64 + 10)
    h.check(ok, "server 1 never counted as in again")
    deadline, back = time.time() + 30 * h.SCALE, 0
    while time.time() < deadline and not back:
        echo_many(lport, echo, 10, "server 1 back")
        back = sessions(mports[1]) or 0
    print("server 1 back: it took connections again (%d)" % back, flush=True)
    h.check(back > 0, "server 1 got no connection after it came back")

    # 5. UDP: one association, one server.
    base = [h.metric_sample(h.metrics_text(m), "ssring_udp_associations_total") or 0
            for m in mports]
    u = h.Socks5Udp(lport)
    for i in range(10):
        u.send("127.0.0.1", uecho.port, b"dgram %d" % i)
        _, back = u.recv(timeout=5)
        h.check(back == uecho.tag + b"dgram %d" % i, "UDP echo %d: %r" % (i, back))
    u.close()
    got = [(h.metric_sample(h.metrics_text(m), "ssring_udp_associations_total") or 0) - b
           for m, b in zip(mports, base)]
    print("10 datagrams of one association: server associations %r" % got, flush=True)
    h.check(sorted(got) == [0, 0, 1], "the association used %r" % got)
    h.check(loc.stop() == 0, "local exit code")

    # 4. Latency: server 0 behind a proxy that holds first answers 150 ms.
    slow = SlowProxy(ports[0], 0.15)
    ups2 = ['{ server = "127.0.0.1:%d"; method = "%s"; password = "%s"; }' % (slow.port, M, PW),
            '"%s"' % link]
    lport2, lmport2 = h.free_port(), h.free_port()
    loc2 = local(lport2, lmport2, ups2, "local-latency")
    echo_many(lport2, echo, 20, "warm-up")
    base = [sessions(mports[0]), sessions(mports[2])]
    echo_many(lport2, echo, 60, "latency")
    got = [sessions(mports[0]) - base[0], sessions(mports[2]) - base[1]]
    lat = [up_metric(lmport2, p, "ssring_upstream_latency_seconds") for p in (slow.port, ports[2])]
    print("latency %.3f s vs %.3f s: 60 connections split %r" % (lat[0], lat[1], got), flush=True)
    h.check(got[0] < 15, "the slow server still got %d of 60" % got[0])
    h.check(loc2.stop() == 0, "local exit code")
    for s in srv:
        h.check(s.stop() == 0, "server exit code")
    print("test_upstreams: ok")


if __name__ == "__main__":
    main()
