# SPDX-License-Identifier: MIT
"""Outbound options, in a network namespace of the test's own with
nftables and kernel counters: a server with outbound_fwmark and outbound_bind_address
marks and binds its TCP and UDP sockets toward targets (the packets counted
by mark, the targets see the bound address); a local's outbound_fwmark marks
its connections to the server; a server with outbound_interface reaches only
what that interface routes (one end of a veth pair: its own address yes,
127.0.0.1 no); fast_open and mptcp on a local and a server make the kernel
count Fast Open connections (TcpExt TCPFastOpenActive/Passive, the second
time: the first fetches the cookie) and MP_CAPABLE handshakes (MPTcpExt);
bad values are configuration errors that name the key."""
import json
import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

M, PW = "chacha20-ietf-poly1305", "outbound"


def in_own_netns():
    if os.environ.get("OUTBOUND_NETNS") == "1":
        with open("/proc/sys/net/ipv4/tcp_fastopen", "w") as f:
            f.write("3")  # client and server (per namespace)
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "link", "add", "ob0", "type", "veth", "peer", "name", "ob1"],
                    ["ip", "addr", "add", "10.77.0.1/24", "dev", "ob0"],
                    ["ip", "link", "set", "ob0", "up"], ["ip", "link", "set", "ob1", "up"]):
            subprocess.run(cmd, check=True)
        return
    if os.geteuid() != 0:
        h.skip("needs root for a network namespace of its own")
    for tool in ("unshare", "ip", "nft"):
        h.need_tool(tool)
    r = subprocess.run(["unshare", "--net", "--", sys.executable, os.path.abspath(__file__)],
                       env=dict(os.environ, OUTBOUND_NETNS="1"))
    sys.exit(r.returncode)


class Echo:
    """TCP and UDP echo on host, remembering the peers' addresses."""

    def __init__(self, host):
        self.peers = []
        self.t = socket.socket()
        self.t.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
        self.t.bind((host, 0))
        self.t.listen(64)
        self.port = self.t.getsockname()[1]
        self.u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.u.bind((host, 0))
        self.uport = self.u.getsockname()[1]
        threading.Thread(target=self.tcp, daemon=True).start()
        threading.Thread(target=self.udp, daemon=True).start()

    def tcp(self):
        while True:
            c, peer = self.t.accept()
            self.peers.append(peer[0])
            with c:
                while True:
                    b = c.recv(65536)
                    if not b:
                        break
                    c.sendall(b)

    def udp(self):
        while True:
            d, peer = self.u.recvfrom(65536)
            self.peers.append(peer[0])
            self.u.sendto(d, peer)


def nft_counters():
    """Packets counted by each rule of table inet ob, by its comment."""
    out = subprocess.run(["nft", "-j", "list", "table", "inet", "ob"], check=True,
                         capture_output=True, text=True).stdout
    res = {}
    for item in json.loads(out)["nftables"]:
        rule = item.get("rule")
        if not rule:
            continue
        for e in rule["expr"]:
            if "counter" in e:
                res[rule.get("comment", "")] = e["counter"]["packets"]
    return res


def kernel_counters():
    """TcpExt and MPTcpExt counters of this namespace (/proc/net/netstat)."""
    res = {}
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        kind = names.split(":")[0]
        for n, v in zip(names.split()[1:], values.split()[1:]):
            res[kind + "." + n] = int(v)
    return res


def ss_echo(sport, host, port, payload):
    s, up, down = h.ss_connect(sport, M, PW, host, port, payload)
    s.shutdown(socket.SHUT_WR)
    got = h.ss_read_all(s, down)
    s.close()
    return got


