# SPDX-License-Identifier: MIT
"""Active probing (docs/design-notes.md, "Active probing"): every connection
that does not authenticate ends the same way whatever it sent.

One ssring process runs a server for each of the eight methods under each
probe policy (drain, close, forward), plus AEAD-2017 and 2022 servers with
users, all with timeouts.handshake = 1 and probe_window = 2. tools/probe's
engine then opens every probe at once, each from an address of its own: 0
bytes (eight times), every decision point +-1 (salt, salt + sealed length or
fixed header, the end of the first payload record), a few long lengths up to
16,000 bytes, byte-by-byte senders, and replays (verbatim and altered) of a
handshake recorded through ssring's own local.
  drain:   FIN for all, never before the handshake time, within the window,
           no byte back, and the times spread over the window in each group
           (empty, short of the first decision, past it): a threshold or an
           early close of empty connections would fail it;
  close:   FIN for all, at the handshake time;
  forward: every probe, empty and short ones included, reaches the decoy
           with exactly the bytes it sent (the decoy answers with their
           length and hash), failed ones at once, undecided ones at the
           handshake time, and the decoy's FIN comes back.
UDP: random datagrams of every size around the decision points get nothing
back. Per-source limit and overload: one source at its handshakes_per_source
limit does not make the server close anything early; past a quarter of the
pool (from many sources) the oldest unauthenticated connections make room,
counted, and a real client still gets through."""
import hashlib
import importlib.machinery
import importlib.util
import os
import random
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_loader = importlib.machinery.SourceFileLoader("probe_tool", os.path.join(ROOT, "tools", "probe"))
_spec = importlib.util.spec_from_loader("probe_tool", _loader)
probe = importlib.util.module_from_spec(_spec)
_loader.exec_module(probe)

AEAD = ["aes-128-gcm", "aes-192-gcm", "aes-256-gcm", "chacha20-ietf-poly1305",
        "xchacha20-ietf-poly1305"]
V2022 = ["2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm", "2022-blake3-chacha20-poly1305"]
HANDSHAKE, WINDOW = 1.0, 2.0
TICK = 0.25           # the timer wheel's resolution
EARLY = 0.1           # the loop's clock may lag the accept by a little
LATE = 1.5 * h.SCALE  # a busy machine runs a deadline late, never early
rnd = random.Random(20)


def genkey(method):
    r = subprocess.run([h.BIN, "genkey", method], capture_output=True, text=True, timeout=10)
    h.check(r.returncode == 0, "genkey %s: %r" % (method, r.stderr))
    return r.stdout.strip()


class Decoy(h.TcpListener):
    """Answers each connection, once it has been quiet for 0.4 s or sent FIN,
    with "DECOY <length> <sha256>" of what it got, then closes."""

    def handle(self, c):
        data = b""
        c.settimeout(0.4)
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                data += b
        except OSError:
            pass
        try:
            c.sendall(b"DECOY %d %s\n" % (len(data), hashlib.sha256(data).hexdigest().encode()))
            c.close()
        except OSError:
            pass


def lengths_for(method):
    """0 (eight times), the decision points +-1, long ones."""
    salt = probe.SALT[method]
    first = salt + (27 if method.startswith("2022-") else 18)
    out = [0] * 8
    for p in (1, salt, first, first + 16 + 1):  # + the first payload record's tag
        out += [p - 1, p, p + 1]
    out += [100, 1000, 16000]
    return [n for n in out if n >= 0]


def make_probes(method, replay, port):
    ps = []
    for n in lengths_for(method):
        for _ in range(1 if n == 0 else 2):
            ps.append(probe.Probe("random", n, rnd.randbytes(n)))
    # Byte by byte, past the deadline: the clock runs from accept, not from the
    # last byte.
    for _ in range(2):
        ps.append(probe.Probe("slow", 80, rnd.randbytes(80), 0.03, "random"))
    if replay:
        ps += probe.replay_probes(replay, method, slow=1, interval=0.03, slow_bytes=120)
    for p in ps:
        p.server = ("127.0.0.1", port)
    return ps


def record_handshake(sport, method, secret, target):
    class A:
        pass
    a = A()
    a.server = ("127.0.0.1", sport)
    a.method = method
    a.password = "" if method.startswith("2022-") else secret
    a.key = secret if method.startswith("2022-") else ""
    a.target = ("127.0.0.1", target)
    a.client = "ssring"
    a.ssring = h.BIN
    data, _ = probe.record(a)
    return data


