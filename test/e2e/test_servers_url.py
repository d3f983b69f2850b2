# SPDX-License-Identifier: MIT
"""SIP008 online configuration over verified HTTPS: a local with
servers_url (a local HTTPS server with a test CA made here) has no server
until the first fetch, then relays TCP and UDP through the document's
server; when the document changes it moves to the new server while an open
session stays on the old one; a reload keeps the fetched server; a fetch
that fails (server down, a certificate for another name, an expired
certificate, a document that is not SIP008) keeps the servers in use and
the log says why; a restart with the HTTPS server down starts from
servers_cache; a document file works as servers_url too, and a document
with several servers gives the choice among them (upstreams, with
failover); configuration mistakes name the line. A document's server whose
plugin is a path or a name plugins_allowed does not list is skipped with
a log line naming it and the plugin, never run, while the document's
other server serves; a servers_cache edited to name such a plugin is
refused the same way at the next start."""
import datetime
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

HTTPS_SERVER = r'''
import http.server, ssl, sys
port, cert, root = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=root, **k)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
'''


def make_certs(d):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    cakey = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("ssring test CA"))
          .issuer_name(name("ssring test CA")).public_key(cakey.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - day).not_valid_after(now + 30 * day)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(cakey, hashes.SHA256()))
    with open(os.path.join(d, "ca.pem"), "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    for fn, host, before, after in (("good", "localhost", now - day, now + 10 * day),
                                    ("wrongname", "other.example", now - day, now + 10 * day),
                                    ("expired", "localhost", now - 10 * day, now - day)):
        k = ec.generate_private_key(ec.SECP256R1())
        c = (x509.CertificateBuilder().subject_name(name(host)).issuer_name(ca.subject)
             .public_key(k.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(before).not_valid_after(after)
             .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
             .sign(cakey, hashes.SHA256()))
        with open(os.path.join(d, fn + ".pem"), "wb") as f:
            f.write(c.public_bytes(serialization.Encoding.PEM) +
                    k.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))


class Https:
    def __init__(self, d, port, cert):
        path = os.path.join(d, "https_server.py")
        with open(path, "w") as f:
            f.write(HTTPS_SERVER)
        self.pr = h.Proc([sys.executable, path, str(port), os.path.join(d, cert + ".pem"),
                          os.path.join(d, "www")], "https-" + cert)
        h.check(h.wait_until(lambda: h.tcp_listening(port)), "the HTTPS server did not start")

    def stop(self):
        self.pr.stop()


