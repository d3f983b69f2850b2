# SPDX-License-Identifier: MIT
"""The DNS forwarder (dns_proxies, relay/dnsproxy.c) with dig against two
dnsmasq instances: the "local" resolver (127.0.0.21) and the "remote" one
(127.0.0.22), reached through an ssring server. Each answers the same names
differently, so the answer says which resolver gave it; the server's
session count, the resolvers' query logs and the forwarder's /metrics say
how it got there (on loopback everything is reachable: the route is proven
by what answered, not by what could be reached).

ACL: [proxy_all], local.test and 10.0.0.0/8 bypassed, remote.test proxied.
    a.local.test    local 10.1.1.1      remote 203.0.113.1   -> local
    b.remote.test   local 10.6.6.6      remote 198.51.100.2  -> remote
    x.both.test     local 10.9.9.9      remote 203.0.113.9   -> both: local kept
    y.both.test     local 192.0.2.99    remote 203.0.113.99  -> both: remote
    nope.*.test     NXDOMAIN (--local=/local.test/, /remote.test/)
    big.*.test      TXT larger than 512 (local) / 1232 bytes (remote)
Cases: UDP and TCP, the cache (no second upstream query), TC for a UDP
client and the whole answer over TCP, EDNS0 (bufsize, the OPT record back),
the client's ID and letter case, NXDOMAIN, FORMERR, pipelined TCP queries,
metrics by route, a reload, upstreams, a resolver that does not answer.

Then a router (as root, in network namespaces of the test's own): one
ssring with the forwarder and a redir, an "internet" namespace behind a veth
with the server, the remote resolver on that namespace's own loopback (the
router cannot reach it but through the server) and a target on 198.18.0.1.
A name is resolved through the forwarder (remote_dns's fake address), a
connection to that address is diverted (nftables REDIRECT) to the redir
and echoed through the server; a bypassed name comes from the router's
local resolver."""
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

METHOD = "aes-256-gcm"
PW = "dns-proxy-test"
LOCAL_IP, REMOTE_IP = "127.0.0.21", "127.0.0.22"
TXT_LOCAL = ["l%d" % i + "L" * 240 for i in range(3)]      # ~750 bytes: > 512
TXT_REMOTE = ["r%d" % i + "R" * 240 for i in range(6)]     # ~1500 bytes: > 1232


def need_dig():
    if not shutil.which("dig"):
        h.skip("dig is not installed (apt-get install dnsutils)")


class Dnsmasq:
    def __init__(self, name, ip, records):
        exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not os.access(exe, os.X_OK):
            h.skip("dnsmasq is not installed (apt-get install dnsmasq-base)")
        self.ip = ip
        self.log = os.path.join(h.tmpdir(), name + "-queries.log")
        import pwd
        user = pwd.getpwuid(os.getuid()).pw_name
        for _ in range(5):
            self.port = h.free_port(socket.SOCK_DGRAM)
            args = [exe, "-k", "-C", "/dev/null", "--no-resolv", "--no-hosts", "--pid-file=",
                    "--user=" + user, "--port=%d" % self.port, "--listen-address=" + ip,
                    "--bind-interfaces", "--log-queries", "--log-facility=" + self.log,
                    "--local-ttl=300", "--local=/local.test/", "--local=/remote.test/",
                    "--local=/both.test/"] + records
            self.proc = h.Proc(args, name)
            end = time.time() + 5
            while time.time() < end and self.proc.p.poll() is None:
                if "10." in dig(ip, self.port, "probe.local.test", extra=["+tries=1",
                                                                         "+time=1"]):
                    return
                time.sleep(0.1)
            self.proc.stop()
        h.fail("dnsmasq %s did not come up:\n%s" % (name, self.proc.output()))

    def count(self, name, qtype="A"):
        try:
            with open(self.log) as f:
                text = f.read()
        except OSError:
            return 0
        return len(re.findall(r"query\[%s\] %s from" % (qtype, re.escape(name)), text))


def dig(ip, port, name, qtype="A", extra=()):
    r = subprocess.run(["dig", "-p", str(port), "@" + ip, name, qtype, "+tries=1", "+time=3",
                        *extra], capture_output=True, text=True, timeout=30)
    return r.stdout


