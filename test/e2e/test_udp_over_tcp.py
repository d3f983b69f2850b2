# SPDX-License-Identifier: MIT
"""UDP over TCP (sing-box's protocol version 2, udp_over_tcp = true): no
installable peer speaks it (sing-box is not packaged here), so ssring's
client side against ssring's server, and a client of the protocol written
here from sing's source (common/uot) against the server. In a network
namespace of its own (loopback, dnsmasq on 127.0.0.2, nftables):

- SOCKS5 UDP through a local with udp_over_tcp: datagrams of 1 to 65,497
  bytes (the most an IPv4 SOCKS5 datagram carries) echoed byte-exact, a DNS
  query to dnsmasq, a datagram to a name the server resolves (on its ring,
  from dnsmasq), a burst; AEAD-2017 with users, 2022 and none;
- dig through a tunnel with udp_over_tcp (connect mode) to dnsmasq, and
  datagrams up to 65,507 bytes through another;
- the server's /metrics count them as UDP of its endpoint and of the user
  (and the TCP sessions that carried them moved no TCP bytes);
- the Python client: version 2 in connect mode and with addresses (frames
  cut into pieces and coalesced), version 1, a bad frame;
- a server with udp = false refuses it (the local then closes the SOCKS5
  control connection);
- with UDP to the server's port dropped by nftables (TCP passes), a local
  without udp_over_tcp gets no answer and one with it does."""
import base64
import os
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

M, PW = "aes-256-gcm", "uot-pw"
DNS = "127.0.0.2"
SOCKS_SIZES = [1, 2, 100, 512, 1400, 1472, 1473, 4000, 9000, 30000, 65000, 65497]
TUNNEL_SIZES = [1, 1400, 1472, 9000, 65000, 65507]
MAGIC, MAGIC_V1 = b"sp.v2.udp-over-tcp.arpa", b"sp.udp-over-tcp.arpa"


def in_own_netns():
    if os.environ.get("UOT_NETNS") == "1":
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "addr", "add", DNS + "/8", "dev", "lo"]):
            subprocess.run(cmd, check=True)
        return
    if os.geteuid() != 0:
        h.skip("needs root for a network namespace of its own")
    for tool in ("unshare", "ip", "nft", "dnsmasq", "dig"):
        if not h.shutil.which(tool):
            h.skip(tool + " is not installed")
    r = subprocess.run(["unshare", "--net", "--", sys.executable, os.path.abspath(__file__)],
                       env=dict(os.environ, UOT_NETNS="1"))
    sys.exit(r.returncode)


def dns_query(name, qtype=1, qid=0x1234):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(x)]) + x for x in name.encode().split(b".")) + b"\0"
    return q + struct.pack(">HH", qtype, 1)


def socks_echo(lport, echo, sizes, seed, what):
    u = h.Socks5Udp(lport)
    try:
        for n in sizes:
            d = h.pattern(n, seed * 100003 + n)
            u.send("127.0.0.1", echo.port, d)
            addr, back = u.recv(timeout=5 * h.SCALE)
            h.check(back == d and addr == ("127.0.0.1", echo.port),
                    "%s: %d-byte datagram: %d bytes back from %r" % (what, n, len(back), addr))
    finally:
        u.close()
    return sum(sizes)


# ---------------------------------------------------------------- a client of the protocol

def uot_addr(host, port):
    """sing's AddrParser: 00 IPv4, 01 IPv6, 02 domain."""
    a = h.socks_addr(host, port)
    return bytes([{1: 0, 4: 1, 3: 2}[a[0]]]) + a[1:]


