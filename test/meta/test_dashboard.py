# SPDX-License-Identifier: MIT
"""The monitoring that ships with ssring, checked against a real ssring.

dist/grafana/ssring.json is a Grafana dashboard that imports as is: its
model's fields (schemaVersion, __inputs with DS_PROMETHEUS, unique panel
ids, a gridPos for each that stays within 24 columns and overlaps no
other), and every query, variable and annotation on ${DS_PROMETHEUS}.
Grafana is not packaged for Debian, so the PromQL is checked by promtool
(each query, its variables replaced, as a recording rule).

Every raw metric name (ssring_*, process_*) that a panel, a variable, an
annotation or dist/prometheus/ssring.rules.yml uses is a family in a real
scrape of a ssring with a server with users, a local with upstreams, the
API and metrics; that scrape passes `promtool check metrics`, and the new
figures hold what they say (quota, the limits, file descriptors). A scrape
of a minimal server-only configuration announces the same families (HELP
and TYPE even where the feature is not configured). Every alert of the
rules file is shown firing and shown silent by test/prometheus/, and each
recording rule's figures are compared there."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "test", "e2e"))
import harness as h  # noqa: E402

DASHBOARD = os.path.join(SRC, "dist", "grafana", "ssring.json")
RULES = os.path.join(SRC, "dist", "prometheus", "ssring.rules.yml")
RULE_TESTS = os.path.join(SRC, "test", "prometheus")
DS_UID = "${DS_PROMETHEUS}"
# A raw metric: not part of a recording rule's LEVEL:METRIC:OPERATION name.
METRIC = re.compile(r"(?<![\w:])((?:ssring|process)_[A-Za-z0-9_]*[A-Za-z0-9])(?![\w:])")


def is_prometheus(ds):
    return isinstance(ds, dict) and ds.get("type") == "prometheus" and ds.get("uid") == DS_UID


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def dashboard():
    """The model's checks; returns the PromQL expressions it holds."""
    with open(DASHBOARD) as f:
        d = json.load(f)
    inputs = [i for i in d.get("__inputs", []) if i.get("name") == "DS_PROMETHEUS"]
    h.check(len(inputs) == 1 and inputs[0].get("type") == "datasource" and
            inputs[0].get("pluginId") == "prometheus", "__inputs: %r" % d.get("__inputs"))
    h.check(isinstance(d.get("schemaVersion"), int) and d["schemaVersion"] >= 36,
            "schemaVersion %r" % d.get("schemaVersion"))
    h.check(d.get("uid") and d.get("title") and d.get("id") is None,
            "uid/title/id: %r %r %r" % (d.get("uid"), d.get("title"), d.get("id")))
    exprs, ids, cells = [], set(), {}
    panels = list(all_panels(d.get("panels", [])))
    h.check(len(panels) > 20, "%d panels" % len(panels))
    for p in panels:
        pid, title = p.get("id"), p.get("title")
        h.check(isinstance(pid, int) and pid not in ids, "panel id %r (%s) not unique" % (pid, title))
        ids.add(pid)
        g = p.get("gridPos", {})
        h.check(all(isinstance(g.get(k), int) for k in "hwxy") and g["w"] > 0 and g["h"] > 0 and
                g["x"] >= 0 and g["x"] + g["w"] <= 24, "panel %s: gridPos %r" % (title, g))
        for y in range(g["y"], g["y"] + g["h"]):
            for x in range(g["x"], g["x"] + g["w"]):
                h.check((x, y) not in cells, "panel %s overlaps panel %s" % (title, cells.get((x, y))))
                cells[(x, y)] = title
        if p.get("type") == "row":
            continue
        h.check(is_prometheus(p.get("datasource")), "panel %s: datasource %r"
                % (title, p.get("datasource")))
        targets = p.get("targets", [])
        h.check(targets, "panel %s has no query" % title)
        refs = [t.get("refId") for t in targets]
        h.check(len(set(refs)) == len(refs), "panel %s: refIds %r" % (title, refs))
        for t in targets:
            h.check(is_prometheus(t.get("datasource")) and t.get("expr"),
                    "panel %s: target %r" % (title, t))
            exprs.append((title, t["expr"]))
    for v in d.get("templating", {}).get("list", []):
        h.check(is_prometheus(v.get("datasource")), "variable %s: datasource %r"
                % (v.get("name"), v.get("datasource")))
        q = v["query"]["query"] if isinstance(v.get("query"), dict) else v.get("query", "")
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q)
        h.check(m, "variable %s: query %r" % (v.get("name"), q))
        exprs.append(("variable " + v["name"], m.group(1)))
    for a in d.get("annotations", {}).get("list", []):
        if a.get("builtIn"):
            continue
        h.check(is_prometheus(a.get("datasource")) and a.get("expr"), "annotation %r" % a)
        exprs.append(("annotation " + a.get("name", ""), a["expr"]))
    # No other data source anywhere (a leftover uid from the exporting Grafana).
    uids = set(re.findall(r'"uid":\s*"([^"]*)"', json.dumps(d)))
    h.check(uids <= {DS_UID, "-- Grafana --", d["uid"]}, "data source uids: %r" % uids)
    return exprs


