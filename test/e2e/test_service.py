# SPDX-License-Identifier: MIT
"""Running as a service: this test plays systemd's side of NOTIFY_SOCKET
(READY=1 once listening, RELOADING=1 with MONOTONIC_USEC then READY=1 around
a reload, STOPPING=1 on SIGTERM), checks the journal format under
JOURNAL_STREAM, and the privilege drop outside systemd (user = "nobody":
the uid changes, only CAP_NET_BIND_SERVICE stays, and a reload still binds
a port below 1024; an unreadable file fails the reload like a bad one)."""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

CAP_NET_BIND_SERVICE = 10


def relay_cfg(sport, lport, extra=""):
    return f"""
workers = 2;
log_level = "info";
{h.NO_DNS}
{extra}
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "aes-128-gcm"; password = "svc";
             allow_private = true; }} );
locals = ( {{ listen = "127.0.0.1:{lport}"; server = "127.0.0.1:{sport}";
             method = "aes-128-gcm"; password = "svc"; }} );
"""


def notify_protocol(echo):
    """READY, RELOADING (+MONOTONIC_USEC), READY, STOPPING, in that order."""
    results = []
    for kind in ("path", "abstract"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if kind == "path":
            addr = os.path.join(h.tmpdir(), "notify.sock")
            sock.bind(addr)
        else:
            addr = "@ssring-test-notify-%d" % os.getpid()
            sock.bind("\0" + addr[1:])
        sock.settimeout(10)
        sport, lport = h.free_port(), h.free_port()
        path = h.write_config(relay_cfg(sport, lport), "notify-%s.cfg" % kind)
        env = dict(os.environ, NOTIFY_SOCKET=addr)
        log = open(os.path.join(h.tmpdir(), "notify.log"), "w+")
        p = subprocess.Popen([h.BIN, "-f", path], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            msg = sock.recv(4096).decode()
            h.check("READY=1" in msg.split("\n"), "first message %r" % msg)
            h.check(re.search(r"^STATUS=.+generation 1", msg, re.M), "status %r" % msg)
            # Ready means listening: the local answers at once.
            h.check(h.echo_roundtrip(lport, echo.port, b"ready") == b"ready",
                    "not serving at READY=1")
            before = time.monotonic()
            p.send_signal(signal.SIGHUP)
            msg = sock.recv(4096).decode()
            lines = msg.split("\n")
            h.check("RELOADING=1" in lines, "reload message %r" % msg)
            usec = [int(x.split("=", 1)[1]) for x in lines if x.startswith("MONOTONIC_USEC=")]
            h.check(usec and abs(usec[0] / 1e6 - before) < 5,
                    "MONOTONIC_USEC %r vs CLOCK_MONOTONIC %.3f" % (usec, before))
            msg = sock.recv(4096).decode()
            h.check("READY=1" in msg.split("\n") and "generation 2" in msg,
                    "after the reload %r" % msg)
            p.send_signal(signal.SIGTERM)
            msg = sock.recv(4096).decode()
            h.check("STOPPING=1" in msg.split("\n"), "stop message %r" % msg)
            h.check(p.wait(15) == 0, "exit code")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            sock.close()
        results.append(kind)
    return "sd_notify over a %s socket: READY, RELOADING+MONOTONIC_USEC, READY, STOPPING" % (
        " and an ".join(results))


def journal_format():
    sport, lport = h.free_port(), h.free_port()
    path = h.write_config(relay_cfg(sport, lport), "journal.cfg")
    logp = os.path.join(h.tmpdir(), "journal.log")
    with open(logp, "w") as log:
        st = os.fstat(log.fileno())
        env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
        p = subprocess.Popen([h.BIN, "-f", path], env=env, stdout=log, stderr=log)
        h.check(h.wait_port(lport, p), "did not come up")
        p.send_signal(signal.SIGTERM)
        h.check(p.wait(15) == 0, "exit code")
    lines = open(logp).read().splitlines()
    h.check(lines and all(re.match(r"^<[3467]>(error|warn|info|debug) \[", x) for x in lines),
            "journal lines: %r" % lines[:5])
    h.check(any(x.startswith("<6>info [main] ready") for x in lines), "ready line")
    return "journal: %d lines with <N> priorities, no timestamps" % len(lines)



def low_port():
    for port in range(600, 1000):
        if h.tcp_listening(port):
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    h.fail("no free port below 1024")


def drop_privileges(echo):
    if os.geteuid() != 0:
        h.skip("the privilege drop needs root")
    d = tempfile.mkdtemp(prefix="ssring-privs-")
    os.chmod(d, 0o755)
    sport, lport = h.free_port(), h.free_port()
    path = os.path.join(d, "privs.cfg")

    def write(text):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)

    write(relay_cfg(sport, lport, 'user = "nobody";'))
    pr = h.Proc([h.BIN, "-f", path], "privs")
    h.check(h.wait_port(lport, pr.p), "did not come up:\n" + pr.output())
    h.check(h.wait_log(pr, "ready:"), "not ready")
    st = h.proc_status(pr.p.pid)
    nobody = int(subprocess.check_output(["id", "-u", "nobody"]).strip())
    h.check(all(int(x) == nobody for x in st["Uid"]), "Uid %r" % st["Uid"])
    h.check(int(st["Gid"][0]) != 0, "Gid %r" % st["Gid"])
    want = 1 << CAP_NET_BIND_SERVICE
    for k in ("CapEff", "CapPrm", "CapAmb"):
        h.check(int(st[k][0], 16) == want, "%s = %s, want only CAP_NET_BIND_SERVICE" % (
            k, st[k][0]))
    # The workers run as nobody too (all threads changed).
    for tid in os.listdir("/proc/%d/task" % pr.p.pid):
        with open("/proc/%d/task/%s/status" % (pr.p.pid, tid)) as f:
            uid = [line.split()[1] for line in f if line.startswith("Uid:")][0]
        h.check(int(uid) == nobody, "thread %s runs as uid %s" % (tid, uid))
    h.check(h.echo_roundtrip(lport, echo.port, b"as nobody") == b"as nobody", "relay as nobody")
    # A reload binds a port below 1024 as nobody: the capability was kept.
    lowp = low_port()
    write(relay_cfg(sport, lport, 'user = "nobody";').replace(
        "locals = (", 'locals = ( { listen = "127.0.0.1:%d"; server = "127.0.0.1:%d";\n'
        '  method = "aes-128-gcm"; password = "svc"; },' % (lowp, sport)))
    pr.p.send_signal(signal.SIGHUP)
    h.check(h.wait_log(pr, "configuration generation 2"), "reload as nobody:\n" +
            pr.output()[-2000:])
    h.check(h.echo_roundtrip(lowp, echo.port, b"low port") == b"low port",
            "listener on port %d after the drop" % lowp)
    # A file the user cannot read fails the reload, and nothing changes.
    os.chmod(path, 0o600)
    pr.p.send_signal(signal.SIGHUP)
    h.check(h.wait_log(pr, "reload failed"), "unreadable file not reported")
    h.check("Permission denied" in pr.output(), "reason:\n" + pr.output()[-1500:])
    h.check(h.echo_roundtrip(lowp, echo.port, b"still") == b"still", "serving after it")
    h.check(pr.stop() == 0, "exit code")
    return "user = nobody: uid %d on every thread, only CAP_NET_BIND_SERVICE (ambient too); " \
        "reload bound port %d; an unreadable file failed the reload" % (nobody, lowp)


def main():
    echo = h.EchoServer()
    out = [notify_protocol(echo), journal_format(), drop_privileges(echo)]
    for line in out:
        print("ok: " + line)


if __name__ == "__main__":
    main()
