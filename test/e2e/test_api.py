# SPDX-License-Identifier: MIT
"""The management API (Shadowsocks Server Management API v1), driven with
curl: every endpoint and status code; a user added through it connects at
once (shadowsocks-libev's ss-local with its password on an AEAD-2017
server, ssring's local with its uPSK on a 2022 server); a deleted or
re-keyed user's open session is closed within a second and new ones fail;
stats equal the bytes relayed, and ?clear=true starts them again; users
and quota usage survive a restart (state file), a corrupt state file stops
the start and is left as it was; a wrong token is refused (401) and
counted; garbage JSON, huge bodies and slow clients are refused and the
server keeps serving; the Unix socket listener works."""
import base64
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

TOKEN = "t0k3n-for-the-api-test-0123456789"
M17 = "aes-256-gcm"
M22 = "2022-blake3-aes-128-gcm"


def curl(port, method, path, body=None, token=TOKEN, unix=None):
    """(status, parsed JSON or None) of one request made by curl."""
    args = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, "--max-time", "10"]
    if token:
        args += ["-H", "Authorization: Bearer " + token]
    if body is not None:
        text = body if isinstance(body, str) else json.dumps(body)
        path_ = os.path.join(h.tmpdir(), "body.json")
        with open(path_, "w") as f:
            f.write(text)
        args += ["-H", "Content-Type: application/json", "--data-binary", "@" + path_]
    if unix:
        args += ["--unix-socket", unix, "http://localhost" + path]
    else:
        args += ["http://127.0.0.1:%d%s" % (port, path)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=30)
    out, _, code = r.stdout.rpartition("\n")
    try:
        doc = json.loads(out) if out else None
    except ValueError:
        doc = out
    return int(code or 0), doc


def expect(port, method, path, status, body=None, **kw):
    code, doc = curl(port, method, path, body, **kw)
    h.check(code == status, "%s %s: %d %r, want %d" % (method, path, code, doc, status))
    if status >= 400:
        h.check(isinstance(doc, dict) and isinstance(doc.get("error"), str) and doc["error"],
                "%s %s: errors are {\"error\": \"...\"}, got %r" % (method, path, doc))
    return doc


def genkey(method):
    return subprocess.run([h.BIN, "genkey", method], capture_output=True, text=True,
                          timeout=10).stdout.strip()


def cfg(ports, state, ipsk, unix):
    return f"""
workers = 2;
log_level = "info";
{h.NO_DNS}
state_file = "{state}";
metrics = {{ listen = "127.0.0.1:{ports['metrics']}"; }};
api = {{ listen = "127.0.0.1:{ports['api']}"; token = "{TOKEN}"; }};
servers = (
  {{ name = "edge"; listen = "127.0.0.1:{ports['s17']}"; method = "{M17}"; allow_private = true;
     user_limits = {{ quota = "1 GB"; }};
     users = ( {{ name = "cfguser"; password = "pw-cfg"; }} ); }},
  {{ name = "eih"; listen = "127.0.0.1:{ports['s22']}"; method = "{M22}"; key = "{ipsk}";
     allow_private = true; users = ( ); }},
  {{ name = "solo"; listen = "127.0.0.1:{ports['solo']}"; method = "{M17}"; password = "x";
     allow_private = true; }} );
"""


def unix_cfg(sport, sock):
    return f"""
workers = 1;
{h.NO_DNS}
api = {{ listen = "unix:{sock}"; }};
servers = ( {{ name = "u"; listen = "127.0.0.1:{sport}"; method = "{M17}"; users = ( );
             allow_private = true; }} );
"""


def echo_through(lport, echo_port, n=100000, seed=3):
    data = h.pattern(n, seed=seed)
    got = h.echo_roundtrip(lport, echo_port, data)
    return got == data


def refused(lport, echo_port):
    """A connection through lport gets nothing back (within 3 s)."""
    try:
        s = h.socks5_connect(lport, "127.0.0.1", echo_port, timeout=5)
        s.settimeout(3)
        s.sendall(b"anyone?")
        got = s.recv(10)
        s.close()
        return got == b""
    except OSError:
        return True


