"""The peer server: where the venue's other gates push their passages and ask about single-use passes.

Two routes, POST only, every body and answer signed (`kiosk.venue.protocol`). A standard-library threading HTTP
server in daemon threads, each request bounded in size and time; nothing it does waits on the frame loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk.errors import StoreError
from kiosk.store.venuebook import Passage, VenueBook
from kiosk.venue.protocol import (
    DEVICE_HEADER,
    MAX_BODY,
    SIGNATURE_HEADER,
    Peer,
    PeerError,
    body_of,
    read_signed,
    sign,
)

log = logging.getLogger(__name__)
PASSAGES, CLAIM = "/peer/v1/passages", "/peer/v1/claim"


class PeerServer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        device_id: str,
        key: Ed25519PrivateKey,
        venue: str,
        peers: Callable[[], dict[str, Peer]],
        book: VenueBook,
        wall: Callable[[], float],
        timeout_s: float = 2.0,
    ) -> None:
        self.device_id, self.key, self.venue = device_id, key, venue
        self.peers, self.book, self.wall = peers, book, wall
        self.timeout_s = timeout_s
        self.address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1]) if self._server is not None else self.address[1]

    def start(self) -> None:
        """Listen and serve in a daemon thread; OSError (the port taken) raises here."""
        if self._server is not None:
            return
        self._server = _Server(self.address, self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.5,), name="peers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def answer(self, path: str, device: str, signature: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """The status and the answer to one request (what the handler signs and sends)."""
        try:
            sender, document = read_signed(self.peers(), device, signature, path, body, self.venue, self.wall())
        except PeerError as exc:
            log.warning("peer request refused: %s", exc)
            return 403, {"error": str(exc)}
        try:
            if path == PASSAGES:
                items = document.get("passages")
                passages = [p for p in map(Passage.from_json, items if isinstance(items, list) else []) if p]
                ours = [p for p in passages if p.device_id == sender]  # a gate speaks for itself only
                return 200, {"held": self.book.hold(ours, self.wall())}
            key = document.get("subject_key")
            if not (isinstance(key, str) and len(key) == 32):
                return 400, {"error": "subject_key must be 32 hex digits"}
            holder = self.book.grant(key, sender, self.wall())
            return 200, {"used": holder is not None, **({"device_id": holder} if holder else {})}
        except StoreError as exc:
            log.error("peer request not answered: %s", exc)
            return 503, {"error": "this gate cannot read its records now"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], peer_server: PeerServer) -> None:
        self.peer_server = peer_server
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(self.peer_server.timeout_s)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("peer server: a connection failed", exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server_version = "kiosk-peer"
    sys_version = ""

    def do_POST(self) -> None:
        server = cast(_Server, self.server).peer_server
        if self.path not in (PASSAGES, CLAIM):
            self._send(404, {"error": "not found"}, server)
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._send(413, {"error": "the body is too large or has no length"}, server)
            return
        body = self.rfile.read(length)
        device, signature = self.headers.get(DEVICE_HEADER, ""), self.headers.get(SIGNATURE_HEADER, "")
        status, answer = server.answer(self.path, device, signature, body)
        self._send(status, answer, server)

    def _send(self, status: int, answer: dict[str, Any], server: PeerServer) -> None:
        body = body_of({**answer, "venue": server.venue, "sent_at": server.wall()})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header(DEVICE_HEADER, server.device_id)
        self.send_header(SIGNATURE_HEADER, sign(server.key, self.path, body))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.send_error(405)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("peer server: " + format, *args)
