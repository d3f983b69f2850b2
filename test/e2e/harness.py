# SPDX-License-Identifier: MIT
"""Integration-test harness: start ssring and shadowsocks-libev processes on
loopback with ephemeral ports, local echo/HTTP targets, a SOCKS5 client.
Every wait is bounded; every process is killed at exit."""
import atexit
import hashlib
import http.server
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
BIN = os.environ.get("SSRING_BIN", "build/ssring")
CONFIG_DIR = os.environ.get("SSRING_CONFIG_DIR", "configs")
REQUIRE = os.environ.get("SSRING_REQUIRE_URING") == "1" or os.environ.get("CI") == "true"
CIPHERS = ["aes-128-gcm", "aes-192-gcm", "aes-256-gcm", "chacha20-ietf-poly1305",
           "xchacha20-ietf-poly1305"]

_procs = []
_logs = []  # (name, log path) of every Proc, for fail()
_tmp = tempfile.mkdtemp(prefix="ssring-e2e-")


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    shutil.rmtree(_tmp, ignore_errors=True)


atexit.register(_cleanup)


def fail(msg):
    print("FAIL: " + msg, flush=True)
    # What the processes said last: a sanitizer report, an error, a crash.
    for name, path in _logs:
        try:
            with open(path, errors="replace") as f:
                tail = f.read().splitlines()[-25:]
        except OSError:
            continue
        if tail:
            print("---- last lines of %s ----\n%s" % (name, "\n".join(tail)), flush=True)
    sys.exit(1)


def skip(msg):
    if REQUIRE:
        fail("would skip, but skips are failures here: " + msg)
    print("SKIP: " + msg, flush=True)
    sys.exit(SKIP)


def skip_part(msg):
    """A part of a test that cannot run here while the rest does: a failure
    where skips are (CI=true, SSRING_REQUIRE_URING=1), as skip() is;
    otherwise noted, and msg returned for the test's own line."""
    if REQUIRE:
        fail("would skip a part, but skips are failures here: " + msg)
    print("SKIP (part): " + msg, flush=True)
    return msg


def check(cond, msg):
    if not cond:
        fail(msg)


_given_ports = set()


def free_port(kind=socket.SOCK_STREAM):
    """A port nothing uses now for TCP nor for UDP (servers take both on the
    same number), and never one this test was given before (the kernel may
    hand out a just-closed port again at once)."""
    other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
    for _ in range(1000):
        s = socket.socket(socket.AF_INET, kind)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        o = socket.socket(socket.AF_INET, other)
        try:
            o.bind(("127.0.0.1", port))
            both = True
        except OSError:
            both = False
        o.close()
        s.close()
        if both and port not in _given_ports:
            _given_ports.add(port)
            return port
    fail("no fresh port after 1000 tries")


def wait_port(port, proc=None, timeout=10.0, host="127.0.0.1"):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


# Slow builds (ThreadSanitizer) stretch every wait: SSRING_TIMEOUT_SCALE=3.
SCALE = float(os.environ.get("SSRING_TIMEOUT_SCALE", "1") or 1)


def wait_until(cond, timeout=10.0, step=0.02):
    """Poll cond() until it is true or timeout passes; returns its last value."""
    end = time.time() + timeout * SCALE
    while time.time() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def tcp_listening(port):
    """Whether any socket on this machine listens on TCP port (any address)."""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


def wait_log(proc, text, count=1, timeout=10.0):
    """Wait until proc's log holds text at least count times."""
    return wait_until(lambda: proc.output().count(text) >= count, timeout)


def need_tool(name):
    path = shutil.which(name)
    if not path:
        skip(name + " is not installed (apt-get install shadowsocks-libev)")
    return path


def need_nft_tproxy():
    """Skip (a failure under CI) unless nftables' tproxy expression works
    here: a throwaway table with one tproxy rule is loaded and deleted.
    Call it inside a network namespace of the test's own."""
    rules = ("table ip ssring_probe {\n chain pre {\n"
             "  type filter hook prerouting priority -150;\n"
             "  meta l4proto tcp tproxy to :1 accept\n }\n}\n")
    r = subprocess.run(["nft", "-f", "-"], input=rules, text=True, capture_output=True)
    if r.returncode != 0:
        why = [x for x in r.stderr.splitlines() if "Error" in x] or [r.stderr.strip() or "?"]
        skip("the kernel lacks nftables' tproxy expression (nft_tproxy, "
             "CONFIG_NFT_TPROXY): " + why[0])
    subprocess.run(["nft", "delete", "table", "ip", "ssring_probe"], check=True)


