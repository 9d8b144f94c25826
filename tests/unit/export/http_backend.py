#!/usr/bin/python3
"""A fake OTLP/HTTP trace backend for tests/unit/export/test_exporter_http.c (stdlib only).

    http_backend.py RECORDS ACTIONS [CERT KEY]

Listens on 127.0.0.1 on a free port (HTTP/1.1 keep-alive, one thread per connection,
TLS when CERT and KEY are given) and prints the port on stdout once listening. ACTIONS is
a comma-separated list, one action per request in arrival order, the last one repeated:

    ok         200, empty body
    partial    200, ExportTraceServiceResponse{partial_success{3, "3 spans too old"}}
    429ra2     429 with Retry-After: 2
    429date    429 with Retry-After as an HTTP-date 5 s ahead
    503        503, text body "overloaded"
    413        413, text body "request entity too large"
    400status  400, google.rpc.Status{3, "bad span data"} as application/x-protobuf
    500text    500, a text/plain body with control characters
    hang       never answers
    cut        sends the headers and part of the announced body, then closes
    drop       closes the connection without answering
    slow       200 after 0.5 s

Every request is appended to RECORDS, before it is answered, as one JSON line with sorted
keys and no spaces: {"active":A,"body_hex":"..","body_len":L,"conn":C,"headers":{..},
"method":"POST","n":N,"path":".."}. C numbers connections from 1; A counts the requests
being handled at that moment; header names are lower case; the body is gunzipped when
Content-Encoding is gzip, and its hex left empty beyond 4 KiB.
It exits on SIGTERM, or when stdin reaches end of file: the test that started it died
without stopping it (a failed check assertion ends the test process with _exit), and
the directory holding RECORDS, which the test made for this backend alone, is removed.
"""

import email.utils
import gzip
import http.server
import json
import os
import shutil
import signal
import socketserver
import ssl
import sys
import threading
import time

lock = threading.Lock()
state = {"requests": 0, "connections": 0, "active": 0}


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, value):
    return varint(num << 3) + varint(value)


def field_bytes(num, data):
    return varint((num << 3) | 2) + varint(len(data)) + data


def partial_success_body():
    inner = field_varint(1, 3) + field_bytes(2, b"3 spans too old")
    return field_bytes(1, inner)


def status_body():
    return field_varint(1, 3) + field_bytes(2, b"bad span data")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        if self.server.tls is not None:
            self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        super().setup()
        with lock:
            state["connections"] += 1
            self.conn = state["connections"]

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        with lock:
            state["requests"] += 1
            n = state["requests"]
            state["active"] += 1
            active = state["active"]
            record = {
                "n": n, "conn": self.conn, "active": active, "method": self.command,
                "path": self.path, "body_len": len(body),
                "body_hex": body.hex() if len(body) <= 4096 else "",
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }
            with open(self.server.records, "a") as f:
                f.write(json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n")
        try:
            actions = self.server.actions
            self.act(actions[min(n, len(actions)) - 1])
        finally:
            with lock:
                state["active"] -= 1

    def reply(self, code, body=b"", ctype="application/x-protobuf", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def act(self, action):
        if action == "ok":
            self.reply(200)
        elif action == "partial":
            self.reply(200, partial_success_body())
        elif action == "429ra2":
            self.reply(429, b"slow down", "text/plain", [("Retry-After", "2")])
        elif action == "429date":
            when = email.utils.formatdate(time.time() + 5, usegmt=True)
            self.reply(429, b"", "text/plain", [("Retry-After", when)])
        elif action == "503":
            self.reply(503, b"overloaded", "text/plain")
        elif action == "413":
            self.reply(413, b"request entity too large", "text/plain")
        elif action == "400status":
            self.reply(400, status_body())
        elif action == "500text":
            self.reply(500, b"internal\x01 error:\r\n\tdisk   full\x00", "text/plain")
        elif action == "hang":
            time.sleep(60)
            self.close_connection = True
        elif action == "cut":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
                             b"Content-Length: 100\r\n\r\n0123456789")
            self.wfile.flush()
            self.close_connection = True
        elif action == "drop":
            self.close_connection = True
        elif action == "slow":
            time.sleep(0.5)
            self.reply(200)
        else:
            self.reply(500, ("unknown action " + action).encode(), "text/plain")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


def main():
    records, actions = sys.argv[1], sys.argv[2].split(",")
    server = Server(("127.0.0.1", 0), Handler)
    server.records = records
    server.actions = actions
    server.tls = None
    if len(sys.argv) > 4:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        server.tls = ctx
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    while sys.stdin.buffer.read(4096):
        pass
    shutil.rmtree(os.path.dirname(os.path.abspath(records)), ignore_errors=True)
    os._exit(0)


if __name__ == "__main__":
    main()