def parse(out):
    """status, flags, answer rdata (list), whether an OPT record came back, message size."""
    m = re.search(r"status: (\w+)", out)
    f = re.search(r";; flags: ([a-z ]*);", out)
    ans = []
    sec = False
    for ln in out.splitlines():
        if ln.startswith(";; ANSWER SECTION"):
            sec = True
            continue
        if sec and not ln.strip():
            sec = False
        if sec and not ln.startswith(";"):
            ans.append(ln.split(None, 4)[4] if len(ln.split(None, 4)) == 5 else ln)
    size = re.search(r"MSG SIZE\s+rcvd: (\d+)", out)
    return {"status": m.group(1) if m else None, "flags": (f.group(1).split() if f else []),
            "answers": ans, "opt": "; OPT PSEUDOSECTION:" in out,
            "size": int(size.group(1)) if size else 0, "text": out}


def query_bytes(qid, name, qtype=1, edns=None):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 1 if edns else 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    q += struct.pack(">HH", qtype, 1)
    if edns:
        q += b"\0" + struct.pack(">HHIH", 41, edns, 0, 0)
    return q


def main():
    need_dig()
    records_local = ["--host-record=a.local.test,10.1.1.1", "--host-record=probe.local.test,10.0.0.1",
                     "--host-record=b.remote.test,10.6.6.6", "--host-record=x.both.test,10.9.9.9",
                     "--host-record=y.both.test,192.0.2.99",
                     "--txt-record=big.local.test," + ",".join(TXT_LOCAL)]
    records_remote = ["--host-record=a.local.test,203.0.113.1",
                      "--host-record=probe.local.test,10.0.0.2",
                      "--host-record=b.remote.test,198.51.100.2",
                      "--host-record=c.remote.test,198.51.100.3",
                      "--host-record=p1.remote.test,198.51.100.11",
                      "--host-record=p2.remote.test,198.51.100.12",
                      "--host-record=x.both.test,203.0.113.9",
                      "--host-record=y.both.test,203.0.113.99",
                      "--txt-record=big.remote.test," + ",".join(TXT_REMOTE)]
    local = Dnsmasq("dnsmasq-local", LOCAL_IP, records_local)
    remote = Dnsmasq("dnsmasq-remote", REMOTE_IP, records_remote)

    sport, smport = h.free_port(), h.free_port()
    server = h.start_server_with_metrics(sport, smport, METHOD, 'password = "%s";' % PW,
                                         "ssring-server", udp=False)
    acl = os.path.join(h.tmpdir(), "dns.acl")
    with open(acl, "w") as f:
        f.write("[proxy_all]\n[bypass_list]\n(^|\\.)local\\.test$\n10.0.0.0/8\n"
                "[proxy_list]\n(^|\\.)remote\\.test$\n")
    dport, mport = h.free_port(), h.free_port()

    one = f'server = "127.0.0.1:{sport}"; method = "{METHOD}"; password = "{PW}";'

    def cfg(extra="", client=one):
        return f"""
workers = 2;
log_level = "debug";
{h.NO_DNS}
metrics = {{ listen = "127.0.0.1:{mport}"; }};
dns_proxies = ( {{ listen = "127.0.0.1:{dport}"; {client} acl = "{acl}";
                  local_dns = "{LOCAL_IP}:{local.port}";
                  remote_dns = "{REMOTE_IP}:{remote.port}"; {extra} }} );
"""
    fwd = h.start_ssring(cfg(), dport, "ssring-dns-proxy")

    def sessions():
        return h.metric_sample(h.metrics_text(smport), "ssring_tcp_sessions_total",
                               role="server") or 0

    def fm(name, **labels):
        return h.metric_sample(h.metrics_text(mport), name, **labels) or 0

    def ask(name, qtype="A", extra=()):
        return parse(dig("127.0.0.1", dport, name, qtype, extra))

    # 1. A bypassed name: local_dns over UDP, nothing through the server.
    s0 = sessions()
    for tcp in (False, True):
        r = ask("a.local.test", extra=["+tcp"] if tcp else [])
        h.check(r["status"] == "NOERROR" and r["answers"] == ["10.1.1.1"],
                "a.local.test (%s): want local 10.1.1.1:\n%s" % ("tcp" if tcp else "udp",
                                                              r["text"]))
    h.check(sessions() == s0, "a bypassed name went through the server")
    h.check(remote.count("a.local.test") == 0, "remote_dns was asked for a bypassed name")
    print("ok: bypassed name: local_dns answers, over UDP and TCP (10.1.1.1)")

    # 2. A proxied name: remote_dns through the server, over UDP and TCP clients.
    r = ask("b.remote.test")
    h.check(r["answers"] == ["198.51.100.2"], "b.remote.test: want remote:\n" + r["text"])
    h.check(h.wait_until(lambda: sessions() == s0 + 1, 5),
            "b.remote.test: want one session on the server, saw %s" % (sessions() - s0))
    r = ask("c.remote.test", extra=["+tcp"])
    h.check(r["answers"] == ["198.51.100.3"], "c.remote.test over TCP:\n" + r["text"])
    h.check(h.wait_until(lambda: sessions() == s0 + 2, 5), "c.remote.test: no session")
    h.check(local.count("b.remote.test") == 0, "local_dns was asked for a proxied name")
    print("ok: proxied name: remote_dns through the server, one ss stream per query")

    # 3. The cache: the same question again is not asked again. Each worker
    # has its own: one source port keeps the client on one (SO_REUSEPORT).
    src = ["-b", "127.0.0.1#%d" % h.free_port(socket.SOCK_DGRAM)]
    r = ask("d.remote.test", extra=src)
    h.check(r["status"] == "NXDOMAIN", "d.remote.test:\n" + r["text"])
    r = ask("b.remote.test", extra=src)
    h.check(r["answers"] == ["198.51.100.2"], "b.remote.test:\n" + r["text"])
    n, s1, c1 = remote.count("b.remote.test"), sessions(), fm("ssring_dns_proxy_queries_total",
                                                            route="cache")
    time.sleep(1.1)
    for _ in range(3):
        r = ask("b.remote.test", extra=src)
        h.check(r["answers"] == ["198.51.100.2"] and "COOKIE mismatch" not in r["text"],
                "cached b.remote.test (dig sends a cookie: none may come back):\n"
                + r["text"])
    ttl = int(re.search(r"b\.remote\.test\.\s+(\d+)", r["text"]).group(1))
    h.check(0 < ttl < 300, "the cached answer's TTL is not aged: %d" % ttl)
    h.check(sessions() == s1 and remote.count("b.remote.test") == n,
            "a cached answer was asked again")
    h.check(fm("ssring_dns_proxy_queries_total", route="cache") == c1 + 3,
            "cache hits not counted")
    r = ask("d.remote.test", extra=src)
    h.check(r["status"] == "NXDOMAIN" and sessions() == s1, "NXDOMAIN not cached")
    print("ok: cache: answered again without a resolver (TTL aged to %d), NXDOMAIN too" % ttl)

    # 4. Not listed: both asked; the local answer when its addresses are bypassed.
    r = ask("x.both.test")
    h.check(r["answers"] == ["10.9.9.9"], "x.both.test: want the local answer:\n" + r["text"])
    r = ask("y.both.test")
    h.check(r["answers"] == ["203.0.113.99"], "y.both.test: want the remote answer:\n"
            + r["text"])
    h.check(fm("ssring_dns_proxy_queries_total", route="both") >= 2, "route both not counted")
    print("ok: unlisted names: local answer kept for a bypassed address, else remote")

    # 5. NXDOMAIN passes through, from either resolver.
    for name in ("nope.local.test", "nope.remote.test"):
        r = ask(name)
        h.check(r["status"] == "NXDOMAIN" and not r["answers"], name + ":\n" + r["text"])
    print("ok: NXDOMAIN passed through (local and remote)")

    # 6. Truncation: a UDP client gets TC when the answer does not fit; TCP gets it all.
    for name, parts, size in (("big.local.test", TXT_LOCAL, 512),
                              ("big.remote.test", TXT_REMOTE, 1232)):
        r = ask(name, "TXT", ["+ignore", "+bufsize=%d" % size])
        h.check("tc" in r["flags"] and not r["answers"] and r["size"] <= size and r["opt"],
                "%s over UDP (bufsize %d): want TC, no answer, OPT:\n%s"
                % (name, size, r["text"]))
        r = ask(name, "TXT", ["+tcp"])
        h.check("tc" not in r["flags"] and len(r["answers"]) == 1 and
                all(p in r["answers"][0] for p in parts),
                "%s over TCP: want the whole record:\n%s" % (name, r["text"]))
        r = ask(name, "TXT", ["+bufsize=%d" % size])   # dig retries over TCP by itself
        h.check(len(r["answers"]) == 1 and "tc" not in r["flags"],
                "%s: dig's retry over TCP:\n%s" % (name, r["text"]))
    r = ask("big.local.test", "TXT", ["+ignore", "+noedns"])
    h.check("tc" in r["flags"] and not r["opt"] and r["size"] <= 512,
            "no EDNS: 512 bytes and TC:\n" + r["text"])
    # A TCP client without EDNS: local_dns cuts its UDP answer at 512, the
    # forwarder asks again over TCP.
    r = ask("big.local.test", "TXT", ["+tcp", "+noedns"])
    h.check("tc" not in r["flags"] and len(r["answers"]) == 1 and
            all(p in r["answers"][0] for p in TXT_LOCAL) and not r["opt"],
            "TCP without EDNS: the whole answer from local_dns over TCP:\n" + r["text"])
    r = ask("big.local.test", "TXT", ["+bufsize=4096"])
    h.check("tc" not in r["flags"] and len(r["answers"]) == 1,
            "bufsize 4096 takes it over UDP:\n" + r["text"])
    print("ok: TC=1 for UDP clients the answer does not fit, whole over TCP")

    # 7. EDNS0: the OPT record comes back; the client's case and ID.
    r = ask("A.Local.TEST", extra=["+bufsize=1232"])
    h.check(r["opt"] and r["answers"] == ["10.1.1.1"], "EDNS0 query:\n" + r["text"])
    h.check(re.search(r";A\.Local\.TEST\.\s+IN\s+A", r["text"]) is not None,
            "the question's case is not the client's:\n" + r["text"])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    for qid in (0x0001, 0xBEEF):
        s.sendto(query_bytes(qid, "a.local.test", edns=1232), ("127.0.0.1", dport))
        a = s.recv(4096)
        h.check(struct.unpack(">H", a[:2])[0] == qid and a[2] & 0x80, "ID %#x not kept" % qid)
    # A query with no question gets FORMERR; bytes that are not DNS get nothing.
    s.sendto(struct.pack(">HHHHHH", 0x4242, 0x0100, 0, 0, 0, 0), ("127.0.0.1", dport))
    a = s.recv(4096)
    h.check(a[:2] == b"\x42\x42" and a[3] & 15 == 1, "no FORMERR for an empty question")
    s.sendto(b"\x01\x02\x03", ("127.0.0.1", dport))
    s.sendto(query_bytes(7, "a.local.test"), ("127.0.0.1", dport))
    a = s.recv(4096)
    h.check(struct.unpack(">H", a[:2])[0] == 7, "an answer to 3 bytes of junk")
    s.close()
    print("ok: EDNS0 OPT back, the client's ID and case, FORMERR, junk dropped")

    # 8. DNS over TCP with two queries in one write: two answers (RFC 7766).
    t = socket.create_connection(("127.0.0.1", dport), timeout=10)
    q1, q2 = query_bytes(11, "p1.remote.test"), query_bytes(12, "a.local.test")
    t.sendall(struct.pack(">H", len(q1)) + q1 + struct.pack(">H", len(q2)) + q2)
    got = {}
    buf = b""
    while len(got) < 2:
        d = t.recv(4096)
        h.check(d, "the TCP client's answers stopped after %d" % len(got))
        buf += d
        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
            n = struct.unpack(">H", buf[:2])[0]
            got[struct.unpack(">H", buf[2:4])[0]] = buf[2:2 + n]
            buf = buf[2 + n:]
    h.check(set(got) == {11, 12}, "pipelined answers: %s" % sorted(got))
    h.check(socket.inet_aton("198.51.100.11") in got[11] and
            socket.inet_aton("10.1.1.1") in got[12], "pipelined answers' contents")
    t.close()
    print("ok: DNS over TCP: two pipelined queries, two answers")

    # 9. The metrics and a reload (the cache is emptied: asked again).
    text = h.metrics_text(mport)
    for route in ("local", "remote", "both", "cache"):
        h.check(h.metric_sample(text, "ssring_dns_proxy_queries_total", route=route),
                "no ssring_dns_proxy_queries_total{route=%s}:\n%s" % (route, text[-3000:]))
    h.check((h.metric_sample(text, "ssring_dns_proxy_failures_total", reason="timeout") or 0)
            == 0 and (h.metric_sample(text, "ssring_dns_proxy_failures_total",
                                      reason="upstream") or 0) == 0,
            "failures counted:\n" + text[-2000:])
    h.check(h.metric_sample(text, "ssring_dns_proxy_failures_total", reason="malformed") >= 2,
            "malformed queries not counted")
    n = remote.count("c.remote.test")
    h.reload_with(fwd, "ssring-dns-proxy", cfg("outbound_bind_address = \"127.0.0.1\";"))
    for _ in range(3):
        r = ask("c.remote.test")
        h.check(r["answers"] == ["198.51.100.3"], "after the reload:\n" + r["text"])
    h.check(remote.count("c.remote.test") > n, "the cache survived a reload")
    print("ok: metrics by route; a reload keeps the port and empties the cache")

    # 10. Several servers, the first one dead, the other one by name
    # (/etc/hosts): every query still answered, the dead one taken out.
    dead = h.free_port()
    h.reload_with(fwd, "ssring-dns-proxy", cfg(client=f"""upstreams = (
        {{ server = "127.0.0.1:{dead}"; method = "{METHOD}"; password = "{PW}"; }},
        {{ server = "localhost:{sport}"; method = "{METHOD}"; password = "{PW}"; }} );"""))
    for i in range(8):  # names not asked before: each one goes to an upstream
        r = ask("u%d.remote.test" % i)
        h.check(r["status"] == "NXDOMAIN", "upstreams, query %d:\n%s" % (i, r["text"]))
    r = ask("p2.remote.test")
    h.check(r["answers"] == ["198.51.100.12"], "upstreams:\n" + r["text"])
    h.check(fm("ssring_dns_proxy_failures_total", reason="upstream") == 0,
            "a dead upstream failed a query")
    print("ok: upstreams: a dead server is passed over, a server by name resolved")

    # 11. A resolver that does not answer: SERVFAIL after the query's time.
    local.proc.stop()
    t0 = time.time()
    r = ask("a2.local.test", extra=["+time=9"])
    took = time.time() - t0
    h.check(r["status"] == "SERVFAIL" and 1 <= took <= 8, "a dead local_dns: %s after %.1fs:\n%s"
            % (r["status"], took, r["text"]))
    h.check(fm("ssring_dns_proxy_failures_total", reason="timeout") >= 1, "timeout not counted")
    print("ok: a resolver that does not answer: SERVFAIL in %.1fs" % took)

    h.check(fwd.stop() == 0, "the forwarder did not stop cleanly:\n" + fwd.output()[-2000:])
    server.stop()
    for d in (local, remote):
        d.proc.stop()
    router_part()
    print("PASS")


