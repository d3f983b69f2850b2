# SPDX-License-Identifier: MIT
"""tools/bench --smoke: the benchmark runs end to end against
shadowsocks-libev and the plain HAProxy relay and writes a CSV with a row for
every figure and numeric values for every implementation that takes part
(the plain relay in figures 1, 2, 3 and 5). No timing assertions: this only checks that
the benchmark works, not how fast anything is."""
import csv
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, fail, skip  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(REPO, "tools", "bench")
FIGURES = ("bulk", "cpu", "http", "udp", "mem", "socks")
PLAIN_FIGURES = ("bulk", "cpu", "http", "mem")


def is_number(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


def main():
    for tool in ("iperf3", "wrk", "curl", "ss-server", "ss-tunnel", "ss-local", "haproxy"):
        if not shutil.which(tool):
            fail(tool + " is not installed (tools/bootstrap installs it)")
    if not os.access(BIN, os.X_OK):
        fail("no ssring binary at %s" % BIN)
    out_dir = tempfile.mkdtemp(prefix="ssring-bench-smoke-")
    try:
        path = os.path.join(out_dir, "bench.csv")
        env = dict(os.environ, SSRING_BIN=os.path.abspath(BIN))
        try:
            p = subprocess.run([BENCH, "--smoke", "--csv", path, "--png", "",
                                "--bin", os.path.abspath(BIN)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=env, timeout=300)
        except subprocess.TimeoutExpired as e:
            fail("tools/bench --smoke did not finish in 300 s:\n%s" %
                 (e.output or b"").decode(errors="replace")[-3000:])
        text = p.stdout.decode(errors="replace")
        print(text[-6000:], flush=True)
        if p.returncode != 0 and "io_uring" in text and (
                "not allowed" in text or "not available" in text):
            skip("io_uring unavailable")
        check(p.returncode == 0, "tools/bench --smoke exited with %d" % p.returncode)
        check(os.path.exists(path), "no CSV written at " + path)
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        check(rows, "the CSV has no rows")
        for fig in FIGURES:
            fr = [r for r in rows if r["figure"] == fig]
            check(fr, "the CSV has no row for figure %r" % fig)
            cols = ("ssring_median", "libev_median") + (
                ("plain_median", "ratio_plain") if fig in PLAIN_FIGURES else ())
            for r in fr:
                for col in cols:
                    check(is_number(r[col]), "figure %s, case %r: %s is %r, not a number"
                          % (fig, r["case"], col, r[col]))
        print("ok: %d rows, every figure has numbers for ssring and libev, and for the "
              "plain relay where it takes part" % len(rows))
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