def endpoints(p):
    info = expect(p, "GET", "/", 200)
    h.check(info.get("apiVersion") == "v1" and info.get("servers") == ["edge", "eih", "solo"],
            "GET /: %r" % info)
    h.check(expect(p, "GET", "/edge/", 200) ==
            {"server": info["server"], "apiVersion": "v1"}, "GET /edge/")
    expect(p, "GET", "/nope/", 404)
    expect(p, "GET", "/nope/users", 404)
    expect(p, "GET", "/solo/users", 404)          # one secret, no users
    expect(p, "GET", "/solo/stats", 200)
    expect(p, "GET", "/edge/other", 404)
    expect(p, "PUT", "/edge/users", 405)
    expect(p, "POST", "/edge/stats", 405)
    users = expect(p, "GET", "/edge/users", 200)["users"]
    h.check([u["username"] for u in users] == ["cfguser"] and users[0]["password"] == "pw-cfg",
            "GET /edge/users: %r" % users)
    # 400s: malformed, missing fields, duplicates (API and configuration file)
    expect(p, "POST", "/edge/users", 400, "{not json")
    expect(p, "POST", "/edge/users", 400, {"username": "x"})
    expect(p, "POST", "/edge/users", 400, {"username": "a b", "password": "p"})
    expect(p, "POST", "/edge/users", 400, {"username": "x", "password": "p", "extra": 1})
    expect(p, "POST", "/edge/users", 400, {"username": "cfguser", "password": "p"})
    expect(p, "POST", "/eih/users", 400, {"username": "x", "password": "p"})   # 2022: uPSK
    expect(p, "POST", "/eih/users", 400, {"username": "x", "uPSK": "c2hvcnQ="})
    expect(p, "GET", "/edge/users/nobody", 404)
    expect(p, "PATCH", "/edge/users/nobody", 404, {"password": "p"})
    expect(p, "DELETE", "/edge/users/nobody", 404)
    expect(p, "DELETE", "/edge/users/cfguser", 400)   # lives in the configuration file
    # tokens
    code, doc = curl(p, "GET", "/", token=None)
    h.check(code == 401, "no token: %d" % code)
    code, doc = curl(p, "GET", "/", token=TOKEN[:-1] + "X")
    h.check(code == 401, "wrong token: %d" % code)


def aead_user(p, sport, echo, mport):
    expect(p, "POST", "/edge/users", 201, {"username": "alice", "password": "pw-alice"})
    expect(p, "POST", "/edge/users", 400, {"username": "alice", "password": "again"})
    t0 = time.monotonic()
    pr, lport = h.start_ss_local(sport, M17, "pw-alice", name="ss-local-alice")
    h.check(echo_through(lport, echo.port), "alice (added through the API) cannot connect")
    print("a user added through the API connected after %.2f s" % (time.monotonic() - t0))
    # stats equal the bytes relayed
    st = expect(p, "GET", "/edge/users/alice", 200)
    h.check(st["uplinkBytes"] == 100000 and st["downlinkBytes"] == 100000 and
            st["tcpSessions"] == 1, "alice's stats: %r" % st)
    h.check(st["source"] == "api" and st["quotaUsed"] >= 200000, "alice's extras: %r" % st)
    stats = expect(p, "GET", "/edge/stats?clear=true", 200)
    al = [u for u in stats["users"] if u["username"] == "alice"][0]
    h.check(al["uplinkBytes"] == 100000 and stats["uplinkBytes"] >= 100000, "stats: %r" % stats)
    stats = expect(p, "GET", "/edge/stats", 200)
    al = [u for u in stats["users"] if u["username"] == "alice"][0]
    h.check(al["uplinkBytes"] == 0 and al["tcpSessions"] == 0 and stats["uplinkBytes"] == 0,
            "after ?clear=true: %r" % stats)
    # an open session, then DELETE: it is closed within a second; new ones fail
    s = h.socks5_connect(lport, "127.0.0.1", echo.port)
    s.sendall(b"before")
    h.check(h.recv_exact(s, 6) == b"before", "open session before DELETE")
    expect(p, "DELETE", "/edge/users/alice", 204)
    s.settimeout(1.5)
    t0 = time.monotonic()
    try:
        closed = s.recv(10) == b""
    except (ConnectionResetError, socket.timeout):
        closed = True
    h.check(closed and time.monotonic() - t0 < 1.5,
            "alice's open session survived her deletion for %.2f s" % (time.monotonic() - t0))
    h.check(refused(lport, echo.port), "a deleted user still connects")
    pr.stop()
    expect(p, "GET", "/edge/users/alice", 404)