# ---------------------------------------------------------------- a router

ECHO = """
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16)
def serve(c):
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.close()
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
"""


def router_part():
    """Run router() in a network namespace of its own, if this machine lets us."""
    if os.geteuid() != 0:
        h.skip_part("the router part needs root (network namespaces)")
        return
    for tool in ("unshare", "nsenter", "ip", "nft"):
        if not shutil.which(tool):
            h.skip_part("the router part needs " + tool)
            return
    r = subprocess.run(["unshare", "--net", "--", sys.executable, os.path.abspath(__file__),
                        "--router"], env=os.environ, timeout=300)
    h.check(r.returncode == 0, "the router part failed (%d)" % r.returncode)


def router():
    """In our own namespace (the router): the forwarder and a redir in one
    ssring; the server, remote_dns and the target in a namespace behind a veth."""
    need_dig()
    wan = subprocess.Popen(["unshare", "--net", "--", "sleep", "600"])
    h._procs.append(wan)
    ns = ["nsenter", "-t", str(wan.pid), "-n", "--"]
    for cmd in (["ip", "link", "set", "lo", "up"],
                ["ip", "link", "add", "wan0", "type", "veth", "peer", "name", "wan1"],
                ["ip", "addr", "add", "10.77.0.1/24", "dev", "wan0"],
                ["ip", "link", "set", "wan0", "up"],
                ["ip", "route", "add", "default", "via", "10.77.0.2"],
                ["ip", "link", "set", "wan1", "netns", str(wan.pid)],
                ns + ["ip", "link", "set", "lo", "up"],
                ns + ["ip", "addr", "add", "10.77.0.2/24", "dev", "wan1"],
                ns + ["ip", "addr", "add", "198.18.0.1/32", "dev", "lo"],
                ns + ["ip", "link", "set", "wan1", "up"]):
        subprocess.run(cmd, check=True)
    # The router's own resolver; the remote one on the other namespace's loopback.
    local = Dnsmasq("router-dnsmasq-local", LOCAL_IP,
                    ["--host-record=a.local.test,10.1.1.1", "--host-record=probe.local.test,10.0.0.1",
                     "--host-record=echo.remote.test,10.6.6.6"])
    rport = h.free_port(socket.SOCK_DGRAM)
    remote = h.Proc(ns + [shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "-k", "-C", "/dev/null",
                          "--no-resolv", "--no-hosts", "--pid-file=", "--user=root",
                          "--port=%d" % rport, "--listen-address=" + REMOTE_IP,
                          "--bind-interfaces", "--local-ttl=300", "--local=/remote.test/",
                          "--host-record=echo.remote.test,198.18.0.1"], "router-dnsmasq-remote")
    eport, sport = h.free_port(), h.free_port()
    h.Proc(ns + [sys.executable, "-c", ECHO, "198.18.0.1", str(eport)], "router-echo")
    srv_cfg = h.write_config(f"""
workers = 1;
log_level = "debug";
{h.NO_DNS}
servers = ( {{ listen = "10.77.0.2:{sport}"; method = "{METHOD}"; password = "{PW}";
             allow_private = true; }} );
""", "router-server.cfg")
    server = h.Proc(ns + [h.BIN, "-f", srv_cfg], "router-server")
    h.check(h.wait_until(lambda: subprocess.run(
        ns + ["dig", "-p", str(rport), "@" + REMOTE_IP, "echo.remote.test", "+short", "+time=1",
              "+tries=1"], capture_output=True, text=True).stdout.strip() == "198.18.0.1", 10),
        "the remote resolver did not come up:\n" + remote.output())
    h.check(h.wait_port(sport, server.p, host="10.77.0.2"), "the server did not come up:\n"
            + server.output())
    # The remote resolver is not reachable from the router.
    r = parse(dig(REMOTE_IP, rport, "echo.remote.test", extra=["+time=1"]))
    h.check(not r["answers"], "remote_dns answered the router directly:\n" + r["text"])

    acl = os.path.join(h.tmpdir(), "router.acl")
    with open(acl, "w") as f:
        f.write("[proxy_all]\n[bypass_list]\n(^|\\.)local\\.test$\n10.0.0.0/8\n"
                "[proxy_list]\n(^|\\.)remote\\.test$\n")
    dport, redport = h.free_port(), h.free_port()
    rules = f"""
table ip router {{
  chain out {{
    type nat hook output priority -100;
    ip daddr 198.18.0.0/15 tcp dport {eport} redirect to :{redport}
  }}
}}
"""
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)
    client = f'server = "10.77.0.2:{sport}"; method = "{METHOD}"; password = "{PW}";'
    rt = h.start_ssring(f"""
workers = 2;
log_level = "debug";
{h.NO_DNS}
redirs = ( {{ listen = "127.0.0.1:{redport}"; {client} }} );
dns_proxies = ( {{ listen = "127.0.0.1:{dport}"; {client} acl = "{acl}";
                  local_dns = "{LOCAL_IP}:{local.port}"; remote_dns = "{REMOTE_IP}:{rport}"; }} );
""", dport, "router-ssring")
    for tcp in ([], ["+tcp"]):
        r = parse(dig("127.0.0.1", dport, "echo.remote.test", extra=tcp))
        h.check(r["answers"] == ["198.18.0.1"], "router: echo.remote.test %s:\n%s"
                % (tcp, r["text"]))
        r = parse(dig("127.0.0.1", dport, "a.local.test", extra=tcp))
        h.check(r["answers"] == ["10.1.1.1"], "router: a.local.test:\n" + r["text"])
    s = socket.create_connection(("198.18.0.1", eport), timeout=10)
    payload = os.urandom(100000)
    s.sendall(payload)
    got = h.recv_exact(s, len(payload))
    s.close()
    h.check(got == payload, "router: the echo through the redir is not byte-exact")
    out = server.output()
    h.check("connecting to 198.18.0.1:%d" % eport in out and
            "connecting to %s:%d" % (REMOTE_IP, rport) in out,
            "router: the server did not carry the query and the connection:\n" + out[-2000:])
    h.check(rt.stop() == 0, "router: ssring did not stop cleanly:\n" + rt.output()[-2000:])
    server.stop()
    print("ok: a router: the forwarder resolves through the server what the redir then "
          "carries; bypassed names from the local resolver")


if __name__ == "__main__":
    if sys.argv[1:] == ["--router"]:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        router()
    else:
        main()
