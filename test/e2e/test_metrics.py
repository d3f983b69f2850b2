# SPDX-License-Identifier: MIT
"""Prometheus metrics: the exposition passes `promtool check metrics`; a
real Prometheus (Debian's prometheus 2.42) scrapes ssring every second, and
the values it stores, read back through its query API, equal the payload
bytes this test relayed (exactly) and the sessions it opened; the endpoint
answers 404 off /metrics and stays bounded against slow and greedy
clients: one address holds at most 4 connections while another still
scrapes. With metrics.token, a scrape needs it (401 without, or with the
wrong one)."""
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

METHOD = "chacha20-ietf-poly1305"
PW = "metrics-pw"


def cfg(sport, lport, mport):
    return f"""
workers = 2;
log_level = "info";
{h.NO_DNS}
metrics = {{ listen = "127.0.0.1:{mport}"; }};
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "{METHOD}"; password = "{PW}";
             allow_private = true; }} );
locals = ( {{ listen = "127.0.0.1:{lport}"; server = "127.0.0.1:{sport}";
             method = "{METHOD}"; password = "{PW}"; }} );
"""


def scrape(mport, path="/metrics"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (mport, path), timeout=5) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def scrape_ok(mport):
    try:
        return scrape(mport)[0] == 200
    except OSError:
        return False


def sample(text, name, **labels):
    total, found = 0, False
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all('%s="%s"' % kv in line for kv in labels.items()):
            total += int(float(line.rsplit(" ", 1)[1]))
            found = True
    return total if found else None


