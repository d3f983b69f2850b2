# SPDX-License-Identifier: MIT
"""SIP003 plugins with Debian's real ones, against shadowsocks-libev, both
ways: simple-obfs (obfs-local/obfs-server) in http and tls mode and
v2ray-plugin (ss-v2ray-plugin, websocket). For each: an ssring local whose
TCP goes through the client plugin to libev's ss-server --plugin, and
libev's ss-local --plugin to an ssring server behind the server plugin;
1 MB byte-exact over TCP and a UDP echo alongside (UDP goes direct, as in
SIP003); a local given an ss:// link with ?plugin= does the same. Then the
life cycle: a plugin killed mid-run is started again (logged) and new
connections work; a reload that drops the entry stops its plugin and one
that keeps it keeps the same process; SIGTERM stops every plugin; a
plugin that does not exist is a start error that names it. Last, a local
with several upstreams, two of them behind plugins of their own."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PW = "plugin pw"
# (name, ssring/ss-local side: plugin, opts; ss-server side: plugin, opts)
PAIRS = [
    ("obfs-http", "obfs-local", "obfs=http;obfs-host=www.example.com", "obfs-server", "obfs=http"),
    ("obfs-tls", "obfs-local", "obfs=tls;obfs-host=www.example.com", "obfs-server", "obfs=tls"),
    ("v2ray-ws", "ss-v2ray-plugin", "", "ss-v2ray-plugin", "server"),
]
METHOD = "chacha20-ietf-poly1305"


def children(pid):
    """Direct children of pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...
        rest = st[st.rindex(")") + 2:].split()
        if int(rest[1]) == pid:
            out.append(int(d))
    return out


def plugin_pids(pr, name):
    pids = []
    for c in children(pr.p.pid):
        try:
            with open("/proc/%d/comm" % c) as f:
                if f.read().strip() == name[:15]:
                    pids.append(c)
        except OSError:
            pass
    return pids


def running(pids):
    """Those of pids that still run (a zombie does not): once ssring is gone
    its plugins are no longer its children, so plugin_pids() cannot tell."""
    out = []
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                st = f.read()
        except OSError:
            continue
        if st[st.rindex(")") + 2] != "Z":
            out.append(pid)
    return out


def stopped_with(pr, pids, what):
    """Stop pr (SIGTERM); pids (its plugins, non-empty) must end with it."""
    h.check(pids, "%s: no plugin process to watch before the stop" % what)
    pr.stop()
    h.check(h.wait_until(lambda: not running(pids), timeout=5),
            "%s: plugins %r left running after SIGTERM" % (what, running(pids)))


def answers(lport, echo):
    """One small echo through the SOCKS5 port, or False on any error."""
    try:
        s = socket.create_connection(("127.0.0.1", lport), timeout=5)
        s.sendall(b"\x05\x01\x00")
        if h.recv_exact(s, 2) != b"\x05\x00":
            return False
        s.sendall(b"\x05\x01\x00" + h.socks_addr("127.0.0.1", echo.port))
        if h.recv_exact(s, 10)[:2] != b"\x05\x00":
            return False
        s.sendall(b"ready?")
        got = h.recv_exact(s, 6)
        s.close()
        return got == b"ready?"
    except Exception:
        return False


def ssring_local(sport, plugin, opts, name, link=False, extra=""):
    lport = h.free_port()
    if link:
        ui = urllib.parse.quote("%s:%s" % (METHOD, PW), safe=":")
        q = urllib.parse.quote(plugin + (";" + opts if opts else ""), safe="")
        server = 'server = "ss://%s@127.0.0.1:%d/?plugin=%s";' % (ui, sport, q)
    else:
        server = ('server = "127.0.0.1:%d"; method = "%s"; password = "%s"; plugin = "%s"; '
                  'plugin_opts = "%s";' % (sport, METHOD, PW, plugin, opts))
    cfg = f"""
workers = 1;
log_level = "debug";
{h.NO_DNS}
locals = ( {{ listen = "127.0.0.1:{lport}"; {server} }} );
{extra}
"""
    return h.start_ssring(cfg, lport, name=name), lport, cfg


