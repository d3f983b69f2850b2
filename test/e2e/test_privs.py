# SPDX-License-Identifier: MIT
"""Plugins as the run user, with a minimal environment, ended as groups
(issue #22). As root with user = "nobody":
- every plugin process runs as nobody (real, effective, saved and fs uid
  and gid): the first ones, one a reload adds, one started again after it
  was killed; they relay; SIGTERM stops ssring and its plugins within
  timeouts.shutdown + 5 s (its documented bound);
- a plugin's environment is PATH, TZ, SSL_CERT_FILE (SSL_CERT_DIR is not
  set here) and the five SS_* variables only: no secret of password_env,
  nothing else of ssring's; the secret has left ssring's environment, even
  /proc/PID/environ (the block the process started with), and a reload
  that names the variable again still finds it;
- a plugin ssring cannot signal (a setuid-root wrapper that becomes root):
  SIGTERM still ends ssring in time, saying so once; the plugin then goes
  with its terminal's hang-up;
- a plugin that forks a child which ignores SIGTERM: a reload that drops
  the plugin ends its whole process group (SIGKILL 3 s on, when the plugin
  itself ignores SIGTERM too), and SIGKILL of ssring ends every
  plugin's whole group within 2 s (Debian's obfs-server has file
  capabilities, so as nobody it loses the parent-death signal at exec: the
  terminal hang-up covers it), as does ss-v2ray-plugin's."""
import atexit
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

METHOD = "chacha20-ietf-poly1305"
SECRET = "s3cret-from-the-env-%d" % os.getpid()
SHUTDOWN = 2  # timeouts.shutdown of the configs here
SS_VARS = {"SS_REMOTE_HOST", "SS_REMOTE_PORT", "SS_LOCAL_HOST", "SS_LOCAL_PORT",
           "SS_PLUGIN_OPTIONS"}


def ids(name, flag):
    return int(subprocess.check_output(["id", flag, name]).strip())



def stat_fields(pid):
    """(comm, state, ppid, pgid) of pid, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    rest = st[st.rindex(")") + 2:].split()
    return st[st.index("(") + 1:st.rindex(")")], rest[0], int(rest[1]), int(rest[2])


def children(pid, comm=None):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            f = stat_fields(int(d))
            if f and f[2] == pid and f[1] != "Z" and (comm is None or f[0] == comm[:15]):
                out.append(int(d))
    return sorted(out)


def group(pgid):
    """The live (not zombie) processes of process group pgid."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            f = stat_fields(int(d))
            if f and f[3] == pgid and f[1] != "Z":
                out.append(int(d))
    return sorted(out)


def check_nobody(pid, what):
    uid, gid = ids("nobody", "-u"), ids("nobody", "-g")
    st = h.proc_status(pid)
    h.check([int(x) for x in st["Uid"]] == [uid] * 4 and [int(x) for x in st["Gid"]] == [gid] * 4,
            "%s (pid %d) runs as Uid %r Gid %r, not nobody (%d/%d)"
            % (what, pid, st["Uid"], st["Gid"], uid, gid))


def relays(lport, echo, data):
    """One echo through the SOCKS5 port lport; False on any error."""
    try:
        with socket.create_connection(("127.0.0.1", lport), timeout=5) as c:
            c.sendall(b"\x05\x01\x00")
            if h.recv_exact(c, 2) != b"\x05\x00":
                return False
            c.sendall(b"\x05\x01\x00" + h.socks_addr("127.0.0.1", echo.port))
            if h.recv_exact(c, 10)[:2] != b"\x05\x00":
                return False
            c.sendall(data)
            return h.recv_exact(c, len(data)) == data
    except (OSError, SystemExit):
        return False


def script(d, name, body):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return path


