# SPDX-License-Identifier: MIT
"""Transparent proxy (redirs = ( { mode = "redirect"; } )) against
shadowsocks-libev's ss-redir, in a network namespace of the test's own with
nftables NAT REDIRECT rules: connections to targets on a veth address
(10.66.0.2, fd66::2) are redirected to ssring's redir (IPv4 and IPv6) or to
ss-redir, which send them through one ssring server to the original
destination; the server's own connections carry a mark the rules let pass.
Checked: 1 MiB echoed byte-exact through each, the server saw each
connection, /metrics labels the redirs role="redir", and a connection made
straight to the redir's port (no rule sent it) is refused, not looped.
Then TPROXY (mode = "tproxy", and ss-redir -T): a client in a namespace of
its own behind a veth pair, nftables' tproxy in prerouting and a policy
route for marked packets; 1 MiB through each, byte-exact, and through
ssring's redir over IPv6 to a target namespace. UDP (always
TPROXY, as ss-redir's): from the same client namespace, DNS queries to
dnsmasq and datagrams to a UDP echo in a target namespace of their own
(10.98.0.5, fd98::5), through ssring's redir over IPv4 and IPv6 and through
`ss-redir -U` (10.98.0.6): each answer byte-exact and from the address the
client sent to (the reply socket is bound to it; the IPv6 redir carries its
UDP over TCP, udp_over_tcp = true), and a datagram straight to the redir's
port is dropped and logged."""
import json
import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

M, PW = "aes-256-gcm", "redir"
MARK = 7


def in_own_netns():
    if os.environ.get("REDIR_NETNS") == "1":
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "link", "add", "ob0", "type", "veth", "peer", "name", "ob1"],
                    ["ip", "addr", "add", "10.66.0.2/24", "dev", "ob0"],
                    ["ip", "-6", "addr", "add", "fd66::2/64", "dev", "ob0", "nodad"],
                    ["ip", "link", "set", "ob0", "up"], ["ip", "link", "set", "ob1", "up"]):
            subprocess.run(cmd, check=True)
        return
    if os.geteuid() != 0:
        h.skip("needs root for a network namespace of its own")
    for tool in ("unshare", "ip", "nft", "ss-redir"):
        h.need_tool(tool)
    r = subprocess.run(["unshare", "--net", "--", sys.executable, os.path.abspath(__file__)],
                       env=dict(os.environ, REDIR_NETNS="1"))
    sys.exit(r.returncode)


class Echo6(h.EchoServer):
    def __init__(self, host):  # noqa: super().__init__ is for IPv4
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()


def through(host, port, payload):
    """payload to host:port and back, read to its length (no half-close:
    shadowsocks-libev drops the connection on one)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect((host, port))
    t = threading.Thread(target=s.sendall, args=(payload,))
    t.start()
    got = h.recv_exact(s, len(payload))
    t.join()
    s.close()
    return got


def sessions(mport, **labels):
    return h.metric_sample(h.metrics_text(mport), "ssring_tcp_sessions_total", **labels) or 0


def main():
    in_own_netns()
    e1, e2 = h.EchoServer("10.66.0.2"), h.EchoServer("10.66.0.2")
    e6 = Echo6("fd66::2")
    sport, smport = h.free_port(), h.free_port()
    r1, r6, r2, rmport = h.free_port(), h.free_port(), h.free_port(), h.free_port()
    rules = f"""
table ip redir {{
  chain out {{
    type nat hook output priority -100;
    meta mark {MARK} return
    ip daddr 10.66.0.2 tcp dport {e1.port} redirect to :{r1}
    ip daddr 10.66.0.2 tcp dport {e2.port} redirect to :{r2}
  }}
}}
table ip6 redir6 {{
  chain out {{
    type nat hook output priority -100;
    meta mark {MARK} return
    ip6 daddr fd66::2 tcp dport {e6.port} redirect to :{r6}
  }}
}}
"""
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)
    srv = h.start_ssring(f"""
workers = 2;
log_level = "debug";
{h.NO_DNS}
metrics = {{ listen = "127.0.0.1:{smport}"; }};
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "{M}"; password = "{PW}";
             allow_private = true; outbound_fwmark = {MARK}; }} );
""", sport, "server")
    red = h.start_ssring(f"""