def eih_user(p, s22, ipsk, echo):
    upsk, upsk2 = genkey(M22), genkey(M22)
    doc = expect(p, "POST", "/eih/users", 201, {"username": "bob", "uPSK": upsk})
    h.check(doc["username"] == "bob" and doc["uPSK"] == upsk, "201 body: %r" % doc)
    lport = h.free_port()
    loc = h.start_ssring(f"""workers = 1; {h.NO_DNS}
locals = ( {{ listen = "127.0.0.1:{lport}"; server = "127.0.0.1:{s22}"; method = "{M22}";
            key = "{ipsk}:{upsk}"; }} );""", lport, "local-bob")
    h.check(echo_through(lport, echo.port), "bob (2022, added through the API) cannot connect")
    s = h.socks5_connect(lport, "127.0.0.1", echo.port)
    s.sendall(b"open")
    h.check(h.recv_exact(s, 4) == b"open", "bob's open session")
    expect(p, "PATCH", "/eih/users/bob", 400, {"uPSK": upsk})      # the same key
    expect(p, "PATCH", "/eih/users/bob", 400, {"username": "x"})
    expect(p, "PATCH", "/eih/users/bob", 204, {"uPSK": upsk2})
    s.settimeout(1.5)
    try:
        closed = s.recv(10) == b""
    except (ConnectionResetError, socket.timeout):
        closed = True
    h.check(closed, "a re-keyed user's open session was not closed")
    h.check(refused(lport, echo.port), "the old uPSK still works")
    loc.stop()
    lport2 = h.free_port()
    loc = h.start_ssring(f"""workers = 1; {h.NO_DNS}
locals = ( {{ listen = "127.0.0.1:{lport2}"; server = "127.0.0.1:{s22}"; method = "{M22}";
            key = "{ipsk}:{upsk2}"; }} );""", lport2, "local-bob2")
    h.check(echo_through(lport2, echo.port), "the new uPSK does not work")
    loc.stop()
    return upsk2


def abuse(p, sport, echo):
    # a huge body is refused before it is read
    big = json.dumps({"username": "big", "password": "x" * 200000})
    code, _ = curl(p, "POST", "/edge/users", big)
    h.check(code == 413, "a 200 KB body: %d" % code)
    # slow clients are cut off; the API keeps answering meanwhile
    slow = [socket.create_connection(("127.0.0.1", p)) for _ in range(5)]
    for s in slow:
        s.sendall(b"GET / HTTP/1.1\r\n")
    expect(p, "GET", "/edge/users", 200)
    for s in slow:
        s.settimeout(15 * h.SCALE)
        try:
            rest = s.recv(100)
        except ConnectionResetError:
            rest = b""
        except socket.timeout:
            h.fail("a slow client was not cut off within %.0f s" % (15 * h.SCALE))
        h.check(rest == b"" or rest.startswith(b"HTTP/1.1 408"), "slow client got %r" % rest)
        s.close()


