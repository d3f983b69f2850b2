# SPDX-License-Identifier: MIT
"""Name resolution on the ring (src/dns.c, c-ares): ssring server, local and
HTTP/SOCKS5 paths against a dnsmasq on loopback that we start with names of
our own. One line per case; exit 0 only if all pass, 77 if dnsmasq is
missing (a failure when CI=true or SSRING_REQUIRE_URING=1). Bounded: the
whole file is killed after WATCHDOG_S seconds.

dnsmasq names (addn-hosts file, --cname, --host-record, --local=/test/):
    echo.test, ss.test,
    udp.test                A     127.0.0.1
    v6.test                 AAAA  ::1 (no A: NODATA)
    both.test               A 127.0.0.1 and AAAA ::1
    alias.test -> alias2.test -> echo.test   (CNAME chain)
    short.test              A 127.0.0.1, TTL 1 s (ssring floors it at 2 s)
    n0.test .. n49.test     A 127.0.0.1
    nx.test                 NXDOMAIN (the whole test domain is local)
Every other local answer has TTL 600 s (--local-ttl) so that the cache
cannot expire in the middle of a case."""
import os
import re
import resource
import select
import selectors
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if "SSRING_BIN" not in os.environ:
    h.BIN = os.path.join(ROOT, "build", "ssring")

METHOD = "chacha20-ietf-poly1305"
PW = "dns-test-pw"
WATCHDOG_S = 115
N_SHARE, N_NAMES = 1000, 50
DNS_LINE = re.compile(r"dns: (\d+) queries, (\d+) cache hits, (\d+) misses, (\d+) shared, "
                      r"(\d+) failures")


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise Fail(msg)


# ---------------------------------------------------------------- watchdog

def _watchdog():
    print("FAIL: time limit (%d s) reached; killing everything" % WATCHDOG_S, flush=True)
    for p in h._procs:
        try:
            p.kill()
        except OSError:
            pass
    os._exit(1)


# ---------------------------------------------------------------- dnsmasq

def find_dnsmasq():
    for p in ("/usr/sbin/dnsmasq", shutil.which("dnsmasq")):
        if p and os.access(p, os.X_OK):
            return p
    return None


def dns_query(port, name, qtype=1, timeout=0.5):
    """One UDP query; returns (rcode, ancount) or None on timeout."""
    qid = os.getpid() & 0xFFFF
    pkt = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    pkt += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    pkt += struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(pkt, ("127.0.0.1", port))
        r = s.recv(1500)
        flags, _, an = struct.unpack(">HHH", r[2:8])
        return flags & 15, an
    except OSError:
        return None
    finally:
        s.close()


class Dnsmasq:
    def __init__(self):
        exe = find_dnsmasq()
        if not exe:
            h.skip("dnsmasq is not installed (apt-get install dnsmasq-base)")
        d = h.tmpdir()
        self.log = os.path.join(d, "dnsmasq-queries.log")
        hosts = os.path.join(d, "dns-test.hosts")
        with open(hosts, "w") as f:
            f.write("127.0.0.1 echo.test ss.test udp.test\n::1 v6.test\n"
                    "127.0.0.1 both.test\n::1 both.test\n")
            for i in range(N_NAMES):
                f.write("127.0.0.1 n%d.test\n" % i)
        import pwd
        user = pwd.getpwuid(os.getuid()).pw_name
        for _ in range(5):
            self.port = h.free_port(socket.SOCK_DGRAM)
            args = [exe, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                    "--no-hosts", "--pid-file=", "--user=" + user,
                    "--listen-address=127.0.0.1", "--port=%d" % self.port,
                    "--bind-interfaces", "--log-queries", "--log-facility=" + self.log,
                    "--addn-hosts=" + hosts, "--local=/test/", "--local-ttl=600",
                    "--cname=alias.test,alias2.test", "--cname=alias2.test,echo.test",
                    "--host-record=short.test,127.0.0.1,1"]
            self.proc = h.Proc(args, "dnsmasq")
            end = time.time() + 5
            while time.time() < end and self.proc.p.poll() is None:
                if dns_query(self.port, "echo.test") == (0, 1):
                    return
                time.sleep(0.05)
            self.proc.stop()
        h.fail("dnsmasq did not come up:\n" + self.proc.output())

    def lines(self):
        try:
            with open(self.log) as f:
                return f.read().splitlines()
        except OSError:
            return []

    def count(self, name_re, qtype):
        """Queries of type qtype (A, AAAA) logged for names matching name_re."""
        rx = re.compile(r"query\[%s\] (%s) from " % (re.escape(qtype), name_re))
        return sum(1 for ln in self.lines() if rx.search(ln))

    def settle(self, name_re, qtype, want=None, wait=1.0):
        """dnsmasq writes its log from its main loop: give it a moment. With
        want, return as soon as the count reaches it."""
        end = time.time() + wait
        n = self.count(name_re, qtype)
        while time.time() < end and (want is None or n < want):
            time.sleep(0.05)
            n = self.count(name_re, qtype)
        return n