def main():
    in_own_netns()
    echo, echo_ob = Echo("127.0.0.1"), Echo("10.77.0.1")
    sport, sport2, lport = h.free_port(), h.free_port(), h.free_port()
    rules = f"""
table inet ob {{
  chain out {{
    type filter hook output priority 0;
    meta mark 42 tcp dport {echo.port} counter comment "server tcp"
    meta mark 42 udp dport {echo.uport} counter comment "server udp"
    meta mark 43 tcp dport {sport} counter comment "local tcp"
    meta mark 43 udp dport {sport} counter comment "local udp"
  }}
}}
"""
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)
    srv = h.start_ssring(h.server_cfg(sport, M, PW, extra='udp = true; outbound_fwmark = 42; '
                                      'outbound_bind_address = "127.0.0.5";'), sport, "server")
    loc = h.start_ssring(h.local_cfg(lport, sport, M, PW, extra="outbound_fwmark = 43;"),
                         lport, "local")
    payload = h.pattern(100000, seed=4)
    h.check(h.echo_roundtrip(lport, echo.port, payload) == payload, "TCP echo through the pair")
    u = h.Socks5Udp(lport)
    u.send("127.0.0.1", echo.uport, b"marked datagram")
    _, back = u.recv(timeout=5)
    u.close()
    h.check(back == b"marked datagram", "UDP echo: %r" % back)
    c = nft_counters()
    print("nftables packets by mark: %r; the targets saw %r" % (c, sorted(set(echo.peers))),
          flush=True)
    for k in ("server tcp", "server udp", "local tcp", "local udp"):
        h.check(c.get(k, 0) > 0, "no %s packet carried its mark: %r" % (k, c))
    h.check(set(echo.peers) == {"127.0.0.5"}, "targets saw %r, not the bound 127.0.0.5"
            % sorted(set(echo.peers)))
    h.check(loc.stop() == 0, "local exit code")
    h.check(srv.stop() == 0, "server exit code")

    # After user = "nobody" the marks still work: CAP_NET_ADMIN was kept.
    sport3 = h.free_port()
    srv3 = h.start_ssring(h.server_cfg(sport3, M, PW, extra="outbound_fwmark = 42;",
                                       top='user = "nobody";'), sport3, "server-nobody")
    before = nft_counters()["server tcp"]
    h.check(ss_echo(sport3, "127.0.0.1", echo.port, b"as nobody") == b"as nobody",
            "echo through a server running as nobody")
    h.check(nft_counters()["server tcp"] > before, "no marked packet after the privilege drop")
    h.check("CAP_NET_ADMIN (outbound_fwmark, TPROXY)" in srv3.output(), "kept capabilities not logged")
    h.check(srv3.stop() == 0, "server exit code")

    # outbound_interface: ob0 routes its own address, not 127.0.0.1.
    srv2 = h.start_ssring(h.server_cfg(sport2, M, PW, extra='outbound_interface = "ob0";'),
                          sport2, "server-ob0")
    h.check(ss_echo(sport2, "10.77.0.1", echo_ob.port, b"via ob0") == b"via ob0",
            "a target on ob0's address through a server bound to ob0")
    h.check(ss_echo(sport2, "127.0.0.1", echo.port, b"via lo?") == b"",
            "127.0.0.1 was reached through a server bound to ob0")
    h.check(h.wait_log(srv2, "connect to 127.0.0.1:%d failed" % echo.port),
            "the failed connect is logged:\n" + srv2.output()[-1500:])
    h.check(srv2.stop() == 0, "server exit code")

    # fast_open and mptcp on both ends of local -> server, fast_open toward
    # the target (whose listener takes Fast Open too).
    sport4, lport4 = h.free_port(), h.free_port()
    srv4 = h.start_ssring(h.server_cfg(sport4, M, PW, extra="fast_open = true; mptcp = true;"),
                          sport4, "server-tfo-mptcp")
    loc4 = h.start_ssring(h.local_cfg(lport4, sport4, M, PW,
                                      extra="fast_open = true; mptcp = true;"),
                          lport4, "local-tfo-mptcp")
    k0 = kernel_counters()
    for i in range(3):  # the first connection of each leg fetches its cookie
        data = h.pattern(20000, seed=i)
        h.check(h.echo_roundtrip(lport4, echo.port, data) == data, "echo %d with TFO/MPTCP" % i)
    k1 = kernel_counters()
    moved = {k: k1[k] - k0.get(k, 0) for k in ("TcpExt.TCPFastOpenActive",
                                               "TcpExt.TCPFastOpenPassive",
                                               "MPTcpExt.MPCapableSYNRX",
                                               "MPTcpExt.MPCapableSYNACKRX")}
    print("kernel counters over 3 connections: %r" % moved, flush=True)
    for k, v in moved.items():
        h.check(v > 0, "%s did not move: %r" % (k, moved))
    h.check(loc4.stop() == 0, "local exit code")
    h.check(srv4.stop() == 0, "server exit code")

    # Bad values: configuration errors naming the key.
    for extra, key in (('outbound_bind_address = "nope";', "outbound_bind_address"),
                       ('outbound_interface = "a-name-far-too-long";', "outbound_interface"),
                       ("outbound_fwmark = -1;", "outbound_fwmark")):
        path = h.write_config(h.server_cfg(h.free_port(), M, PW, extra=extra), "bad.cfg")
        r = subprocess.run([h.BIN, "-f", path, "--check"], capture_output=True, text=True)
        h.check(r.returncode != 0 and key in r.stdout + r.stderr,
                "%s: exit %d, %r" % (extra, r.returncode, (r.stdout + r.stderr)[-300:]))
    print("test_outbound: ok")


if __name__ == "__main__":
    main()
