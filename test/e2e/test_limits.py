# SPDX-License-Identifier: MIT
"""Per-user limits on one server with two workers: a user limited to
2 MB/s each way, measured over 5 s, is within 10% of it while an unlimited
user on the same server at the same time is not slowed; UDP datagrams
over the rate are dropped and counted; a quota ends the session that
uses it up (with FIN, once the bytes it still covered are sent: a 3 MB
download through ss-local as a user with a 2,000,000-byte quota is counted
by the API and /metrics within 64 KiB of what the client got) and refuses
new ones; max_sessions and max_ips refuse the one
too many (closed the same way as an unknown key) and admit again when
one ends; the log and /metrics say which limit it was."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

M = "aes-256-gcm"
RATE = 2_000_000


def cfg(sport, mport):
    return f"""
workers = 2;
log_level = "info";
{h.NO_DNS}
metrics = {{ listen = "127.0.0.1:{mport}"; }};
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "{M}"; allow_private = true;
  probe = "close";
  users = (
    {{ name = "slow"; password = "pw-slow"; limits = {{ rate = "2 MB/s"; }}; }},
    {{ name = "fast"; password = "pw-fast"; }},
    {{ name = "q"; password = "pw-q"; limits = {{ quota = "3 MB"; quota_period = "day"; }}; }},
    {{ name = "s"; password = "pw-s"; limits = {{ max_sessions = 2; }}; }},
    {{ name = "ip"; password = "pw-ip"; limits = {{ max_ips = 2; }}; }}
  ); }} );
