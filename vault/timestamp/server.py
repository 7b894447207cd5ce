"""RFC 3161 over HTTP (RFC 3161 §3.4) for the in-process responder, on the stdlib server.

The HTTP-independent part, :func:`handle_tsa_request`, is a pure function so another
component (the vault's API server) can serve the same ``/tsa`` route without this class.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vault.timestamp.responder import TimeStampResponder

log = logging.getLogger(__name__)

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
#: A TimeStampReq is ~100 bytes; refuse anything that is clearly not one.
MAX_BODY = 64 * 1024
TSA_PATH = "/tsa"
_DRAIN_LIMIT = 1 << 20


def handle_tsa_request(responder: TimeStampResponder, body: bytes, content_type: str | None) -> tuple[int, str, bytes]:
    """(HTTP status, Content-Type, body) for a POST to the TSA route.

    Protocol-level refusals (bad algorithm, malformed DER...) are still HTTP 200 with a DER
    rejection, as RFC 3161 clients expect; only transport-level problems get 4xx.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != QUERY_TYPE:
        return 415, "text/plain; charset=utf-8", f"expected {QUERY_TYPE}\n".encode()
    if len(body) > MAX_BODY:
        return 413, "text/plain; charset=utf-8", b"request too large\n"
    return 200, REPLY_TYPE, responder.respond(body)


class _Handler(BaseHTTPRequestHandler):
    """Routes POST /tsa and GET /healthz; everything else is 404/405."""

    server: _Server
    # TCP_NODELAY on accepted sockets: headers and body go out in separate writes, and
    # Nagle + delayed ACK would otherwise add ~50 ms to every token.
    disable_nagle_algorithm = True
    server_version = "vault-tsa/1"
    timeout = 30  # seconds a client may stall mid-request before its thread is freed

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._send(200, "text/plain; charset=utf-8", b"ok")
        elif self.path == TSA_PATH:
            self._send(405, "text/plain; charset=utf-8", b"use POST\n")
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def do_POST(self) -> None:
        if self.path != TSA_PATH:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._send(411, "text/plain; charset=utf-8", b"Content-Length required\n")
            return
        if length < 0 or length > MAX_BODY:
            # Drain a moderately oversized body so the client reads the 413 instead of a
            # reset; beyond _DRAIN_LIMIT just answer and hang up.
            if 0 < length <= _DRAIN_LIMIT:
                self.rfile.read(length)
            self.close_connection = True
            self._send(413, "text/plain; charset=utf-8", b"request too large\n")
            return
        body = self.rfile.read(length)
        try:
            status, content_type, reply = handle_tsa_request(
                self.server.responder, body, self.headers.get("Content-Type")
            )
        except Exception:  # a signing failure must not kill the server thread silently
            log.exception("TSA responder failed")
            status, content_type, reply = 500, "text/plain; charset=utf-8", b"TSA failure\n"
        self._send(status, content_type, reply)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    responder: TimeStampResponder

    def handle_error(self, request: object, client_address: object) -> None:
        # socketserver prints tracebacks to stderr (client resets, timeouts): log instead.
        log.debug("TSA connection from %s failed", client_address, exc_info=True)


class TSAServer:
    """The responder on ``http://host:port/tsa`` in a background thread (port 0 = any free)."""

    def __init__(self, responder: TimeStampResponder, host: str = "127.0.0.1", port: int = 0) -> None:
        self.responder = responder
        self._host = host
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> TSAServer:
        """Bind and serve; returns self so ``TSAServer(r).start()`` reads naturally."""
        if self._httpd is not None:
            return self
        httpd = _Server((self._host, self._port), _Handler)
        httpd.responder = self.responder
        self._port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="tsa-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = None
        self._thread = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}{TSA_PATH}"

    def __enter__(self) -> TSAServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
