#!/usr/bin/env python3
"""An HTTP(S) upstream for the outgoing REST connection tests, standard library only (so the
server's HTTP client is checked against an HTTP server this project did not write).

usage:
  http_upstream.py --port P [--host H] [--cert C --key K [--client-ca CA]]

HTTPS when --cert and --key are given; with --client-ca, a client certificate signed by that
CA is required. --port 0 picks a free port. Once listening it prints `ready PORT` on stdout.

Endpoints, for any method:
  /echo/...                 200 JSON {"method", "path" (without the query), "query" (dict of
                            lists), "headers" (dict, lower-case names), "body" (text),
                            "body_base64", "json" (the parsed body or null), "form" (the parsed
                            body if form-encoded, else null), "client_cert_subject" (or null)}
  /status/{code}            that status, JSON {"status": code} (no body for 204 and 304)
  /delay/{ms}               sleeps that long, then answers as /echo
  /text                     200 text/plain "hello"
  /flaky/{key}/{n}          the first n calls with that key answer 503, later ones 200;
                            both with JSON {"calls": calls so far with that key}
  /collect/{key}            keeps the JSON body (a pub/sub push, say) under key; 200 JSON
                            {"collected": how many it keeps under key}
  /collected/{key}          200 JSON {"items": the bodies kept under key, in arrival order}
  /calls/{key}              JSON {"calls": how many requests carrying the header
                            `X-Test-Key: key` were received so far, on any endpoint}
  /basic/{user}/{password}  200 if Authorization is that basic auth, else 401 with
                            WWW-Authenticate
  /bearer/{token}           200 if Authorization is `Bearer token`, else 401

HTTP/1.1 with keep-alive: every answer has a Content-Length (but 204 and 304, which have no
body), request bodies may be chunked, and `Expect: 100-continue` is honoured.

Each request is logged to stderr as one line, method, path and status: never a header value,
the query, or the secret of /basic and /bearer (shown as ***), so a test may check that a
secret the server under test was given does not leak.
SIGTERM ends it (exit code 0).
"""
import argparse
import base64
import binascii
import json
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

LOCK = threading.Lock()
KEYED_CALLS = {}  # X-Test-Key -> requests carrying it
FLAKY_CALLS = {}  # /flaky key -> calls
COLLECTED = {}  # /collect key -> bodies

# Short names of the subject's attributes, as in `openssl x509 -subject`.
SHORT_NAMES = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
}


class BadRequest(Exception):
    pass


def count(table, key):
    with LOCK:
        table[key] = table.get(key, 0) + 1
        return table[key]


