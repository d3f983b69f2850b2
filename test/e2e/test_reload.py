# SPDX-License-Identifier: MIT
"""Live reload (SIGHUP): nothing open is dropped, new connections take the
new configuration, a bad file changes nothing and is reported with its line,
listeners come and go, and the process ends where it started (fds).

1. 200 long-lived relayed connections and a stream of new ones across 20
   reloads: every transfer byte-exact, none failed.
2. A reload that changes the server's password: the open session goes on,
   a new one needs the new password; a UDP client re-keyed on the same
   source port is served under the new key.
3. A file with a syntax error and one with a bad value: the old
   configuration keeps serving, the log names file and line, the metrics
   count the failures.
4. A listener added, one removed (its open session goes on), one kept.
5. fds back to their baseline after all of it.
"""
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

METHOD = "aes-256-gcm"
LONG = 200
RELOADS = 20


def cfg_text(sport, lports, password, mport, extra_top="", log_level="info",
             handshake=10, server_method=METHOD):
    locals_ = ",\n".join(
        '  { listen = "127.0.0.1:%d"; server = "127.0.0.1:%d"; method = "%s";\n'
        '    password = "%s"; }' % (lp, sport, METHOD, password) for lp in lports)
    return f"""
workers = 2;
log_level = "{log_level}";
{h.NO_DNS}
limits = {{ tcp_sessions = 4096; }};
timeouts = {{ handshake = {handshake}; udp_idle = 2; }};
metrics = {{ listen = "127.0.0.1:{mport}"; }};
{extra_top}
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "{server_method}";
             password = "{password}"; allow_private = true; }} );
locals = (
{locals_}
);
"""


class Relay:
    """One ssring process whose config file the test rewrites and reloads."""

    def __init__(self, text):
        self.path = h.write_config(text, "reload.cfg")
        self.pr = h.Proc([h.BIN, "-f", self.path], "reload")
        self.gen = 1

    def rewrite(self, text):
        with open(self.path + ".new", "w") as f:
            f.write(text)
        os.replace(self.path + ".new", self.path)

    def reload(self, text=None, expect_ok=True):
        if text is not None:
            self.rewrite(text)
        before_ok = self.pr.output().count("reloaded ")
        before_err = self.pr.output().count("reload failed")
        self.pr.p.send_signal(signal.SIGHUP)
        if expect_ok:
            self.gen += 1
            h.check(h.wait_log(self.pr, "configuration generation %d" % self.gen, timeout=10),
                    "reload to generation %d not logged:\n%s" % (self.gen,
                                                                 self.pr.output()[-3000:]))
            h.check(self.pr.output().count("reloaded ") == before_ok + 1, "one reload")
        else:
            h.check(h.wait_until(lambda: self.pr.output().count("reload failed") > before_err,
                                 timeout=10),
                    "failed reload not logged:\n" + self.pr.output()[-3000:])

    def fds(self):
        return h.proc_fds(self.pr.p.pid)

    def fd_list(self):
        """What each fd is; sockets with their /proc/net entry (diagnostics)."""
        socks = {}
        for name in ("tcp", "tcp6", "udp", "udp6"):
            with open("/proc/net/" + name) as f:
                next(f)
                for line in f:
                    c = line.split()
                    socks[c[9]] = "%s %s>%s st %s" % (name, c[1], c[2], c[3])
        d = "/proc/%d/fd" % self.pr.p.pid
        out = []
        for n in sorted(os.listdir(d), key=int):
            try:
                t = os.readlink(os.path.join(d, n))
            except OSError:
                continue
            ino = t[8:-1] if t.startswith("socket:[") else None
            out.append("%s -> %s%s" % (n, t, " (%s)" % socks[ino] if ino in socks else ""))
        return out

    def stable_fds(self):
        """The fd list once it stops moving (a scrape's connection may still
        be closing): the same list three times, 0.2 s apart."""
        seen = [self.fd_list()]

        def settled():
            seen.append(self.fd_list())
            return len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3]
        h.check(h.wait_until(settled, timeout=10, step=0.2), "fd list keeps moving: %s" % seen)
        return seen[-1]


def metric(mport, name, labels=""):
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5).read()
    pat = re.compile(r"^%s(\{[^}]*\})? (\d+)$" % re.escape(name), re.M)
    total, found = 0, False
    for m in pat.finditer(body.decode()):
        if all(x in (m.group(1) or "") for x in labels.split(",") if x):
            total += int(m.group(2))
            found = True
    return total if found else None  # None: no such sample (never equal to 0)


def exchange(s, data):
    s.sendall(data)
    got = h.recv_exact(s, len(data))
    h.check(got == data, "echo mismatch: %d of %d bytes" % (len(got), len(data)))