def server_cfg(sport, plugin, opts, extra=""):
    return f"""
workers = 2;
log_level = "debug";
{h.NO_DNS}
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "{METHOD}"; password = "{PW}";
              allow_private = true; plugin = "{plugin}"; plugin_opts = "{opts}"; }} );
{extra}
"""


def to_libev(pair, echo, uecho):
    name, cplug, copts, splug, sopts = pair
    sport = h.free_port()
    sp = h.start_libev_udp("ss-server", ["-s", "127.0.0.1", "-p", str(sport), "-k", PW,
                                         "-m", METHOD, "--plugin", splug, "--plugin-opts", sopts],
                           sport, "ss-server-" + name)
    pr, lport, _ = ssring_local(sport, cplug, copts, "local-" + name)
    h.echo_tcp_udp(lport, echo, uecho, "ssring local -> %s -> ss-server" % name, n=1 << 20)
    stopped_with(pr, plugin_pids(pr, cplug), "local-" + name)
    if name == "obfs-http":
        pr, lport, _ = ssring_local(sport, cplug, copts, "link-" + name, link=True)
        h.echo_tcp_udp(lport, echo, uecho, "ssring local by link -> %s" % name, n=100000)
        pr.stop()
    sp.stop()


def from_libev(pair, echo, uecho):
    name, cplug, copts, splug, sopts = pair
    sport = h.free_port()
    srv = h.start_ssring(server_cfg(sport, splug, sopts), sport, name="server-" + name)
    lport = h.free_port()
    lp = h.start_libev_udp("ss-local", ["-s", "127.0.0.1", "-p", str(sport), "-l", str(lport),
                                        "-b", "127.0.0.1", "-k", PW, "-m", METHOD,
                                        "--plugin", cplug, "--plugin-opts", copts],
                           lport, "ss-local-" + name)
    # libev's ss-local listens before its own plugin does: wait until the
    # chain answers a small request, then measure
    h.check(h.wait_until(lambda: answers(lport, echo), timeout=15),
            "ss-local -> %s -> ssring server never answered" % name)
    h.echo_tcp_udp(lport, echo, uecho, "ss-local -> %s -> ssring server" % name, n=1 << 20)
    lp.stop()
    # the server's link names the client half of its plugin; a local follows it
    path = os.path.join(h._tmp, "server-%s.cfg" % name)
    link = subprocess.run([h.BIN, "url", "-f", path], capture_output=True, text=True,
                          timeout=30, check=True).stdout.strip()
    want = {"obfs-http": "?plugin=obfs-local%3Bobfs%3Dhttp",
            "obfs-tls": "?plugin=obfs-local%3Bobfs%3Dtls",
            "v2ray-ws": "?plugin=v2ray-plugin"}[name]
    h.check(link.endswith(want), "link of a server with %s: %s" % (splug, link))
    lport = h.free_port()
    pr = h.start_ssring('workers = 1;\n%s\nlocals = ( { listen = "127.0.0.1:%d"; server = "%s"; } );\n'
                        % (h.NO_DNS, lport, link), lport, name="local-by-url-" + name)
    h.echo_tcp_udp(lport, echo, uecho, "ssring local by `ssring url` link -> %s -> ssring server"
              % name, n=200000)
    pr.stop()
    srv.stop()