def check_drain(name, ps, policy, method):
    """FIN for each, no byte back, time within the policy's window."""
    hi = HANDSHAKE + (WINDOW if policy == "drain" else 0) + TICK
    first = probe.decision_points(method)[-1]
    groups = {"empty": [], "short": [], "long": []}
    for p in ps:
        t = p.t_end - p.t0
        what = "%s %s %s %dB" % (name, p.kind, p.note, p.length)
        h.check(p.result == "FIN", "%s: ended by %s after %.2f s (want FIN)" % (what, p.result, t))
        h.check(p.back == 0, "%s: the server sent %d bytes" % (what, p.back))
        h.check(t >= HANDSHAKE - EARLY, "%s: closed after %.2f s, before the %.0f s handshake"
                % (what, t, HANDSHAKE))
        h.check(t <= hi + LATE, "%s: closed after %.2f s, past %.2f s" % (what, t, hi))
        if p.kind == "random":
            groups["empty" if p.length == 0 else "short" if p.length < first else "long"].append(t)
    if policy == "drain":
        # Drawn over the window: in each group of eight or more, some close
        # in its second half (all eight in the first 0.6 s: p = 0.3^8).
        for g, ts in groups.items():
            h.check(len(ts) >= 8, "%s: only %d %s probes" % (name, len(ts), g))
            h.check(max(ts) >= HANDSHAKE + 0.6,
                    "%s: every %s probe closed by %.2f s (times %s): not drawn over the window"
                    % (name, g, max(ts), sorted(round(x, 2) for x in ts)))


def check_forward(name, ps, method):
    # Below the salt an AEAD-2017 request cannot fail yet; a 2022 one fails
    # at its first read when that is short of the fixed header.
    first = 1 if method.startswith("2022-") else probe.decision_points(method)[0]
    for p in ps:
        t = p.t_end - p.t0
        what = "%s %s %s %dB" % (name, p.kind, p.note, p.length)
        want = b"DECOY %d %s\n" % (len(p.data), hashlib.sha256(p.data).hexdigest().encode())
        if p.kind == "slow":
            # The deadline hands it over with what came so far.
            h.check(p.got.startswith(b"DECOY "), "%s: got %r, not the decoy" % (what, p.got))
            continue
        h.check(p.got == want, "%s: got %r from the decoy, want %r" % (what, p.got, want))
        h.check(p.result == "FIN", "%s: ended by %s (the decoy closes)" % (what, p.result))
        ft = p.t_first - p.t0
        if p.length == 0 or (p.length < first and p.kind == "random"):
            # Undecided: handed over at the handshake deadline.
            h.check(HANDSHAKE - EARLY <= ft <= HANDSHAKE + TICK + 0.4 + LATE,
                    "%s: decoy answered after %.2f s, want about %.1f s" % (what, ft, HANDSHAKE + 0.4))


def udp_probes(ports, methods):
    """Random datagrams around the decision points: nothing comes back."""
    sock = h.udp_socket()
    sent = 0
    for port, method in zip(ports, methods):
        salt = probe.SALT[method]
        for n in sorted({0, 1, salt - 1, salt, salt + 1, salt + 16, salt + 17, salt + 33,
                         salt + 50, 100, 1000, 1400, 9000, 65000}):
            sock.sendto(rnd.randbytes(n), ("127.0.0.1", port))
            sent += 1
    h.check(h.no_datagram(sock, wait=1.0), "a random datagram got an answer")
    sock.close()
    return sent


