# SPDX-License-Identifier: MIT
"""log_format = "json": every line ssring writes to stderr, from start-up to
the end after SIGTERM, is one bare JSON object (no duplicate keys) with
time, level, worker, event and msg, and the fields of its kind: a server
and two locals (one asking for a SOCKS5 user name), traffic through them,
a server auth failure (peer, reason), a SOCKS5 user name of quotes,
control characters, invalid UTF-8 and U+2028 (the user field holds it,
escaped), a reload that tries to switch to text (needs a restart: the
lines stay JSON), SIGTERM. Under systemd (JOURNAL_STREAM names stderr)
each line carries the journal's <N> priority before the object."""
import json
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

M, PW = "aes-256-gcm", "json log test"
# what a client may send as a SOCKS5 user name: the log must not break on it
EVIL = b'ev"il\\ \n{"level":"error"}\x01\x7f\xff\xc0\xaf\xe2\x80\xa8end'
LEVELS = {"error": 3, "warn": 4, "info": 6, "debug": 7}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def cfg(ps, pl, pa, fmt="json"):
    return f"""
workers = 2;
log_level = "debug";
log_format = "{fmt}";
{h.NO_DNS}
servers = ( {{ listen = "127.0.0.1:{ps}"; method = "{M}"; password = "{PW}";
              allow_private = true; probe = "close"; }} );
locals = ( {{ listen = "127.0.0.1:{pl}"; server = "127.0.0.1:{ps}"; method = "{M}";
             password = "{PW}"; }},
           {{ listen = "127.0.0.1:{pa}"; server = "127.0.0.1:{ps}"; method = "{M}";
             password = "{PW}"; users = ( {{ name = "alice"; password = "a secret"; }} ); }} );
"""