class Proc:
    def __init__(self, args, name):
        self.name = name
        self.log_path = os.path.join(_tmp, name + ".log")
        self.log = open(self.log_path, "w+")
        _logs.append((name, self.log_path))
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        _procs.append(self.p)

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            ret = self.p.wait(timeout * SCALE)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            ret = None
        self.check_sanitizers()
        return ret

    def check_sanitizers(self):
        """A sanitizer's report in our output is a failure, even one the
        process survived (ThreadSanitizer reports and goes on)."""
        out = self.output()
        for mark in ("WARNING: ThreadSanitizer", "ERROR: AddressSanitizer",
                     "ERROR: LeakSanitizer", "runtime error:"):
            if mark in out:
                i = out.index(mark)
                fail("%s: %s\n%s" % (self.name, mark, out[max(0, i - 200):i + 3000]))


def write_config(text, name="relay.cfg"):
    path = os.path.join(_tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def start_ssring(cfg_text, port_to_wait, name="ssring", extra=()):
    path = write_config(cfg_text, name + ".cfg")
    pr = Proc([BIN, "-f", path, *extra], name)
    if not wait_port(port_to_wait, pr.p):
        out = pr.output()
        if "io_uring" in out and ("not allowed" in out or "not available" in out):
            skip("io_uring unavailable: " + out.strip().splitlines()[-1])
        fail("ssring did not come up:\n" + out)
    return pr


def reload_with(pr, name, cfg_text, timeout=10):
    """Write cfg_text as the config of start_ssring(..., name=name), SIGHUP
    the process and wait for its "reloaded" line."""
    with open(os.path.join(_tmp, name + ".cfg"), "w") as f:
        f.write(cfg_text)
    n = pr.output().count("reloaded")
    pr.p.send_signal(signal.SIGHUP)
    check(wait_until(lambda: pr.output().count("reloaded") > n, timeout=timeout),
          "%s did not reload:\n%s" % (name, pr.output()[-2000:]))


# Tests never query a real resolver: names go to a loopback port where
# nothing answers (tests that need DNS start their own dnsmasq).
NO_DNS = 'dns = { servers = [ "127.0.0.1:9" ]; };'


# A burst of hundreds of connections from one loopback client (a test's
# concurrency check) can outrun a slow (sanitizer) server's reads, so that more
# than limits.handshakes_per_source are accepted before the first is read:
# such tests lift the limit; test_per_source tests it.
BURSTY = "limits = { handshakes_per_source = 0; };"


def server_cfg(port, method, password, workers=1, extra="", top=""):
    return f"""
workers = {workers};
log_level = "debug";
{NO_DNS}
{top}
servers = ( {{ listen = "127.0.0.1:{port}"; method = "{method}";
             password = "{password}"; allow_private = true; {extra} }} );
"""


def start_server_with_metrics(port, mport, method, secret, name, udp=True):
    """One ssring server (secret: 'password = "...";' or 'key = "...";') with
    /metrics on mport: the upstreams of the several-servers tests."""
    return start_ssring(f"""
workers = 1;
log_level = "debug";
{NO_DNS}
metrics = {{ listen = "127.0.0.1:{mport}"; }};
servers = ( {{ listen = "127.0.0.1:{port}"; method = "{method}"; {secret}
             allow_private = true; udp = {"true" if udp else "false"}; }} );
""", port, name)


def start_ss_local(server_port, method, password, name="ss-local"):
    need_tool("ss-local")
    lport = free_port()
    pr = Proc(["ss-local", "-s", "127.0.0.1", "-p", str(server_port), "-l", str(lport),
               "-b", "127.0.0.1", "-k", password, "-m", method, "-t", "30"], name)
    if not wait_port(lport, pr.p):
        fail("ss-local did not come up:\n" + pr.output())
    return pr, lport


# ---------------------------------------------------------------- targets

class EchoServer:
    """TCP echo on 127.0.0.1: echoes until EOF, then shuts down its write side."""

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _serve(c):
        try:
            while True:
                b = c.recv(262144)
                if not b:
                    break
                c.sendall(b)
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            c.close()


class TcpListener:
    """A TCP listener on 127.0.0.1 (port 0: any) whose handle(conn) runs in
    a thread of its own for every connection; close() frees the port."""

    def __init__(self, port=0):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind(("127.0.0.1", port))
        self.s.listen(256)
        self.port = self.s.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.s.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(c,), daemon=True).start()

    def handle(self, c):
        c.close()

    def close(self):
        # shutdown first: it wakes the accept() in progress, which would
        # otherwise keep the port listening after close().
        self.s.shutdown(socket.SHUT_RDWR)
        self.s.close()