def restart(ports, state, ipsk, mport, pr, unix, upsk2, echo):
    """Users and quota usage come back after a restart."""
    expect(ports["api"], "POST", "/edge/users", 201, {"username": "carol", "password": "pw-carol",
                                                      "limits": {"quota": "5 MB"}})
    plr, lport = h.start_ss_local(ports["s17"], M17, "pw-carol", name="ss-local-carol")
    h.check(echo_through(lport, echo.port, 300000), "carol cannot connect")
    used = expect(ports["api"], "GET", "/edge/users/carol", 200)["quotaUsed"]
    h.check(used >= 600000, "carol's quota usage %d after 600 KB" % used)
    h.check(pr.stop() == 0, "exit code")
    with open(state) as f:
        doc = json.load(f)
    h.check(doc["servers"]["edge"]["usage"]["carol"]["used"] >= 600000, "state file: %r" % doc)
    pr2 = h.start_ssring(cfg(ports, state, ipsk, unix), ports["s17"], "ssring-again")
    h.wait_until(lambda: h.tcp_listening(ports["api"]))
    st = expect(ports["api"], "GET", "/edge/users/carol", 200)
    h.check(st["quotaUsed"] == used and st["limits"]["quota"] == 5000000,
            "after a restart carol's quota usage is %r, was %d" % (st.get("quotaUsed"), used))
    h.check(echo_through(lport, echo.port, 1000), "carol after a restart")
    bob = expect(ports["api"], "GET", "/eih/users/bob", 200)
    h.check(bob["uPSK"] == upsk2, "bob's uPSK after a restart: %r" % bob)
    plr.stop()
    # wrong tokens are counted in /metrics
    curl(ports["api"], "GET", "/", token="wrong-token-wrong-token")
    n = h.metric_sample(h.metrics_text(mport), "ssring_api_requests_total", result="unauthorized")
    h.check(n and n >= 1, "401s are not counted: %r" % n)
    h.check(pr2.stop() == 0, "exit code")


def corrupt_state(ports, state, ipsk, unix):
    with open(state, "w") as f:
        f.write("{\"version\": 1, \"servers\": {\"edge\": {\"users\": [ {\"username\": 5} ]}}}")
    before = open(state).read()
    path = h.write_config(cfg(ports, state, ipsk, unix), "corrupt.cfg")
    r = subprocess.run([h.BIN, "-f", path], capture_output=True, text=True, timeout=30)
    h.check(r.returncode != 0 and state in r.stderr and "not a valid state file" in r.stderr,
            "a corrupt state file: exit %d, %r" % (r.returncode, r.stderr[-500:]))
    h.check(open(state).read() == before, "the corrupt state file was overwritten")
    h.check(os.path.exists(state + ".prev"), "no previous copy kept")


def unix_api(tmp):
    sock = os.path.join(tmp, "api.sock")
    sport = h.free_port()
    pr = h.start_ssring(unix_cfg(sport, sock), sport, "ssring-unix")
    h.wait_until(lambda: os.path.exists(sock))
    code, doc = curl(0, "POST", "/u/users", {"username": "dave", "password": "p"}, token=None,
                     unix=sock)
    h.check(code == 201, "API on a Unix socket: %d %r" % (code, doc))
    code, doc = curl(0, "GET", "/u/users", token=None, unix=sock)
    h.check(code == 200 and doc["users"][0]["username"] == "dave", "unix GET: %r" % doc)
    pr.stop()


def main():
    h.need_tool("curl")
    h.need_tool("ss-local")
    tmp = h.tmpdir()
    echo = h.EchoServer()
    ports = {k: h.free_port() for k in ("metrics", "api", "s17", "s22", "solo")}
    state = os.path.join(tmp, "state.json")
    ipsk = genkey(M22)
    pr = h.start_ssring(cfg(ports, state, ipsk, None), ports["s17"])
    h.wait_until(lambda: h.tcp_listening(ports["api"]))
    endpoints(ports["api"])
    aead_user(ports["api"], ports["s17"], echo, ports["metrics"])
    upsk2 = eih_user(ports["api"], ports["s22"], ipsk, echo)
    abuse(ports["api"], ports["s17"], echo)
    h.check(pr.p.poll() is None, "ssring died")
    restart(ports, state, ipsk, ports["metrics"], pr, None, upsk2, echo)
    corrupt_state(ports, state, ipsk, None)
    unix_api(tmp)
    print("ok")


if __name__ == "__main__":
    main()