def write_doc(d, servers, raw=None):
    text = raw if raw is not None else json.dumps({"version": 1, "servers": servers})
    tmp = os.path.join(d, "www", "servers.json.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, os.path.join(d, "www", "servers.json"))


def entry(port, method, pw, remarks):
    return {"id": remarks, "remarks": remarks, "server": "127.0.0.1", "server_port": port,
            "method": method, "password": pw}


def local_cfg(lport, url, extra="", top=""):
    return f"""
workers = 1;
log_level = "debug";
{h.NO_DNS}
{top}
locals = ( {{ listen = "127.0.0.1:{lport}"; servers_url = "{url}";
             servers_url_ca = "ca.pem"; servers_cache = "cache.json"; refresh = 1; {extra} }} );
"""


def count(pr, text):
    return pr.output().count(text)


def applied(loc, text):
    """The line announcing text was logged and its generation reached the worker."""
    import re
    m = re.search(re.escape(text) + r".*configuration generation (\d+)", loc.output())
    return bool(m) and ("[w0] snapshot %s in use" % m.group(1)) in loc.output()


def plugins_allowed_part(d, hport, pb, echo, uecho):
    """A provider chooses no program ssring runs: only plugins_allowed's names."""
    marker = os.path.join(d, "plugin-ran")
    evil = os.path.join(d, "evil-plugin.sh")
    with open(evil, "w") as f:
        f.write("#!/bin/sh\ntouch '%s'\nexec sleep 30\n" % marker)
    os.chmod(evil, 0o755)
    key = "AAECAwQFBgcICQoLDA0ODw=="

    def server(remarks, plugin=None):
        e = entry(pb, "2022-blake3-aes-128-gcm", key, remarks)
        if plugin:
            e["plugin"], e["plugin_opts"] = plugin, "mode=x"
        return e

    def skipped(remarks, plugin, i):
        return ("servers[%d] (%s at 127.0.0.1:%d) names the plugin '%s', which "
                "plugins_allowed does not list: skipped" % (i, remarks, pb, plugin))

    # a path (any file the provider names) and a name not in the list, then a plain one
    write_doc(d, [server("evil", evil), server("unlisted", "sh"), server("plain")])
    https = Https(d, hport, "good")
    url = "https://localhost:%d/servers.json" % hport
    lport = h.free_port()
    loc = h.start_ssring(local_cfg(lport, url), lport, name="local-plugins")
    h.check(h.wait_until(lambda: applied(loc, "using plain at 127.0.0.1:%d" % pb), timeout=15),
            "the plain server was not applied:\n" + loc.output()[-3000:])
    for want in (skipped("evil", evil, 0), skipped("unlisted", "sh", 1)):
        h.check(want in loc.output(), "no log line naming the skipped server: %r\n%s"
                % (want, loc.output()[-3000:]))
    h.echo_tcp_udp(lport, echo, uecho, "through the document's plain server", n=10000)
    using = [x for x in loc.output().splitlines() if "using plain at" in x][-1]
    h.check(not os.path.exists(marker) and ", plugin " not in using,
            "the provider's plugin ran:\n" + loc.output()[-2000:])
    loc.stop()
    https.stop()

    # servers_cache edited to name the program: refused at the next start the same way
    cache = os.path.join(d, "cache.json")
    with open(cache) as f:
        h.check(json.load(f)["servers"][2]["remarks"] == "plain", "the cache is not the document")
    with open(cache, "w") as f:
        json.dump({"version": 1, "servers": [server("edited", evil), server("plain")]}, f)
    loc = h.start_ssring(local_cfg(lport, url), lport, name="local-plugins-cache")
    h.check(h.wait_log(loc, skipped("edited", evil, 0)),
            "the edited cache's server was not refused:\n" + loc.output()[-2000:])
    h.echo_tcp_udp(lport, echo, uecho, "from an edited servers_cache's plain server", n=10000)
    loc.stop()
    with open(cache, "w") as f:
        json.dump({"version": 1, "servers": [server("edited", "sh")]}, f)
    loc = h.start_ssring(local_cfg(lport, url), lport, name="local-plugins-cache2")
    h.check(h.wait_log(loc, skipped("edited", "sh", 0)) and
            h.wait_log(loc, "no server until %s is fetched" % url),
            "a cache with only a refused server was used:\n" + loc.output()[-2000:])
    loc.stop()
    h.check(not os.path.exists(marker), "a refused plugin ran")
    print("plugins_allowed: the provider's /bin/sh-like plugins were skipped and named, "
          "the plain server served", flush=True)


def main():
    h.need_tool("curl")
    d = h.tmpdir()
    os.makedirs(os.path.join(d, "www"))
    make_certs(d)
    echo = h.EchoServer()
    uecho = h.UdpEcho(tag=b"echo:")
    pa, pb, hport, lport = h.free_port(), h.free_port(), h.free_port(), h.free_port()
    sa = h.start_ssring(h.server_cfg(pa, "aes-256-gcm", "pw of a"), pa, name="server-a")
    sb = h.start_ssring(h.server_cfg(pb, "2022-blake3-aes-128-gcm", "", extra="").replace(
        'password = "";', 'key = "AAECAwQFBgcICQoLDA0ODw==";'), pb, name="server-b")
    url = "https://localhost:%d/servers.json" % hport
    write_doc(d, [{"server": "127.0.0.1", "server_port": 1, "method": "rc4-md5",
                   "password": "x"}, entry(pa, "aes-256-gcm", "pw of a", "server A")])

    # no server until the first fetch: connections are closed, and it says so
    mport = h.free_port()
    loc = h.start_ssring(local_cfg(lport, url, top='metrics = { listen = "127.0.0.1:%d"; };'
                                   % mport), lport, name="local")
    h.check(h.wait_log(loc, "no server until %s is fetched" % url), "no note of the wait")
    try:
        h.socks5_connect(lport, "127.0.0.1", echo.port, timeout=5)
        got_conn = True
    except Exception:
        got_conn = False
    h.check(not got_conn, "a connection went through with no server")
    h.check(h.wait_until(lambda: "no server yet" in loc.output()), "no log of the refusal")

    https = Https(d, hport, "good")
    h.check(h.wait_until(lambda: applied(loc, "using server A at 127.0.0.1:%d" % pa),
                         timeout=15), "the document was not applied:\n" + loc.output()[-3000:])
    h.echo_tcp_udp(lport, echo, uecho, "through server A")
    h.check(os.path.exists(os.path.join(d, "cache.json")), "no servers_cache written")

    # an open session through A, then the document moves to B (a 2022 server)
    held = h.socks5_connect(lport, "127.0.0.1", echo.port)
    held.sendall(b"before")
    h.check(h.recv_exact(held, 6) == b"before", "held session")
    write_doc(d, [entry(pb, "2022-blake3-aes-128-gcm", "AAECAwQFBgcICQoLDA0ODw==", "server B")])
    h.check(h.wait_until(lambda: applied(loc, "using server B at 127.0.0.1:%d" % pb),
                         timeout=15), "the new document was not applied")
    held.sendall(b"after the switch")
    h.check(h.recv_exact(held, 16) == b"after the switch", "the open session did not survive")
    held.close()
    sa.stop()   # new connections must not need A any more
    h.echo_tcp_udp(lport, echo, uecho, "through server B")
    import urllib.request
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=10).read().decode()
    h.check("ssring_servers_url_changes_total 2" in text and
            'ssring_servers_url_fetches_total{result="ok"}' in text,
            "servers_url metrics:\n%s" % "\n".join(x for x in text.splitlines() if "servers_url" in x))

    # failures keep the servers in use, and the log says why
    for cert, why in (("wrongname", "name mismatch"), ("expired", "date")):
        seen = count(loc, why)  # "date" is a common word: a new line must say it
        https.stop()
        https = Https(d, hport, cert)
        h.check(h.wait_until(lambda: count(loc, why) > seen, timeout=15),
                "a %s certificate was not refused:\n%s" % (cert, loc.output()[-2000:]))
        h.echo_tcp_udp(lport, echo, uecho, "after a refused %s certificate" % cert, n=10000)
    https.stop()
    https = Https(d, hport, "good")
    write_doc(d, None, raw='{"version": 2, "servers": []}')
    h.check(h.wait_until(lambda: "not a usable SIP008 document: \"version\" must be 1"
                         in loc.output(), timeout=15), "a bad document was not reported")
    h.echo_tcp_udp(lport, echo, uecho, "after a bad document", n=10000)
    https.stop()
    h.check(h.wait_until(lambda: "cannot connect to localhost:%d" % hport in loc.output(),
                         timeout=15), "a server that is down was not reported")

    # a reload keeps the fetched server (the HTTPS server is down now)
    n = count(loc, "reloaded")
    loc.p.send_signal(signal.SIGHUP)
    h.check(h.wait_until(lambda: count(loc, "reloaded") > n), "reload")
    h.echo_tcp_udp(lport, echo, uecho, "after a reload", n=10000)

    # a restart with the HTTPS server down starts from the cache
    loc.stop()
    loc = h.start_ssring(local_cfg(lport, url), lport, name="local2")
    h.echo_tcp_udp(lport, echo, uecho, "after a restart, from servers_cache", n=10000)
    loc.stop()

    # a document file as servers_url, and its changes
    fdoc = os.path.join(d, "file.json")
    with open(fdoc, "w") as f:
        json.dump({"version": 1, "servers": [entry(pb, "2022-blake3-aes-128-gcm",
                                                   "AAECAwQFBgcICQoLDA0ODw==", "file B")]}, f)
    tport = h.free_port()
    tun = h.start_ssring(f"""
workers = 1;
{h.NO_DNS}
tunnels = ( {{ listen = "127.0.0.1:{tport}"; forward = "127.0.0.1:{echo.port}";
              servers_url = "file.json"; refresh = 1; udp = false; }} );
""", tport, name="tunnel-file")
    import socket
    s = socket.create_connection(("127.0.0.1", tport), timeout=10)
    s.sendall(b"via a file document")
    h.check(h.recv_exact(s, 19) == b"via a file document", "tunnel with a file servers_url")
    s.close()
    # Several usable servers: they become the tunnel's upstreams; the first
    # (nothing listens there) fails over to the other, connection by connection.
    dead = h.free_port()
    with open(fdoc, "w") as f:
        json.dump({"version": 1, "servers": [
            entry(dead, "aes-256-gcm", "nobody", "dead"),
            entry(pb, "2022-blake3-aes-128-gcm", "AAECAwQFBgcICQoLDA0ODw==", "file B")]}, f)
    h.check(h.wait_until(lambda: "as upstreams" in tun.output(), timeout=15),
            "a two-server document did not become upstreams:\n" + tun.output()[-1500:])
    # Each connection draws its server (by latency; unmeasured counts as
    # 1 ms): at least 6, and on until the dead one was drawn, failed (it is
    # logged before the connection moves on) and the connection still got
    # through; 40 all to the live one would have odds around 1e-12.
    failed = "upstream 127.0.0.1:%d failed" % dead
    for i in range(40):
        s = socket.create_connection(("127.0.0.1", tport), timeout=10)
        s.sendall(b"upstream %02d" % i)
        h.check(h.recv_exact(s, 11) == b"upstream %02d" % i, "connection %d via upstreams" % i)
        s.close()
        if i >= 5 and failed in tun.output():
            break
    h.check(failed in tun.output(), "the dead upstream's failure is not logged (%d connections)"
            % (i + 1))
    tun.stop()
    # The same document with upstream_check: its servers are checked too.
    tport, mport = h.free_port(), h.free_port()
    tun = h.start_ssring(f"""
workers = 1;
{h.NO_DNS}
metrics = {{ listen = "127.0.0.1:{mport}"; }};
tunnels = ( {{ listen = "127.0.0.1:{tport}"; forward = "127.0.0.1:{echo.port}";
              servers_url = "file.json"; refresh = 1; udp = false;
              upstream_check = {{ target = "127.0.0.1:{echo.port}"; request = "ping";
                                 interval = 1; timeout = 1; }}; }} );
""", tport, name="tunnel-file-check")

    def checks(port, result):
        return h.metric_sample(h.metrics_text(mport), "ssring_upstream_checks_total",
                               upstream="127.0.0.1:%d" % port, result=result) or 0
    h.check(h.wait_until(lambda: checks(dead, "failed") >= 1 and checks(pb, "ok") >= 1,
                         timeout=15),
            "the document's servers were not checked: dead %r failed, live %r ok:\n%s"
            % (checks(dead, "failed"), checks(pb, "ok"), tun.output()[-1500:]))
    up = h.metric_sample(h.metrics_text(mport), "ssring_upstream_up",
                         upstream="127.0.0.1:%d" % dead)
    h.check(up == 0, "the dead server is not out after its failed check: %r" % up)
    print("servers_url with upstream_check: the dead server failed its check and is out, "
          "the live one passed", flush=True)
    tun.stop()

    # configuration mistakes
    for text, want in (
            ('locals = ( { listen = "127.0.0.1:1"; servers_url = "http://x.example/s.json"; } );',
             "https:// only"),
            ('locals = ( { listen = "127.0.0.1:1"; servers_url = "https://x.example/s";\n'
             '  method = "aes-256-gcm"; } );', ":2: locals[0].method: not with servers_url"),
            ('locals = ( { listen = "127.0.0.1:1"; servers_url = "missing.json"; } );',
             "cannot open")):
        path = h.write_config(text + "\n", "bad.cfg")
        r = subprocess.run([h.BIN, "--check", "-f", path], capture_output=True, text=True,
                           timeout=30)
        h.check(r.returncode == 1 and want in r.stderr, "config %r: %r" % (text, r.stderr))
    plugins_allowed_part(d, hport, pb, echo, uecho)
    sb.stop()
    print("ok")


if __name__ == "__main__":
    main()