class Setup:
    """A folder nobody can read (configs, reloads) and write (env dumps)."""

    def __init__(self):
        self.d = tempfile.mkdtemp(prefix="ssring-privs-")
        atexit.register(shutil.rmtree, self.d, True)
        os.chmod(self.d, 0o755)
        self.out = os.path.join(self.d, "out")
        os.mkdir(self.out)
        os.chmod(self.out, 0o777 | stat.S_ISVTX)

    def write(self, name, text):
        path = os.path.join(self.d, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        return path

    def start(self, name, text, port, env=None):
        path = self.write(name + ".cfg", text)
        saved = dict(os.environ)
        os.environ.update(env or {})
        try:
            pr = h.Proc([h.BIN, "-f", path], name)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        h.check(h.wait_port(port, pr.p, timeout=15), "%s did not come up:\n%s"
                % (name, pr.output()[-3000:]))
        h.check(h.wait_log(pr, "ready:"), "%s: not ready" % name)
        return pr, path

    def reload(self, pr, path, text):
        with open(path, "w") as f:
            f.write(text)
        n = pr.output().count("reloaded")
        pr.p.send_signal(signal.SIGHUP)
        h.check(h.wait_until(lambda: pr.output().count("reloaded") > n, timeout=10),
                "reload failed:\n" + pr.output()[-2000:])


def head(extra=""):
    return f"""
workers = 1;
log_level = "debug";
user = "nobody";
timeouts = {{ shutdown = {SHUTDOWN}; }};
{h.NO_DNS}
{extra}
"""


def server(port, plugin, opts, secret='password_env = "SSRING_T_PW";'):
    return (f'{{ listen = "127.0.0.1:{port}"; method = "{METHOD}"; {secret} '
            f'allow_private = true; plugin = "{plugin}"; plugin_opts = "{opts}"; }}')


def as_nobody(s, echo):
    """Item 1: the first plugin, one a reload adds, one restarted after
    SIGKILL all run as nobody; SIGTERM ends everything in time, the first
    plugin included (ssring as nobody could not signal it as root)."""
    sport, lport = h.free_port(), h.free_port()
    cfg = head() + "servers = ( %s );\n" % server(sport, "obfs-server", "obfs=http")
    pr, path = s.start("privs-nobody", cfg, sport, {"SSRING_T_PW": SECRET})
    check_nobody(pr.p.pid, "ssring")
    srv = children(pr.p.pid, "obfs-server")
    h.check(len(srv) == 1, "one obfs-server expected: %r\n%s" % (srv, pr.output()[-2000:]))
    check_nobody(srv[0], "the first plugin (obfs-server)")
    # A reload adds a local behind obfs-local, to this very server.
    cfg2 = cfg + ('locals = ( { listen = "127.0.0.1:%d"; server = "127.0.0.1:%d"; method = "%s"; '
                  'password_env = "SSRING_T_PW"; plugin = "obfs-local"; '
                  'plugin_opts = "obfs=http;obfs-host=www.example.com"; } );\n'
                  % (lport, sport, METHOD))
    s.reload(pr, path, cfg2)
    h.check(h.wait_until(lambda: len(children(pr.p.pid, "obfs-local")) == 1, timeout=10),
            "the reload's plugin did not start:\n" + pr.output()[-2000:])
    check_nobody(children(pr.p.pid, "obfs-local")[0], "a plugin a reload started")
    h.check(h.wait_until(lambda: relays(lport, echo, b"nobody"), timeout=10),
            "no relay through both plugins as nobody:\n" + pr.output()[-2000:])
    # Killed, the local's plugin is started again, as nobody.
    loc = children(pr.p.pid, "obfs-local")
    os.kill(loc[0], signal.SIGKILL)
    h.check(h.wait_until(lambda: children(pr.p.pid, "obfs-local") not in ([], loc), timeout=10),
            "the killed plugin was not started again:\n" + pr.output()[-2000:])
    check_nobody(children(pr.p.pid, "obfs-local")[0], "a plugin started again after SIGKILL")
    h.check(h.wait_until(lambda: relays(lport, echo, b"again"), timeout=10),
            "no relay after the restart")
    h.check(children(pr.p.pid, "obfs-server") == srv, "the first plugin must still run")
    # SIGTERM: ssring and every plugin end within timeouts.shutdown + 5 s.
    plugins = children(pr.p.pid)
    rc, took = h.stop_within(pr, SHUTDOWN + 5, "ssring (user = nobody, plugins)")
    left = [p for p in plugins if stat_fields(p) and stat_fields(p)[1] != "Z"]
    h.check(rc == 0 and not left, "exit %r, plugins left %r" % (rc, left))
    h.check(pr.output().count("did not stop") == 0, "a plugin needed SIGKILL:\n" +
            pr.output()[-1500:])
    return ("as nobody: first plugin, reload-added plugin, restarted plugin; SIGTERM ended "
            "ssring and %d plugins in %.2f s" % (len(plugins), took))


def environment(s, echo):
    """Item 7: what a plugin's environment holds, and where the secret is."""
    sport, sport2, lport = h.free_port(), h.free_port(), h.free_port()
    dump = os.path.join(s.out, "env-server")
    wrapper = script(s.d, "env-plugin",
                     'cat /proc/$$/environ > %s\nexec obfs-server\n' % dump)
    cfg = head() + "servers = ( %s );\n" % server(sport, wrapper, "obfs=http")
    env = {"SSRING_T_PW": SECRET, "SSRING_T_DECOY": "decoy-%d" % os.getpid(), "TZ": "UTC",
           "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"}
    saved = {k: os.environ.pop(k) for k in ("SSL_CERT_DIR",) if k in os.environ}
    pr, path = s.start("privs-env", cfg, sport, env)
    os.environ.update(saved)
    h.check(h.wait_until(lambda: os.path.exists(dump) and os.path.getsize(dump) > 0),
            "the wrapper plugin wrote no environment")
    with open(dump, "rb") as f:
        seen = dict(x.split(b"=", 1) for x in f.read().split(b"\0") if x)
    keys = {k.decode() for k in seen}
    want = SS_VARS | {"PATH", "TZ", "SSL_CERT_FILE"}
    h.check(keys == want, "plugin environment: %r, want exactly %r" % (sorted(keys), sorted(want)))
    h.check(seen[b"TZ"] == b"UTC" and seen[b"SS_PLUGIN_OPTIONS"] == b"obfs=http" and
            seen[b"SS_REMOTE_PORT"] == str(sport).encode(), "plugin environment values: %r" % seen)
    h.check(all(SECRET.encode() not in v for v in seen.values()), "the secret reached the plugin")
    # ssring's own: /proc/PID/environ is the block it started with; the value is wiped there.
    with open("/proc/%d/environ" % pr.p.pid, "rb") as f:
        block = f.read()
    h.check(SECRET.encode() not in block, "the secret is still in /proc/%d/environ" % pr.p.pid)
    h.check(env["SSRING_T_DECOY"].encode() in block, "other variables must stay")
    # A reload names the variable again (a new server and a local): found.
    cfg2 = (cfg.replace("servers = ( ", "servers = ( { listen = \"127.0.0.1:%d\"; method = \"%s\"; "
                        "password_env = \"SSRING_T_PW\"; allow_private = true; }, "
                        % (sport2, METHOD))
            + 'locals = ( { listen = "127.0.0.1:%d"; server = "127.0.0.1:%d"; method = "%s"; '
            'password_env = "SSRING_T_PW"; } );\n' % (lport, sport2, METHOD))
    s.reload(pr, path, cfg2)
    h.check(h.wait_until(lambda: relays(lport, echo, b"env"), timeout=10),
            "no relay with the secret read again on reload:\n" + pr.output()[-2000:])
    # and a client with the password itself reaches the new server
    c, _, down = h.ss_connect(sport2, METHOD, SECRET, "127.0.0.1", echo.port, b"direct")
    c.shutdown(socket.SHUT_WR)
    got = h.ss_read_all(c, down)
    c.close()
    h.check(got == b"direct", "the reloaded server's key is not the secret's: %r" % got)
    h.check(pr.stop() == 0, "exit code")
    return "plugin environment %s; the secret left /proc/PID/environ; a reload found it" % (
        ",".join(sorted(keys)))


def unsignalable(s, echo):
    """A plugin that made itself root: ssring (nobody) cannot signal it;
    the shutdown says so once and ends all the same."""
    src = os.path.join(s.d, "rootplug.c")
    with open(src, "w") as f:
        f.write("#include <unistd.h>\n"
                "int main(int argc, char **argv)\n{\n\t(void)argc;\n"
                "\tif (setresgid(0, 0, 0) || setresuid(0, 0, 0))\n\t\treturn 3;\n"
                "\texecvp(\"obfs-server\", argv);\n\treturn 4;\n}\n")
    exe = os.path.join(s.d, "rootplug")
    r = subprocess.run(["cc", "-o", exe, src], capture_output=True, text=True)
    if r.returncode != 0:
        return h.skip_part("no C compiler for the setuid-root plugin: " + r.stderr[-300:])
    os.chown(exe, 0, 0)
    os.chmod(exe, 0o4755)
    sport = h.free_port()
    cfg = head() + "servers = ( %s );\n" % server(sport, exe, "obfs=http")
    pr, _ = s.start("privs-unsignalable", cfg, sport, {"SSRING_T_PW": SECRET})
    plug = children(pr.p.pid)
    if len(plug) != 1 or int(h.proc_status(plug[0])["Uid"][0]) != 0:
        pr.stop()
        return h.skip_part("the setuid-root wrapper did not become root here (nosuid?)")
    rc, took = h.stop_within(pr, SHUTDOWN + 5, "ssring with a plugin it cannot signal")
    said = pr.output().count("cannot be sent signal")
    gone = h.wait_until(lambda: not group(plug[0]), timeout=2)
    for x in group(plug[0]):
        os.kill(x, signal.SIGKILL)
    h.check(rc == 0 and said == 1, "exit %r; said it %d times:\n%s" % (rc, said,
                                                                    pr.output()[-1500:]))
    h.check(gone, "the root plugin outlived ssring (no hang-up of its terminal?)")
    return ("a plugin that became root: SIGTERM ended ssring in %.2f s, said once; the "
            "terminal's hang-up ended the plugin" % took)


def groups(s):
    """Item 14: process groups on a reload that drops a plugin, and on
    SIGKILL of ssring."""
    ports = [h.free_port() for _ in range(3)]
    marks = os.path.join(s.out, "forked")
    # The forked child ignores SIGTERM: only the group's SIGKILL or the
    # terminal's SIGHUP ends it.
    forker = script(s.d, "forking-plugin",
                    "( trap '' TERM; exec sleep 1000 ) &\n"
                    "echo $! >> %s\n"
                    "exec obfs-server\n" % marks)
    cfg = head() + "servers = ( %s, %s, %s );\n" % (
        server(ports[0], forker, "obfs=http"), server(ports[1], forker, "obfs=tls"),
        server(ports[2], "ss-v2ray-plugin", "server"))
    pr, path = s.start("privs-groups", cfg, ports[0], {"SSRING_T_PW": SECRET})
    h.check(h.wait_until(lambda: all(h.tcp_listening(p) for p in ports) and
                         len(children(pr.p.pid)) == 3, timeout=15),
            "three plugins expected:\n" + pr.output()[-2000:])
    leaders = children(pr.p.pid)
    pg = {p: group(p) for p in leaders}
    sizes = sorted(len(v) for v in pg.values())
    h.check(sizes == [1, 2, 2], "groups %r: want two plugins with a forked child each" % pg)
    for p in leaders:
        check_nobody(p, "plugin %d" % p)
    # The first server's plugin goes with a reload.
    first = [p for p in leaders if "(pid %d) for the server on 127.0.0.1:%d" % (p, ports[0])
             in pr.output()]
    h.check(len(first) == 1, "which plugin serves %d? %r" % (ports[0], first))
    dropped = pg[first[0]]
    s.reload(pr, path, head() + "servers = ( %s, %s );\n" % (
        server(ports[1], forker, "obfs=tls"), server(ports[2], "ss-v2ray-plugin", "server")))
    h.check(h.wait_until(lambda: not group(first[0]), timeout=3 + 5),
            "a reload dropped the plugin but its group lives on: %r" % group(first[0]))
    h.check(sorted(children(pr.p.pid)) == sorted(p for p in leaders if p != first[0]),
            "the other plugins must stay")
    # One whose leader ignores SIGTERM too: SIGKILL goes to the group 3 s on.
    stubborn = script(s.d, "stubborn-plugin",
                      "trap '' TERM\n( exec sleep 1000 ) &\nexec sleep 1000\n")
    keep = [server(ports[1], forker, "obfs=tls"), server(ports[2], "ss-v2ray-plugin", "server")]
    s.reload(pr, path, head() + "servers = ( %s );\n" % ", ".join(
        keep + [server(h.free_port(), stubborn, "")]))
    h.check(h.wait_until(lambda: len(children(pr.p.pid, "sleep")) == 1 and
                         len(group(children(pr.p.pid, "sleep")[0])) == 2),
            "the stubborn plugin did not start:\n" + pr.output()[-1500:])
    lead = children(pr.p.pid, "sleep")[0]
    s.reload(pr, path, head() + "servers = ( %s );\n" % ", ".join(keep))
    t0 = time.monotonic()
    h.check(h.wait_until(lambda: not group(lead), timeout=3 + 3),
            "a plugin that ignores SIGTERM outlived its removal: %r" % group(lead))
    stubborn_s = time.monotonic() - t0
    h.check(stubborn_s > 2.5 and "did not stop within 3 s of SIGTERM" in pr.output(),
            "no SIGKILL escalation (%.2f s):\n%s" % (stubborn_s, pr.output()[-1500:]))
    # SIGKILL of ssring: every plugin's whole group ends within 2 s.
    rest = {p: pg[p] for p in leaders if p != first[0]}
    pr.p.kill()
    pr.p.wait()
    t0 = time.monotonic()
    ok = h.wait_until(lambda: not any(group(p) for p in rest), timeout=2)
    left = {p: group(p) for p in rest if group(p)}
    for pids in left.values():  # do not leave them behind
        for x in pids:
            try:
                os.kill(x, signal.SIGKILL)
            except OSError:
                pass
    h.check(ok, "after SIGKILL of ssring these plugin groups live on: %r" % left)
    return ("a reload ended a dropped plugin's group of %d, and one that ignores SIGTERM in "
            "%.2f s; SIGKILL of ssring ended %d plugin groups (obfs-server with a forked "
            "child, ss-v2ray-plugin) in %.2f s"
            % (len(dropped), stubborn_s, len(rest), time.monotonic() - t0))


def main():
    if os.geteuid() != 0:
        h.skip("user = \"nobody\" needs root")
    for tool in ("obfs-server", "obfs-local", "ss-v2ray-plugin"):
        h.need_tool(tool)
    echo = h.EchoServer()
    s = Setup()
    parts = sys.argv[1:] or ["as_nobody", "environment", "unsignalable", "groups"]
    out = [groups(s) if p == "groups" else globals()[p](s, echo) for p in parts]
    for line in out:
        print("ok: " + line)


if __name__ == "__main__":
    main()
