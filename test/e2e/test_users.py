# SPDX-License-Identifier: MIT
"""Users on AEAD-2017 servers (trial decryption): for every cipher
shadowsocks-libev has, two of its ss-local clients with different users'
passwords reach one ssring port, TCP and UDP; 300 users and clients from
40 addresses (127.0.0.0/8) all get through, and the second connection from
an address is found by the hint (warm) while the first needed a search
(cold); per-user bytes in /metrics equal what each user sent; a wrong
password is an authentication failure; UDP replies are sealed with the
user's key; with a 1 ms trial budget and 20,000 users a search is cut
short and counted (reason trial_budget); with 10,000 users a flood of junk
handshakes from one address and through a plugin does not keep users who
connected before from connecting, from their address, a new one or through
the plugin; configuration errors name the line."""
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

LIBEV = ["aes-128-gcm", "aes-192-gcm", "aes-256-gcm", "chacha20-ietf-poly1305",
         "xchacha20-ietf-poly1305"]
MANY = 300


def users_block(names, pw=lambda n: "pw-" + n, extra=lambda n: ""):
    return ",\n".join('{ name = "%s"; password = "%s"; %s}' % (n, pw(n), extra(n))
                      for n in names)


def echo_tcp(lport, echo_port, payload):
    s = h.socks5_connect(lport, "127.0.0.1", echo_port)
    s.sendall(payload)
    got = h.recv_exact(s, len(payload))
    s.close()
    return got


def libev_pair(ports, echo, uecho):
    """Two libev clients per method, users alice and carol on one port each."""
    for method, sport in ports.items():
        for user in ("alice", "carol"):
            pr, lport = h.start_ss_local_udp(sport, method, "pw-" + user,
                                             name="ss-local-%s-%s" % (method, user))
            payload = h.pattern(100000, seed=len(user))
            got = echo_tcp(lport, echo.port, payload)
            h.check(got == payload, "%s %s: TCP echo through ssring users failed" % (method, user))
            u = h.Socks5Udp(lport)
            data = ("udp %s %s" % (method, user)).encode()
            u.send("127.0.0.1", uecho.port, data)
            _, back = u.recv()
            h.check(back == uecho.tag + data, "%s %s: UDP echo: %r" % (method, user, back))
            u.close()
            pr.stop()