workers = 2;
log_level = "debug";
metrics = {{ listen = "127.0.0.1:{rmport}"; }};
redirs = ( {{ listen = "127.0.0.1:{r1}"; server = "127.0.0.1:{sport}"; method = "{M}";
             password = "{PW}"; mode = "redirect"; }},
           {{ listen = "[::1]:{r6}"; server = "127.0.0.1:{sport}"; method = "{M}";
             password = "{PW}"; }} );
""", r1, "redir")
    libev = h.Proc(["ss-redir", "-s", "127.0.0.1", "-p", str(sport), "-l", str(r2), "-b",
                    "127.0.0.1", "-k", PW, "-m", M, "-t", "30"], "ss-redir")
    # Not wait_port: ss-redir relays that probe to the server (its original
    # destination is ss-redir itself), which could count it after `before`.
    h.check(h.wait_log(libev, "listening at"), "ss-redir did not come up")
    payload = h.pattern(1 << 20, seed=9)
    for name, host, port in (("ssring redir, IPv4", "10.66.0.2", e1.port),
                             ("ss-redir, IPv4", "10.66.0.2", e2.port),
                             ("ssring redir, IPv6", "fd66::2", e6.port)):
        before = sessions(smport)
        got = through(host, port, payload)
        h.check(got == payload, "%s: %d of %d bytes came back, or different"
                % (name, len(got), len(payload)))
        h.check(sessions(smport) == before + 1, "%s: the server did not see it" % name)
        print("%-20s %s:%d -> 1 MiB byte-exact through the server" % (name, host, port),
              flush=True)
    h.check(sessions(rmport, role="redir") >= 2, "redir sessions not labelled role=\"redir\"")
    # Straight to the redir's port: no rule sent it here; refused, not looped.
    before = sessions(smport)
    back = b""
    try:  # the reset may come before connect() even returns
        s = socket.create_connection(("127.0.0.1", r1), timeout=10)
        s.sendall(b"hello")
        back = s.recv(100)
        s.close()
    except ConnectionResetError:
        pass
    h.check(back == b"" and sessions(smport) == before, "a direct connection was relayed")
    h.check(h.wait_log(red, "was not redirected here"), "the refusal is not logged")
    print("a connection straight to the redir's port: refused, logged", flush=True)
    libev.stop()
    h.check(red.stop() == 0, "redir exit code")
    h.need_nft_tproxy()  # REDIRECT passed; TPROXY (and all UDP) needs nft_tproxy
    tproxy(sport, smport)
    h.check(srv.stop() == 0, "server exit code")
    print("test_redir: ok")


CLIENT = r"""
import json, random, socket, subprocess, sys, threading
print("ready", flush=True)  # in a namespace of its own by now (unshare exec'd us)
sys.stdin.readline()  # the veth end is here now
for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", "10.66.1.2/24", "dev", "tp1"],
            ["ip", "-6", "addr", "add", "fd66:1::2/64", "dev", "tp1", "nodad"],
            ["ip", "link", "set", "tp1", "up"],
            ["ip", "route", "add", "10.99.0.0/24", "via", "10.66.1.1"],
            ["ip", "route", "add", "10.98.0.0/24", "via", "10.66.1.1"],
            ["ip", "-6", "route", "add", "fd98::/64", "via", "fd66:1::1"]):
    subprocess.run(cmd, check=True)
spec = json.loads(sys.argv[1])
payload = bytes(range(256)) * 4096
bad = 0