class DnsResponder:
    """A name server on 127.0.0.1 for tests: answer(label, qtype) gets the
    first label of each query's name (str) and its QTYPE and returns None
    (no answer at all), an RCODE (no records), an IPv4 address string
    (one A record, TTL 60) or a list of them (A records in that order)."""

    def __init__(self, answer):
        self.answer = answer
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.port = self.s.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                q, peer = self.s.recvfrom(4096)
            except OSError:
                return
            if len(q) < 17 or b"\x00" not in q[12:]:
                continue
            end = q.index(b"\x00", 12) + 5  # name, QTYPE, QCLASS
            qtype = struct.unpack(">H", q[end - 4:end - 2])[0]
            a = self.answer(q[13:13 + q[12]].decode(errors="replace"), qtype)
            if a is None:
                continue
            if isinstance(a, (str, list)):
                addrs = [a] if isinstance(a, str) else a
                head = struct.pack(">HHHHH", 0x8180, 1, len(addrs), 0, 0)
                rr = b"".join(b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) +
                              socket.inet_aton(x) for x in addrs)
            else:
                head = struct.pack(">HHHHH", 0x8180 | a, 1, 0, 0, 0)  # response, RD, RA
                rr = b""
            self.s.sendto(q[:2] + head + q[12:end] + rr, peer)

    def close(self):
        self.s.close()


class HttpServer:
    def __init__(self, directory):
        handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(  # noqa: E731
            *a, directory=directory, **k)
        http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
        # HTTP/1.1 so that keep-alive through the proxy can be tested.
        http.server.SimpleHTTPRequestHandler.protocol_version = "HTTP/1.1"
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def tmpdir():
    return _tmp


def serve_page(n, seed=1, folder="web"):
    """An HttpServer for a folder of its own holding page.bin, n pattern
    bytes: (the server, the page)."""
    path = os.path.join(_tmp, folder)
    os.makedirs(path, exist_ok=True)
    page = pattern(n, seed=seed)
    with open(os.path.join(path, "page.bin"), "wb") as f:
        f.write(page)
    return HttpServer(path), page


# ---------------------------------------------------------------- SOCKS5

def socks5_connect(proxy_port, host, port, timeout=10):
    """CONNECT through a SOCKS5 proxy; host may be an IPv4 literal or a name."""
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout)
    s.sendall(b"\x05\x01\x00")
    check(recv_exact(s, 2) == b"\x05\x00", "socks5 method reply")
    try:
        addr = b"\x01" + socket.inet_aton(host)
    except OSError:
        addr = b"\x03" + bytes([len(host)]) + host.encode()
    s.sendall(b"\x05\x01\x00" + addr + struct.pack(">H", port))
    rep = recv_exact(s, 4)
    check(rep[:2] == b"\x05\x00", "socks5 reply %r" % rep)
    atyp = rep[3]
    recv_exact(s, {1: 4, 4: 16}.get(atyp, 0) + 2 if atyp != 3 else recv_exact(s, 1)[0] + 2)
    return s


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            break
        buf += b
    return bytes(buf)


def recv_all(s):
    buf = bytearray()
    while True:
        b = s.recv(262144)
        if not b:
            return bytes(buf)
        buf += b


def echo_roundtrip(proxy_port, echo_port, payload, host="127.0.0.1", timeout=60):
    """Send payload (in a thread) and read the echo back; then close. No
    half-close: shadowsocks-libev's ss-local drops the connection on it."""
    s = socks5_connect(proxy_port, host, echo_port, timeout=timeout)
    err = []

    def sender():
        try:
            view = memoryview(payload)
            for i in range(0, len(view), 1 << 20):
                s.sendall(view[i:i + (1 << 20)])
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=sender)
    t.start()
    got = recv_exact(s, len(payload))
    t.join()
    s.close()
    check(not err, "send failed: %r" % err)
    return got


