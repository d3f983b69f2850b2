# SPDX-License-Identifier: MIT
"""The Debian package, end to end (Release builds only; it installs into
this machine and purges again): `cpack -G DEB` makes ssring_<version>_<arch>.deb
with its dependencies, conffile, copyright, changelog, unit, Prometheus
rules and Grafana dashboard; lintian reports no error and no warning
(the maintainer scripts call systemctl only through deb-systemd-invoke, or
for daemon-reload); `apt-get install ./ssring_*.deb` installs it; the
installed binary runs `--version` and `--check` on the installed example;
`systemd-analyze verify` prints nothing for the installed unit; the installed
rules pass `promtool check rules` and the dashboard is JSON; the man pages
render without warnings; `apt-get purge` removes it all."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

UNIT = "/lib/systemd/system/ssring@.service"


def run(args, timeout=300, env=None, check=True, cwd=None):
    p = subprocess.run(args, capture_output=True, timeout=timeout, env=env, cwd=cwd)
    out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    if check:
        h.check(p.returncode == 0, "%s exited %d:\n%s" % (" ".join(args), p.returncode,
                                                           out[-3000:]))
    return p.returncode, out


def purge():
    run(["apt-get", "purge", "-y", "-q", "ssring"], check=False)


def main():
    if os.geteuid() != 0:
        h.skip("installing a package needs root")
    for tool in ("cpack", "dpkg-deb", "lintian", "apt-get", "systemd-analyze", "man", "promtool"):
        if not shutil.which(tool):
            h.fail(tool + " is not installed (tools/bootstrap installs it)")
    build = os.path.dirname(os.path.abspath(h.BIN))
    for old in glob.glob(os.path.join(build, "ssring_*.deb")):
        os.remove(old)
    run(["cpack", "-G", "DEB"], timeout=600, env=dict(os.environ, LC_ALL="C.UTF-8"), cwd=build)
    debs = glob.glob(os.path.join(build, "ssring_*_*.deb"))
    h.check(len(debs) == 1 and re.search(r"/ssring_\d+\.\d+\.\d+_[a-z0-9]+\.deb$", debs[0]),
            "package name: %r" % debs)
    deb = debs[0]
    _, info = run(["dpkg-deb", "-I", deb])
    deps = re.search(r"^ Depends: (.*)$", info, re.M)
    h.check(deps, "no Depends:\n" + info)
    for lib in ("libc6", "liburing2", "libconfig9", "libc-ares2", "adduser"):
        h.check(lib in deps.group(1), "Depends lacks %s: %s" % (lib, deps.group(1)))
    _, conff = run(["dpkg-deb", "--info", deb, "conffiles"])
    h.check("/etc/ssring/relay.cfg" in conff, "conffiles: %r" % conff)
    _, files = run(["dpkg-deb", "-c", deb])
    for want in ("./usr/bin/ssring", "./lib/systemd/system/ssring@.service",
                 "./usr/share/man/man1/ssring.1.gz", "./usr/share/man/man5/ssring.cfg.5.gz",
                 "./usr/share/doc/ssring/copyright", "./usr/share/doc/ssring/changelog.gz",
                 "./etc/ssring/relay.cfg", "./usr/share/doc/ssring/examples/server.cfg",
                 "./usr/share/doc/ssring/operations.md",
                 "./usr/share/ssring/prometheus/ssring.rules.yml",
                 "./usr/share/ssring/grafana/ssring.json"):
        h.check(want in files, "%s missing from the package:\n%s" % (want, files))
    rc, lint = run(["lintian", "--tag-display-limit", "0", deb], timeout=600, check=False)
    tags = [x for x in lint.splitlines() if x.startswith(("E:", "W:"))]
    h.check(not tags, "lintian errors and warnings:\n" + "\n".join(tags))
    purge()
    try:
        run(["apt-get", "install", "-y", "-q", "--no-install-recommends", deb], timeout=600,
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        _, ver = run(["/usr/bin/ssring", "--version"])
        h.check(ver.startswith("ssring "), "--version: %r" % ver)
        _, chk = run(["/usr/bin/ssring", "--check", "-f", "/etc/ssring/relay.cfg"])
        h.check("OK" in chk, "--check: %r" % chk)
        # The monitoring files as installed: rules promtool accepts, a JSON dashboard.
        _, rules = run(["promtool", "check", "rules",
                        "/usr/share/ssring/prometheus/ssring.rules.yml"])
        h.check("SUCCESS" in rules, "promtool check rules: %r" % rules)
        with open("/usr/share/ssring/grafana/ssring.json") as f:
            h.check(json.load(f).get("uid") == "ssring", "the installed dashboard")
        st = os.stat("/etc/ssring/relay.cfg")
        h.check(st.st_mode & 0o777 == 0o640, "relay.cfg mode %o" % (st.st_mode & 0o777))
        h.check(run(["id", "-u", "ssring"], check=False)[0] == 0, "no ssring user")
        rc, ver_out = run(["systemd-analyze", "verify", UNIT], check=False)
        h.check(rc == 0 and not ver_out.strip(),
                "systemd-analyze verify %s:\n%s" % (UNIT, ver_out))
        rc, sec = run(["systemd-analyze", "security", "--offline=yes", UNIT], check=False)
        score = re.search(r"Overall exposure level for .*: ([\d.]+) (\w+)", sec)
        h.check(score, "systemd-analyze security:\n" + sec[-2000:])
        for page in ("/usr/share/man/man1/ssring.1.gz", "/usr/share/man/man5/ssring.cfg.5.gz"):
            # The page on stdout, groff's warnings (if any) on stderr.
            p = subprocess.run(["man", "--warnings", "-l", page], capture_output=True,
                               timeout=60, env=dict(os.environ, MANWIDTH="80", MANPAGER="cat",
                                                    LC_ALL="C.UTF-8"))
            h.check(p.returncode == 0 and p.stdout and not p.stderr.strip(),
                    "man -l %s: rc %d, %r" % (page, p.returncode, p.stderr.decode()[-500:]))
    finally:
        purge()
    h.check(not os.path.exists("/usr/bin/ssring") and not os.path.exists("/etc/ssring/relay.cfg"),
            "purge left files behind")
    print("ok: %s; lintian: no errors, no warnings; installed, --version and --check ran, "
          "systemd-analyze verify clean, exposure %s %s; purged" % (
              os.path.basename(deb), score.group(1), score.group(2)))


if __name__ == "__main__":
    main()
