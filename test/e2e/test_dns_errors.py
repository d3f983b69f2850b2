# SPDX-License-Identifier: MIT
"""DNS failures are logged as what they are: a server whose name server (a
small responder here, answering by the first label of the name) says
NXDOMAIN, FORMERR, has no address (NODATA) or never answers logs that, not
"No route to host"; REFUSED, SERVFAIL and NOTIMP, after which c-ares tries
the next server and reports only that none answered, are named together;
the sessions are closed and the server keeps serving."""
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

M, PW = "aes-256-gcm", "dns errors"
RCODES = {"refused": 5, "servfail": 2, "nxdomain": 3, "formerr": 1, "notimp": 4, "nodata": 0}
WANT = {
    "refused": "each refused it (REFUSED), failed (SERVFAIL), did not implement it (NOTIMP)",
    "servfail": "each refused it (REFUSED), failed (SERVFAIL), did not implement it (NOTIMP)",
    "nxdomain": "name not found (NXDOMAIN)",
    "formerr": "a malformed query or answer (FORMERR)",
    "notimp": "each refused it (REFUSED), failed (SERVFAIL), did not implement it (NOTIMP)",
    "nodata": "the name has no address (NODATA)",
    "silent": "no answer from the name servers (timeout)",
}


def rcode_for(label, qtype):
    """The RCODE the first label names (no records); "silent*": no answer."""
    return None if label.startswith("silent") else RCODES.get(label, 3)


def request(sport, name):
    up, down = h.SsStream(M, PW), h.SsStream(M, PW)
    salt = os.urandom(up.klen)
    up.start(salt)
    addr = b"\x03" + bytes([len(name)]) + name.encode() + struct.pack(">H", 80)
    s = socket.create_connection(("127.0.0.1", sport), timeout=30)
    s.sendall(salt + up.seal(addr + b"GET / HTTP/1.0\r\n\r\n"))
    return s


def main():
    dns = h.DnsResponder(rcode_for)
    sport = h.free_port()
    srv = h.start_ssring(f"""
workers = 1;
log_level = "info";
dns = {{ servers = [ "127.0.0.1:{dns.port}" ]; }};
servers = ( {{ listen = "127.0.0.1:{sport}"; method = "{M}"; password = "{PW}"; }} );
""", sport, name="server")
    socks = []
    for label in WANT:
        socks.append(request(sport, label + ".test"))
    for label, text in WANT.items():
        h.check(h.wait_until(lambda: "cannot resolve the name: " in srv.output() and
                             text in srv.output(),
                             timeout=20),
                "%s: the log does not say %r:\n%s" % (label, text, srv.output()[-3000:]))
    h.check("No route to host" not in srv.output(), "a DNS failure logged as No route to host")
    for s in socks:
        s.settimeout(10)
        try:
            h.check(s.recv(100) == b"", "a failed lookup answered")
        except ConnectionResetError:
            pass  # closed with a reset: closed all the same
        except socket.timeout:
            h.fail("a session whose lookup failed is still open after 10 s")
        s.close()
    h.check(srv.p.poll() is None, "the server died")
    srv.stop()
    print("ok")


if __name__ == "__main__":
    main()