def promql_parses(exprs):
    """Each dashboard query as a recording rule: promtool parses them all."""
    subst = [("$__rate_interval", "5m"), ("$__interval", "1m"), ("$__range", "6h"),
             ("$job", ".*"), ("$instance", ".*"), ("$user", ".*")]
    rules = []
    for i, (title, e) in enumerate(exprs):
        for a, b in subst:
            e = e.replace(a, b)
        h.check("$" not in e, "%s: a variable this test does not know: %s" % (title, e))
        rules.append({"record": "dashboard:query_%d:check" % i, "expr": e})
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
    try:
        p = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True,
                           text=True, timeout=60)
    finally:
        os.unlink(f.name)
    h.check(p.returncode == 0, "the dashboard's PromQL:\n" + p.stdout + p.stderr)


def rules():
    """The rules file's expressions, its alert names and its recording rules."""
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    exprs, alerts, records = [], [], []
    for g in doc["groups"]:
        for r in g["rules"]:
            name = r.get("alert") or r.get("record")
            exprs.append(("rule " + name, r["expr"]))
            if "alert" in r:
                alerts.append(name)
            else:
                h.check(re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", name),
                        "recording rule %s: not LEVEL:METRIC:OPERATION" % name)
                records.append(name)
    return exprs, alerts, records


def rules_tested(alerts, records):
    """Each alert has an eval where it fires and one where it stays silent;
    each recording rule's figures are compared in a promql_expr_test."""
    fired, silent, queried = set(), set(), ""
    files = sorted(glob.glob(os.path.join(RULE_TESTS, "*.yml")))
    h.check(files, "no promtool tests in " + RULE_TESTS)
    for path in files:
        with open(path) as f:
            doc = yaml.safe_load(f)
        h.check(any(os.path.abspath(os.path.join(RULE_TESTS, r)) == RULES
                    for r in doc.get("rule_files", [])), "%s: rule_files %r"
                % (path, doc.get("rule_files")))
        for t in doc.get("tests", []):
            for a in t.get("alert_rule_test", []) or []:
                (fired if a.get("exp_alerts") else silent).add(a["alertname"])
            for q in t.get("promql_expr_test", []) or []:
                if q.get("exp_samples"):
                    queried += " " + q["expr"]
    for a in alerts:
        h.check(a in fired, "no promtool test shows %s firing" % a)
        h.check(a in silent, "no promtool test shows %s silent" % a)
    for r in records:
        h.check(re.search(r"(?<![\w:])%s(?![\w:])" % re.escape(r), queried),
                "no promtool test reads the recording rule " + r)


