# SPDX-License-Identifier: MIT
"""ss:// links (SIP002) end to end: `ssring url -f` prints one link per
server and per user (a server given by key is skipped with a warning, a
wildcard listen address needs --host); each link is what an independent
encoder (Python's base64 and urllib) makes of the same method and password;
`--qr` draws every link exactly as `qrencode -t UTF8` does, cell for cell;
the links work: an ssring local with `server = "ss://..."` and
shadowsocks-libev's ss-local given the link's method and password (decoded
here, not by ssring) both relay TCP and UDP through the ssring server, and
an ssring local reaches libev's ss-server by a link; `ssring url --config`
turns a link into a locals entry that passes --check and relays (a plugin
that is not a well-known client plugin stays commented out, with a
warning); a server's plugin_opts keep SIP003's backslash escapes in its
link ("a\\;b" is one option); a broken link in a config is an error naming
the line."""
import base64
import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PW_ALICE = "p@ss:w/d+x=y?#&"
KEY_2022 = base64.b64encode(bytes(range(32))).decode()
UPSK_CAROL = base64.b64encode(bytes(range(100, 132))).decode()


def link_2017(method, pw, host, port, tag=""):
    ui = base64.urlsafe_b64encode(("%s:%s" % (method, pw)).encode()).decode().rstrip("=")
    return "ss://%s@%s:%d%s" % (ui, host, port, "#" + urllib.parse.quote(tag) if tag else "")


def link_2022(method, key, host, port, tag=""):
    return "ss://%s:%s@%s:%d%s" % (method, urllib.parse.quote(key, safe=""), host, port,
                                   "#" + urllib.parse.quote(tag) if tag else "")


def decode_link(link):
    """Python's own reading of a link: (method, password, host, port)."""
    u = urllib.parse.urlsplit(link)
    ui = urllib.parse.unquote(u.username or "")
    if u.password is not None:
        method, pw = ui, urllib.parse.unquote(u.password)
    else:
        dec = base64.urlsafe_b64decode(ui + "=" * (-len(ui) % 4)).decode()
        method, pw = dec.split(":", 1)
    return method, pw, u.hostname, u.port


