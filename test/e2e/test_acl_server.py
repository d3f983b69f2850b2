# SPDX-License-Identifier: MIT
"""A server's ACL (acl = "FILE", shadowsocks-libev's format and server
meaning): with [reject_all] only [white_list] clients connect (TCP and a new
UDP client alike), with [accept_all] the [black_list] ones are refused; the
refusals are counted; [outbound_block_list] refuses targets by address, by
name rule before any lookup (whatever the name's case, with or without
one trailing dot: BLOCKED.example, blocked.example. and x.REGEX.example are
refused), and by the resolved address of a name ("localhost" from
/etc/hosts); a missing ACL file or a bad pattern is a configuration error
naming FILE:LINE; a reload takes a changed ACL."""
import os
import signal
import socket
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

M, PW = "aes-256-gcm", "acl pw"


def echo_from(sport, source, host, tport, payload=b"acl"):
    """An ss request from source to host:tport; the echo, or b"" if refused."""
    try:
        up, down = h.SsStream(M, PW), h.SsStream(M, PW)
        salt = os.urandom(up.klen)
        up.start(salt)
        if any(c.isalpha() for c in host):
            addr = b"\x03" + bytes([len(host)]) + host.encode()
        else:
            addr = b"\x01" + socket.inet_aton(host)
        s = socket.create_connection(("127.0.0.1", sport), timeout=10, source_address=(source, 0))
        s.sendall(salt + up.seal(addr + struct.pack(">H", tport) + payload))
        s.shutdown(socket.SHUT_WR)
        got = h.ss_read_all(s, down)
        s.close()
        return got
    except OSError:
        return b""


def udp_from(sport, source, uecho):
    sock = h.udp_socket(host=source)
    hdr = h.socks_addr("127.0.0.1", uecho.port)
    sock.sendto(h.ss_udp_seal(M, PW, hdr + b"udp"), ("127.0.0.1", sport))
    sock.settimeout(2 * h.SCALE)
    try:
        pkt, _ = sock.recvfrom(65536)
        return h.ss_udp_open(M, PW, pkt)
    except OSError:
        return None
    finally:
        sock.close()


def server(acl_name, sport, mport):
    return h.start_ssring(f"""
workers = 2;
log_level = "info";
{h.NO_DNS}
metrics = {{ listen = "127.0.0.1:{mport}"; }};
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "{M}"; password = "{PW}";
              allow_private = true; acl = "{acl_name}"; }} );
""", sport, name="server")


def main():
    echo = h.EchoServer()
    uecho = h.UdpEcho(tag=b"echo:")
    d = h.tmpdir()
    with open(os.path.join(d, "white.acl"), "w") as f:
        f.write("# only these clients\n[reject_all]\n[white_list]\n127.0.0.1\n127.0.0.3/32\n"
                "[outbound_block_list]\n(^|\\.)blocked\\.test$\n127.0.0.9\n"
                "^blocked\\.example$\n\\.regex\\.example$\n")
    sport, mport = h.free_port(), h.free_port()
    srv = server("white.acl", sport, mport)
    p = b"through the acl"
    h.check(echo_from(sport, "127.0.0.1", "127.0.0.1", echo.port, p) == p, "127.0.0.1 refused")
    h.check(echo_from(sport, "127.0.0.3", "127.0.0.1", echo.port, p) == p, "127.0.0.3 refused")
    h.check(echo_from(sport, "127.0.0.2", "127.0.0.1", echo.port, p) == b"",
            "127.0.0.2 (not white) was served")
    h.check(h.wait_until(lambda: h.metric(mport, 'ssring_sessions_refused_total{reason="acl"}') == 1),
            "the refusal is not counted")
    h.check("connection from 127.0.0.2" in srv.output() and "refused by the ACL" in srv.output(),
            "no log of the refusal")
    h.check(udp_from(sport, "127.0.0.1", uecho) is not None, "UDP from a white client dropped")
    h.check(udp_from(sport, "127.0.0.2", uecho) is None, "UDP from 127.0.0.2 answered")
    # outbound: a name rule (before any lookup) and an address
    h.check(echo_from(sport, "127.0.0.1", "blocked.test", 80) == b"" and
            "target blocked.test:80 refused: in the ACL's outbound_block_list" in srv.output(),
            "a blocked name was not refused")
    h.check(echo_from(sport, "127.0.0.1", "127.0.0.9", echo.port) == b"" and
            "target 127.0.0.9:%d refused" % echo.port in srv.output(),
            "a blocked address was not refused")
    # Spelt another way, a blocked name is still blocked (exact and regex rules).
    # Without the ACL these would fail at the lookup (no DNS here): the log says which.
    for name in ("BLOCKED.example", "blocked.example.", "x.REGEX.example", "Blocked.Test."):
        h.check(echo_from(sport, "127.0.0.1", name, 80) == b"", "%s was served" % name)
        want = "target %s:80 refused: in the ACL's outbound_block_list" % name
        h.check(h.wait_until(lambda: want in srv.output(), timeout=5),
                "%s was not refused by the ACL:\n%s" % (name, srv.output()[-1500:]))
    # ... while a name no rule lists goes on to its lookup (which fails here)
    lookups = srv.output().count("cannot resolve the name")
    echo_from(sport, "127.0.0.1", "unblocked.example", 80)
    h.check(h.wait_until(lambda: srv.output().count("cannot resolve the name") > lookups,
                         timeout=15) and
            "target unblocked.example:80 refused" not in srv.output(),
            "a name no rule lists was refused by the ACL:\n" + srv.output()[-1500:])

    # a reload with [accept_all] and a black list; the resolved address of a name
    with open(os.path.join(d, "white.acl"), "w") as f:
        f.write("[accept_all]\n[black_list]\n127.0.0.4\n[outbound_block_list]\n127.0.0.1\n::1\n")
    n = srv.output().count("reloaded")
    srv.p.send_signal(signal.SIGHUP)
    h.check(h.wait_until(lambda: srv.output().count("reloaded") > n), "reload")
    h.check(echo_from(sport, "127.0.0.4", "127.0.0.1", echo.port) == b"" and
            h.wait_until(lambda: h.metric(mport, 'ssring_sessions_refused_total{reason="acl"}') == 2),
            "[accept_all]: the black-listed client was served")
    h.check(echo_from(sport, "127.0.0.2", "127.0.0.1", echo.port) == b"" and
            echo_from(sport, "127.0.0.2", "localhost", echo.port) == b"",
            "[accept_all]: a target blocked by address (or by its name's) was served")
    h.check(h.wait_until(lambda: "no address it may reach" in srv.output()),
            "localhost (resolved to blocked addresses) not refused:\n" + srv.output()[-2000:])
    srv.stop()

    # mistakes are configuration errors with the line
    with open(os.path.join(d, "bad.acl"), "w") as f:
        f.write("[proxy_list]\nfine\\.example\nbroken(\n")
    for acl, want in (("missing.acl", "cannot open"), ("bad.acl", "bad.acl:3: 'broken('")):
        path = h.write_config(f"""
servers = ( {{ listen = "127.0.0.1:1"; method = "{M}"; password = "x"; acl = "{acl}"; }} );
""", "check.cfg")
        r = subprocess.run([h.BIN, "--check", "-f", path], capture_output=True, text=True,
                           timeout=30)
        h.check(r.returncode == 1 and "servers[0].acl" in r.stderr and want in r.stderr,
                "acl %s: %r" % (acl, r.stderr))
    print("ok")


if __name__ == "__main__":
    main()