def many_addresses(sport, mport, echo):
    """40 clients from 40 addresses, random users; then again: all warm."""
    import random
    rnd = random.Random(7)
    picks = [("u%d" % rnd.randrange(MANY), "127.0.%d.%d" % (1 + i // 200, 10 + i % 200))
             for i in range(40)]
    before = h.metrics_text(mport)
    sent = {}
    for rnd_pass in range(2):
        for user, src in picks:
            payload = ("%s from %s pass %d" % (user, src, rnd_pass)).encode() * 10
            s, up, down = h.ss_connect_from(sport, "aes-256-gcm", "pw-" + user, "127.0.0.1",
                                            echo.port, payload, source=src)
            s.shutdown(socket.SHUT_WR)
            got = h.ss_read_all(s, down)
            s.close()
            h.check(got == payload, "%s from %s: echo %r" % (user, src, got[:40]))
            sent[user] = sent.get(user, 0) + len(payload)
        if rnd_pass == 0:
            mid = h.metrics_text(mport)
    after = h.metrics_text(mport)

    def d(a, b, result):
        return (h.metric_sample(b, "ssring_user_trials_total", result=result) -
                h.metric_sample(a, "ssring_user_trials_total", result=result))
    # First pass: no address had a user yet (each was new): all searched.
    h.check(d(before, mid, "cold") == 40 and d(before, mid, "warm") == 0,
            "first pass: cold %s warm %s, want 40 and 0" % (d(before, mid, "cold"),
                                                           d(before, mid, "warm")))
    h.check(d(mid, after, "warm") == 40 and d(mid, after, "cold") == 0,
            "second pass: warm %s cold %s, want 40 and 0" % (d(mid, after, "warm"),
                                                            d(mid, after, "cold")))
    # Per-user bytes: exactly what each sent (up) and got back (down).
    for user, n in sent.items():
        for direction in ("up", "down"):
            v = h.metric_sample(after, "ssring_user_bytes_total", user=user, proto="tcp",
                                direction=direction)
            h.check(v == n, "user %s %s: metrics say %s bytes, sent %d" % (user, direction, v, n))
    keys = h.metric_sample(after, "ssring_user_trial_keys_total")
    h.check(keys and keys > 0, "no keys counted as tried")


def wrong_password(sport, mport, echo):
    before = h.metric_sample(h.metrics_text(mport), "ssring_auth_failures_total",
                             reason="bad_tag") or 0
    s, up, down = h.ss_connect_from(sport, "aes-256-gcm", "not-a-user", "127.0.0.1",
                                    echo.port, b"x" * 100, source="127.0.9.9")
    s.shutdown(socket.SHUT_WR)
    s.settimeout(20)
    try:
        raw = h.recv_all(s)
    except OSError:
        raw = b""
    h.check(raw == b"", "a wrong password got %d bytes back" % len(raw))
    ok = h.wait_until(lambda: (h.metric_sample(h.metrics_text(mport),
                                               "ssring_auth_failures_total",
                                               reason="bad_tag") or 0) == before + 1)
    h.check(ok, "the wrong password was not counted as an authentication failure")


def udp_user_key(sport, uecho):
    """A Python client as user u7: the reply opens with u7's key only."""
    sock = h.udp_socket()
    hdr = h.socks_addr("127.0.0.1", uecho.port)
    sock.sendto(h.ss_udp_seal("aes-256-gcm", "pw-u7", hdr + b"udp-as-u7"), ("127.0.0.1", sport))
    pkt, _ = sock.recvfrom(65536)
    plain = h.ss_udp_open("aes-256-gcm", "pw-u7", pkt)
    h.check(plain is not None and plain.endswith(uecho.tag + b"udp-as-u7"),
            "UDP reply does not open with the user's key: %r" % plain)
    h.check(h.ss_udp_open("aes-256-gcm", "pw-u8", pkt) is None,
            "UDP reply opens with another user's key")
    sock.close()


def budget(echo):
    """20,000 users, 1 ms of searching per second: the search is cut short.
    The smallest budget there is, against a search no machine finishes in
    it (20,000 key derivations and tag checks in 1 ms would be 50 ns each),
    so the outcome does not depend on the machine's speed."""
    sport, mport = h.free_port(), h.free_port()
    names = ["b%d" % i for i in range(20000)]
    cfg = f"""
workers = 1;
log_level = "info";
{h.NO_DNS}
metrics = {{ listen = "127.0.0.1:{mport}"; }};
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "aes-256-gcm"; allow_private = true;
             trial_budget = 1; probe = "close";
             users = ( {users_block(names)} ); }} );
"""
    pr = h.start_ssring(cfg, sport, name="ssring-budget")
    h.wait_until(lambda: h.metric_sample(h.metrics_text(mport), "ssring_workers") == 1)
    for i in range(3):
        s, up, down = h.ss_connect_from(sport, "aes-256-gcm", "pw-b19999", "127.0.0.1",
                                        echo.port, b"late user", source="127.0.8.%d" % (i + 1))
        s.settimeout(20)
        try:
            s.shutdown(socket.SHUT_WR)
            raw = h.recv_all(s)
        except OSError:  # probe = "close": reset at once
            raw = b""
        h.check(raw == b"", "a search past the budget still answered")
    text = h.metrics_text(mport)
    n = h.metric_sample(text, "ssring_auth_failures_total", reason="trial_budget")
    b = h.metric_sample(text, "ssring_user_trials_total", result="budget")
    h.check(n and n >= 1 and b and b >= 1,
            "budget refusals not counted: auth %s, trials %s\n%s" % (n, b, pr.output()[-2000:]))
    h.check("cold-trial budget spent" in pr.output(), "the log does not say why")
    pr.stop()


def flood(echo):
    """10,000 users and the default budget (100 ms of CPU a second, a
    quarter of it for any one source): junk handshakes from one address, and through
    a plugin, spend what they may, while users who connected before still
    get in, from their own address (the hint), from a new one and through
    the plugin (the most recent users are tried outside the budget)."""
    import random
    import threading
    rnd = random.Random(11)
    sport, pport, mport, lport = h.free_port(), h.free_port(), h.free_port(), h.free_port()
    names = ["f%d" % i for i in range(10000)]
    # Early in the list, so that finding them before the flood (a cold
    # search, within a source's quarter of 100 ms) costs little even in a
    # slow build; during the flood where they stand does not matter.
    known = ["f%d" % i for i in (17, 42, 77)]
    cfg = f"""
workers = 1;
log_level = "warn";
{h.NO_DNS}
metrics = {{ listen = "127.0.0.1:{mport}"; }};
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "aes-256-gcm"; allow_private = true;
               users = ( {users_block(names)} ); }},
            {{ listen = "127.0.0.1:{pport}"; method = "aes-256-gcm"; allow_private = true;
               plugin = "obfs-server"; plugin_opts = "obfs=http";
               users = ( {users_block(names)} ); }} );
"""
    pr = h.start_ssring(cfg, sport, name="ssring-flood")
    h.check(h.wait_until(lambda: h.tcp_listening(pport), timeout=20), "the plugin does not listen")
    obfs = h.Proc(["obfs-local", "-s", "127.0.0.1", "-p", str(pport), "-l", str(lport),
                   "-b", "127.0.0.1", "--obfs", "http"], "obfs-local-flood")
    h.check(h.wait_port(lport, obfs.p), "obfs-local did not come up")

    def echo_as(user, port, src="127.0.0.1"):
        payload = ("%s %d" % (user, rnd.randrange(1 << 30))).encode()
        s, up, down = h.ss_connect_from(port, "aes-256-gcm", "pw-" + user, "127.0.0.1",
                                        echo.port, payload, source=src)
        s.settimeout(30)
        # No half-close: simple-obfs ends the whole connection on it.
        buf, got, started = b"", b"", False
        try:
            while len(got) < len(payload):
                b = s.recv(65536)
                if not b:
                    break
                buf += b
                if not started:
                    if len(buf) < down.klen:
                        continue
                    down.start(buf[:down.klen])
                    buf, started = buf[down.klen:], True
                out, buf = down.open(buf)
                got += out
        except OSError:
            pass
        s.close()
        return got == payload

    # Known: each connected once, directly from 127.0.6.6 and through the plugin.
    for u in known:
        h.check(echo_as(u, sport, "127.0.6.6"), "%s before the flood (direct)" % u)
        h.check(echo_as(u, lport), "%s before the flood (plugin)" % u)
    before = h.metric_sample(h.metrics_text(mport), "ssring_user_trials_total",
                             result="budget") or 0
    stop = threading.Event()
    sent = [0]

    def junk(port, src):
        for _ in range(20000):
            if stop.is_set():
                return
            try:
                c = socket.create_connection(("127.0.0.1", port), timeout=5,
                                             source_address=(src, 0))
                c.sendall(os.urandom(100))
                c.close()
                sent[0] += 1
            except OSError:
                pass
    floods = [threading.Thread(target=junk, args=(sport, "127.0.5.5")),
              threading.Thread(target=junk, args=(lport, "127.0.0.1"))]
    for t in floods:
        t.start()
    try:
        # The budget is being spent: the flood is real.
        h.check(h.wait_until(lambda: (h.metric_sample(h.metrics_text(mport),
                                                      "ssring_user_trials_total",
                                                      result="budget") or 0) > before + 20,
                             timeout=20),
                "the junk never spent the budget")
        for rnd_pass in range(3):
            for i, u in enumerate(known):
                h.check(echo_as(u, sport, "127.0.6.6"),
                        "during the flood: %s from its own address" % u)
                h.check(echo_as(u, sport, "127.0.%d.%d" % (7 + rnd_pass, 10 + i)),
                        "during the flood: %s from a new address" % u)
                h.check(echo_as(u, lport), "during the flood: %s through the plugin" % u)
    finally:
        stop.set()
        for t in floods:
            t.join()
    after = h.metric_sample(h.metrics_text(mport), "ssring_user_trials_total", result="budget")
    print("flood: %d junk handshakes, %d cut short by the budget; known users got in"
          % (sent[0], after - before))
    obfs.stop()
    h.check(pr.stop() == 0, "exit code")


def config_errors(tmp):
    bad = {
        "both": ('servers = ( { listen = "127.0.0.1:1"; method = "aes-256-gcm"; password = "x";\n'
                 '  users = ( { name = "a"; password = "b"; } ); } );\n',
                 "servers[0].users: an AEAD-2017 server has either one secret"),
        "chacha2022": ('servers = ( { listen = "127.0.0.1:1"; method = '
                       '"2022-blake3-chacha20-poly1305";\n  key = "%s";\n'
                       '  users = ( { name = "a"; key = "%s"; } ); } );\n'
                       % ("A" * 43 + "=", "B" * 43 + "="),
                       "servers[0].users: 2022-blake3-chacha20-poly1305 has no identity header"),
        "dup": ('servers = ( { listen = "127.0.0.1:1"; method = "aes-256-gcm";\n'
                '  users = ( { name = "a"; password = "b"; },\n'
                '            { name = "a"; password = "c"; } ); } );\n',
                "servers[0].users[1].name: duplicate user name 'a'"),
        "rate": ('servers = ( { listen = "127.0.0.1:1"; method = "aes-256-gcm";\n'
                 '  users = ( { name = "a"; password = "b"; limits = { rate = "fast"; }; } ); } );\n',
                 "servers[0].users[0].limits.rate: 'fast' is not a rate"),
    }
    for name, (text, want) in bad.items():
        path = os.path.join(tmp, name + ".cfg")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([h.BIN, "--check", "-f", path], capture_output=True, text=True,
                           timeout=30)
        h.check(r.returncode != 0 and want in r.stderr,
                "%s: exit %d, message %r; want %r" % (name, r.returncode, r.stderr, want))


def main():
    h.need_tool("ss-local")
    tmp = h.tmpdir()
    config_errors(tmp)
    echo, uecho = h.EchoServer(), h.UdpEcho(tag=b"E:")
    ports = {m: h.free_port() for m in LIBEV}
    sport, mport = h.free_port(), h.free_port()
    many = ["u%d" % i for i in range(MANY)]
    servers = []
    for m, p in ports.items():
        servers.append(f"""{{ listen = "127.0.0.1:{p}"; method = "{m}"; allow_private = true;
    users = ( {users_block(["bob", "alice", "carol"])} ); }}""")
    # Not a test of the cold-trial budget (budget() is): the most a server
    # allows, so that a slow build (ThreadSanitizer) or a busy machine cannot
    # spend it with this test's own cold handshakes.
    servers.append(f"""{{ listen = "127.0.0.1:{sport}"; method = "aes-256-gcm";
    allow_private = true; trial_budget = 1000; users = ( {users_block(many)} ); }}""")
    cfg = f"""
workers = 2;
log_level = "info";
{h.NO_DNS}
metrics = {{ listen = "127.0.0.1:{mport}"; }};
servers = ( {",".join(servers)} );
"""
    pr = h.start_ssring(cfg, sport)
    h.wait_until(lambda: all(h.tcp_listening(p) for p in ports.values()))
    libev_pair(ports, echo, uecho)
    many_addresses(sport, mport, echo)
    wrong_password(sport, mport, echo)
    udp_user_key(sport, uecho)
    pr.stop()
    budget(echo)
    flood(echo)
    print("ok")


if __name__ == "__main__":
    main()
