# SPDX-License-Identifier: MIT
"""A small fleet, as an operator runs one: three ssring servers with the
same users (JSON logs, the management API with a token, a state file,
/metrics), a SIP008 document listing them served over HTTPS by nginx with
a certificate of a test CA, a local following the document with an active
upstream_check, a real Prometheus scraping all four with ssring's rules
(dist/prometheus/ssring.rules.yml, its `for:` shortened to seconds) and a
real Alertmanager receiving its alerts (and notifying a webhook here).

Then: traffic through the local; a user added on all three servers through
the API, as a panel does (POST /edge/users, token, JSON), and published in
the document: the local follows it and the new user's traffic goes through;
one server killed (SIGKILL): connections keep succeeding through the other
two, SsringDown fires for it and reaches Alertmanager (read back from its
/api/v2/alerts, and notified); the server started again (the new user comes
back from its state file): the alert resolves (gone from /api/v2/alerts,
notified as resolved) and the local picks the server again. Each phase's
seconds are printed. Every wait is bounded and scaled by
SSRING_TIMEOUT_SCALE; every process is stopped by its PID."""
import datetime
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

RULES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "dist",
                     "prometheus", "ssring.rules.yml")
M = "aes-256-gcm"
TOKEN = "fleet-test-token-0123456789"
USERS = {"alice": "alice's password", "bob": "bob's password"}
CAROL = ("carol", "carol's password, added by the panel")
PROMETHEUS, ALERTMANAGER = "/usr/bin/prometheus", "/usr/bin/prometheus-alertmanager"


def make_certs(d):
    """A test CA and a certificate for localhost that it signs (nginx's)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    cakey = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("ssring fleet test CA"))
          .issuer_name(name("ssring fleet test CA")).public_key(cakey.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - day).not_valid_after(now + 30 * day)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(cakey, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("localhost")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - day).not_valid_after(now + 10 * day)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]),
                           critical=False)
            .sign(cakey, hashes.SHA256()))
    for fn, data in (("ca.pem", ca.public_bytes(serialization.Encoding.PEM)),
                     ("nginx-cert.pem", cert.public_bytes(serialization.Encoding.PEM)),
                     ("nginx-key.pem", key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))):
        with open(os.path.join(d, fn), "wb") as f:
            f.write(data)


def write_doc(d, ports, user):
    """The user's SIP008 document: the three servers, the user's password."""
    servers = [{"id": "edge-%d" % i, "remarks": "edge %d" % i, "server": "127.0.0.1",
                "server_port": p, "method": M, "password": user[1]}
               for i, p in enumerate(ports)]
    tmp = os.path.join(d, "www", "sub.json.tmp")
    with open(tmp, "w") as f:
        json.dump({"version": 1, "servers": servers}, f)
    os.rename(tmp, os.path.join(d, "www", "sub.json"))


def server_cfg(i, port, mport, aport):
    users = ", ".join('{ name = "%s"; password = "%s"; }' % u for u in USERS.items())
    return f"""
workers = 1;
log_format = "json";
{h.NO_DNS}
metrics = {{ listen = "127.0.0.1:{mport}"; }};
api = {{ listen = "127.0.0.1:{aport}"; token = "{TOKEN}"; }};
state_file = "state-{i}.json";
servers = ( {{ name = "edge"; listen = "127.0.0.1:{port}"; method = "{M}"; allow_private = true;
              users = ( {users} ); }} );
"""


def local_cfg(lport, mport, hport, eport):
    return f"""
workers = 2;
log_level = "debug";
{h.NO_DNS}
metrics = {{ listen = "127.0.0.1:{mport}"; }};
locals = ( {{ listen = "127.0.0.1:{lport}"; udp = false;
             servers_url = "https://localhost:{hport}/sub.json"; servers_url_ca = "ca.pem";
             servers_cache = "fleet-cache.json"; refresh = 1;
             upstream_check = {{ target = "127.0.0.1:{eport}"; request = "ping\\r\\n";
                                 interval = 1; timeout = 1; }}; }} );
"""


NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log stderr notice;
events {{ worker_connections 64; }}
http {{
    access_log {d}/nginx-access.log;
    client_body_temp_path {d}/nginx-body;
    proxy_temp_path {d}/nginx-proxy;
    fastcgi_temp_path {d}/nginx-fastcgi;
    uwsgi_temp_path {d}/nginx-uwsgi;
    scgi_temp_path {d}/nginx-scgi;
    types {{ application/json json; }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {d}/nginx-cert.pem;
        ssl_certificate_key {d}/nginx-key.pem;
        root {d}/www;
    }}
}}
"""

PROMETHEUS_CONF = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [ "{rules}" ]
alerting:
  alertmanagers:
    - static_configs:
        - targets: [ "127.0.0.1:{amport}" ]