class Prometheus:
    def __init__(self, mport):
        tmp = h.tmpdir()
        self.port = h.free_port()
        conf = os.path.join(tmp, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
                    "scrape_configs:\n  - job_name: ssring\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % mport)
        self.pr = h.Proc(["prometheus", "--config.file=" + conf,
                          "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                          "--web.listen-address=127.0.0.1:%d" % self.port,
                          "--log.level=warn"], "prometheus")
        h.check(h.wait_port(self.port, self.pr.p, timeout=30),
                "prometheus did not come up:\n" + self.pr.output()[-2000:])
        # It answers 503 until its storage is open: wait for /-/ready.
        h.check(h.wait_until(self.ready, timeout=60, step=0.2),
                "prometheus not ready:\n" + self.pr.output()[-2000:])

    def ready(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.port,
                                        timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def query(self, q):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.port,
                                                       urllib.parse.urlencode({"query": q}))
        with urllib.request.urlopen(url, timeout=5) as r:
            d = json.load(r)
        h.check(d.get("status") == "success", "query %s: %r" % (q, d))
        return [(x["metric"], float(x["value"][1])) for x in d["data"]["result"]]

    def value(self, q):
        try:
            r = self.query(q)
        except OSError:
            return None  # a query Prometheus could not answer now
        return r[0][1] if r else None

    def wait_value(self, q, want, timeout=20):
        ok = h.wait_until(lambda: self.value(q) == want, timeout=timeout, step=0.5)
        h.check(ok, "Prometheus: %s = %r, want %r" % (q, self.value(q), want))


def relay_known_traffic(lport, echo, udp_echo):
    """TCP: N sessions with known sizes; UDP: datagrams of known sizes."""
    sent = 0
    sessions = 7
    for i in range(sessions):
        data = h.pattern(10000 * (i + 1) + i, seed=i)
        h.check(h.echo_roundtrip(lport, echo.port, data) == data, "tcp echo")
        sent += len(data)
    u = h.Socks5Udp(lport)
    dgrams = [b"d" * (100 + i) for i in range(10)]
    for d in dgrams:
        u.send("127.0.0.1", udp_echo.port, d)
        addr, got = u.recv(timeout=5)
        h.check(got == d, "udp echo %r" % got[:20])
    u.close()
    return sent, sessions + 1, sum(map(len, dgrams)), len(dgrams)


def bounded(mport):
    """404 elsewhere, 431 for a huge head, a slow client cut off, and at most
    4 connections at once from one address (of 16)."""
    try:
        scrape(mport, "/nope")
        h.fail("/nope answered 200")
    except urllib.error.HTTPError as e:
        h.check(e.code == 404, "/nope: %d" % e.code)
    s = socket.create_connection(("127.0.0.1", mport), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    head = h.recv_all(s)
    s.close()
    h.check(head.startswith(b"HTTP/1.1 431"), "huge head: %r" % head[:40])
    idle = [socket.create_connection(("127.0.0.1", mport), timeout=5) for _ in range(20)]
    time.sleep(0.3)
    closed = 0
    for c in idle:
        c.settimeout(0.2)
        try:
            if c.recv(1) == b"":
                closed += 1
        except socket.timeout:
            pass
    h.check(closed == 16, "one address, 20 connections: %d closed, want 16" % closed)
    # Another address is not kept out by them.
    s = socket.create_connection(("127.0.0.1", mport), timeout=5, source_address=("127.0.0.2", 0))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    h.check(h.recv_all(s).startswith(b"HTTP/1.1 200"), "127.0.0.2 kept out by 127.0.0.1's 4")
    s.close()
    for c in idle:
        c.close()
    # Their slots come back: the endpoint answers again.
    h.check(h.wait_until(lambda: scrape_ok(mport), timeout=10), "no scrape after the flood")
    return ("404 elsewhere, 431 for a 20 KB head, %d of 20 idle connections from one "
            "address refused, another address served" % closed)


def token():
    """metrics.token: 401 without it or with another, 200 with it."""
    tok = "metrics-token-0123456789abcdef"
    sport, mport = h.free_port(), h.free_port()
    srv = h.start_ssring(f"""{h.NO_DNS}
metrics = {{ listen = "127.0.0.1:{mport}"; token = "{tok}"; }};
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "{METHOD}"; password = "{PW}"; }} );
""", mport, "metrics-token")
    for hdr in (None, "Bearer wrong-token-wrong-token-wrong", "Bearer " + tok[:-1],
                "Basic " + tok):
        req = urllib.request.Request("http://127.0.0.1:%d/metrics" % mport)
        if hdr:
            req.add_header("Authorization", hdr)
        try:
            urllib.request.urlopen(req, timeout=5)
            h.fail("/metrics with Authorization %r answered 200" % hdr)
        except urllib.error.HTTPError as e:
            h.check(e.code == 401 and e.headers.get("WWW-Authenticate") == "Bearer",
                    "/metrics with Authorization %r: %d" % (hdr, e.code))
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % mport,
                                 headers={"Authorization": "Bearer " + tok})
    with urllib.request.urlopen(req, timeout=5) as r:
        h.check(r.status == 200 and b"ssring_build_info" in r.read(), "with the token")
    h.check(srv.stop() == 0, "exit code")


def main():
    for tool in ("prometheus", "promtool"):
        if not shutil.which(tool):
            h.fail(tool + " is not installed (tools/bootstrap installs Debian's prometheus)")
    echo, udp_echo = h.EchoServer(), h.UdpEcho()
    sport, lport, mport = h.free_port(), h.free_port(), h.free_port()
    srv = h.start_ssring(cfg(sport, lport, mport), mport, "metrics")
    st, ctype, text = scrape(mport)
    h.check(st == 200 and ctype.startswith("text/plain; version=0.0.4"), "content type %r" % ctype)
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    h.check(p.returncode == 0, "promtool check metrics:\n%s%s" % (p.stdout.decode(),
                                                                 p.stderr.decode()))
    prom = Prometheus(mport)
    prom.wait_value('up{job="ssring"}', 1.0, timeout=30)
    tcp_bytes, tcp_sessions, udp_bytes, udp_n = relay_known_traffic(lport, echo, udp_echo)
    # Exact: what the clients sent is what went up, and the echo came down.
    for role in ("server", "local"):
        for d in ("up", "down"):
            prom.wait_value('ssring_bytes_total{role="%s",proto="tcp",direction="%s"}' % (role, d),
                            float(tcp_bytes))
    prom.wait_value('ssring_bytes_total{role="local",proto="udp",direction="up"}',
                    float(udp_bytes))
    prom.wait_value('ssring_bytes_total{role="server",proto="udp",direction="down"}',
                    float(udp_bytes))
    prom.wait_value('ssring_datagrams_total{role="server",direction="up"}', float(udp_n))
    # Sessions: the local saw every SOCKS5 connection (the UDP control one
    # included); the server one stream for each TCP CONNECT.
    prom.wait_value('ssring_tcp_sessions_total{role="local"}', float(tcp_sessions))
    prom.wait_value('ssring_tcp_sessions_total{role="server"}', float(tcp_sessions - 1))
    prom.wait_value('sum(ssring_tcp_sessions)', 0.0)
    prom.wait_value('ssring_udp_associations_total{role="local"}', 1.0)
    h.check(prom.value("ssring_config_generation") == 1.0, "generation")
    h.check(prom.value("process_open_fds") > 0, "open fds")
    h.check(prom.value("process_resident_memory_bytes") > 1e6, "rss")
    info = prom.query("ssring_build_info")
    h.check(info and info[0][0].get("version"), "build info %r" % info)
    note = bounded(mport)
    token()
    text = scrape(mport)[2]
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    h.check(p.returncode == 0, "promtool after traffic:\n%s" % p.stdout.decode())
    prom.pr.stop()
    h.check(srv.stop() == 0, "exit code")
    print("ok: promtool clean; Prometheus read back %d TCP bytes each way, %d UDP bytes and "
          "%d datagrams, %d sessions — exact; %s" % (tcp_bytes, udp_bytes, udp_n,
                                                     tcp_sessions, note))


if __name__ == "__main__":
    main()