def long_lived_and_stream(relay, echo, lport, sport, mport):
    """Part 1: 200 long-lived sessions and a stream of new ones, 20 reloads."""
    longs = []
    for i in range(LONG):
        s = h.socks5_connect(lport, "127.0.0.1", echo.port)
        exchange(s, h.pattern(1000 + i, seed=i))
        longs.append(s)
    stop = threading.Event()
    stats = {"ok": 0, "fail": []}

    def stream():
        n = 0
        while not stop.is_set():
            data = h.pattern(20000 + n % 5000, seed=1000 + n)
            try:
                got = h.echo_roundtrip(lport, echo.port, data, timeout=10)
                if got == data:
                    stats["ok"] += 1
                else:
                    stats["fail"].append("transfer %d: %d of %d bytes" % (n, len(got),
                                                                         len(data)))
            except (OSError, SystemExit) as e:
                stats["fail"].append("transfer %d: %r" % (n, e))
            n += 1

    threads = [threading.Thread(target=stream) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for r in range(RELOADS):
            # Something changes each time (the level and a timeout), the
            # listeners and secrets stay.
            relay.reload(cfg_text(sport, [lport], "pw-one", mport,
                                  log_level="debug" if r % 2 else "info",
                                  handshake=10 + r))
            for i in range(0, LONG, 7):
                exchange(longs[i], h.pattern(500, seed=r * 1000 + i))
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    for i, s in enumerate(longs):
        exchange(s, h.pattern(3000, seed=77 + i))
        s.close()
    h.check(not stats["fail"], "%d transfers failed across the reloads: %s" % (
        len(stats["fail"]), stats["fail"][:5]))
    h.check(stats["ok"] >= 40, "too few transfers during the reloads: %d" % stats["ok"])
    h.check(metric(mport, "ssring_config_generation") == relay.gen, "generation metric")
    h.check(metric(mport, "ssring_reloads_total", 'result="ok"') == RELOADS, "reload count")
    return "%d long-lived sessions and %d new transfers across %d reloads, all byte-exact" % (
        LONG, stats["ok"], RELOADS)


class SsClient:
    """A raw ss TCP stream to the server, echoing through it."""

    def __init__(self, sport, password, echo_port, first=b""):
        self.s, self.up, self.down = h.ss_connect(sport, METHOD, password, "127.0.0.1",
                                                  echo_port, first)
        self.s.settimeout(3)
        self.raw = b""
        self.began = False
        self.plain = b""

    def read(self, n):
        while len(self.plain) < n:
            try:
                b = self.s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                b = b""
            if not b:
                break
            self.raw += b
            if not self.began and len(self.raw) >= self.down.klen:
                self.down.start(self.raw[:self.down.klen])
                self.raw = self.raw[self.down.klen:]
                self.began = True
            if self.began:
                got, self.raw = self.down.open(self.raw)
                self.plain += got
        out, self.plain = self.plain[:n], self.plain[n:]
        return out

    def echo(self, data):
        self.s.sendall(self.up.seal(data))
        return self.read(len(data))

    def close(self):
        self.s.close()


def password_change(relay, echo, lport, sport, mport, udp_echo):
    """Part 2: a new password for new sessions; open ones and re-keyed UDP go on."""
    first = b"first-" + os.urandom(20)
    c = SsClient(sport, "pw-one", echo.port, first)
    h.check(c.read(len(first)) == first, "session under the old password")
    # A UDP client on one source port, keyed with the old password.
    u = h.udp_socket()
    u.settimeout(2)
    hdr = b"\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", udp_echo.port)

    def udp_try(password):
        u.sendto(h.ss_udp_seal(METHOD, password, hdr + b"ping"), ("127.0.0.1", sport))
        try:
            pkt, _ = u.recvfrom(65536)
        except socket.timeout:
            return None
        return h.ss_udp_open(METHOD, password, pkt)

    h.check(udp_try("pw-one") is not None, "UDP under the old password")
    relay.reload(cfg_text(sport, [lport], "pw-two", mport))
    more = os.urandom(3000)
    h.check(c.echo(more) == more, "the open session stopped after the password changed")
    c.close()
    # New sessions: the old password no longer opens one, the new one does.
    old = SsClient(sport, "pw-one", echo.port, b"hello")
    h.check(old.read(5) == b"", "the old password still opens sessions")
    old.close()
    new = SsClient(sport, "pw-two", echo.port, b"")
    h.check(new.echo(b"new password") == b"new password", "new password")
    new.close()
    # The re-keyed UDP client on the same source port is served at once.
    h.check(udp_try("pw-two") is not None, "UDP re-keyed on the same port was dropped")
    h.check(udp_try("pw-one") is None, "UDP under the old password after the reload")
    u.close()
    # The local of the same file now seals with pw-two, through its kept socket.
    h.check(h.echo_roundtrip(lport, echo.port, b"z" * 5000) == b"z" * 5000,
            "local after the password change")
    return "open session kept its key; new sessions need the new password; UDP re-keyed"


