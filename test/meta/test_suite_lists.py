# SPDX-License-Identifier: MIT
"""The suite's own lists are checked at configuration time: a unit test that
test/CMakeLists.txt lists but that does not exist, a unit test file that is
not listed (in its layer's folder, or in a folder that has no list), and an
e2e test named for the ThreadSanitizer build that does not exist each stop
`cmake` with a message naming the file. Run on copies of the source tree (the
real one is never touched); the unchanged copy configures."""
import os
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ["SSRING_SOURCE_DIR"]
WOLFSSL = os.environ.get("SSRING_WOLFSSL_PREFIX", "")


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def copy_tree(dst):
    for name in ("CMakeLists.txt", "README.md", "CHANGELOG.md"):
        shutil.copy2(os.path.join(SRC, name), dst)
    for d in ("src", "include", "test", "configs", "dist", "man", "docs", "tools"):
        shutil.copytree(os.path.join(SRC, d), os.path.join(dst, d),
                        ignore=shutil.ignore_patterns("corpus", "__pycache__"))


def configure(tree):
    build = os.path.join(tree, "b")
    args = ["cmake", "-S", tree, "-B", build, "-DCMAKE_BUILD_TYPE=Release"]
    if WOLFSSL:
        args.append("-DSSRING_WOLFSSL_PREFIX=" + WOLFSSL)
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    shutil.rmtree(build, ignore_errors=True)
    return r.returncode, r.stdout + r.stderr


def case(name, change, want):
    with tempfile.TemporaryDirectory(prefix="ssring-lists-") as tree:
        copy_tree(tree)
        change(tree)
        rc, out = configure(tree)
        if want is None:
            if rc != 0:
                fail("%s: the unchanged tree does not configure:\n%s" % (name, out[-3000:]))
        elif rc == 0 or want not in " ".join(out.split()):
            fail("%s: configure exited %d; want a failure saying %r:\n%s"
                 % (name, rc, want, out[-3000:]))
    print("ok: " + name, flush=True)


def append(path, text):
    with open(path, "a") as f:
        f.write(text)


def main():
    case("unchanged", lambda t: None, None)
    case("listed unit test missing",
         lambda t: os.remove(os.path.join(t, "test/unit/proto/test_hostport.c")),
         "lists test_hostport, but test/unit/proto/test_hostport.c does not exist")
    case("unit test not listed",
         lambda t: append(os.path.join(t, "test/unit/proto/test_forgotten.c"),
                          "int main(void){}\n"),
         "test/unit/proto/test_forgotten.c is not listed")
    case("unit test outside the layer folders",
         lambda t: append(os.path.join(t, "test/unit/test_forgotten.c"), "int main(void){}\n"),
         "test/unit/test_forgotten.c is not listed")
    case("ThreadSanitizer e2e test missing",
         lambda t: os.remove(os.path.join(t, "test/e2e/test_users.py")),
         "lists test_users, but test/e2e/test_users.py does not exist")
    print("ok")


if __name__ == "__main__":
    main()