"""


class Pump:
    """An ss stream to the echo server that sends as fast as it can and
    counts the plaintext that comes back, with timestamps."""

    def __init__(self, sport, echo_port, user, source="127.0.0.1"):
        self.s, self.up, self.down = h.ss_connect_from(sport, M, "pw-" + user, "127.0.0.1",
                                                       echo_port, b"", source=source)
        self.got = 0
        self.marks = []
        self.stop = False
        self.err = None
        self.raw = b""
        self.started = False
        threading.Thread(target=self._send, daemon=True).start()
        threading.Thread(target=self._recv, daemon=True).start()

    def _send(self):
        plain = b"x" * 0x3F00 * 4
        try:
            while not self.stop:
                self.s.sendall(self.up.seal(plain))
        except OSError:
            pass

    def _recv(self):
        buf = b""
        try:
            while not self.stop:
                d = self.s.recv(1 << 16)
                if not d:
                    break
                buf += d
                if not self.started:
                    if len(buf) < self.down.klen:
                        continue
                    self.down.start(buf[:self.down.klen])
                    buf = buf[self.down.klen:]
                    self.started = True
                out, buf = self.down.open(buf)
                self.got += len(out)
                self.marks.append((time.monotonic(), self.got))
        except OSError as e:
            self.err = e

    def bytes_between(self, t0, t1):
        a = b = 0
        for t, n in self.marks:
            if t <= t0:
                a = n
            if t <= t1:
                b = n
        return b - a

    def close(self):
        self.stop = True
        try:
            self.s.close()
        except OSError:
            pass


def rate(sport, echo):
    slow = Pump(sport, echo.port, "slow")
    fast = Pump(sport, echo.port, "fast")
    t0 = time.monotonic() + 1.0  # past the burst allowance
    time.sleep(6.2)
    t1 = t0 + 5.0
    s, f = slow.bytes_between(t0, t1) / 5.0, fast.bytes_between(t0, t1) / 5.0
    slow.close()
    fast.close()
    print("rate: limited user %.0f B/s (limit %d), unlimited user %.0f B/s" % (s, RATE, f))
    h.check(abs(s - RATE) <= RATE * 0.10, "limited user at %.0f B/s, limit %d" % (s, RATE))
    h.check(f > 10 * RATE, "unlimited user slowed: %.0f B/s" % f)


def udp_rate(sport, uecho, mport):
    before = h.metric_sample(h.metrics_text(mport), "ssring_datagrams_dropped_total",
                             reason="user_limit") or 0
    sock = h.udp_socket(timeout=2.0)
    hdr = h.socks_addr("127.0.0.1", uecho.port)
    n, size = 2000, 1000
    for i in range(n):
        sock.sendto(h.ss_udp_seal(M, "pw-slow", hdr + b"u" * size), ("127.0.0.1", sport))
    got = 0
    try:
        while True:
            sock.recvfrom(65536)
            got += 1
    except socket.timeout:
        pass
    sock.close()
    dropped = (h.metric_sample(h.metrics_text(mport), "ssring_datagrams_dropped_total",
                               reason="user_limit") or 0) - before
    print("udp: %d of %d datagrams came back, %d dropped for the limit" % (got, n, dropped))
    h.check(0 < got < n // 2, "UDP over the rate: %d of %d came back" % (got, n))
    h.check(dropped > 0, "UDP drops over the rate not counted")


def one_echo(sport, echo_port, user, payload=b"ping", source="127.0.0.1", keep=False):
    """Open a session and get payload back; the socket if keep, else b"" or data."""
    s, up, down = h.ss_connect_from(sport, M, "pw-" + user, "127.0.0.1", echo_port, payload,
                                    source=source)
    s.settimeout(10)
    raw = b""
    try:
        while True:
            if down.klen <= len(raw):
                down.start(raw[:down.klen])
                out, rest = down.open(raw[down.klen:])
                if len(out) >= len(payload):
                    break
            d = s.recv(65536)
            if not d:
                break
            raw += d
    except OSError:
        pass
    ok = len(raw) > down.klen
    if keep and ok:
        return s
    s.close()
    return ok if not keep else None


def quota(sport, echo_port, mport):
    # 1 MB: within the quota.
    p = h.pattern(1_000_000)
    s, up, down = h.ss_connect_from(sport, M, "pw-q", "127.0.0.1", echo_port, p)
    s.shutdown(socket.SHUT_WR)
    h.check(h.ss_read_all(s, down) == p, "1 MB of a 3 MB quota did not echo")
    s.close()
    # 4 MB more: the quota (up + down = 2 MB so far of 3 MB) runs out mid-way.
    s, up, down = h.ss_connect_from(sport, M, "pw-q", "127.0.0.1", echo_port, b"")
    s.settimeout(20)
    got, raw, started = 0, b"", False
    closed = False

    def sender():
        try:
            for i in range(64):
                s.sendall(up.seal(b"q" * 65536))
        except OSError:
            pass
    threading.Thread(target=sender, daemon=True).start()
    try:
        while True:
            d = s.recv(65536)
            if not d:
                closed = True
                break
            raw += d
            if not started and len(raw) >= down.klen:
                down.start(raw[:down.klen])
                raw = raw[down.klen:]
                started = True
            if started:
                out, raw = down.open(raw)
                got += len(out)
    except socket.timeout:
        closed = False  # still open, silent: not closed by the quota
    except OSError:
        closed = True
    s.close()
    print("quota: %d more bytes echoed before the quota (3 MB up + down) closed it" % got)
    h.check(closed and got < 4 * 65536 * 16, "the quota did not close the session")
    h.check(got <= 1_000_000 + 600_000, "echoed %d bytes past a 3 MB quota" % got)
    h.check(not one_echo(sport, echo_port, "q"), "a new session past the quota was served")
    text = h.metrics_text(mport)
    h.check((h.metric_sample(text, "ssring_auth_failures_total", reason="user_limit") or 0) >= 1,
            "the refusal is not counted as user_limit")


def quota_delivered(tmp):
    """A 3 MB download through shadowsocks-libev's ss-local as a user with a
    2,000,000-byte quota: the session ends with FIN once the quota is used
    up, and what the API (downlinkBytes) and /metrics count for the user is
    within 64 KiB of what the client got (headers and body)."""
    import json
    import subprocess
    web = os.path.join(tmp, "web")
    os.makedirs(web, exist_ok=True)
    with open(os.path.join(web, "big"), "wb") as f:
        f.write(h.pattern(3_000_000, seed=5))
    httpd = h.HttpServer(web)
    sport, mport = h.free_port(), h.free_port()
    sock = os.path.join(tmp, "api.sock")
    cfg = f"""