def bad_files(relay, echo, lport, sport, mport):
    """Part 3: a syntax error and a bad value change nothing."""
    errors0 = metric(mport, "ssring_reloads_total", 'result="error"')
    relay.rewrite(cfg_text(sport, [lport], "pw-two", mport) + "\nthis is not libconfig;\n")
    relay.reload(expect_ok=False)
    out = relay.pr.output()
    h.check(re.search(r"reload failed.*reload\.cfg:\d+: ", out), "no FILE:LINE in:\n" + out[-2000:])
    h.check(h.echo_roundtrip(lport, echo.port, b"still here") == b"still here",
            "serving after a syntax error")
    bad = cfg_text(sport, [lport], "pw-two", mport, server_method="rot13")
    relay.rewrite(bad)
    relay.reload(expect_ok=False)
    line = [i + 1 for i, t in enumerate(bad.splitlines()) if "rot13" in t][0]
    h.check(re.search(r"reload failed.*reload\.cfg:%d: servers\[0\]\.method: unknown method "
                      r"'rot13'" % line, relay.pr.output()),
            "bad value not reported with its line %d:\n%s" % (line, relay.pr.output()[-2000:]))
    h.check(h.echo_roundtrip(lport, echo.port, b"still here") == b"still here",
            "serving after a bad value")
    h.check(metric(mport, "ssring_reloads_total", 'result="error"') == errors0 + 2,
            "failed reloads counted")
    h.check(metric(mport, "ssring_config_generation") == relay.gen, "generation unchanged")
    return "syntax error and bad value: old config served, file and line logged, counted"


def listeners(relay, echo, lport, sport, mport):
    """Part 4: add a listener, remove one; sessions on the removed one go on."""
    l2 = h.free_port()
    relay.reload(cfg_text(sport, [lport, l2], "pw-two", mport))
    h.check(h.echo_roundtrip(l2, echo.port, b"new port") == b"new port", "added listener")
    held = h.socks5_connect(lport, "127.0.0.1", echo.port)
    exchange(held, b"before removal")
    relay.reload(cfg_text(sport, [l2], "pw-two", mport))
    h.check(h.wait_until(lambda: not h.tcp_listening(lport), timeout=5),
            "removed listener still listening")
    try:
        socket.create_connection(("127.0.0.1", lport), timeout=2).close()
        h.fail("removed listener still accepts")
    except OSError:
        pass
    exchange(held, b"after removal: the session goes on")
    held.close()
    h.check(h.echo_roundtrip(l2, echo.port, b"kept") == b"kept", "kept listener")
    # Back to the start: the first port again.
    relay.reload(cfg_text(sport, [lport], "pw-two", mport))
    h.check(h.echo_roundtrip(lport, echo.port, b"back") == b"back", "listener re-added")
    return "added, removed (open session kept), re-added"


def main():
    echo = h.EchoServer()
    udp_echo = h.UdpEcho()
    sport, lport, mport = h.free_port(), h.free_port(), h.free_port()
    relay = Relay(cfg_text(sport, [lport], "pw-one", mport))
    if not h.wait_port(lport, relay.pr.p) or not h.wait_port(mport, relay.pr.p):
        out = relay.pr.output()
        if "io_uring" in out and ("not allowed" in out or "not available" in out):
            h.skip("io_uring unavailable")
        h.fail("ssring did not come up:\n" + out)
    h.check(h.wait_log(relay.pr, "ready:"), "not ready")
    # Baseline after the first scrape and one relayed connection (lazy
    # sockets such as the resolver's exist from then on).
    h.check(h.echo_roundtrip(lport, echo.port, b"warm") == b"warm", "first transfer")
    h.check(h.wait_until(lambda: metric(mport, "ssring_tcp_sessions") == 0, timeout=5),
            "warm-up session still open")
    base_list = relay.stable_fds()
    base = len(base_list)
    print("baseline %d fds: %s" % (base, base_list))
    results = [long_lived_and_stream(relay, echo, lport, sport, mport),
               password_change(relay, echo, lport, sport, mport, udp_echo),
               bad_files(relay, echo, lport, sport, mport),
               listeners(relay, echo, lport, sport, mport)]
    h.check(h.wait_until(lambda: metric(mport, "ssring_tcp_sessions") == 0, timeout=10),
            "sessions still open at the end")
    h.check(h.wait_until(lambda: metric(mport, "ssring_udp_associations") == 0, timeout=10),
            "UDP associations still open at the end (udp_idle = 2)")
    ok = h.wait_until(lambda: len(relay.fd_list()) == base, timeout=15)
    h.check(ok, "fds: %d at the start, %d at the end\nstart: %s\nend:   %s" % (
        base, len(relay.fd_list()), base_list, relay.fd_list()))
    h.check(relay.pr.stop() == 0, "exit code")
    out = relay.pr.output()
    unexpected = [x for x in out.splitlines() if " error [" in x and "reload failed" not in x]
    h.check(not unexpected, "errors logged:\n" + "\n".join(unexpected[:10]))
    for r in results:
        print("ok: " + r)
    print("ok: fds back to %d" % base)


if __name__ == "__main__":
    main()
