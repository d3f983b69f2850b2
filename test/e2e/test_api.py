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
server keeps serving; the Unix socket listener works.

What a web page in a browser on the host could send is refused: a
text/plain "simple" POST (415, no user added), Host evil.example and a
DNS-rebinding Host (421), Origin http://evil.example (403); a token-less
TCP api.listen is a configuration error naming its line (--check). One
address holds at most 8 connections. The state file is written through a
fresh FILE.tmp (a symlink planted there is not followed, an old 0666 one
does not lend its mode), no FILE.prev is kept, and a state file that is a
symlink stops the start. The Unix socket of a `user = "nobody"` process
belongs to nobody, has mode 0660, and nobody can use it."""
import base64
import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

TOKEN = "t0k3n-for-the-api-test-0123456789"
M17 = "aes-256-gcm"
M22 = "2022-blake3-aes-128-gcm"


def curl(port, method, path, body=None, token=TOKEN, unix=None, headers=(), ctype=True,
         user=None):
    """(status, parsed JSON or None) of one request made by curl (as user, if given)."""
    args = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, "--max-time", "10"]
    if token:
        args += ["-H", "Authorization: Bearer " + token]
    for hd in headers:
        args += ["-H", hd]
    if body is not None:
        text = body if isinstance(body, str) else json.dumps(body)
        if ctype:
            args += ["-H", "Content-Type: application/json"]
        args += ["--data-binary", "@-"]
    if unix:
        args += ["--unix-socket", unix, "http://localhost" + path]
    else:
        args += ["http://127.0.0.1:%d%s" % (port, path)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=30,
                       input=text if body is not None else None, user=user)
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
api = {{ listen = "127.0.0.1:{ports['api']}"; token = "{TOKEN}";
        allowed_hosts = [ "relay.example.com" ]; }};
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
    expect(p, "PUT", "/edge/users", 405, {})
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


def user_names(p, server="edge"):
    return [u["username"] for u in expect(p, "GET", "/%s/users" % server, 200)["users"]]


def browser(p, mport):
    """What a web page in a browser on this host could send, refused."""
    # A cross-site "simple" POST (text/plain needs no CORS preflight); even with the token.
    bob = json.dumps({"username": "bob", "password": "pw-bob"})
    code, doc = curl(p, "POST", "/edge/users", bob, ctype=False,
                     headers=["Content-Type: text/plain;charset=UTF-8"])
    h.check(code == 415, "a text/plain POST: %d %r" % (code, doc))
    # curl -d alone: form encoding.
    code, doc = curl(p, "POST", "/edge/users", bob, ctype=False,
                     headers=["Content-Type: application/x-www-form-urlencoded"])
    h.check(code == 415, "a form-encoded POST: %d %r" % (code, doc))
    # As a browser sends it: Origin of the page, no token.
    code, doc = curl(p, "POST", "/edge/users", bob, ctype=False, token=None,
                     headers=["Content-Type: text/plain", "Origin: http://evil.example"])
    h.check(code in (403, 415), "a browser's cross-site POST: %d %r" % (code, doc))
    h.check("bob" not in user_names(p), "a refused POST added its user")
    # DNS rebinding: the page's own name resolves to 127.0.0.1; its Host says so.
    for host in ("evil.example", "evil.example:%d" % p, "rebind.127.0.0.1.evil.example:%d" % p):
        code, doc = curl(p, "GET", "/edge/users", headers=["Host: " + host])
        h.check(code == 421 and "pw-cfg" not in json.dumps(doc),
                "Host %s: %d %r" % (host, code, doc))
    code, doc = curl(p, "GET", "/edge/users", headers=["Origin: http://evil.example"])
    h.check(code == 403 and "pw-cfg" not in json.dumps(doc), "Origin evil: %d %r" % (code, doc))
    # What the operator's own tools send passes: literals, localhost, allowed_hosts.
    for host in ("127.0.0.1:%d" % p, "localhost:%d" % p, "relay.example.com"):
        code, _ = curl(p, "GET", "/edge/users", headers=["Host: " + host,
                                                         "Origin: http://" + host])
        h.check(code == 200, "Host %s: %d" % (host, code))
    n = h.metric_sample(h.metrics_text(mport), "ssring_api_requests_total", result="forbidden")
    h.check(n is not None and n >= 7, "refusals are not counted: %r" % n)


def per_address(p):
    """One address holds at most 8 of the 32 connections; others still get in."""
    idle = [socket.create_connection(("127.0.0.1", p), timeout=5) for _ in range(8)]
    time.sleep(0.3)
    extra = socket.create_connection(("127.0.0.1", p), timeout=5)
    extra.settimeout(2)
    try:
        got = extra.recv(10)
    except ConnectionResetError:
        got = b""
    except socket.timeout:
        got = None      # still open: no cap
    h.check(got == b"", "a 9th connection from one address was not closed: %r" % got)
    extra.close()
    other = socket.create_connection(("127.0.0.1", p), timeout=5, source_address=("127.0.0.2", 0))
    other.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                  TOKEN.encode() + b"\r\n\r\n")
    other.settimeout(5)
    h.check(h.recv_all(other).startswith(b"HTTP/1.1 200"), "another address was kept out")
    other.close()
    for c in idle:
        c.close()
    h.check(h.wait_until(lambda: curl(p, "GET", "/")[0] == 200, timeout=5),
            "no answer once the idle connections went")


def state_files(p, state):
    """The state file is written safely and not kept as FILE.prev."""
    tmp = state + ".tmp"
    victim = os.path.join(h.tmpdir(), "victim")
    with open(victim, "w") as f:
        f.write("victim\n")
    os.symlink(victim, tmp)
    with open(state + ".prev", "w") as f:        # an older ssring's, with old secrets
        f.write('{"old": "secrets"}\n')
    expect(p, "POST", "/edge/users", 201, {"username": "eve", "password": "pw-eve"})
    h.check(open(victim).read() == "victim\n", "the state was written through a symlink "
            "at FILE.tmp into another file")
    h.check(not os.path.islink(state) and "eve" in open(state).read(), "state file not written")
    h.check(not os.path.exists(tmp) and not os.path.exists(state + ".prev"),
            "FILE.tmp or FILE.prev left behind")
    # An old FILE.tmp of mode 0666 does not give the state file its mode.
    with open(tmp, "w") as f:
        f.write("old")
    os.chmod(tmp, 0o666)
    expect(p, "DELETE", "/edge/users/eve", 204)
    mode = stat.S_IMODE(os.stat(state).st_mode)
    h.check(mode == 0o600, "state file mode %o after an old 0666 FILE.tmp" % mode)
    h.check("pw-eve" not in open(state).read() and not os.path.exists(state + ".prev"),
            "a deleted user's secret stays on disk")


def must_not_start(path, what):
    """Run ssring -f path: (exit code, stderr); a process still running after 10 s fails."""
    p = subprocess.Popen([h.BIN, "-f", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    try:
        _, err = p.communicate(timeout=10 * h.SCALE)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        h.fail("%s: ssring started anyway" % what)
    return p.returncode, err


def state_symlink(ports, ipsk):
    """A state file that is a symbolic link stops the start, with a clear message."""
    real = os.path.join(h.tmpdir(), "real-state.json")
    link = os.path.join(h.tmpdir(), "link-state.json")
    with open(real, "w") as f:
        f.write('{"version": 1, "servers": {}}\n')
    os.symlink(real, link)
    path = h.write_config(cfg(ports, link, ipsk, None), "state-link.cfg")
    rc, err = must_not_start(path, "a state file that is a symlink")
    h.check(rc != 0 and link in err and "symbolic link" in err,
            "a symlinked state file: exit %d, %r" % (rc, err[-500:]))


def tokenless(sport):
    """A TCP api.listen without a token is refused by --check, with its line."""
    def text(listen):
        return f"""{h.NO_DNS}
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "{M17}"; password = "x"; }} );
api = {{
  listen = "{listen}";
}};
"""
    path = h.write_config(text("127.0.0.1:%d" % h.free_port()), "tokenless.cfg")
    r = subprocess.run([h.BIN, "--check", "-f", path], capture_output=True, text=True,
                       timeout=30)
    h.check(r.returncode != 0 and (path + ":4:") in r.stderr and "token" in r.stderr,
            "--check of a token-less TCP api: exit %d, %r" % (r.returncode, r.stderr))
    r = subprocess.run([h.BIN, "-f", path], capture_output=True, text=True, timeout=30)
    h.check(r.returncode != 0 and "token" in r.stderr, "a token-less TCP api started")
    path = h.write_config(text("unix:/run/ssring-check.sock"), "tokenless-unix.cfg")
    r = subprocess.run([h.BIN, "--check", "-f", path], capture_output=True, text=True,
                       timeout=30)
    h.check(r.returncode == 0, "--check of a Unix api without a token: %r" % r.stderr)


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
    # No FILE.prev: it would keep deleted and re-keyed users' secrets.
    h.check(not os.path.exists(state + ".prev"), "a FILE.prev was kept")


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
    # Clients on a socket send all kinds of Host; no browser reaches it. Origin still counts.
    code, _ = curl(0, "GET", "/u/users", token=None, unix=sock, headers=["Host: api.sock"])
    h.check(code == 200, "unix GET with Host api.sock: %d" % code)
    code, _ = curl(0, "GET", "/u/users", token=None, unix=sock,
                   headers=["Origin: http://evil.example"])
    h.check(code == 403, "unix GET with Origin evil: %d" % code)
    pr.stop()


def unix_api_nobody():
    """user = "nobody": the socket is nobody's from the start, mode 0660, and nobody uses it."""
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        h.skip_part("no user nobody")
        return
    if os.geteuid() != 0:
        h.skip_part("not root: cannot run as nobody")
        return
    d = tempfile.mkdtemp(prefix="ssring-api-sock-")
    try:
        # nobody's folder, as /run/ssring is the ssring user's: the socket is made there
        # before the privileges are dropped (and would be after, too).
        os.chown(d, nobody.pw_uid, nobody.pw_gid)
        os.chmod(d, 0o700)
        sock = os.path.join(d, "api.sock")
        sport = h.free_port()
        pr = h.start_ssring('user = "nobody";\n' + unix_cfg(sport, sock), sport, "ssring-nobody")
        h.check(h.wait_until(lambda: os.path.exists(sock)), "no socket")
        st = os.lstat(sock)
        h.check(stat.S_ISSOCK(st.st_mode) and st.st_uid == nobody.pw_uid and
                st.st_gid == nobody.pw_gid and stat.S_IMODE(st.st_mode) == 0o660,
                "socket owner %d:%d mode %o, want %d:%d 660" % (
                    st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), nobody.pw_uid,
                    nobody.pw_gid))
        code, doc = curl(0, "POST", "/u/users", {"username": "fred", "password": "p"},
                         token=None, unix=sock, user="nobody")
        h.check(code == 201, "a client running as nobody: %d %r" % (code, doc))
        h.check(pr.stop() == 0, "exit code")
        # A file that is not a socket at the path is an error, and stays.
        if os.path.lexists(sock):
            os.unlink(sock)         # the socket of the run above
        with open(sock, "w") as f:
            f.write("not a socket")
        path = h.write_config('user = "nobody";\n' + unix_cfg(sport, sock), "unix-busy.cfg")
        rc, err = must_not_start(path, "a file at the socket path")
        h.check(rc != 0 and "not a socket" in err and open(sock).read() == "not a socket",
                "a file at the socket path: exit %d, %r" % (rc, err[-300:]))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    h.need_tool("curl")
    h.need_tool("ss-local")
    tmp = h.tmpdir()
    echo = h.EchoServer()
    ports = {k: h.free_port() for k in ("metrics", "api", "s17", "s22", "solo")}
    state = os.path.join(tmp, "state.json")
    ipsk = genkey(M22)
    tokenless(ports["s17"])
    pr = h.start_ssring(cfg(ports, state, ipsk, None), ports["s17"])
    h.wait_until(lambda: h.tcp_listening(ports["api"]))
    endpoints(ports["api"])
    browser(ports["api"], ports["metrics"])
    per_address(ports["api"])
    state_files(ports["api"], state)
    aead_user(ports["api"], ports["s17"], echo, ports["metrics"])
    upsk2 = eih_user(ports["api"], ports["s22"], ipsk, echo)
    abuse(ports["api"], ports["s17"], echo)
    h.check(pr.p.poll() is None, "ssring died")
    restart(ports, state, ipsk, ports["metrics"], pr, None, upsk2, echo)
    corrupt_state(ports, state, ipsk, None)
    state_symlink(ports, ipsk)
    unix_api(tmp)
    unix_api_nobody()
    print("ok")


if __name__ == "__main__":
    main()
