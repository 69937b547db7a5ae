"""A loopback HTTP proxy in front of the moto S3 server that fails a chosen share of requests."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

ERROR_XML = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
             b"<Message>Please reduce your request rate.</Message></Error>")


class FlakyProxy:
    """Forwards requests to ``upstream``. Every ``fail_every``-th request (counting from 1) gets a 503 SlowDown, or
    has its connection dropped when ``drop`` is set; after ``fail_puts_after`` PUTs every later PUT fails.
    ``failures`` counts what was injected. Use as a context manager; ``url`` is the endpoint to give clients."""

    def __init__(self, upstream: str, fail_every: int = 0, drop: bool = False, fail_puts_after: int | None = None):
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname, parts.port
        self.fail_every, self.drop, self.fail_puts_after = fail_every, drop, fail_puts_after
        self.requests = self.puts = self.failures = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.should_fail(self.command):
                    if proxy.drop:
                        self.close_connection = True
                        self.connection.close()
                        return
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(ERROR_XML)))
                    self.end_headers()
                    if self.command != "HEAD":  # a HEAD response has no body
                        self.wfile.write(ERROR_XML)
                    return
                conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                length = resp.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
                self.send_header("Content-Length", length or "0")  # HEAD: the object's size, not the body's
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def should_fail(self, method: str) -> bool:
        """Whether this request is one to fail (and count it)."""
        with self.lock:
            self.requests += 1
            fail = bool(self.fail_every) and self.requests % self.fail_every == 0
            if method == "PUT":
                self.puts += 1
                fail = fail or (self.fail_puts_after is not None and self.puts > self.fail_puts_after)
            self.failures += fail
            return fail

    def __enter__(self) -> FlakyProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