def families(text):
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def full_config(sport, lport, mport, tmp):
    return f"""
workers = 2;
{h.NO_DNS}
limits = {{ tcp_sessions = 1000; udp_associations = 500; }};
metrics = {{ listen = "127.0.0.1:{mport}"; }};
api = {{ listen = "unix:{tmp}/api.sock"; }};
state_file = "{tmp}/state.json";
servers = ( {{ name = "edge"; listen = "127.0.0.1:{sport}"; method = "chacha20-ietf-poly1305";
             allow_private = true;
             users = ( {{ name = "alice"; password = "pw-alice";
                          limits = {{ quota = "3 GB"; quota_period = "day"; }}; }},
                       {{ name = "bob"; password = "pw-bob"; }} ); }} );
locals = ( {{ listen = "127.0.0.1:{lport}";
            upstreams = ( {{ server = "127.0.0.1:{sport}"; method = "chacha20-ietf-poly1305";
                             password = "pw-alice"; }},
                          {{ server = "127.0.0.1:{sport}"; method = "chacha20-ietf-poly1305";
                             password = "pw-bob"; }} );
            upstream_check = {{ target = "127.0.0.1:9"; interval = 3600; }}; }} );
"""


def soft_nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    h.fail("no Max open files in /proc/%d/limits" % pid)


def scrape_full():
    tmp = h.tmpdir()
    sport, lport, mport = h.free_port(), h.free_port(), h.free_port()
    srv = h.start_ssring(full_config(sport, lport, mport, tmp), mport, "full")
    text = h.metrics_text(mport)
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    h.check(p.returncode == 0, "promtool check metrics (users, upstreams, API):\n"
            + p.stdout + p.stderr)
    want = {
        ("ssring_sessions_limit", ()): 1000,
        ("ssring_udp_associations_limit", ()): 500,
        ("ssring_user_quota_bytes", (("user", "alice"),)): 3e9,
        ("ssring_user_quota_used_bytes", (("user", "alice"),)): 0,
        ("process_max_fds", ()): soft_nofile(srv.p.pid),
    }
    for (name, labels), v in want.items():
        got = h.metric_sample(text, name, **dict(labels))
        h.check(got == v, "%s%r = %r, want %r" % (name, dict(labels), got, v))
    h.check(h.metric_sample(text, "ssring_user_quota_bytes", user="bob") is None,
            "bob has no quota, but a ssring_user_quota_bytes")
    # The scrape's own connection and directory are open while it counts.
    fds = h.metric_sample(text, "process_open_fds")
    now = len(os.listdir("/proc/%d/fd" % srv.p.pid))
    h.check(fds is not None and abs(fds - now) <= 3, "process_open_fds %r, /proc says %d"
            % (fds, now))
    h.check(srv.stop() == 0, "exit code")
    return text


def scrape_minimal():
    sport, mport = h.free_port(), h.free_port()
    srv = h.start_ssring(f"""{h.NO_DNS}
metrics = {{ listen = "127.0.0.1:{mport}"; }};
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "aes-256-gcm"; password = "minimal"; }} );
""", mport, "minimal")
    text = h.metrics_text(mport)
    h.check(srv.stop() == 0, "exit code")
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    h.check(p.returncode == 0, "promtool check metrics (minimal):\n" + p.stdout + p.stderr)
    return text


def main():
    if not shutil.which("promtool"):
        h.fail("promtool is not installed (tools/bootstrap installs Debian's prometheus)")
    dash = dashboard()
    promql_parses(dash)
    rule_exprs, alerts, records = rules()
    rules_tested(alerts, records)
    full = families(scrape_full())
    minimal = families(scrape_minimal())
    h.check(minimal == full, "a server-only scrape lacks %s (and adds %s)"
            % (sorted(full - minimal), sorted(minimal - full)))
    for must in ("ssring_plugin_up", "ssring_api_requests_total", "ssring_upstream_up",
                 "ssring_upstream_checks_total", "ssring_servers_url_fetches_total",
                 "ssring_user_quota_bytes"):
        h.check(must in minimal, must + " is not announced without its feature")
    used = {}
    for where, e in dash + rule_exprs:
        for name in METRIC.findall(e):
            used.setdefault(name, where)
    unknown = {n: w for n, w in used.items() if n not in full}
    h.check(not unknown, "not in a real scrape: " + ", ".join(
        "%s (%s)" % kv for kv in sorted(unknown.items())))
    print("ok: %d dashboard queries parse, %d rules; %d metric names used, all among the %d "
          "families a scrape has (a server-only scrape announces them all); %d alerts each "
          "shown firing and silent, %d recording rules compared" % (
              len(dash), len(rule_exprs), len(used), len(full), len(alerts), len(records)))


if __name__ == "__main__":
    main()