def overload(echo):
    """One source at its limit closes nothing early; many past a quarter of
    the pool do, counted; a real client gets through meanwhile."""
    sport, mport = h.free_port(), h.free_port()
    # 64 sessions, one worker: a quarter is 17, the per-source limit 24 lifts
    # the overload mark to 25.
    cfg = f"""workers = 1; log_level = "info"; {h.NO_DNS}
limits = {{ tcp_sessions = 64; handshakes_per_source = 24; }};
timeouts = {{ handshake = {HANDSHAKE:.0f}; probe_window = {WINDOW:.0f}; }};
metrics = {{ listen = "127.0.0.1:{mport}"; }};
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "aes-256-gcm"; password = "pw";
             allow_private = true; }} );
"""
    srv = h.start_ssring(cfg, sport, name="overload")
    h.wait_until(lambda: h.metric_sample(h.metrics_text(mport), "ssring_workers") == 1)
    # One source, at its limit: all 24 end at their deadline. (Not
    # 127.0.0.1: the harness's readiness check came from there, and its
    # session may not be gone yet.)
    ps = [probe.Probe("random", 10, rnd.randbytes(10)) for _ in range(24)]
    for p in ps:
        p.source = "127.0.9.9"
    probe.run(ps, ("127.0.0.1", sport), 100, 10 * h.SCALE)
    for p in ps:
        t = p.t_end - p.t0
        h.check(p.result == "FIN" and t >= HANDSHAKE - EARLY,
                "one source at its limit: a probe ended by %s after %.2f s" % (p.result, t))
    evicted = h.metric_sample(h.metrics_text(mport), "ssring_sessions_refused_total",
                              reason="too_many_probes")
    h.check(evicted == 0, "one source at its limit made room %s times" % evicted)
    # 40 sources at once: past 25, the oldest go early, counted.
    ps = [probe.Probe("random", 10, rnd.randbytes(10)) for _ in range(40)]
    done = threading.Thread(target=probe.run, args=(ps, ("127.0.0.1", sport), 100,
                                                    10 * h.SCALE, True, 5000))
    done.start()
    h.check(h.wait_until(lambda: (h.metric_sample(h.metrics_text(mport),
                                                  "ssring_sessions_refused_total",
                                                  reason="too_many_probes") or 0) >= 15),
            "40 unauthenticated connections: none made room")
    payload = b"through the flood"
    s, up, down = h.ss_connect(sport, "aes-256-gcm", "pw", "127.0.0.1", echo.port, payload)
    s.shutdown(socket.SHUT_WR)
    h.check(h.ss_read_all(s, down) == payload, "a real client during the flood")
    s.close()
    done.join()
    h.check(all(p.result == "FIN" for p in ps), "made room by %s"
            % sorted({p.result for p in ps}))
    h.check("the oldest are closed to make room" in srv.output(), "the log does not say so")
    h.check(srv.stop() == 0, "exit code")


def main():
    h.need_tool("ss-local")
    echo = h.EchoServer()
    decoy = Decoy()
    servers = []   # (name, port, method, policy, secret, secret line)
    for policy in ("drain", "close", "forward"):
        for m in AEAD + V2022:
            secret = genkey(m) if m in V2022 else "pw-" + m
            line = ('key = "%s";' % secret) if m in V2022 else ('password = "%s";' % secret)
            servers.append(("%s/%s" % (policy, m), h.free_port(), m, policy, secret, line))
    ukeys = [genkey(V2022[0]) for _ in range(3)]
    users = {
        "aes-256-gcm": 'users = ( { name = "a"; password = "pa"; }, { name = "b"; password = "pb"; } );',
        V2022[0]: 'users = ( { name = "a"; key = "%s"; }, { name = "b"; key = "%s"; } );'
        % (ukeys[1], ukeys[2]),
    }
    for m, u in users.items():
        line = u if m == "aes-256-gcm" else 'key = "%s"; %s' % (ukeys[0], u)
        servers.append(("users/" + m, h.free_port(), m, "drain", None, line))
    entries = []
    for name, port, m, policy, _, line in servers:
        extra = 'probe = "%s";' % policy
        if policy == "forward":
            extra += ' probe_forward = "127.0.0.1:%d";' % decoy.port
        entries.append('{ listen = "127.0.0.1:%d"; method = "%s"; %s allow_private = true;'
                       ' udp = true; %s }' % (port, m, line, extra))
    cfg = f"""workers = 2; log_level = "info"; {h.NO_DNS}
timeouts = {{ handshake = {HANDSHAKE:.0f}; probe_window = {WINDOW:.0f}; }};
servers = ( {", ".join(entries)} );
"""
    srv = h.start_ssring(cfg, servers[-1][1], name="probed")
    h.wait_until(lambda: all(h.tcp_listening(s[1]) for s in servers))
    plan = []
    for name, port, m, policy, secret, _ in servers:
        replay = None
        if secret is not None:
            replay = record_handshake(port, m, secret, echo.port)
        plan.append((name, port, m, policy, make_probes(m, replay, port)))
    # Everything at once, each probe from its own address.
    probe.run([p for x in plan for p in x[4]], None, 2000, (HANDSHAKE + WINDOW + 8) * h.SCALE)
    total = 0
    for name, port, m, policy, ps in plan:
        total += len(ps)
        if policy == "forward":
            check_forward(name, ps, m)
        else:
            check_drain(name, ps, policy, m)
    udp = udp_probes([s[1] for s in servers], [s[2] for s in servers])
    out = srv.output()
    h.check("auth failure" in out and "replayed salt" in out, "failures not logged")
    h.check(srv.stop() == 0, "exit code")
    print("ok: %d TCP probes on %d servers, %d datagrams" % (total, len(servers), udp))
    overload(echo)
    print("ok")


if __name__ == "__main__":
    main()