scrape_configs:
  - job_name: ssring
    static_configs:
      - targets: [ {targets} ]
"""

ALERTMANAGER_CONF = """
route:
  receiver: fleet-test
  group_by: [ alertname, instance ]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: fleet-test
    webhook_configs:
      - url: "http://127.0.0.1:{hook}/alerts"
        send_resolved: true
"""


class Webhook:
    """Alertmanager's receiver: keeps every (status, alertname, instance) notified."""

    def __init__(self):
        seen = self.seen = []
        lock = self.lock = threading.Lock()

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    for a in json.loads(body).get("alerts", []):
                        with lock:
                            seen.append((a.get("status"), a["labels"].get("alertname"),
                                         a["labels"].get("instance")))
                except (ValueError, KeyError, AttributeError):
                    pass
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def got(self, status, alert, instance):
        with self.lock:
            return (status, alert, instance) in self.seen


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def try_json(url):
    try:
        return get_json(url)
    except (OSError, ValueError):
        return None


def api(aport, method, path, body=None):
    """One management API request as a panel makes it: (status, JSON answer)."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (aport, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": "Bearer " + TOKEN,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def start_proc(args, name, port, what, timeout=30):
    """A process of the fleet that is up once port listens (bounded, scaled)."""
    pr = h.Proc(args, name)
    up = h.wait_until(lambda: h.tcp_listening(port) or pr.p.poll() is not None,
                      timeout=timeout, step=0.05)
    h.check(up and pr.p.poll() is None, "%s did not come up on %d:\n%s"
            % (what, port, pr.output()[-3000:]))
    return pr


def short_rules(d):
    """dist's rules, each `for:` shortened to 2 s (the test has a minute, not
    the minutes an operator waits), checked by promtool."""
    with open(RULES) as f:
        text = f.read()
    alerts = re.findall(r"^\s*- alert:\s*(\S+)", text, re.M)
    h.check("SsringDown" in alerts, "dist's rules have no SsringDown alert: %r" % alerts)
    text, n = re.subn(r"^(\s+for:\s*)\S+", r"\g<1>2s", text, flags=re.M)
    path = os.path.join(d, "fleet.rules.yml")
    with open(path, "w") as f:
        f.write(text)
    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "rules", path], capture_output=True,
                           text=True, timeout=60)
        h.check(p.returncode == 0, "promtool check rules:\n" + p.stdout + p.stderr)
    return path, alerts, n


def am_alerts(amport, alert, instance):
    """Alertmanager's active alerts of that name and instance ([] when none)."""
    got = try_json("http://127.0.0.1:%d/api/v2/alerts" % amport)
    if got is None:
        return None
    return [a for a in got if a["labels"].get("alertname") == alert and
            a["labels"].get("instance") == instance]


def upstream(mport, name, port):
    return h.metric_sample(h.metrics_text(mport), name, role="local",
                           upstream="127.0.0.1:%d" % port)