def restart_and_reload(echo, uecho):
    """Kill ssring's plugin mid-run; then reloads that keep and drop it."""
    name, cplug, copts, splug, sopts = PAIRS[0]
    sport = h.free_port()
    sp = h.start_libev_udp("ss-server", ["-s", "127.0.0.1", "-p", str(sport), "-k", PW,
                                         "-m", METHOD, "--plugin", splug, "--plugin-opts", sopts],
                           sport, "ss-server-life")
    mport = h.free_port()
    pr, lport, cfg = ssring_local(sport, cplug, copts, "local-life",
                                  extra='metrics = { listen = "127.0.0.1:%d"; };' % mport)
    # ssring waits for the plugin to listen before it serves; should the
    # plugin end at once all the same (another process took its port in the
    # instant between ssring choosing it and the plugin binding it), it is
    # started again: wait for the one process, and show the log if not
    h.check(h.wait_until(lambda: len(plugin_pids(pr, cplug)) == 1, timeout=10),
            "one plugin process expected, found %r:\n%s"
            % (plugin_pids(pr, cplug), pr.output()[-3000:]))
    pids = plugin_pids(pr, cplug)
    # a transfer in flight when the plugin dies fails; the next one must work
    s = h.socks5_connect(lport, "127.0.0.1", echo.port)
    s.sendall(b"x" * 1000)
    h.recv_exact(s, 1000)
    os.kill(pids[0], signal.SIGKILL)
    s.close()
    h.check(h.wait_until(lambda: len(plugin_pids(pr, cplug)) == 1 and
                         plugin_pids(pr, cplug) != pids, timeout=10),
            "the killed plugin was not started again:\n" + pr.output()[-2000:])
    h.check(h.wait_until(lambda: "starting it again" in pr.output() and
                         pr.output().count("obfs-local listens on") >= 2, timeout=10),
            "no log of the restart:\n" + pr.output()[-2000:])
    h.echo_tcp_udp(lport, echo, uecho, "after the plugin restart", n=200000)
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=10).read().decode()
    want = ('ssring_plugin_restarts_total{role="local",listen="127.0.0.1:%d",plugin="obfs-local"} 1'
            % lport)
    h.check(want in text and 'ssring_plugin_up{role="local",listen="127.0.0.1:%d",'
            'plugin="obfs-local"} 1' % lport in text, "plugin metrics:\n%s" %
            "\n".join(x for x in text.splitlines() if "plugin" in x))
    again = plugin_pids(pr, cplug)
    # a reload that keeps the entry keeps the process
    h.reload_with(pr, "local-life", cfg.replace('log_level = "debug";', 'log_level = "info";'))
    h.check(plugin_pids(pr, cplug) == again, "a reload that keeps the plugin restarted it")
    h.echo_tcp_udp(lport, echo, uecho, "after a reload", n=100000)
    # a reload that drops the entry stops its plugin
    tport = h.free_port()
    with open(os.path.join(h._tmp, "local-life.cfg"), "w") as f:
        f.write(f"""
workers = 1;
{h.NO_DNS}
tunnels = ( {{ listen = "127.0.0.1:{tport}"; forward = "127.0.0.1:{echo.port}";
              server = "127.0.0.1:{sport}"; method = "{METHOD}"; password = "{PW}";
              plugin = "{cplug}"; plugin_opts = "obfs=tls;obfs-host=x.example"; udp = false; }} );
""")
    n_reloads = pr.output().count("reloaded")
    pr.p.send_signal(signal.SIGHUP)
    h.check(h.wait_until(lambda: pr.output().count("reloaded") > n_reloads, timeout=10),
            "second reload did not finish:\n" + pr.output()[-2000:])
    h.check(h.wait_until(lambda: again[0] not in plugin_pids(pr, cplug), timeout=10),
            "the dropped entry's plugin still runs")
    h.check(h.wait_until(lambda: len(plugin_pids(pr, cplug)) == 1, timeout=10),
            "the new tunnel's plugin did not start")
    sp.stop()
    stopped_with(pr, plugin_pids(pr, cplug), "local-life")