def ssring_url(*args, check=True):
    r = subprocess.run([h.BIN, "url", *args], capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        h.fail("ssring url %s: %d\n%s" % (" ".join(args), r.returncode, r.stderr))
    return r


def servers_cfg(p):
    return f"""
workers = 1;
log_level = "debug";
{h.NO_DNS}
servers = (
  {{ name = "edge"; listen = "127.0.0.1:{p[0]}"; method = "aes-256-gcm"; allow_private = true;
     users = ( {{ name = "alice"; password = "{PW_ALICE}"; }},
               {{ name = "bob"; key = "{base64.b64encode(bytes(32)).decode()}"; }} ); }},
  {{ listen = "127.0.0.1:{p[1]}"; method = "chacha20-ietf-poly1305"; password = "plain pw";
     allow_private = true; }},
  {{ listen = "127.0.0.1:{p[2]}"; method = "2022-blake3-aes-256-gcm"; key = "{KEY_2022}";
     allow_private = true; users = ( {{ name = "carol"; key = "{UPSK_CAROL}"; }} ); }},
  {{ listen = "127.0.0.1:{p[3]}"; method = "aes-128-gcm"; allow_private = true;
     key = "{base64.b64encode(bytes(16)).decode()}"; }}
);
"""


def links(cfg_path, p):
    r = ssring_url("-f", cfg_path)
    got = r.stdout.split()
    want = [link_2017("aes-256-gcm", PW_ALICE, "127.0.0.1", p[0], "alice"),
            link_2017("chacha20-ietf-poly1305", "plain pw", "127.0.0.1", p[1]),
            link_2022("2022-blake3-aes-256-gcm", KEY_2022 + ":" + UPSK_CAROL, "127.0.0.1", p[2],
                      "carol")]
    h.check(got == want, "links:\n%s\nwanted\n%s" % ("\n".join(got), "\n".join(want)))
    h.check("user 'bob'" in r.stderr and "servers[3]" in r.stderr and "skipped" in r.stderr,
            "key-configured entries are not reported as skipped: %r" % r.stderr)
    return got


def qr(cfg_path, want_links):
    r = ssring_url("-f", cfg_path, "--qr")
    blocks = [b for b in r.stdout.split("\n\n") if b.strip()]
    h.check(len(blocks) == len(want_links), "%d QR blocks for %d links" % (len(blocks),
                                                                          len(want_links)))
    for b, link in zip(blocks, want_links):
        lines = b.split("\n")
        h.check(lines[0] == link, "QR block starts with %r, not the link" % lines[0])
        ref = subprocess.run(["qrencode", "-t", "UTF8", "-o", "-", link], capture_output=True,
                             text=True, timeout=30, check=True).stdout
        mine = "\n".join(lines[1:]).rstrip("\n") + "\n"
        h.check(mine == ref, "QR of %s differs from qrencode -t UTF8:\n%s\nvs\n%s"
                % (link, mine, ref))
        h.check(len(ref.splitlines()) > 10, "qrencode drew nothing?")


def wildcard(tmp):
    cfg = h.write_config('servers = ( { listen = "0.0.0.0:8388"; method = "aes-128-gcm"; '
                         'password = "pw"; } );\n', "wild.cfg")
    r = ssring_url("-f", cfg, check=False)
    h.check(r.returncode == 2 and "--host" in r.stderr and not r.stdout,
            "a wildcard listen address without --host: %d %r" % (r.returncode, r.stderr))
    r = ssring_url("-f", cfg, "--host", "vpn.example.com")
    h.check(r.stdout.strip() == link_2017("aes-128-gcm", "pw", "vpn.example.com", 8388),
            "--host: %r" % r.stdout)
    r = ssring_url("-f", cfg, "--host", "[::1]:1", check=False)
    h.check(r.returncode == 2, "--host with a port is accepted")


def ssring_local_with(link, name):
    lport = h.free_port()
    cfg = f"""
workers = 1;
log_level = "debug";
{h.NO_DNS}
locals = ( {{ listen = "127.0.0.1:{lport}"; server = "{link}"; }} );
"""
    return h.start_ssring(cfg, lport, name=name), lport


def relay_through_links(got, echo, uecho):
    for i, link in enumerate(got):
        pr, lport = ssring_local_with(link, "local-link%d" % i)
        h.echo_tcp_udp(lport, echo, uecho, "ssring local, link %d" % i)
        pr.stop()
        method, pw, host, port = decode_link(link)
        if method.startswith("2022-"):
            continue  # libev has no 2022 edition
        lp, llport = h.start_ss_local_udp(port, method, pw, name="ss-local-link%d" % i)
        h.echo_tcp_udp(llport, echo, uecho, "libev ss-local, link %d" % i)
        lp.stop()


def to_libev(echo, uecho):
    sp, sport = h.start_ss_server_udp("xchacha20-ietf-poly1305", "libev's pw")
    link = link_2017("xchacha20-ietf-poly1305", "libev's pw", "127.0.0.1", sport, "libev")
    pr, lport = ssring_local_with(link, "local-to-libev")
    h.echo_tcp_udp(lport, echo, uecho, "ssring local -> ss-server by link")
    pr.stop()
    sp.stop()


def config_snippet(link, echo, uecho):
    lport = h.free_port()
    r = ssring_url("--config", link, "--listen", "127.0.0.1:%d" % lport)
    h.check("locals = (" in r.stdout and "# carol" in r.stdout, "snippet: %r" % r.stdout)
    text = "workers = 1;\n%s\n%s" % (h.NO_DNS, r.stdout)
    path = h.write_config(text, "snippet.cfg")
    c = subprocess.run([h.BIN, "--check", "-f", path], capture_output=True, text=True,
                       timeout=30)
    h.check(c.returncode == 0, "the snippet does not pass --check: %s" % c.stderr)
    pr = h.start_ssring(text, lport, name="snippet")
    h.echo_tcp_udp(lport, echo, uecho, "ssring url --config snippet")
    pr.stop()
    bad = ssring_url("--config", "ss://bm9hdA", check=False)
    h.check(bad.returncode == 2 and "no '@'" in bad.stderr, "bad link: %r" % bad.stderr)
    bad = ssring_url("--config", link_2017("rc4-md5", "x", "h.example", 1), check=False)
    h.check(bad.returncode == 2 and "rc4-md5" in bad.stderr, "unknown method: %r" % bad.stderr)


def broken_link_in_config():
    text = ('locals = ( { listen = "127.0.0.1:1080";\n'
            '  server = "ss://YWVzLTEyOC1nY206dGVzdA@192.168.100.1"; } );\n')
    path = h.write_config(text, "broken.cfg")
    c = subprocess.run([h.BIN, "--check", "-f", path], capture_output=True, text=True,
                       timeout=30)
    h.check(c.returncode == 1 and "broken.cfg:2: locals[0].server: not a usable ss:// link: "
            "the port is missing" in c.stderr, "broken link: %r" % c.stderr)


def plugin_of(link):
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    return q.get("plugin", [""])[0]


def plugin_opts_escapes():
    """The client half of a server's plugin_opts: split at unescaped ';' only."""
    p = [h.free_port(), h.free_port()]
    # libconfig strings in the file: each doubled backslash there is one in the option
    obfs = "obfs=http;obfs-host=a\\\\;b.example;failover=1.2.3.4:80"
    v2ray = "server;host=x\\\\;y.example;cert=/c\\\\;d;path=/p\\\\=q"
    cfg = h.write_config(f"""
servers = (
  {{ listen = "127.0.0.1:{p[0]}"; method = "aes-128-gcm"; password = "pw";
     plugin = "obfs-server"; plugin_opts = "{obfs}"; }},
  {{ listen = "127.0.0.1:{p[1]}"; method = "aes-128-gcm"; password = "pw";
     plugin = "ss-v2ray-plugin"; plugin_opts = "{v2ray}"; }}
);
""", "escapes.cfg")
    got = [plugin_of(x) for x in ssring_url("-f", cfg).stdout.split()]
    want = ["obfs-local;obfs=http;obfs-host=a\\;b.example",
            "v2ray-plugin;host=x\\;y.example;path=/p\\=q"]
    h.check(got == want, "plugin options with escapes: %r, wanted %r" % (got, want))


def link_plugin_not_run_blindly():
    """A link's plugin that is not a well-known client plugin is not switched on."""
    base = link_2017("aes-256-gcm", "pw", "127.0.0.1", 8388)
    for plugin, on in (("obfs-local;obfs=http", True), ("/bin/sh;-c x", False),
                       ("evil-plugin", False)):
        link = base + "/?plugin=" + urllib.parse.quote(plugin, safe="")
        r = ssring_url("--config", link)
        name = plugin.split(";")[0]
        line = [x for x in r.stdout.splitlines() if "plugin = " in x][0]
        h.check(line.strip().startswith("plugin =") == on and ('"%s"' % name) in line,
                "plugin %s: %r" % (name, r.stdout))
        h.check(("not a well-known client plugin" in r.stderr) != on,
                "plugin %s: warning %r" % (name, r.stderr))
        path = h.write_config("workers = 1;\n%s\n%s" % (h.NO_DNS, r.stdout), "linkplugin.cfg")
        c = subprocess.run([h.BIN, "--check", "-f", path], capture_output=True, text=True,
                           timeout=30)
        h.check(c.returncode == 0, "the entry for %s does not pass --check: %s"
                % (name, c.stderr))


def main():
    h.need_tool("qrencode")
    h.need_tool("ss-local")
    tmp = h.tmpdir()
    p = [h.free_port() for _ in range(4)]
    cfg_text = servers_cfg(p)
    cfg_path = h.write_config(cfg_text, "servers.cfg")
    got = links(cfg_path, p)
    qr(cfg_path, got)
    wildcard(tmp)
    broken_link_in_config()
    plugin_opts_escapes()
    link_plugin_not_run_blindly()
    echo = h.EchoServer()
    uecho = h.UdpEcho(tag=b"echo:")
    srv = h.start_ssring(cfg_text, p[2], name="servers")
    relay_through_links(got, echo, uecho)
    config_snippet(got[2], echo, uecho)
    to_libev(echo, uecho)
    srv.stop()
    print("ok")


if __name__ == "__main__":
    main()