def pattern(n, seed=1):
    """Deterministic pseudo-random bytes (fast: hash-expanded blocks)."""
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    chunk = hashlib.sha512(block).digest() * 512  # 32 KiB
    i = 0
    while len(out) < n:
        out += hashlib.sha256(chunk[:64] + i.to_bytes(8, "big")).digest() + chunk[32:]
        i += 1
    return bytes(out[:n])


# ---------------------------------------------------------------- a tiny ss client
# An independent AEAD-2017 client (Debian's python3-cryptography), used where
# shadowsocks-libev cannot serve as the peer: libev's ss-local tears the whole
# connection down when its client half-closes, so half-close needs this one.

def evp_bytes_to_key(password, key_len):
    import hashlib as _h
    out, prev = b"", b""
    while len(out) < key_len:
        prev = _h.md5(prev + password).digest()
        out += prev
    return out[:key_len]


def hkdf_sha1(ikm, salt, info, length):
    import hmac
    prk = hmac.new(salt, ikm, "sha1").digest()
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), "sha1").digest()
        out += t
        i += 1
    return out[:length]


PY_CIPHERS = {"aes-128-gcm": 16, "aes-192-gcm": 24, "aes-256-gcm": 32,
              "chacha20-ietf-poly1305": 32, "xchacha20-ietf-poly1305": 32}


class SsStream:
    def __init__(self, method, password):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
        self.klen = PY_CIPHERS[method]
        self.key = evp_bytes_to_key(password.encode(), self.klen)
        self.cls = (_XChaCha20Poly1305 if method.startswith("xchacha") else
                    ChaCha20Poly1305 if method.startswith("chacha") else AESGCM)
        # the nonce: a little-endian counter over all its bytes (24 for XChaCha)
        self.nlen = 24 if method.startswith("xchacha") else 12

    def start(self, salt):
        self.aead = self.cls(hkdf_sha1(self.key, salt, b"ss-subkey", self.klen))
        self.n = 0

    def _nonce(self):
        v = self.n.to_bytes(self.nlen, "little")
        self.n += 1
        return v

    def seal(self, data):
        out = b""
        for i in range(0, len(data), 0x3FFF):
            p = data[i:i + 0x3FFF]
            out += self.aead.encrypt(self._nonce(), len(p).to_bytes(2, "big"), None)
            out += self.aead.encrypt(self._nonce(), p, None)
        return out

    def open(self, buf):
        """Decrypt whole chunks from buf; returns (plaintext, rest)."""
        out = b""
        while len(buf) >= 18:
            ln = int.from_bytes(self.aead.decrypt(self.n.to_bytes(self.nlen, "little"), buf[:18],
                                                  None), "big")
            if len(buf) < 18 + ln + 16:
                break
            self.n += 1
            out += self.aead.decrypt(self._nonce(), buf[18:18 + ln + 16], None)
            buf = buf[18 + ln + 16:]
        return out, buf


def ss_connect(port, method, password, host, tport, first=b""):
    """Open an ss TCP stream to an ss server; returns (socket, up, down) codecs."""
    import os as _os
    up, down = SsStream(method, password), SsStream(method, password)
    salt = _os.urandom(up.klen)
    up.start(salt)
    addr = b"\x01" + socket.inet_aton(host) + struct.pack(">H", tport)
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(salt + up.seal(addr + first))
    return s, up, down


def ss_read_all(s, down):
    """Read until EOF and decrypt the response stream."""
    raw = recv_all(s)
    if not raw:
        return b""
    down.start(raw[:down.klen])
    out, rest = down.open(raw[down.klen:])
    check(rest == b"", "response stream ends inside a chunk (%d bytes left)" % len(rest))
    return out


def start_ss_server(method, password, name="ss-server", udp=False):
    need_tool("ss-server")
    port = free_port()
    args = ["ss-server", "-s", "127.0.0.1", "-p", str(port), "-k", password, "-m", method,
            "-t", "30"]
    if udp:
        args.append("-u")
    pr = Proc(args, name)
    if not wait_port(port, pr.p):
        fail("ss-server did not come up:\n" + pr.output())
    return pr, port