def number(text, low, high):
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"not a number: {text!r}")
    if not low <= value <= high:
        raise BadRequest(f"{value} is not within {low}..{high}")
    return value


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "zato-test-upstream"
    # An idle keep-alive connection is closed after a minute.
    timeout = 60
    # Headers and body are two writes: without this, Nagle and delayed ACKs add 40 ms.
    disable_nagle_algorithm = True

    def setup(self):
        # The TLS handshake in the connection's own thread: a client that connects and says
        # nothing must not hold up the accept loop.
        context = self.server.tls
        if context is not None:
            self.request.settimeout(10)
            self.request = context.wrap_socket(self.request, server_side=True)
        super().setup()

    def __getattr__(self, name):
        # Any method: the base class looks up do_<METHOD>.
        if name.startswith("do_"):
            return self.respond
        raise AttributeError(name)

    def respond(self):
        path, _, query = self.path.partition("?")
        body = self.read_body()
        key = self.headers.get("X-Test-Key")
        if key is not None:
            count(KEYED_CALLS, key)
        parts = [unquote(p) for p in path.split("/")[1:]]
        route = parts[0] if parts else ""
        try:
            if route == "echo":
                self.send_json(200, self.echo(path, query, body))
            elif route == "status" and len(parts) == 2:
                status = number(parts[1], 200, 599)
                self.send_json(status, {"status": status})
            elif route == "delay" and len(parts) >= 2:
                time.sleep(number(parts[1], 0, 600_000) / 1000)
                self.send_json(200, self.echo(path, query, body))
            elif route == "text" and len(parts) == 1:
                self.send(200, b"hello", "text/plain; charset=utf-8")
            elif route == "flaky" and len(parts) == 3:
                failures = number(parts[2], 0, 1_000_000)
                calls = count(FLAKY_CALLS, parts[1])
                self.send_json(503 if calls <= failures else 200, {"calls": calls})
            elif route == "collect" and len(parts) == 2:
                try:
                    item = json.loads(body)
                except ValueError:
                    raise BadRequest("the body is not JSON")
                with LOCK:
                    COLLECTED.setdefault(parts[1], []).append(item)
                    kept = len(COLLECTED[parts[1]])
                self.send_json(200, {"collected": kept})
            elif route == "collected" and len(parts) == 2:
                with LOCK:
                    items = list(COLLECTED.get(parts[1], []))
                self.send_json(200, {"items": items})
            elif route == "calls" and len(parts) == 2:
                with LOCK:
                    calls = KEYED_CALLS.get(parts[1], 0)
                self.send_json(200, {"calls": calls})
            elif route == "basic" and len(parts) == 3:
                self.basic(parts[1], parts[2])
            elif route == "bearer" and len(parts) == 2:
                if self.headers.get("Authorization") == f"Bearer {parts[1]}":
                    self.send_json(200, {"authenticated": True})
                else:
                    self.send_json(
                        401, {"authenticated": False}, [("WWW-Authenticate", 'Bearer realm="test"')]
                    )
            else:
                self.send_json(404, {"error": "no such endpoint", "path": path})
        except BadRequest as e:
            self.send_json(400, {"error": str(e)})

    def basic(self, user, password):
        given = self.headers.get("Authorization", "")
        scheme, _, credentials = given.partition(" ")
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = None
        if scheme.lower() == "basic" and decoded == f"{user}:{password}":
            self.send_json(200, {"authenticated": True, "user": user})
        else:
            self.send_json(
                401, {"authenticated": False}, [("WWW-Authenticate", 'Basic realm="test"')]
            )

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers, up to the empty line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def echo(self, path, query, body):
        text = body.decode("utf-8", errors="replace")
        try:
            parsed = json.loads(text) if body else None
        except ValueError:
            parsed = None
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        form = None
        if content_type == "application/x-www-form-urlencoded":
            form = parse_qs(text, keep_blank_values=True)
        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return {
            "method": self.command,
            "path": path,
            "query": parse_qs(query, keep_blank_values=True),
            "headers": headers,
            "body": text,
            "body_base64": base64.b64encode(body).decode("ascii"),
            "json": parsed,
            "form": form,
            "client_cert_subject": self.client_cert_subject(),
        }

    def client_cert_subject(self):
        getpeercert = getattr(self.connection, "getpeercert", None)
        cert = getpeercert() if getpeercert is not None else None
        if not cert:
            return None
        return ",".join(
            f"{SHORT_NAMES.get(name, name)}={value}"
            for rdn in cert.get("subject", ())
            for name, value in rdn
        )

    def send_json(self, status, value, headers=()):
        self.send(status, json.dumps(value).encode("utf-8"), "application/json", headers)

    def send(self, status, payload, content_type, headers=()):
        self.send_response(status)
        no_body = status in (204, 304)
        if not no_body:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if not no_body and self.command != "HEAD":
            self.wfile.write(payload)

    def log_request(self, code="-", size="-"):
        # send_error may answer a request line it could not parse: no command or path yet.
        path = (getattr(self, "path", None) or "").partition("?")[0]
        parts = path.split("/")
        if len(parts) >= 4 and parts[1] == "basic":
            path = "/".join(parts[:3] + ["***"])
        elif len(parts) >= 3 and parts[1] == "bearer":
            path = "/".join(parts[:2] + ["***"])
        code = getattr(code, "value", code)
        sys.stderr.write(f"{getattr(self, 'command', None) or '-'} {path} {code}\n")

    def log_message(self, format, *args):
        # The base class's other messages (a bad request line, a time-out) carry no header.
        sys.stderr.write("http_upstream: " + (format % args) + "\n")


class Server(ThreadingHTTPServer):
    # Tests open many connections at once.
    request_queue_size = 128
    tls = None

    def handle_error(self, request, client_address):
        # A failed TLS handshake or a client gone mid-request: one line, no traceback.
        error = sys.exc_info()[1]
        sys.stderr.write(f"http_upstream: connection error: {type(error).__name__}: {error}\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--client-ca")
    a = p.parse_args()
    if bool(a.cert) != bool(a.key):
        p.error("--cert and --key go together")
    if a.client_ca and not a.cert:
        p.error("--client-ca needs --cert and --key")

    server = Server((a.host, a.port), Handler)
    if a.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(a.cert, a.key)
        if a.client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(a.client_ca)
        server.tls = context

    def terminate(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, terminate)
    print(f"ready {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