class UotClient:
    """An ss TCP stream (AEAD-2017) to the magic destination, frames both ways."""

    def __init__(self, sport, magic=MAGIC, request=None):
        self.up, self.down = h.SsStream(M, PW), h.SsStream(M, PW)
        salt = os.urandom(self.up.klen)
        self.up.start(salt)
        self.s = socket.create_connection(("127.0.0.1", sport), timeout=5 * h.SCALE)
        hdr = b"\x03" + bytes([len(magic)]) + magic + b"\x00\x00"
        self.s.sendall(salt + self.up.seal(hdr + (request or b"")))
        self.raw, self.plain, self.started = b"", b"", False

    def send(self, frames, pieces=1):
        data = self.up.seal(frames)
        step = max(1, len(data) // pieces)
        for i in range(0, len(data), step):
            self.s.sendall(data[i:i + step])
            if pieces > 1:
                time.sleep(0.02)

    def frame(self, connect):
        """The next frame from the server: (address or None, data)."""
        while True:
            f = self._parse(connect)
            if f:
                return f
            b = self.s.recv(1 << 20)
            if not b:
                raise EOFError("the server closed the stream")
            self.raw += b
            if not self.started and len(self.raw) >= self.down.klen:
                self.down.start(self.raw[:self.down.klen])
                self.raw, self.started = self.raw[self.down.klen:], True
            if self.started:
                out, self.raw = self.down.open(self.raw)
                self.plain += out

    def _parse(self, connect):
        p, addr = self.plain, None
        if not connect:
            if len(p) < 2:
                return None
            fam = p[0]
            alen = {0: 4, 1: 16}.get(fam, 1 + p[1])
            if len(p) < 1 + alen + 2:
                return None
            sock = bytes([{0: 1, 1: 4, 2: 3}[fam]]) + p[1:1 + alen + 2]
            addr, _ = h.parse_socks_addr(sock)
            p = p[1 + alen + 2:]
        if len(p) < 2:
            return None
        n = struct.unpack(">H", p[:2])[0]
        if len(p) < 2 + n:
            return None
        self.plain = p[2 + n:]
        return addr, p[2:2 + n]

    def close(self):
        self.s.close()


def python_client(sport, echo):
    seen = []
    # version 2, connect mode: frames are length | data, to the request's destination
    c = UotClient(sport, request=b"\x01" + h.socks_addr("127.0.0.1", echo.port))
    for n in (1, 300, 16383, 16384, 65507):
        d = h.pattern(n, n)
        c.send(struct.pack(">H", n) + d, pieces=3 if n > 1000 else 1)
        addr, back = c.frame(True)
        h.check(addr is None and back == d, "v2 connect: %d bytes: %d back" % (n, len(back)))
    c.close()
    seen.append("v2 connect mode: 5 frames (up to 65,507 bytes, sent in pieces)")
    # version 2 with addresses: several frames in one write, one to a name
    c = UotClient(sport, request=b"\x00" + h.socks_addr("0.0.0.0", 0))
    frames = b"".join(uot_addr("127.0.0.1", echo.port) + struct.pack(">H", n) + h.pattern(n, n)
                      for n in (10, 20, 30))
    c.send(frames + uot_addr("echo.test", echo.port) + struct.pack(">H", 4) + b"name")
    got = sorted(c.frame(False) for _ in range(4))
    want = sorted([(("127.0.0.1", echo.port), h.pattern(n, n)) for n in (10, 20, 30)] +
                  [(("127.0.0.1", echo.port), b"name")])
    h.check(got == want, "v2 with addresses: %r" % [(a, len(d)) for a, d in got])
    # a frame whose family byte is 03 (not sing's): the stream ends
    c.send(b"\x03\x7f\x00\x00\x01\x00\x07\x00\x01x")
    try:
        c.frame(False)
        h.fail("a bad frame was answered")
    except (EOFError, ConnectionResetError):
        pass
    c.close()
    seen.append("v2 with addresses: 4 frames in one write (one to echo.test), a bad frame "
                "ends the stream")
    # version 1: no request, frames with addresses
    c = UotClient(sport, magic=MAGIC_V1)
    c.send(uot_addr("127.0.0.1", echo.port) + struct.pack(">H", 5) + b"v1 ok")
    h.check(c.frame(False) == (("127.0.0.1", echo.port), b"v1 ok"), "version 1")
    c.close()
    seen.append("v1")
    return "; ".join(seen)


# ---------------------------------------------------------------- main

def main():
    in_own_netns()
    dns = subprocess.Popen(["dnsmasq", "-k", "-C", "/dev/null", "--no-resolv", "--no-hosts",
                            "--bind-interfaces", "--listen-address=" + DNS, "--port=53",
                            "--host-record=uot.test,10.1.2.3,fd00::1:2:3",
                            "--host-record=echo.test,127.0.0.1", "--user=root", "--pid-file",
                            "--log-facility=-"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run()
    finally:
        dns.terminate()
        dns.wait()


def run():
    echo = h.UdpEcho()
    key2022 = base64.b64encode(os.urandom(32)).decode()
    s_users, s_2022, s_none, s_noudp, s_plain, mport = (h.free_port() for _ in range(6))
    srv = h.start_ssring(f"""
workers = 2;
log_level = "debug";
dns = {{ servers = [ "{DNS}:53" ]; }};
metrics = {{ listen = "127.0.0.1:{mport}"; }};
servers = (
  {{ listen = "127.0.0.1:{s_users}"; method = "{M}"; allow_private = true;
     users = ( {{ name = "alice"; password = "alice-pw"; }}, {{ name = "bob"; password = "bob-pw"; }} ); }},
  {{ listen = "127.0.0.1:{s_2022}"; method = "2022-blake3-aes-256-gcm"; key = "{key2022}";
     allow_private = true; }},
  {{ listen = "127.0.0.1:{s_none}"; method = "none"; allow_private = true; }},
  {{ listen = "127.0.0.1:{s_noudp}"; method = "{M}"; password = "{PW}"; allow_private = true;
     udp = false; }},
  {{ listen = "127.0.0.1:{s_plain}"; method = "{M}"; password = "{PW}"; allow_private = true; }} );
""", s_plain, "server")
    l_users, l_2022, l_none, l_noudp, l_native, l_uot, t_dns, t_echo = (
        h.free_port() for _ in range(8))

    def local(lp, sp, secret, extra="udp_over_tcp = true;"):
        return (f'{{ listen = "127.0.0.1:{lp}"; server = "127.0.0.1:{sp}"; {secret} {extra} }}')

    aead = f'method = "{M}"; password = "{PW}";'
    cli = h.start_ssring(f"""
workers = 2;
log_level = "debug";
dns = {{ servers = [ "{DNS}:53" ]; }};
locals = ( {local(l_users, s_users, f'method = "{M}"; password = "alice-pw";')},
           {local(l_2022, s_2022, f'method = "2022-blake3-aes-256-gcm"; key = "{key2022}";')},
           {local(l_none, s_none, 'method = "none";')},
           {local(l_noudp, s_noudp, aead)},
           {local(l_native, s_plain, aead, "")},
           {local(l_uot, s_plain, aead)} );
tunnels = ( {{ listen = "127.0.0.1:{t_dns}"; forward = "{DNS}:53"; server = "127.0.0.1:{s_users}";
               method = "{M}"; password = "alice-pw"; tcp = false; udp_over_tcp = true; }},
            {{ listen = "127.0.0.1:{t_echo}"; forward = "127.0.0.1:{echo.port}";
               server = "127.0.0.1:{s_users}"; method = "{M}"; password = "alice-pw";
               tcp = false; udp_over_tcp = true; }} );
""", l_uot, "client")

    # SOCKS5 through the user's server: every size, byte-exact
    up = socks_echo(l_users, echo, SOCKS_SIZES, 1, "AEAD-2017 with users")
    print("SOCKS5, AEAD-2017 with users: %d datagrams of 1..65,497 bytes byte-exact"
          % len(SOCKS_SIZES), flush=True)
    for lp, what in ((l_2022, "2022"), (l_none, "none")):
        socks_echo(lp, echo, [1, 1472, 30000, 65497], 2, what)
        print("SOCKS5, %s: 4 datagrams up to 65,497 bytes byte-exact" % what, flush=True)

    # DNS: a query to dnsmasq over SOCKS5, a datagram to a name the server resolves
    u = h.Socks5Udp(l_users)
    u.send(DNS, 53, dns_query("uot.test"))
    addr, ans = u.recv(timeout=5 * h.SCALE)
    h.check(addr == (DNS, 53) and ans[:2] == b"\x12\x34" and bytes([10, 1, 2, 3]) in ans,
            "DNS over SOCKS5: %r from %r" % (ans, addr))
    u.send("echo.test", echo.port, b"by name")
    addr, back = u.recv(timeout=5 * h.SCALE)
    h.check(back == b"by name" and addr == ("127.0.0.1", echo.port),
            "a datagram to echo.test: %r from %r" % (back, addr))
    # a burst: datagrams queue behind each other in the session's blocks
    for i in range(300):
        u.send("127.0.0.1", echo.port, b"burst %04d" % i + bytes(1000))
    got = set()
    try:
        while len(got) < 300:
            _, b = u.recv(timeout=2 * h.SCALE)
            got.add(b[:10])
    except socket.timeout:
        pass
    h.check(len(got) >= 150, "a burst of 300 datagrams: %d came back" % len(got))
    u.close()
    print("SOCKS5: DNS answer from dnsmasq, a datagram to echo.test (resolved by the server), "
          "%d of a burst of 300 back" % len(got), flush=True)
    up += 4 + 300 * 1010

    # tunnels: dig to dnsmasq, echo up to 65,507 bytes (connect mode)
    r = subprocess.run(["dig", "@127.0.0.1", "-p", str(t_dns), "uot.test", "+short", "+tries=2",
                        "+time=3"], capture_output=True, text=True, timeout=30)
    h.check(r.stdout.strip() == "10.1.2.3", "dig through the tunnel: %r %r" % (r.stdout, r.stderr))
    r = subprocess.run(["dig", "@127.0.0.1", "-p", str(t_dns), "uot.test", "AAAA", "+short",
                        "+tries=2", "+time=3"], capture_output=True, text=True, timeout=30)
    h.check(r.stdout.strip() == "fd00::1:2:3", "dig AAAA through the tunnel: %r" % r.stdout)
    s = h.udp_socket()
    for n in TUNNEL_SIZES:
        d = h.pattern(n, 7 + n)
        s.sendto(d, ("127.0.0.1", t_echo))
        back, src = s.recvfrom(70000)
        h.check(back == d and src[:2] == ("127.0.0.1", t_echo),
                "tunnel: %d bytes: %d back from %r" % (n, len(back), src))
    s.close()
    up += sum(TUNNEL_SIZES)
    print("tunnels: dig A and AAAA through one, %d datagrams up to 65,507 bytes through the "
          "other" % len(TUNNEL_SIZES), flush=True)

    # the server counted them as UDP of its endpoint and of alice
    text = h.metrics_text(mport)
    ep = 'listen="127.0.0.1:%d"' % s_users
    udp_up = h.metric_sample(text, "ssring_bytes_total", proto="udp", direction="up",
                             listen="127.0.0.1:%d" % s_users) or 0
    tcp_up = h.metric_sample(text, "ssring_bytes_total", proto="tcp", direction="up",
                             listen="127.0.0.1:%d" % s_users) or 0
    user_up = h.metric_sample(text, "ssring_user_bytes_total", user="alice", proto="udp",
                              direction="up") or 0
    user_dn = h.metric_sample(text, "ssring_user_bytes_total", user="alice", proto="udp",
                              direction="down") or 0
    assoc = h.metric_sample(text, "ssring_user_udp_associations_total", user="alice") or 0
    h.check(udp_up >= up - 300 * 1010 and user_up == udp_up and user_dn >= 0.5 * user_up and
            tcp_up == 0 and assoc >= 4,
            "metrics of %s: udp up %d (sent %d), tcp up %d, alice udp up %d down %d, %d "
            "associations" % (ep, udp_up, up, tcp_up, user_up, user_dn, assoc))
    print("server metrics: %d UDP bytes up for the endpoint and alice, %d down, %d associations, "
          "0 TCP bytes" % (udp_up, user_dn, assoc), flush=True)

    print("python client: " + python_client(s_plain, echo), flush=True)

    # udp = false: refused, and the local closes the control connection
    u = h.Socks5Udp(l_noudp)
    u.send("127.0.0.1", echo.port, b"refused?")
    h.check(h.no_datagram(u.udp, 1.5), "a server with udp = false relayed a datagram")
    u.ctl.settimeout(5 * h.SCALE)
    h.check(u.ctl.recv(10) == b"", "the SOCKS5 control connection stayed open")
    u.close()
    h.check("UDP over TCP refused: udp = false" in srv.output(), "no refusal in the log")
    print("udp = false: refused, the SOCKS5 control connection closed", flush=True)

    # UDP to the server's port dropped: only UDP over TCP gets through
    socks_echo(l_native, echo, [100], 3, "native, before the rule")
    subprocess.run(["nft", "-f", "-"], check=True, text=True, input=f"""
table inet uot {{
  chain out {{ type filter hook output priority 0; udp dport {s_plain} drop; }}
}}""")
    u = h.Socks5Udp(l_native)
    u.send("127.0.0.1", echo.port, b"dropped?")
    h.check(h.no_datagram(u.udp, 2), "native UDP got through the rule")
    u.close()
    socks_echo(l_uot, echo, [1, 1400, 65497], 4, "udp_over_tcp past the rule")
    print("UDP to the server's port dropped: native UDP gets no answer, UDP over TCP does",
          flush=True)
    cli.stop()
    srv.stop()
    cli.check_sanitizers()
    srv.check_sanitizers()
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