def local_cfg(lport, sport, method, password, workers=1, extra="", users=None):
    u = ""
    if users:
        u = "users = ( " + ", ".join('{ name = "%s"; password = "%s"; }' % x for x in users) + " );"
    return f"""
workers = {workers};
log_level = "debug";
{NO_DNS}
locals = ( {{ listen = "127.0.0.1:{lport}"; server = "127.0.0.1:{sport}";
            method = "{method}"; password = "{password}"; {u} {extra} }} );
"""


def socks5_handshake(s, user=None, password=None):
    """Greeting (+ RFC 1929 auth); returns the method byte the proxy chose."""
    if user is None:
        s.sendall(b"\x05\x01\x00")
    else:
        s.sendall(b"\x05\x01\x02")
    rep = recv_exact(s, 2)
    if rep != b"\x05\x02":
        return rep[1] if len(rep) == 2 else None
    u, p = user.encode(), password.encode()
    s.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
    st = recv_exact(s, 2)
    return 0x02 if st == b"\x01\x00" else ("authfail", st)


# ---------------------------------------------------------------- UDP
# UDP relay helpers (test_udp.py): UDP echo targets, a SOCKS5 UDP ASSOCIATE
# client, the AEAD-2017 UDP packet codec, libev starters with UDP enabled.

UDP_MAX_V4 = 65507          # largest IPv4 UDP payload
LIBEV_MTU = "65535"         # libev's UDP buffer is 2 * (mtu - 95): the default
#                             (mtu 1492 -> 2794-byte buffer) truncates, and so
#                             drops, any ss packet larger than 2794 bytes.


def socks_addr(host, port):
    """ATYP | ADDR | PORT (RFC 1928 §5 / ss address header) for an IPv4 or
    IPv6 literal, otherwise a domain name."""
    try:
        a = b"\x01" + socket.inet_pton(socket.AF_INET, host)
    except OSError:
        try:
            a = b"\x04" + socket.inet_pton(socket.AF_INET6, host)
        except OSError:
            n = host.encode()
            a = b"\x03" + bytes([len(n)]) + n
    return a + struct.pack(">H", port)


def parse_socks_addr(buf, off=0):
    """Parse ATYP | ADDR | PORT at buf[off:]; returns ((host, port), end).
    Raises ValueError on a short or unknown header."""
    if len(buf) <= off:
        raise ValueError("empty address header")
    atyp = buf[off]
    if atyp == 1:
        end = off + 1 + 4
        if len(buf) < end + 2:
            raise ValueError("short IPv4 header")
        host = socket.inet_ntop(socket.AF_INET, bytes(buf[off + 1:end]))
    elif atyp == 4:
        end = off + 1 + 16
        if len(buf) < end + 2:
            raise ValueError("short IPv6 header")
        host = socket.inet_ntop(socket.AF_INET6, bytes(buf[off + 1:end]))
    elif atyp == 3:
        if len(buf) < off + 2:
            raise ValueError("short domain header")
        end = off + 2 + buf[off + 1]
        if len(buf) < end + 2:
            raise ValueError("short domain header")
        host = bytes(buf[off + 2:end]).decode("latin-1")
    else:
        raise ValueError("unknown ATYP %d" % atyp)
    return (host, struct.unpack(">H", buf[end:end + 2])[0]), end + 2


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def udp_socket(host="127.0.0.1", port=0, timeout=5.0, bufsize=4 << 20):
    """A bound UDP socket with large buffers and a bounded timeout."""
    s = socket.socket(_family(host), socket.SOCK_DGRAM)
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, bufsize)
        except OSError:
            pass
    s.bind((host, port))
    s.settimeout(timeout)
    return s


def no_datagram(sock, wait=1.0):
    """True if nothing arrives on sock within `wait` seconds (an ICMP error
    reported on the socket counts as nothing)."""
    end = time.time() + wait
    old = sock.gettimeout()
    try:
        while True:
            left = end - time.time()
            if left <= 0:
                return True
            sock.settimeout(left)
            try:
                sock.recvfrom(70000)
                return False
            except socket.timeout:
                return True
            except ConnectionRefusedError:
                continue
    finally:
        sock.settimeout(old)


