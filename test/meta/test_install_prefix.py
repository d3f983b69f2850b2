# SPDX-License-Identifier: MIT
"""`cmake --install` into a prefix writes nothing outside it: this build's
install script runs as an unprivileged user (nobody, when run as root) into
a temporary prefix, so a file meant for /etc or /lib/systemd would fail to
install instead of landing on this machine; every path in the manifest is
under the prefix, exists, and the unit and the configuration are where a
prefixed install puts them (PREFIX/lib/systemd/system, PREFIX/etc/ssring).
The package keeps /etc and /lib/systemd/system (test_package checks that)."""
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile

BUILD = os.environ["SSRING_BUILD_DIR"]


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def main():
    script = os.path.join(BUILD, "cmake_install.cmake")
    with open(script) as f:
        text = f.read()
    tmp = tempfile.mkdtemp(prefix="ssring-install-")
    try:
        prefix = os.path.join(tmp, "prefix")
        # The manifest is written to the build directory: write it to tmp
        # instead, so the build directory stays read-only to the installer.
        manifest_at = re.compile(r'file\(WRITE "[^"]*/\$\{CMAKE_INSTALL_MANIFEST\}"')
        if not manifest_at.search(text):
            fail("cmake_install.cmake does not write its manifest as expected")
        text = manifest_at.sub('file(WRITE "%s/${CMAKE_INSTALL_MANIFEST}"' % tmp, text)
        copy = os.path.join(tmp, "cmake_install.cmake")
        with open(copy, "w") as f:
            f.write(text)
        cmd = ["cmake", "-DCMAKE_INSTALL_PREFIX=" + prefix, "-P", copy]
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(tmp, nobody.pw_uid, nobody.pw_gid)
            cmd = ["setpriv", "--reuid=%d" % nobody.pw_uid, "--regid=%d" % nobody.pw_gid,
                   "--clear-groups", "--"] + cmd
        env = {k: v for k, v in os.environ.items() if k != "DESTDIR"}
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp, env=env)
        if r.returncode != 0:
            fail("install into %s exited %d:\n%s" % (prefix, r.returncode,
                                                     (r.stdout + r.stderr)[-3000:]))
        with open(os.path.join(tmp, "install_manifest.txt")) as f:
            paths = [x for x in f.read().splitlines() if x]
        if len(paths) < 10:
            fail("the manifest lists %d paths: %r" % (len(paths), paths))
        outside = [p for p in paths if not p.startswith(prefix + "/")]
        if outside:
            fail("installed outside the prefix %s:\n%s" % (prefix, "\n".join(outside)))
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            fail("in the manifest but not installed:\n" + "\n".join(missing))
        for want in ("bin/ssring", "lib/systemd/system/ssring@.service",
                     "etc/ssring/relay.cfg", "share/man/man1/ssring.1.gz",
                     "share/ssring/prometheus/ssring.rules.yml",
                     "share/ssring/grafana/ssring.json"):
            if os.path.join(prefix, want) not in paths:
                fail("%s not installed under the prefix; the manifest:\n%s"
                     % (want, "\n".join(paths)))
        print("ok: %d files, all under the prefix" % len(paths))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