workers = 2;
log_level = "info";
{h.NO_DNS}
metrics = {{ listen = "127.0.0.1:{mport}"; }};
api = {{ listen = "unix:{sock}"; }};
servers = ( {{ name = "qd"; listen = "127.0.0.1:{sport}"; method = "{M}"; allow_private = true;
  users = ( {{ name = "dl"; password = "pw-dl"; limits = {{ quota = 2000000; }}; }} ); }} );
"""
    pr = h.start_ssring(cfg, sport, name="quota-delivered")
    loc, lport = h.start_ss_local(sport, M, "pw-dl", name="ss-local-quota")
    s = h.socks5_connect(lport, "127.0.0.1", httpd.port)
    s.settimeout(30)
    s.sendall(b"GET /big HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    got, how = 0, "FIN"
    try:
        while True:
            b = s.recv(1 << 16)
            if not b:
                break
            got += len(b)
    except socket.timeout:
        how = "nothing for 30 s"
    except OSError as e:
        how = "error %s" % e
    s.close()
    h.check(how == "FIN", "the download ended by %s after %d bytes" % (how, got))
    h.check(1_500_000 < got < 2_000_000, "the client got %d bytes of a 2,000,000-byte quota"
            % got)
    r = subprocess.run(["curl", "-s", "--max-time", "10", "--unix-socket", sock,
                        "http://localhost/qd/users/dl"], capture_output=True, text=True,
                       timeout=30)
    doc = json.loads(r.stdout)
    down = doc["downlinkBytes"]
    metric = h.metric_sample(h.metrics_text(mport), "ssring_user_bytes_total", user="dl",
                             proto="tcp", direction="down")
    print("quota: the client got %d bytes; downlinkBytes %d, /metrics %s, quotaUsed %d"
          % (got, down, metric, doc["quotaUsed"]))
    h.check(abs(down - got) <= 65536, "downlinkBytes %d, the client got %d" % (down, got))
    h.check(metric is not None and abs(metric - got) <= 65536,
            "/metrics says %s, the client got %d" % (metric, got))
    h.check(doc["quotaUsed"] <= 2_000_000, "quotaUsed %d past the quota" % doc["quotaUsed"])
    h.check("quota used up" in pr.output(), "the log does not say the quota ran out")
    loc.stop()
    h.check(pr.stop() == 0, "exit code")


def sessions(sport, echo_port):
    a = one_echo(sport, echo_port, "s", keep=True)
    b = one_echo(sport, echo_port, "s", keep=True)
    h.check(a is not None and b is not None, "max_sessions = 2 refused one of two")
    h.check(not one_echo(sport, echo_port, "s"), "a third session of max_sessions = 2 was served")
    a.close()
    ok = h.wait_until(lambda: one_echo(sport, echo_port, "s"), timeout=10)
    h.check(ok, "a session ended but a new one is still refused")
    b.close()


def ips(sport, echo_port):
    h.check(one_echo(sport, echo_port, "ip", source="127.0.5.1"), "max_ips: first address")
    h.check(one_echo(sport, echo_port, "ip", source="127.0.5.2"), "max_ips: second address")
    h.check(not one_echo(sport, echo_port, "ip", source="127.0.5.3"),
            "max_ips = 2: a third address was served")
    h.check(one_echo(sport, echo_port, "ip", source="127.0.5.1"),
            "max_ips: a known address was refused")


def main():
    echo, uecho = h.EchoServer(), h.UdpEcho(tag=b"E:")
    sport, mport = h.free_port(), h.free_port()
    pr = h.start_ssring(cfg(sport, mport), sport)
    sessions(sport, echo.port)
    ips(sport, echo.port)
    quota(sport, echo.port, mport)
    udp_rate(sport, uecho, mport)
    rate(sport, echo)
    quota_delivered(h.tmpdir())
    out = pr.output()
    for want in ("quota used up", "max_sessions open", "max_ips addresses in use"):
        h.check(want in out, "the log does not say %r" % want)
    pr.stop()
    print("ok")


if __name__ == "__main__":
    main()