# ---------------------------------------------------------------- ss client (ATYP 3)

class Down:
    """Incremental decryption of the server->client stream."""

    def __init__(self):
        self.c = h.SsStream(METHOD, PW)
        self.raw = b""
        self.started = False
        self.plain = b""

    def feed(self, b):
        self.raw += b
        if not self.started:
            if len(self.raw) < self.c.klen:
                return
            self.c.start(self.raw[:self.c.klen])
            self.raw = self.raw[self.c.klen:]
            self.started = True
        out, self.raw = self.c.open(self.raw)
        self.plain += out


def ss_request(host, tport, first):
    """salt | seal(ATYP address | first): an IP literal or a name (ATYP 3)."""
    up = h.SsStream(METHOD, PW)
    salt = os.urandom(up.klen)
    up.start(salt)
    return salt + up.seal(h.socks_addr(host, tport) + first)


def ss_connect_name(port, host, tport, first=b"", timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(ss_request(host, tport, first))
    return s


def ss_read(s, want, timeout):
    """Read until want plaintext bytes, EOF, reset or timeout. Returns
    (plaintext, how, seconds) with how in done/eof/reset/timeout."""
    t0 = time.time()
    d = Down()
    end = t0 + timeout
    while len(d.plain) < want:
        left = end - time.time()
        if left <= 0:
            return d.plain, "timeout", time.time() - t0
        s.settimeout(left)
        try:
            b = s.recv(65536)
        except socket.timeout:
            return d.plain, "timeout", time.time() - t0
        except ConnectionResetError:
            return d.plain, "reset", time.time() - t0
        if not b:
            return d.plain, "eof", time.time() - t0
        d.feed(b)
    return d.plain, "done", time.time() - t0


def ss_echo(port, host, tport, payload, timeout=5):
    t0 = time.time()
    s = ss_connect_name(port, host, tport, payload, timeout)
    try:
        got, how, _ = ss_read(s, len(payload), timeout)
    finally:
        s.close()
    expect(got == payload, "%s:%d via :%d: %d of %d bytes back (%s after %.2fs)"
           % (host, tport, port, len(got), len(payload), how, time.time() - t0))
    return time.time() - t0


def expect_refused(port, host, tport, limit):
    """The server must close the connection without data within limit s."""
    s = ss_connect_name(port, host, tport, b"never-echoed")
    try:
        got, how, dt = ss_read(s, 1, limit + 2)
    finally:
        s.close()
    expect(how in ("eof", "reset") and got == b"",
           "%s: want a close without data, got %s with %d bytes after %.2fs"
           % (host, how, len(got), dt))
    expect(dt < limit, "%s: closed only after %.2fs (limit %.1fs)" % (host, dt, limit))
    return dt


# ---------------------------------------------------------------- targets

class Echo:
    """TCP echo on host:port that prefixes nothing (tag b"") or a tag."""

    def __init__(self, host, port=0, tag=b""):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.tag = tag
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            if self.tag:
                c.sendall(self.tag)
            while True:
                b = c.recv(65536)
                if not b:
                    break
                c.sendall(b)
        except OSError:
            pass
        finally:
            c.close()


# ---------------------------------------------------------------- configs

def dns_block(port):
    return 'dns = { servers = [ "127.0.0.1:%d" ]; cache_entries = 4096; prefer = "ipv4"; };\n' % port


# Our own config text (not h.server_cfg/h.local_cfg): the dns block is the
# point here, and there must be exactly one.
def server_text(port, dns_port, workers=1):
    # 1,000 lookups at once all come from 127.0.0.1: no per-source limit.
    return f"""
workers = {workers};
log_level = "debug";
limits = {{ handshakes_per_source = 0; }};
servers = ( {{ listen = "127.0.0.1:{port}"; method = "{METHOD}";
             password = "{PW}"; allow_private = true; }} );
""" + dns_block(dns_port)


def local_text(lport, server, dns_port):
    return f"""
workers = 1;
log_level = "debug";
locals = ( {{ listen = "127.0.0.1:{lport}"; server = "{server}";
            method = "{METHOD}"; password = "{PW}"; }} );
""" + dns_block(dns_port)


def dns_stats(pr):
    """Stop ssring; return its exit code and the per-worker dns counters."""
    rc = pr.stop()
    return rc, [tuple(int(x) for x in m.groups()) for m in DNS_LINE.finditer(pr.output())]


def tail(pr, n=15):
    return "\n    | " + "\n    | ".join(pr.output().strip().splitlines()[-n:])


# ---------------------------------------------------------------- runner

results = []


def run(num, label, fn):
    t0 = time.time()
    try:
        extra = fn()
        status, msg = "ok", extra or ""
    except Skip as e:
        # Skips are failures where they must not happen (as harness.skip()).
        status, msg = ("FAIL", "would skip, but skips are failures here: %s" % e) \
            if h.REQUIRE else ("SKIP", str(e))
    except Fail as e:
        status, msg = "FAIL", str(e)
    except SystemExit as e:          # a harness check()/fail() inside the case
        if e.code == h.SKIP:
            raise
        status, msg = "FAIL", "harness check failed (see the FAIL line above)"
    except Exception as e:           # noqa: BLE001 - a test bug or an I/O error: a failure
        status, msg = "FAIL", "%s: %s" % (type(e).__name__, e)
    results.append(status)
    print("%-4s %2d %-34s %5.2fs  %s" % (status, num, label, time.time() - t0, msg), flush=True)


def main():
    wd = threading.Timer(WATCHDOG_S, _watchdog)
    wd.daemon = True
    wd.start()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * N_SHARE + 1024
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    if not os.access(h.BIN, os.X_OK):
        h.fail("no ssring binary at %s (build it or set SSRING_BIN)" % h.BIN)

    dns = Dnsmasq()
    echo = h.EchoServer()
    sport = h.free_port()
    S1 = h.start_ssring(server_text(sport, dns.port), sport, "ssring-server")

    def c1():
        dt = ss_echo(sport, "echo.test", echo.port, b"hello over A" * 10)
        return "echo.test -> 127.0.0.1, %.0f ms" % (dt * 1000)

    def c2():
        try:
            e6 = Echo("::1")
        except OSError as e:
            raise Skip("cannot bind ::1: %s" % e)
        dt = ss_echo(sport, "v6.test", e6.port, b"hello over AAAA" * 10)
        # both.test has A and AAAA; prefer = "ipv4" must pick 127.0.0.1. Two
        # listeners on one port number tell which family was dialled.
        for _ in range(10):  # a port number free on both 127.0.0.1 and ::1
            e4 = Echo("127.0.0.1", tag=b"v4:")
            try:
                Echo("::1", e4.port, tag=b"v6:")
                break
            except OSError:
                e4.sock.close()
        else:
            raise Skip("no port number free on both 127.0.0.1 and ::1 in 10 tries: "
                       "both.test preference not checked")
        s = ss_connect_name(sport, "both.test", e4.port, b"pref")
        got, how, _ = ss_read(s, 7, 5)
        s.close()
        expect(got == b"v4:pref", "both.test with prefer ipv4: got %r (%s)" % (got, how))
        return "v6.test -> ::1 %.0f ms; both.test -> 127.0.0.1 (prefer ipv4)" % (dt * 1000)

    def c3():
        ss_echo(sport, "alias.test", echo.port, b"through a CNAME chain")
        return "alias.test -> alias2.test -> echo.test"

    def c4():
        dt = expect_refused(sport, "nx.test", echo.port, 3.0)
        dt2 = expect_refused(sport, "nx.test", echo.port, 3.0)   # the negative cache
        ss_echo(sport, "echo.test", echo.port, b"still serving")
        expect(S1.p.poll() is None, "server exited")
        return "closed after %.0f ms (then %.0f ms cached); next request ok" % (
            dt * 1000, dt2 * 1000)

    def c5():
        # A UDP socket that never reads: queries vanish, and no ICMP port
        # unreachable tells c-ares to give up early.
        silent = h.udp_socket("127.0.0.1", 0, timeout=None)
        try:
            p2 = h.free_port()
            S2 = h.start_ssring(server_text(p2, silent.getsockname()[1]), p2, "ssring-deaddns")
            box = {}

            def stuck():
                try:
                    s = ss_connect_name(p2, "echo.test", echo.port, b"stuck")
                    box["r"] = ss_read(s, 1, 14)
                    box["end"] = time.time()
                    s.close()
                except Exception as e:  # noqa: BLE001
                    box["err"] = e

            t = threading.Thread(target=stuck, daemon=True)
            t.start()
            # The lookup is on the wire once the silent server has it.
            select.select([silent], [], [], 5)
            lat = ss_echo(p2, "127.0.0.1", echo.port, b"ip literal while a lookup hangs",
                          timeout=3)
            ip_done = time.time()
            t.join(15)
            expect(not t.is_alive(), "the stuck request was not closed within 15 s")
            expect("err" not in box, "stuck request: %r" % box.get("err"))
            got, how, dt = box["r"]
            expect(lat < 1.0, "IP-literal request took %.2fs while a lookup hung" % lat)
            expect(box["end"] > ip_done,
                   "the named request ended (%s after %.2fs) before the IP-literal one: "
                   "the lookup did not hang, so the case proves nothing" % (how, dt))
            expect(how in ("eof", "reset") and got == b"",
                   "named request to a dead DNS server: %s with %d bytes after %.2fs"
                   % (how, len(got), dt))
            expect(dt < 10.0, "closed only after %.2fs (2 s x 2 tries + slack < 10 s)" % dt)
            expect(S2.p.poll() is None, "server exited")
            rc, st = dns_stats(S2)
            log = S2.output()
            expect(re.search(r"dns: echo\.test: ", log),
                   "no 'dns: echo.test: <error>' debug line:" + tail(S2))
            expect(rc == 0, "exit code %r on SIGTERM" % rc)
            return "IP literal %.0f ms during the hang; name closed after %.2fs; stats %r" % (
                lat * 1000, dt, st)
        finally:
            silent.close()

    def c6():
        name = r"short\.test"
        ss_echo(sport, "short.test", echo.port, b"short 1")
        ss_echo(sport, "short.test", echo.port, b"short 2")
        n1 = dns.settle(name, "A", wait=0.5)
        expect(n1 == 1, "two requests within 1 s: %d A queries for short.test, want 1" % n1)
        # Ask again until the entry has expired (TTL 1 s, floor 2 s), bounded.
        h.wait_until(lambda: ss_echo(sport, "short.test", echo.port, b"short 3") is not None and
                     dns.count(name, "A") >= 2, timeout=8.0, step=0.25)
        n2 = dns.settle(name, "A", want=2, wait=2.0)
        expect(n2 == 2, "after 3.5 s: %d A queries for short.test, want 2 (TTL 1 s, floor 2 s)"
               % n2)
        return "A queries: %d, then %d after expiry (AAAA: %d)" % (
            n1, n2, dns.count(name, "AAAA"))

    def c7():
        p3 = h.free_port()
        S3 = h.start_ssring(server_text(p3, dns.port), p3, "ssring-share")
        socks, reqs, payloads = [], [], []
        try:
            for i in range(N_SHARE):
                socks.append(socket.create_connection(("127.0.0.1", p3), timeout=10))
                payloads.append(b"share-%04d" % i)
                reqs.append(ss_request("n%d.test" % (i % N_NAMES), echo.port, payloads[i]))
            t0 = time.time()
            for s, r in zip(socks, reqs):     # all the lookups in one burst
                s.sendall(r)
            sent = time.time() - t0
            sel = selectors.DefaultSelector()
            downs = {}
            for i, s in enumerate(socks):
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, i)
                downs[i] = Down()
            ok, bad = 0, {}
            end = time.time() + 30
            while ok + len(bad) < N_SHARE and time.time() < end:
                for key, _ in sel.select(timeout=0.5):
                    i, s = key.data, key.fileobj
                    try:
                        b = s.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError as e:
                        b, why = None, repr(e)
                    else:
                        why = "EOF"
                    if b:
                        downs[i].feed(b)
                        if len(downs[i].plain) < len(payloads[i]):
                            continue
                        if downs[i].plain == payloads[i]:
                            ok += 1
                        else:
                            bad[i] = "wrong echo %r" % downs[i].plain[:32]
                    else:
                        bad[i] = "%s after %d bytes" % (why, len(downs[i].plain))
                    sel.unregister(s)
                    s.close()
            took = time.time() - t0
        finally:
            for s in socks:
                s.close()
        rc, st = dns_stats(S3)
        na = dns.settle(r"n\d+\.test", "A", wait=0.5)
        n6 = dns.count(r"n\d+\.test", "AAAA")
        expect(ok == N_SHARE, "%d of %d echoes back in %.1fs; first failures %r"
               % (ok, N_SHARE, took, sorted(bad.items())[:5]) + tail(S3))
        expect(len(st) == 1, "want one 'dns: ...' exit line (workers = 1), got %r" % st
               + tail(S3))
        q, hits, misses, shared, fails = st[0]
        # c-ares' getaddrinfo with AF_UNSPEC asks A and AAAA for each name:
        # one lookup per name is at most 50 queries of each type (100 in all).
        expect(na <= N_NAMES and n6 <= N_NAMES,
               "dnsmasq saw %d A and %d AAAA queries for 50 names (want <= 50 each)" % (na, n6))
        expect(q <= N_NAMES, "ssring counted %d lookups for %d names" % (q, N_NAMES))
        expect(fails == 0, "ssring counted %d failed lookups" % fails)
        expect(rc == 0, "exit code %r on SIGTERM" % rc)
        return ("%d echoes in %.2fs (sent in %.2fs); dnsmasq A=%d AAAA=%d; ssring queries=%d "
                "hits=%d misses=%d shared=%d failures=%d" % (ok, took, sent, na, n6, q, hits,
                                                            misses, shared, fails))

    lport = h.free_port()
    L1 = h.start_ssring(local_text(lport, "127.0.0.1:%d" % sport, dns.port), lport,
                        "ssring-local")

    def c8():
        if not shutil.which("curl"):
            raise Skip("curl is not installed")
        www = os.path.join(h.tmpdir(), "www")
        os.makedirs(www, exist_ok=True)
        body = h.pattern(300000, seed=53)
        with open(os.path.join(www, "file"), "wb") as f:
            f.write(body)
        web = h.HttpServer(www)
        url = "http://echo.test:%d/file" % web.port

        def curl(proxy_port, what):
            out = subprocess.run(["curl", "-sS", "--max-time", "15", "--socks5-hostname",
                                  "127.0.0.1:%d" % proxy_port, url], capture_output=True,
                                 timeout=30)
            expect(out.returncode == 0, "%s: curl rc %d: %s" % (what, out.returncode,
                                                               out.stderr.decode().strip()))
            expect(out.stdout == body, "%s: body differs (%d bytes, want %d)"
                   % (what, len(out.stdout), len(body)))

        curl(lport, "ssring local")
        if not shutil.which("ss-local"):
            raise Skip("ssring local ok; ss-local is not installed, its half not run")
        SL, slport = h.start_ss_local(sport, METHOD, PW, "ss-local-dns")
        try:
            curl(slport, "ss-local")
        finally:
            SL.stop()
        return "curl --socks5-hostname echo.test via ssring local and ss-local: %d bytes" % (
            len(body))

    def c9():
        uecho = h.UdpEcho()
        a = h.Socks5Udp(lport)
        notes = []
        try:
            # udp.test is looked up by nobody else: its first datagram waits
            # in the server for the answer. echo.test is (normally) cached.
            for name in ("udp.test", "echo.test"):
                got = None
                for i in range(3):
                    data = b"dns-udp-%s-%d" % (name.encode(), i)
                    a.send(name, uecho.port, data)
                    try:
                        while True:
                            addr, d = a.recv(timeout=1.0)
                            if d == data:
                                got = (addr, i)
                                break
                    except socket.timeout:
                        continue
                    break
                expect(got is not None, "no echo for %s:%d in 3 tries (echo received %d)"
                       % (name, uecho.port, uecho.count) + tail(S1, 8))
                addr, i = got
                expect(tuple(addr) == ("127.0.0.1", uecho.port),
                       "%s: reply header names %r, want 127.0.0.1:%d" % (name, addr, uecho.port))
                notes.append("%s: %d retries" % (name, i))
            return "%s; reply header 127.0.0.1:%d" % ("; ".join(notes), uecho.port)
        finally:
            a.close()
            uecho.close()

    def c10():
        p = h.free_port()
        L2 = h.start_ssring(local_text(p, "ss.test:%d" % sport, dns.port), p,
                            "ssring-local-byname")
        before = dns.count(r"ss\.test", "A")
        for host in ("127.0.0.1", "echo.test"):
            data = b"local with a named server -> " + host.encode()
            got = h.echo_roundtrip(p, echo.port, data, host=host, timeout=10)
            expect(got == data, "SOCKS5 CONNECT %s via server ss.test: %d bytes back"
                   % (host, len(got)))
        # The UDP half of a local with a named server: SOCKS5 UDP ASSOCIATE.
        uecho = h.UdpEcho()
        a = h.Socks5Udp(p)
        got = None
        try:
            for i in range(3):
                a.send("127.0.0.1", uecho.port, b"udp via ss.test %d" % i)
                try:
                    got = a.recv(timeout=1.0)
                    break
                except socket.timeout:
                    continue
        finally:
            a.close()
            uecho.close()
        expect(got is not None and got[1].startswith(b"udp via ss.test"),
               "SOCKS5 UDP via server ss.test: no echo" + tail(L2))
        rc, st = dns_stats(L2)
        nq = dns.settle(r"ss\.test", "A", want=before + 1, wait=1.0) - before
        expect(nq >= 1, "dnsmasq saw no query for ss.test" + tail(L2))
        expect(st and st[0][0] >= 1 and st[0][4] == 0,
               "local dns counters %r: want >= 1 query, 0 failures" % st)
        expect(rc == 0, "exit code %r on SIGTERM" % rc)
        return "server = ss.test:%d resolved (%d A queries); stats %r" % (sport, nq, st)

    cases = [(1, "A record", c1), (2, "AAAA record (::1)", c2), (3, "CNAME chain", c3),
             (4, "NXDOMAIN", c4), (5, "dead DNS server", c5), (6, "TTL expiry", c6),
             (7, "1000 lookups of 50 names", c7), (8, "curl --socks5-hostname e2e", c8),
             (9, "UDP to a named target", c9), (10, "local with a named server", c10)]
    only = set(int(x) for x in sys.argv[1:] if x.isdigit())
    for num, label, fn in cases:
        if only and num not in only:
            continue
        run(num, label, fn)
        if S1.p.poll() is not None:
            print("FAIL    ssring server exited (rc %r):%s" % (S1.p.returncode, tail(S1)),
                  flush=True)
            results.append("FAIL")
            break

    L1.stop()
    rc, st = dns_stats(S1)
    print("info    main server exit %r, dns counters (queries, hits, misses, shared, failures) "
          "%r" % (rc, st), flush=True)
    failed = results.count("FAIL")
    print("%s: %d passed, %d failed, %d skipped" % (
        "FAIL" if failed else "PASS", results.count("ok"), failed, results.count("SKIP")),
        flush=True)
    wd.cancel()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