def no_dups(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate keys %r" % keys)
    return dict(pairs)


def parse_lines(pr, journal=False):
    """Every line of pr's stderr as a JSON object, checked; the objects."""
    with open(pr.log_path, "rb") as f:
        data = f.read()
    h.check(data.endswith(b"\n"), "%s: the output does not end with a newline" % pr.name)
    objs = []
    for i, raw in enumerate(data.split(b"\n")[:-1]):
        what = "%s line %d: %r" % (pr.name, i + 1, raw[:300])
        prio = None
        if journal:
            m = re.match(rb"^<(\d)>", raw)
            h.check(m is not None, "no journal priority: " + what)
            prio, raw = int(m.group(1)), raw[m.end():]
        h.check(raw.startswith(b"{") and raw.endswith(b"}"), "not a bare JSON object: " + what)
        h.check(not any(b < 0x20 or b == 0x7f for b in raw), "a raw control byte: " + what)
        try:
            o = json.loads(raw.decode("utf-8"), object_pairs_hook=no_dups)
        except (UnicodeDecodeError, ValueError) as e:
            h.fail("not JSON (%s): %s" % (e, what))
        h.check(isinstance(o, dict), "not an object: " + what)
        for k in ("time", "level", "worker", "event", "msg"):
            h.check(isinstance(o.get(k), str), "no string %r: %s" % (k, what))
        h.check(list(o)[:5] == ["time", "level", "worker", "event", "msg"],
                "fields out of order: " + what)
        h.check(TIME.match(o["time"]), "time: " + what)
        h.check(o["level"] in LEVELS, "level: " + what)
        h.check(re.match(r"^(main|w\d+)$", o["worker"]), "worker: " + what)
        h.check(re.match(r"^[a-z0-9_]{1,47}$", o["event"]), "event: " + what)
        h.check(prio is None or prio == LEVELS[o["level"]], "priority vs level: " + what)
        objs.append(o)
    return objs


def events(objs, name):
    return [o for o in objs if o["event"] == name]


def socks5_login(port, user, pw):
    """RFC 1929 on a local that asks for it: the status byte (0 = accepted)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"\x05\x01\x02")
    h.check(h.recv_exact(s, 2) == b"\x05\x02", "the local did not ask for a user name")
    s.sendall(b"\x01" + bytes([len(user)]) + user + bytes([len(pw)]) + pw)
    rep = h.recv_exact(s, 2)
    s.close()
    h.check(len(rep) == 2, "no answer to the login")
    return rep[1]


def main():
    echo = h.EchoServer()
    ps, pl, pa = h.free_port(), h.free_port(), h.free_port()
    pr = h.start_ssring(cfg(ps, pl, pa), pl, name="json")

    # traffic, a failed server authentication, a user name of hostile bytes
    data = h.pattern(50000, seed=1)
    h.check(h.echo_roundtrip(pl, echo.port, data) == data, "echo through the local")
    s = socket.create_connection(("127.0.0.1", ps), timeout=10)
    s.sendall(os.urandom(100))
    h.check(h.wait_log(pr, "auth_failure_from"), "no auth failure logged:\n" + pr.output())
    s.close()
    h.check(socks5_login(pa, EVIL, b"x") != 0, "a wrong login was accepted")
    h.check(socks5_login(pa, b"alice", b"a secret") == 0, "alice's login was refused")
    h.check(h.wait_log(pr, "socks5_authentication_failed"), "no SOCKS5 failure logged")

    # a reload asking for text: a restart is needed, the lines stay JSON
    h.reload_with(pr, "json", cfg(ps, pl, pa, fmt="text"))
    h.check(h.echo_roundtrip(pl, echo.port, data) == data, "echo after the reload")
    h.check(pr.stop() == 0, "exit code after SIGTERM")

    objs = parse_lines(pr)
    kinds = sorted(set(o["event"] for o in objs))
    print("%d lines, all JSON; %d events: %s" % (len(objs), len(kinds), " ".join(kinds)),
          flush=True)
    srv = events(objs, "server_listening_on")
    h.check(srv and srv[0]["listen"] == "127.0.0.1:%d" % ps, "server_listening_on: %r" % srv)
    loc = events(objs, "local_listening_on")
    h.check(len(loc) == 2 and loc[0]["server"] == "127.0.0.1:%d" % ps and
            {o["listen"] for o in loc} == {"127.0.0.1:%d" % p for p in (pl, pa)},
            "local_listening_on: %r" % loc)
    h.check(events(objs, "ready_worker"), "no ready line")
    fail = events(objs, "auth_failure_from")
    h.check(len(fail) == 1 and re.match(r"^127\.0\.0\.1:\d+$", fail[0]["peer"]) and
            fail[0]["reason"] and fail[0]["worker"].startswith("w") and
            fail[0]["level"] == "info", "auth_failure_from: %r" % fail)
    bad = events(objs, "socks5_authentication_failed")
    want = EVIL.decode("utf-8", errors="replace")
    h.check(len(bad) == 1 and bad[0]["user"] == want and
            bad[0]["msg"] == "SOCKS5 authentication failed for user '%s'" % want,
            "the hostile user name: %r, want %r" % (bad, want))
    sess = [o for o in objs if o["event"].startswith("session_") and "session" in o]
    h.check(sess and all(isinstance(o["session"], int) for o in sess),
            "session events without a numeric session: %r" % sess[:3])
    h.check(any(o.get("target") == "127.0.0.1:%d" % echo.port for o in sess),
            "no session line naming the echo server as its target")
    keep = [o for o in events(objs, "reload_changed") if "log_format" in o["msg"]]
    h.check(len(keep) == 1 and keep[0]["level"] == "warn" and
            "log_format changed (json -> text): needs a restart; keeping json" in keep[0]["msg"],
            "the log_format reload line: %r" % keep)
    rel = events(objs, "reloaded_configuration_generation")
    h.check(len(rel) == 1 and rel[0]["generation"] == 2, "reloaded: %r" % rel)
    h.check(events(objs, "received_stopping") and events(objs, "stopped_accepted"),
            "no stop lines")
    stop = events(objs, "received_stopping")[0]
    h.check(objs.index(keep[0]) < objs.index(rel[0]) < objs.index(stop),
            "the lines are out of order")

    # under systemd: "<N>" and the object, N the level's syslog priority
    jpath = os.path.join(h.tmpdir(), "json-journal.log")
    open(jpath, "w").close()   # Proc opens it again with "w+": the same inode
    st = os.stat(jpath)
    os.environ["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
    try:
        jr = h.start_ssring(cfg(ps, pl, pa), pl, name="json-journal")
    finally:
        del os.environ["JOURNAL_STREAM"]
    h.check(os.stat(jr.log_path).st_ino == st.st_ino, "the journal log file was replaced")
    h.check(h.echo_roundtrip(pl, echo.port, data) == data, "echo under the journal")
    h.check(jr.stop() == 0, "exit code under the journal")
    jobjs = parse_lines(jr, journal=True)
    h.check(events(jobjs, "ready_worker") and events(jobjs, "stopped_accepted"),
            "journal mode: missing lines")
    print("journal mode: %d lines, each <N>{...}" % len(jobjs), flush=True)
    print("test_json_log: ok")


if __name__ == "__main__":
    main()