def missing_plugin():
    sport = h.free_port()
    path = h.write_config(server_cfg(sport, "no-such-plugin-xyz", ""), "missing.cfg")
    r = subprocess.run([h.BIN, "-f", path], capture_output=True, text=True, timeout=30)
    h.check(r.returncode != 0 and "plugin 'no-such-plugin-xyz' not found" in r.stdout + r.stderr,
            "a missing plugin: %d %r" % (r.returncode, r.stdout + r.stderr))
    # a plugin that exits at once stops the start, and says so
    path = h.write_config(server_cfg(sport, "false", ""), "dies.cfg")
    r = subprocess.run([h.BIN, "-f", path], capture_output=True, text=True, timeout=30)
    out = r.stdout + r.stderr
    h.check(r.returncode != 0 and "plugin false" in out and "exit status 1" in out and
            "a plugin ended while starting" in out, "a plugin that dies: %d %r" % (r.returncode, out))


def upstreams_with_plugins(echo, uecho):
    """A local with upstreams, each behind its own plugin (an ss:// link
    with ?plugin=obfs-local, a group with plugin = "ss-v2ray-plugin") and a
    third without: every one takes connections through its own plugin
    process, /metrics tells the plugins apart by upstream, and a reload keeps
    the processes."""
    ports, procs = [], []
    for name, splug, sopts in (("obfs", "obfs-server", "obfs=http"),
                               ("v2ray", "ss-v2ray-plugin", "server"), ("plain", None, None)):
        port = h.free_port()
        args = ["-s", "127.0.0.1", "-p", str(port), "-k", PW, "-m", METHOD]
        if splug:
            args += ["--plugin", splug, "--plugin-opts", sopts]
        procs.append(h.start_libev_udp("ss-server", args, port, "ss-server-up-" + name))
        ports.append(port)
    ui = urllib.parse.quote("%s:%s" % (METHOD, PW), safe=":")
    q = urllib.parse.quote("obfs-local;obfs=http;obfs-host=www.example.com", safe="")
    ups = ('"ss://%s@127.0.0.1:%d/?plugin=%s", '
           '{ server = "127.0.0.1:%d"; method = "%s"; password = "%s"; plugin = "ss-v2ray-plugin"; }, '
           '{ server = "127.0.0.1:%d"; method = "%s"; password = "%s"; }'
           % (ui, ports[0], q, ports[1], METHOD, PW, ports[2], METHOD, PW))
    lport, mport = h.free_port(), h.free_port()
    cfg = f"""
workers = 2;
log_level = "debug";
{h.NO_DNS}
metrics = {{ listen = "127.0.0.1:{mport}"; }};
locals = ( {{ listen = "127.0.0.1:{lport}"; upstreams = ( {ups} );
             upstream_check = {{ target = "127.0.0.1:{echo.port}"; request = "check";
                                 interval = 1; timeout = 2; }}; }} );
"""
    pr = h.start_ssring(cfg, lport, name="local-upstreams")
    h.check(h.wait_until(lambda: len(plugin_pids(pr, "obfs-local")) == 1 and
                         len(plugin_pids(pr, "ss-v2ray-plugin")) == 1, timeout=10),
            "one obfs-local and one ss-v2ray-plugin expected:\n" + pr.output()[-2000:])
    pids = plugin_pids(pr, "obfs-local") + plugin_pids(pr, "ss-v2ray-plugin")
    n = spread(lport, echo, mport, ports, 45, "upstreams")
    h.echo_tcp_udp(lport, echo, uecho, "ssring local with plugins on its upstreams", n=200000)
    picks = upstream_picks(mport, ports)
    text = h.metrics_text(mport)
    up = [h.metric_sample(text, "ssring_plugin_up", upstream="127.0.0.1:%d" % p) for p in ports]
    print("upstreams behind obfs-local, ss-v2ray-plugin and none: %d connections, picks %r, "
          "plugin up %r" % (n, picks, up), flush=True)
    h.check(all(p and p > 0 for p in picks), "an upstream got no connection: %r" % picks)
    h.check(up == [1, 1, None], "plugin metrics by upstream: %r" % up)
    # upstream_check goes through each upstream's plugin to libev's ss-server.
    def checks():
        t = h.metrics_text(mport)
        return [h.metric_sample(t, "ssring_upstream_checks_total", upstream="127.0.0.1:%d" % p,
                                result="ok") for p in ports]
    h.check(h.wait_until(lambda: all(c and c >= 1 for c in checks()), timeout=10),
            "upstream checks through the plugins: %r passed" % checks())
    print("upstream checks passed, by upstream: %r" % checks(), flush=True)
    # a reload that keeps the upstreams keeps their plugins
    h.reload_with(pr, "local-upstreams", cfg.replace('log_level = "debug";', 'log_level = "info";'))
    h.check(plugin_pids(pr, "obfs-local") + plugin_pids(pr, "ss-v2ray-plugin") == pids,
            "a reload that keeps the upstreams restarted their plugins")
    h.check(h.echo_roundtrip(lport, echo.port, b"after reload") == b"after reload",
            "echo after the reload")
    stopped_with(pr, plugin_pids(pr, "obfs-local") + plugin_pids(pr, "ss-v2ray-plugin"),
                 "local-upstreams")
    # The same servers from a SIP008 document (servers_url, a file): each
    # server keeps its plugin as an upstream.
    doc = os.path.join(h._tmp, "servers.json")
    with open(doc, "w") as f:
        json.dump({"version": 1, "servers": [
            {"server": "127.0.0.1", "server_port": ports[0], "method": METHOD, "password": PW,
             "plugin": "obfs-local", "plugin_opts": "obfs=http;obfs-host=www.example.com"},
            {"server": "127.0.0.1", "server_port": ports[1], "method": METHOD, "password": PW,
             "plugin": "ss-v2ray-plugin"}]}, f)
    lport, mport = h.free_port(), h.free_port()
    pr = h.start_ssring(f"""
workers = 1;
log_level = "debug";
{h.NO_DNS}
metrics = {{ listen = "127.0.0.1:{mport}"; }};
locals = ( {{ listen = "127.0.0.1:{lport}"; servers_url = "{doc}"; refresh = 1; }} );
""", lport, name="local-sip008-plugins")
    h.check(h.wait_until(lambda: "as upstreams" in pr.output() and
                         len(plugin_pids(pr, "obfs-local")) == 1 and
                         len(plugin_pids(pr, "ss-v2ray-plugin")) == 1, timeout=15),
            "the document's servers did not become upstreams with their plugins:\n"
            + pr.output()[-2000:])
    n = spread(lport, echo, mport, ports[:2], 20, "SIP008")
    picks = upstream_picks(mport, ports[:2])
    print("SIP008 document with two plugin servers: upstreams, %d connections echoed, "
          "picks %r" % (n, picks), flush=True)
    h.check(all(p and p > 0 for p in picks), "a document's server got no connection: %r" % picks)
    pr.stop()
    for p in procs:
        p.stop()