class UdpEcho:
    """UDP echo on host (127.0.0.1 or ::1): sends every datagram back to its
    sender, prefixed with `tag`. Counts what it received."""

    def __init__(self, tag=b"", host="127.0.0.1"):
        self.tag = tag
        self.host = host
        self.sock = udp_socket(host, 0, timeout=None)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                d, a = self.sock.recvfrom(70000)
            except OSError:
                return
            self.count += 1
            try:
                self.sock.sendto(self.tag + d, a)
            except OSError:
                pass

    def close(self):
        self.sock.close()


class Socks5Error(Exception):
    pass


class Socks5Udp:
    """SOCKS5 UDP ASSOCIATE client. The TCP control connection stays open
    until close(). Datagrams go to the BND address of the reply."""

    def __init__(self, proxy_port, proxy_host="127.0.0.1", dst=("0.0.0.0", 0),
                 udp_sock=None, timeout=5.0):
        self.ctl = socket.create_connection((proxy_host, proxy_port), timeout=timeout)
        self.ctl.sendall(b"\x05\x01\x00")
        rep = recv_exact(self.ctl, 2)
        if rep != b"\x05\x00":
            self.ctl.close()
            raise Socks5Error("greeting reply %r" % rep)
        self.ctl.sendall(b"\x05\x03\x00" + socks_addr(*dst))
        head = recv_exact(self.ctl, 4)
        if len(head) < 4 or head[0] != 5 or head[1] != 0:
            self.ctl.close()
            raise Socks5Error("UDP ASSOCIATE reply %r" % head)
        atyp = head[3]
        if atyp == 1:
            rest = recv_exact(self.ctl, 6)
        elif atyp == 4:
            rest = recv_exact(self.ctl, 18)
        elif atyp == 3:
            n = recv_exact(self.ctl, 1)
            rest = n + recv_exact(self.ctl, n[0] + 2) if n else b""
        else:
            rest = b""
        self.reply = head + rest
        try:
            self.bnd, _ = parse_socks_addr(self.reply, 3)
        except ValueError as e:
            self.ctl.close()
            raise Socks5Error("UDP ASSOCIATE reply %r: %s" % (self.reply, e))
        # Send from the control connection's own IP (the relay may check it).
        local_ip = self.ctl.getsockname()[0]
        if udp_sock is None:
            if _family(self.bnd[0]) != _family(local_ip):
                local_ip = "::1" if _family(self.bnd[0]) == socket.AF_INET6 else "127.0.0.1"
            udp_sock = udp_socket(local_ip, 0, timeout)
        self.udp = udp_sock

    @staticmethod
    def packet(host, port, data, frag=0):
        return b"\x00\x00" + bytes([frag]) + socks_addr(host, port) + data

    def send(self, host, port, data, frag=0, sock=None):
        (sock or self.udp).sendto(self.packet(host, port, data, frag), self.bnd)

    def recv(self, timeout=None, sock=None, check_source=True):
        """Returns ((host, port), data) of the next reply; raises
        socket.timeout. Checks RSV/FRAG and that it came from BND."""
        s = sock or self.udp
        if timeout is not None:
            s.settimeout(timeout)
        d, src = s.recvfrom(70000)
        if check_source and (src[0], src[1]) != tuple(self.bnd):
            raise Socks5Error("reply from %r, BND is %r" % (src, self.bnd))
        if len(d) < 3 or d[0:2] != b"\x00\x00" or d[2] != 0:
            raise Socks5Error("bad UDP reply header %r" % d[:12])
        addr, end = parse_socks_addr(d, 3)
        return addr, d[end:]

    def close(self):
        try:
            self.ctl.close()
        finally:
            self.udp.close()


# AEAD-2017 UDP packets: salt | seal(HKDF(master, salt), zero nonce, addr | data)