def main():
    for tool, pkg in ((PROMETHEUS, "prometheus"), (ALERTMANAGER, "prometheus-alertmanager"),
                      ("nginx", "nginx-light")):
        if not shutil.which(tool):
            h.skip("%s is not installed (apt-get install %s; tools/bootstrap)" % (tool, pkg))
    if not os.path.exists(RULES):
        h.fail("the rules file %s is missing" % RULES)
    t0 = time.monotonic()
    phases = []

    def phase(name):
        nonlocal t0
        now = time.monotonic()
        phases.append("%s %.1f s" % (name, now - t0))
        print("[%5.1f s] %s" % (now - t0, name), flush=True)
        t0 = now

    d = h.tmpdir()
    os.makedirs(os.path.join(d, "www"))
    make_certs(d)
    echo = h.EchoServer()
    hook = Webhook()
    ports = [h.free_port() for _ in range(3)]
    mports = [h.free_port() for _ in range(3)]
    aports = [h.free_port() for _ in range(3)]
    hport, lport, lmport = h.free_port(), h.free_port(), h.free_port()
    pport, amport = h.free_port(), h.free_port()

    # ---- the fleet: three servers, nginx with their document, the local
    srv = [h.start_ssring(server_cfg(i, ports[i], mports[i], aports[i]), ports[i],
                          "server%d" % i) for i in range(3)]
    write_doc(d, ports, ("alice", USERS["alice"]))
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(d=d, port=hport))
    nginx = start_proc(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"), "-e", "stderr"],
                       "nginx", hport, "nginx")
    loc = h.start_ssring(local_cfg(lport, lmport, hport, echo.port), lport, "local")
    h.check(h.wait_until(lambda: "as upstreams" in loc.output(), timeout=20),
            "the document's three servers did not become upstreams:\n" + loc.output()[-3000:])
    h.check(h.wait_until(lambda: all(upstream(lmport, "ssring_upstream_checks_total", p)
                                     for p in ports), timeout=20),
            "the local's checks did not reach every server")
    phase("servers, nginx (HTTPS, test CA) and the local up, document applied")

    # ---- Prometheus with dist's rules, Alertmanager
    rules, alerts, shortened = short_rules(d)
    with open(os.path.join(d, "alertmanager.yml"), "w") as f:
        f.write(ALERTMANAGER_CONF.format(hook=hook.port))
    am = start_proc([ALERTMANAGER, "--config.file=" + os.path.join(d, "alertmanager.yml"),
                     "--storage.path=" + os.path.join(d, "am-data"),
                     "--web.listen-address=127.0.0.1:%d" % amport,
                     "--cluster.listen-address="], "alertmanager", amport, "Alertmanager")
    targets = ", ".join('"127.0.0.1:%d"' % p for p in mports + [lmport])
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write(PROMETHEUS_CONF.format(rules=rules, amport=amport, targets=targets))
    prom = start_proc([PROMETHEUS, "--config.file=" + os.path.join(d, "prometheus.yml"),
                       "--storage.tsdb.path=" + os.path.join(d, "prom-data"),
                       "--web.listen-address=127.0.0.1:%d" % pport], "prometheus", pport,
                      "Prometheus")
    purl = "http://127.0.0.1:%d" % pport

    def up_values():
        r = try_json(purl + "/api/v1/query?query=" + urllib.parse.quote('up{job="ssring"}'))
        if not r or r.get("status") != "success":
            return {}
        return {x["metric"]["instance"]: x["value"][1] for x in r["data"]["result"]}

    want_up = {"127.0.0.1:%d" % p: "1" for p in mports + [lmport]}
    h.check(h.wait_until(lambda: up_values() == want_up, timeout=30, step=0.2),
            "Prometheus does not see all four up: %r\n%s" % (up_values(), prom.output()[-2000:]))
    r = get_json(purl + "/api/v1/rules")
    loaded = [x["name"] for g in r["data"]["groups"] for x in g["rules"] if x["type"] == "alerting"]
    h.check(sorted(loaded) == sorted(alerts), "rules loaded %r, file has %r" % (loaded, alerts))
    def known_am():
        r = try_json(purl + "/api/v1/alertmanagers") or {}
        return any(":%d/" % amport in a["url"]
                   for a in r.get("data", {}).get("activeAlertmanagers", []))
    h.check(h.wait_until(known_am, timeout=20, step=0.2),
            "Prometheus does not know the Alertmanager")
    phase("Prometheus (%d alerts, %d for: shortened) scrapes all four; Alertmanager"
          % (len(alerts), shortened))

    # ---- traffic through the local, spread over the servers
    def traffic(n, what, size=20000):
        for i in range(n):
            data = h.pattern(size + i, seed=i)
            try:
                got = h.echo_roundtrip(lport, echo.port, data, timeout=10)
            except OSError as e:
                got = e
            h.check(got == data, "%s: connection %d failed: %s"
                    % (what, i, got if isinstance(got, OSError) else "%d bytes back"
                       % len(got)))

    traffic(30, "alice")
    phase("30 connections as alice")

    # ---- the panel adds carol on every server and publishes her document
    for i, a in enumerate(aports):
        st, body = api(a, "POST", "/edge/users",
                       {"username": CAROL[0], "password": CAROL[1]})
        h.check(st == 201 and body.get("username") == CAROL[0],
                "server %d: POST /edge/users: %d %r" % (i, st, body))
    for i, a in enumerate(aports):
        st, body = api(a, "GET", "/edge/users")
        h.check(st == 200 and sorted(u["username"] for u in body["users"]) ==
                sorted(list(USERS) + [CAROL[0]]), "server %d users: %r" % (i, body))
    changes = h.metric_sample(h.metrics_text(lmport), "ssring_servers_url_changes_total") or 0
    write_doc(d, ports, CAROL)
    h.check(h.wait_until(lambda: (h.metric_sample(h.metrics_text(lmport),
                                                  "ssring_servers_url_changes_total") or 0)
                         > changes, timeout=20),
            "the local did not take carol's document:\n" + loc.output()[-2000:])

    def user_bytes(user, which=range(3)):
        return sum(h.metric_sample(h.metrics_text(mports[i]), "ssring_user_bytes_total",
                                   user=user) or 0 for i in which)

    traffic(20, "carol")
    carol = user_bytes(CAROL[0])
    h.check(carol >= 2 * 20 * 20000, "carol's traffic is not on the servers: %r bytes" % carol)
    phase("carol added through the API on 3 servers, her document applied, 20 connections")

    # ---- one server dies: connections go on, SsringDown reaches Alertmanager
    dead, inst = 1, "127.0.0.1:%d" % mports[1]
    killed = srv[dead]
    killed.p.kill()
    killed.p.wait()
    # The kernel closes a dead process's io_uring (and the sockets it holds)
    # after the process is reaped: until then its port still accepts, and
    # resets what it accepted. Connections start once it is gone.
    h.check(h.wait_until(lambda: not h.tcp_listening(ports[dead]), timeout=10),
            "server 1's port still listens after it was killed")
    picks = [upstream(lmport, "ssring_upstream_picks_total", p) for p in ports]
    traffic(20, "with server 1 dead", size=5000)
    fails = upstream(lmport, "ssring_upstream_failures_total", ports[dead]) or 0
    picks = [upstream(lmport, "ssring_upstream_picks_total", p) - b for p, b in zip(ports, picks)]
    h.check(h.wait_until(lambda: am_alerts(amport, "SsringDown", inst), timeout=40, step=0.25),
            "SsringDown for %s did not reach Alertmanager: %r\n%s"
            % (inst, try_json("http://127.0.0.1:%d/api/v2/alerts" % amport),
               prom.output()[-1500:]))
    a = am_alerts(amport, "SsringDown", inst)[0]
    h.check(a["labels"].get("severity") == "critical" and a["labels"].get("job") == "ssring",
            "the alert's labels: %r" % a["labels"])
    h.check(h.wait_until(lambda: hook.got("firing", "SsringDown", inst), timeout=20),
            "Alertmanager did not notify SsringDown: %r" % hook.seen)
    h.check(upstream(lmport, "ssring_upstream_up", ports[dead]) == 0,
            "the local still counts the dead server in")
    extra = ""
    if "SsringUpstreamDown" in alerts:
        def up_alert():
            return [x for x in try_json("http://127.0.0.1:%d/api/v2/alerts" % amport) or []
                    if x["labels"].get("alertname") == "SsringUpstreamDown" and
                    x["labels"].get("upstream") == "127.0.0.1:%d" % ports[dead]]
        h.check(h.wait_until(up_alert, timeout=20, step=0.25),
                "SsringUpstreamDown for the dead server did not reach Alertmanager")
        extra = ", SsringUpstreamDown too"
    phase("server 1 killed: 20 connections all through (picks %r, its failures %d), "
          "SsringDown in Alertmanager and notified%s" % ([int(x) for x in picks], fails, extra))

    # ---- it comes back: the alert resolves, the local picks it again
    srv[dead] = h.start_ssring(server_cfg(dead, ports[dead], mports[dead], aports[dead]),
                               ports[dead], "server1-again")
    h.check(h.wait_until(lambda: h.tcp_listening(aports[dead]), timeout=10),
            "server 1's API did not come back")
    st, body = api(aports[dead], "GET", "/edge/users/" + CAROL[0])
    h.check(st == 200 and body.get("source") == "api",
            "carol did not come back from the state file: %d %r" % (st, body))
    h.check(h.wait_until(lambda: am_alerts(amport, "SsringDown", inst) == [], timeout=40,
                         step=0.25),
            "SsringDown for %s did not resolve: %r" % (inst, am_alerts(amport, "SsringDown",
                                                                       inst)))
    h.check(h.wait_until(lambda: hook.got("resolved", "SsringDown", inst), timeout=20),
            "Alertmanager did not notify the resolution: %r" % hook.seen)
    h.check(h.wait_until(lambda: upstream(lmport, "ssring_upstream_up", ports[dead]) == 1,
                         timeout=20, step=0.1), "the local does not count the server in again")
    picks = upstream(lmport, "ssring_upstream_picks_total", ports[dead])
    total, deadline = 0, time.time() + 30 * h.SCALE
    while time.time() < deadline:
        traffic(5, "after the comeback", size=3000)
        total += 5
        if upstream(lmport, "ssring_upstream_picks_total", ports[dead]) > picks:
            break
    got = upstream(lmport, "ssring_upstream_picks_total", ports[dead]) - picks
    h.check(got > 0, "the server that came back got no connection in %d" % total)
    h.check(user_bytes(CAROL[0], [dead]) > 0, "carol's traffic does not reach the server again")
    phase("server 1 back: SsringDown resolved and notified, %d of %d connections to it"
          % (got, total))

    # ---- everything stops by its PID; the servers' logs are JSON throughout
    for p in [loc] + srv:
        h.check(p.stop() == 0, "%s: exit code" % p.name)
    for p in (prom, am, nginx):
        p.stop()
    for p in srv + [killed]:
        for line in p.output().splitlines():
            try:
                o = json.loads(line)
            except ValueError:
                h.fail("%s: a log line that is not JSON: %r" % (p.name, line))
            h.check({"time", "level", "worker", "event", "msg"} <= set(o), "%r" % line)
    phase("all stopped")
    print("phases: " + "; ".join(phases), flush=True)
    print("test_fleet: ok")


if __name__ == "__main__":
    main()