def dns_query(s, host, qtype):
    q = bytes([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    q += b"".join(bytes([len(x)]) + x for x in b"redir.test".split(b".")) + b"\0"
    s.sendto(q + bytes([0, qtype, 0, 1]), (host, 53))
    return s.recvfrom(4096)


for name, host, want_a, biggest in spec["udp"]:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(5)
    errs = []
    # one client socket, two destinations (53 and 7): one association
    try:
        ans, src = dns_query(s, host, 28 if fam == socket.AF_INET6 else 1)
        if src[:2] != (host, 53):
            errs.append("DNS answer from %r" % (src[:2],))
        if ans[:2] != b"\x12\x34" or socket.inet_pton(fam, want_a) not in ans:
            errs.append("DNS answer without %s: %r" % (want_a, ans))
        rnd = random.Random(5)
        sizes = [1, 2, 100, 512, 1200, 1400, 4000, 9000, 30000]
        sizes = [n for n in sizes if n <= biggest] + [rnd.randrange(1, 1400) for _ in range(32)]
        for i, n in enumerate(sizes):
            d = bytes(rnd.randrange(256) for _ in range(n))
            s.sendto(d, (host, 7))
            got, src = s.recvfrom(65535)
            if got != d or src[:2] != (host, 7):
                errs.append("datagram %d (%d bytes): %d bytes back from %r"
                            % (i, n, len(got), src[:2]))
                break
    except OSError as e:
        errs.append(repr(e))
    s.close()
    print("UDP %s: %s" % (name, "; ".join(errs) if errs else
                          "DNS answer and %d datagrams byte-exact, from %s" % (len(sizes), host)),
          flush=True)
    bad += bool(errs)
for host, port in spec["tcp"]:
    s = socket.create_connection((host, port), timeout=20)
    t = threading.Thread(target=s.sendall, args=(payload,))
    t.start()
    got = b""
    while len(got) < len(payload):
        b = s.recv(1 << 20)
        if not b:
            break
        got += b
    t.join()
    s.close()
    print("TCP %s port %d: %s" % (host, port, "ok" if got == payload else "%d bytes" % len(got)),
          flush=True)
    bad += got != payload
sys.exit(1 if bad else 0)
"""


TARGET = r"""
import socket, subprocess, sys, threading
print("ready", flush=True)
sys.stdin.readline()  # the veth end is here now
for cmd in (["ip", "link", "set", "lo", "up"],
            ["ip", "addr", "add", "10.98.0.5/24", "dev", "dn1"],
            ["ip", "addr", "add", "10.98.0.6/24", "dev", "dn1"],
            ["ip", "addr", "add", "10.98.0.7/24", "dev", "dn1"],
            ["ip", "-6", "addr", "add", "fd98::5/64", "dev", "dn1", "nodad"],
            ["ip", "link", "set", "dn1", "up"],
            ["ip", "route", "add", "default", "via", "10.98.0.1"],
            ["ip", "-6", "route", "add", "default", "via", "fd98::1"]):
    subprocess.run(cmd, check=True)


def echo(fam, host):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((host, 7))
    while True:
        d, a = s.recvfrom(65535)
        s.sendto(d, a)


def tcp_echo(conn):
    while True:
        d = conn.recv(1 << 16)
        if not d:
            break
        conn.sendall(d)
    conn.close()


def tcp_echo_server():
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.bind(("fd98::5", 7))
    ls.listen(8)
    while True:
        threading.Thread(target=tcp_echo, args=(ls.accept()[0],), daemon=True).start()


for fam, host in ((socket.AF_INET, "10.98.0.5"), (socket.AF_INET, "10.98.0.6"),
                  (socket.AF_INET, "10.98.0.7"), (socket.AF_INET6, "fd98::5")):
    threading.Thread(target=echo, args=(fam, host), daemon=True).start()
threading.Thread(target=tcp_echo_server, daemon=True).start()
dns = subprocess.Popen(["dnsmasq", "-k", "-C", "/dev/null", "--no-resolv", "--no-hosts",
                        "--bind-interfaces", "--listen-address=10.98.0.5,10.98.0.6,10.98.0.7,fd98::5",
                        "--port=53", "--host-record=redir.test,10.1.2.3,fd00::1:2:3",
                        "--user=root", "--pid-file", "--log-queries", "--log-facility=-"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
# dnsmasq says "started" once its sockets are bound: serve only then; its
# later lines (the query log the test reads) follow ours.
started = dns.stdout.readline()
if "started" not in started:
    print("dnsmasq did not start: %r" % started, flush=True)


def relay_log():
    for ln in dns.stdout:
        print(ln, end="", flush=True)


threading.Thread(target=relay_log, daemon=True).start()
print("serving", flush=True)
sys.stdin.readline()  # until the test is done
dns.terminate()
dns.wait()
"""


def in_namespace(code, args, link):
    """A Python child in a network namespace of its own, given veth end link
    once it runs there (only then is it in its namespace)."""
    p = subprocess.Popen(["unshare", "--net", "--", sys.executable, "-c", code] + args,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    ready = p.stdout.readline()
    h.check(ready.strip() == "ready", "a namespace child did not start: %r" % ready)
    subprocess.run(["ip", "link", "set", link, "netns", str(p.pid)], check=True)
    return p


def tproxy(sport, smport):
    """TPROXY: a client in a namespace of its own behind a veth; its
    connections to 10.99.0.5 are taken over by nftables' tproxy in
    prerouting (with the usual policy route for marked packets) and reach
    ssring's redir (mode = "tproxy") or ss-redir -T, which send them through
    the server to 10.99.0.5, an address of this namespace."""
    for cmd in (["ip", "link", "add", "tp0", "type", "veth", "peer", "name", "tp1"],
                ["ip", "addr", "add", "10.66.1.1/24", "dev", "tp0"],
                ["ip", "link", "set", "tp0", "up"],
                ["ip", "link", "add", "tg0", "type", "veth", "peer", "name", "tg1"],
                ["ip", "addr", "add", "10.99.0.5/24", "dev", "tg0"],
                ["ip", "link", "set", "tg0", "up"], ["ip", "link", "set", "tg1", "up"],
                ["ip", "rule", "add", "fwmark", "1", "lookup", "100"],
                ["ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100"],
                ["ip", "-6", "addr", "add", "fd66:1::1/64", "dev", "tp0", "nodad"],
                ["ip", "-6", "rule", "add", "fwmark", "1", "lookup", "100"],
                ["ip", "-6", "route", "add", "local", "::/0", "dev", "lo", "table", "100"],
                ["ip", "link", "add", "dn0", "type", "veth", "peer", "name", "dn1"],
                ["ip", "addr", "add", "10.98.0.1/24", "dev", "dn0"],
                ["ip", "-6", "addr", "add", "fd98::1/64", "dev", "dn0", "nodad"],
                ["ip", "link", "set", "dn0", "up"]):
        subprocess.run(cmd, check=True)
    for k in ("all", "tp0"):
        with open("/proc/sys/net/ipv4/conf/%s/rp_filter" % k, "w") as f:
            f.write("0")
    e1, e2 = h.EchoServer("10.99.0.5"), h.EchoServer("10.99.0.5")
    rt, rl, r6 = h.free_port(), h.free_port(), h.free_port()
    rules = f"""
table ip tp {{
  chain pre {{
    type filter hook prerouting priority -150;
    iifname "tp0" ip daddr 10.99.0.5 tcp dport {e1.port} tproxy to :{rt} meta mark set 1 accept
    iifname "tp0" ip daddr 10.99.0.5 tcp dport {e2.port} tproxy to :{rl} meta mark set 1 accept
    iifname "tp0" ip daddr {{ 10.98.0.5, 10.98.0.7 }} udp dport {{ 53, 7 }} tproxy to :{rt} meta mark set 1 accept
    iifname "tp0" ip daddr 10.98.0.6 udp dport {{ 53, 7 }} tproxy to :{rl} meta mark set 1 accept
  }}
}}
table ip6 tp6 {{
  chain pre {{
    type filter hook prerouting priority -150;
    iifname "tp0" ip6 daddr fd98::5 udp dport {{ 53, 7 }} tproxy to :{r6} meta mark set 1 accept
    iifname "tp0" ip6 daddr fd98::5 tcp dport 7 tproxy to :{r6} meta mark set 1 accept
  }}
}}
"""
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)
    # the ACL sends 10.98.0.7 straight there, not through the server
    acl = os.path.join(h._tmp, "redir.acl")
    with open(acl, "w") as f:
        f.write("[proxy_all]\n[bypass_list]\n10.98.0.7/32\n")
    # As nobody: the UDP replies bind each original destination
    # (IP_TRANSPARENT) after the drop, so CAP_NET_ADMIN must have been kept.
    red = h.start_ssring(f"""
workers = 2;
log_level = "debug";
user = "nobody";
redirs = ( {{ listen = "0.0.0.0:{rt}"; server = "127.0.0.1:{sport}"; method = "{M}";
             password = "{PW}"; mode = "tproxy"; udp = true; acl = "{acl}"; }},
           {{ listen = "[::]:{r6}"; server = "127.0.0.1:{sport}"; method = "{M}";
             password = "{PW}"; mode = "tproxy"; udp = true; udp_over_tcp = true; }} );
""", rt, "redir-tproxy")
    libev = h.Proc(["ss-redir", "-s", "127.0.0.1", "-p", str(sport), "-l", str(rl), "-b",
                    "0.0.0.0", "-k", PW, "-m", M, "-t", "30", "-T", "-u"], "ss-redir-tproxy")
    target = in_namespace(TARGET, [], "dn1")
    target.stdin.write("go\n")
    target.stdin.flush()
    # The target's own line, past any of dnsmasq's (they share the pipe).
    dlog_head, line = [], target.stdout.readline()
    while line and line.strip() != "serving" and len(dlog_head) < 100:
        dlog_head.append(line)
        line = target.stdout.readline()
    h.check(line.strip() == "serving", "the target namespace did not start: %r"
            % "".join(dlog_head + [line]))
    h.check(h.wait_log(red, "running as user nobody") and
            "CAP_NET_ADMIN" in red.output(), "the redir did not drop to nobody keeping "
            "CAP_NET_ADMIN:\n" + red.output()[-1500:])
    # Not wait_port: ss-redir -T would relay that probe to itself, forever.
    h.check(h.wait_log(libev, "listening at"), "ss-redir -T did not come up")
    before = sessions(smport)
    uassoc = h.metric_sample(h.metrics_text(smport), "ssring_udp_associations_total") or 0
    spec = {"tcp": [["10.99.0.5", e1.port], ["10.99.0.5", e2.port], ["fd98::5", 7]],
            # ss-redir drops a datagram whose sealed form is over twice its
            # 1,397-byte packet size: it gets up to 1,400 bytes
            "udp": [["ssring redir, IPv4", "10.98.0.5", "10.1.2.3", 30000],
                    ["ssring redir, IPv6", "fd98::5", "fd00::1:2:3", 30000],
                    ["ss-redir -u, IPv4", "10.98.0.6", "10.1.2.3", 1400],
                    ["ssring redir, IPv4, ACL: direct", "10.98.0.7", "10.1.2.3", 30000]]}
    client = in_namespace(CLIENT, [json.dumps(spec)], "tp1")
    out, _ = client.communicate("go\n", timeout=90)
    print("TPROXY through ssring's redir and ss-redir -T: " + out.strip().replace("\n", "; "),
          flush=True)
    h.check(client.returncode == 0, "TPROXY client failed:\n%s\nredir log:\n%s\nss-redir:\n%s"
            % (out, "\n".join(red.output().splitlines()[-20:]),
               "\n".join(x for x in libev.output().splitlines() if "udp" in x.lower())))
    target.stdin.close()
    dlog = "".join(dlog_head) + target.stdout.read()
    target.wait(timeout=10)
    queries = dlog.count("query[A] redir.test") + dlog.count("query[AAAA] redir.test")
    h.check(queries == 4, "dnsmasq answered %d queries, not 4:\n%s" % (queries, dlog))
    # the server relayed them: 3 client sockets -> 3 UDP associations (the
    # fourth went straight to its target)
    got = (h.metric_sample(h.metrics_text(smport), "ssring_udp_associations_total") or 0) - uassoc
    h.check(got == 3, "the server saw %d UDP associations, not 3" % got)
    print("dnsmasq answered 4 queries; the server saw 3 UDP associations (the ACL sent "
          "one client straight to its target)", flush=True)
    # A datagram straight to the redir's UDP port: dropped, logged.
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"loop?", ("127.0.0.1", rt))
    u.close()
    h.check(h.wait_log(red, "was not redirected here by a rule: dropped"),
            "the UDP refusal is not logged")
    # ssring's tproxy redir refuses a connection to its own port (no loop).
    before2 = sessions(smport)
    logged = red.output().count("was not redirected here")  # the UDP one is in already
    back = b""
    try:
        s = socket.create_connection(("127.0.0.1", rt), timeout=10)
        s.sendall(b"x")
        back = s.recv(10)
        s.close()
    except ConnectionResetError:
        pass
    h.check(back == b"" and sessions(smport) == before2,
            "a direct connection to the tproxy redir was relayed (%r)" % back)
    h.check(h.wait_log(red, "was not redirected here", count=logged + 1),
            "the tproxy refusal is not logged")
    # 3 TCP targets and the IPv6 redir's UDP-over-TCP session
    h.check(sessions(smport) == before + 4, "the server saw %d connections, not 4:\n%s"
            % (sessions(smport) - before, "\n".join(red.output().splitlines()[-15:])))
    libev.stop()
    h.check(red.stop() == 0, "tproxy redir exit code")


if __name__ == "__main__":
    main()