def upstream_picks(mport, ports):
    text = h.metrics_text(mport)
    return [h.metric_sample(text, "ssring_upstream_picks_total", upstream="127.0.0.1:%d" % p)
            for p in ports]


def spread(lport, echo, mport, ports, at_least, what):
    """at_least connections echoed, then more (10 at a time, 300 at most)
    until every upstream was picked: the draw weighs by latency, and a
    plugin's path can be several times slower than a plain one."""
    n = 0
    while n < at_least or (n < 300 and not all(upstream_picks(mport, ports))):
        for _ in range(10):
            data = h.pattern(1000 + n, seed=n)
            h.check(h.echo_roundtrip(lport, echo.port, data) == data,
                    "%s: echo %d failed" % (what, n))
            n += 1
    return n


def main():
    for tool in ("obfs-local", "obfs-server", "ss-v2ray-plugin", "ss-server", "ss-local"):
        h.need_tool(tool)
    echo = h.EchoServer()
    uecho = h.UdpEcho(tag=b"echo:")
    missing_plugin()
    for pair in PAIRS:
        to_libev(pair, echo, uecho)
        from_libev(pair, echo, uecho)
    restart_and_reload(echo, uecho)
    upstreams_with_plugins(echo, uecho)
    print("ok")


if __name__ == "__main__":
    main()