def _hchacha20(key, nonce16):
    """HChaCha20 (draft-irtf-cfrg-xchacha §2.2): the XChaCha20 subkey."""
    def rotl(v, c):
        return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))

    def qr(x, a, b, c, d):
        x[a] = (x[a] + x[b]) & 0xFFFFFFFF
        x[d] = rotl(x[d] ^ x[a], 16)
        x[c] = (x[c] + x[d]) & 0xFFFFFFFF
        x[b] = rotl(x[b] ^ x[c], 12)
        x[a] = (x[a] + x[b]) & 0xFFFFFFFF
        x[d] = rotl(x[d] ^ x[a], 8)
        x[c] = (x[c] + x[d]) & 0xFFFFFFFF
        x[b] = rotl(x[b] ^ x[c], 7)

    x = list(struct.unpack("<4I", b"expand 32-byte k") + struct.unpack("<8I", key) +
             struct.unpack("<4I", nonce16))
    for _ in range(10):
        qr(x, 0, 4, 8, 12)
        qr(x, 1, 5, 9, 13)
        qr(x, 2, 6, 10, 14)
        qr(x, 3, 7, 11, 15)
        qr(x, 0, 5, 10, 15)
        qr(x, 1, 6, 11, 12)
        qr(x, 2, 7, 8, 13)
        qr(x, 3, 4, 9, 14)
    return struct.pack("<8I", *(x[0:4] + x[12:16]))


class _XChaCha20Poly1305:
    """XChaCha20-Poly1305 from HChaCha20 + IETF ChaCha20-Poly1305 (24-byte nonce)."""

    def __init__(self, key):
        self.key = key

    def _inner(self, nonce):
        from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
        return ChaCha20Poly1305(_hchacha20(self.key, nonce[:16])), b"\0\0\0\0" + nonce[16:24]

    def encrypt(self, nonce, data, aad):
        a, n = self._inner(nonce)
        return a.encrypt(n, data, aad)

    def decrypt(self, nonce, data, aad):
        a, n = self._inner(nonce)
        return a.decrypt(n, data, aad)


UDP_PY_CIPHERS = dict(PY_CIPHERS, **{"xchacha20-ietf-poly1305": 32})
_master_keys = {}


def _udp_aead(method, password, salt):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    klen = UDP_PY_CIPHERS[method]
    mk = _master_keys.get((klen, password))
    if mk is None:
        mk = _master_keys[(klen, password)] = evp_bytes_to_key(password.encode(), klen)
    sub = hkdf_sha1(mk, salt, b"ss-subkey", klen)
    if method.startswith("xchacha"):
        return _XChaCha20Poly1305(sub), bytes(24)
    if method.startswith("chacha"):
        return ChaCha20Poly1305(sub), bytes(12)
    return AESGCM(sub), bytes(12)


def ss_udp_seal(method, password, plaintext, salt=None):
    """One AEAD-2017 UDP packet: plaintext = address header | payload."""
    klen = UDP_PY_CIPHERS[method]
    salt = salt if salt is not None else os.urandom(klen)
    aead, nonce = _udp_aead(method, password, salt)
    return salt + aead.encrypt(nonce, plaintext, None)


def ss_udp_open(method, password, packet):
    """Decrypt one AEAD-2017 UDP packet; returns the plaintext or None."""
    from cryptography.exceptions import InvalidTag
    klen = UDP_PY_CIPHERS[method]
    if len(packet) < klen + 16:
        return None
    aead, nonce = _udp_aead(method, password, packet[:klen])
    try:
        return aead.decrypt(nonce, packet[klen:], None)
    except InvalidTag:
        return None


# shadowsocks-libev with UDP on; --mtu raised so that large datagrams fit.

def start_libev_udp(tool, args, port, name, mtu=LIBEV_MTU):
    need_tool(tool)
    extra = ["--mtu", mtu] if mtu else []
    pr = Proc([tool, *args, "-u", "-t", "30", *extra], name)
    if not wait_port(port, pr.p):
        fail(tool + " did not come up:\n" + pr.output())
    return pr


def start_ss_server_udp(method, password, name="ss-server-udp", mtu=LIBEV_MTU):
    port = free_port()
    pr = start_libev_udp("ss-server", ["-s", "127.0.0.1", "-p", str(port), "-k", password,
                                       "-m", method], port, name, mtu)
    return pr, port


def start_ss_local_udp(server_port, method, password, name="ss-local-udp", mtu=LIBEV_MTU):
    lport = free_port()
    pr = start_libev_udp("ss-local", ["-s", "127.0.0.1", "-p", str(server_port), "-l",
                                      str(lport), "-b", "127.0.0.1", "-k", password,
                                      "-m", method], lport, name, mtu)
    return pr, lport


def start_ss_tunnel_udp(server_port, method, password, fwd_host, fwd_port,
                        name="ss-tunnel-udp", mtu=LIBEV_MTU):
    tport = free_port()
    fwd = ("[%s]" % fwd_host if ":" in fwd_host else fwd_host) + ":%d" % fwd_port
    pr = start_libev_udp("ss-tunnel", ["-s", "127.0.0.1", "-p", str(server_port), "-l",
                                       str(tport), "-b", "127.0.0.1", "-k", password,
                                       "-m", method, "-L", fwd], tport, name, mtu)
    return pr, tport


def tunnel_cfg(tport, fwd, sport, method, password, workers=1, udp=True, tcp=True,
               listen_host="127.0.0.1", server_host="127.0.0.1"):
    """ssring tunnel config; fwd is "host:port" as ssring spells it."""
    lh = "[%s]" % listen_host if ":" in listen_host else listen_host
    sh = "[%s]" % server_host if ":" in server_host else server_host
    return f"""
workers = {workers};
log_level = "debug";
{globals().get("NO_DNS", "")}
tunnels = ( {{ listen = "{lh}:{tport}"; forward = "{fwd}"; server = "{sh}:{sport}";
             method = "{method}"; password = "{password}";
             tcp = {"true" if tcp else "false"}; udp = {"true" if udp else "false"}; }} );
"""


def binary_is_sanitized():
    """True if BIN was built with ASan or TSan (its RSS is not user memory)."""
    with open(BIN, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__tsan_init" in data


def proc_fds(pid):
    """Number of open file descriptors of a process (Linux /proc)."""
    return len(os.listdir("/proc/%d/fd" % pid))


def proc_status(pid):
    """/proc/PID/status as {field: [words]} (Uid, Gid, CapEff, ...)."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = v.split()
    return out


def stop_within(pr, secs, what):
    """SIGTERM pr and wait at most secs (scaled) for it to end: its exit
    code and the seconds it took; a failure naming what if it does not."""
    t0 = time.monotonic()
    pr.p.send_signal(signal.SIGTERM)
    try:
        rc = pr.p.wait(secs * SCALE)
    except subprocess.TimeoutExpired:
        fail("%s still runs %d s after SIGTERM:\n%s" % (what, secs, pr.output()[-1500:]))
    took = time.monotonic() - t0
    pr.check_sanitizers()
    return rc, took


# ---------------------------------------------------------------- metrics

def metrics_text(mport):
    """The text of ssring's /metrics on 127.0.0.1:mport."""
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5) as r:
        return r.read().decode()


def metric_sample(text, name, **labels):
    """Sum of the samples of name whose labels include these; None if none."""
    total, found = 0.0, False
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all('%s="%s"' % kv in line for kv in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    return total if found else None


def ss_connect_from(port, method, password, host, tport, first=b"", source="127.0.0.1",
                    key=None):
    """ss_connect from a chosen source address (127.0.0.0/8 has many)."""
    import os as _os
    up, down = SsStream(method, password), SsStream(method, password)
    if key is not None:
        up.key = down.key = key
    salt = _os.urandom(up.klen)
    up.start(salt)
    addr = b"\x01" + socket.inet_aton(host) + struct.pack(">H", tport)
    s = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
    s.sendall(salt + up.seal(addr + first))
    return s, up, down


def echo_tcp_udp(lport, echo, uecho, what, n=200000):
    """Through the SOCKS5 proxy on lport: n bytes echoed byte-exact over TCP
    (EchoServer echo) and one datagram over UDP ASSOCIATE (UdpEcho uecho)."""
    payload = pattern(n, seed=len(what))
    got = echo_roundtrip(lport, echo.port, payload)
    check(got == payload, "%s: TCP echo is not byte-exact (%d of %d bytes)"
          % (what, len(got or b""), n))
    u = Socks5Udp(lport)
    data = ("udp " + what).encode()
    u.send("127.0.0.1", uecho.port, data)
    _, back = u.recv()
    check(back == uecho.tag + data, "%s: UDP echo: %r" % (what, back))
    u.close()


def metric(mport, name):
    """The value of one sample (name with its labels) on /metrics, or None."""
    import urllib.request
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=10).read()
    for line in text.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None
