"""The technician's status page: state, recent decisions, a camera snapshot and Prometheus /metrics over HTTP.

A standard-library ThreadingHTTPServer in a daemon thread; each request runs in a thread of its own and reads
the kiosk without taking anything from the frame loop: counters are copied, the event database is read through
a read-only connection opened per request, and the snapshot comes from `FrameTap`, the loop's `on_frame`
observer, which only keeps a reference to the newest frame. Nothing served holds personal data: the recent
decisions are whitelisted columns without subject keys, and the places where codes are seen in the snapshot are
pixelated so that it cannot be read back into QR text.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from kiosk.commands import Command
from kiosk.config import StatusPageConfig
from kiosk.errors import KioskError
from kiosk.ops.frametap import FrameTap
from kiosk.ops.guardpage import MAX_FORM, Waiting, visit_command
from kiosk.ops.guardpage import render as render_guard
from kiosk.ops.guardpage import text as guard_text
from kiosk.ops.pageauth import token_matches
from kiosk.ops.promexport import metrics_registry
from kiosk.ops.statushtml import render_page
from kiosk.ops.statusimage import render_snapshot
from kiosk.ops.statusreport import KioskView, gather_status

log = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


class StatusPageError(KioskError, RuntimeError):
    """The status page cannot serve (port taken, exposed without a token)."""


class StatusPage:
    """Serves /, /status.json, /snapshot.png and /metrics for `kiosk` on config.host:config.port. The page is in
    the kiosk's language (`feedback.language`; ?lang=vi or en for the other) and its times in `zone` (None: the
    system's zone, which the kiosk's image sets)."""

    def __init__(
        self,
        config: StatusPageConfig,
        kiosk: KioskView,
        *,
        refresh_s: int = 5,
        clients: int = 8,
        timeout_s: float = 5.0,
        zone: tzinfo | None = None,
        tap: FrameTap | None = None,
        commands: queue.SimpleQueue[Command] | None = None,
    ) -> None:
        self.config = config
        self.kiosk = kiosk
        self.zone = zone
        self.language = kiosk.config.feedback.language  # the page's; ?lang= asks for the other
        self.refresh_s = refresh_s
        self.clients = clients  # requests served at once; more are refused rather than queued in threads
        self.timeout_s = timeout_s  # a client silent this long is dropped
        self.tap = tap or FrameTap()  # the loop's frame observer (the assembly hands it to both)
        self.commands = commands  # the loop's command queue: the guard's visitor desk (/guard); None: no desk
        self.registry = metrics_registry(kiosk, lambda: self.tap.fps(kiosk.clock.monotonic()))
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on (config.port; the one chosen when it was 0)."""
        return int(self._server.server_address[1]) if self._server else self.config.port

    def start(self) -> None:
        """Listen and serve in a daemon thread; nothing when disabled. Errors (port taken) raise here."""
        config = self.config
        if not config.enabled or self._server is not None:
            return
        if not config.token and config.host not in _LOOPBACK:
            raise StatusPageError(f"status_page.host {config.host!r} is not loopback: set status_page.token")
        try:
            self._server = _Server((config.host, config.port), self)
        except OSError as exc:
            raise StatusPageError(
                f"status_page: cannot listen on {config.host}:{config.port} ({exc.strerror or exc}); "
                "choose another status_page.port or stop what uses it"
            ) from None
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.5,), name="status", daemon=True)
        self._thread.start()
        log.info("status page on http://%s:%d/", config.host, self.port)

    def stop(self) -> None:
        """Stop listening (requests in progress finish in their daemon threads, each bounded by a timeout)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def report(self) -> dict[str, Any]:
        """What / and /status.json show (read now, in the calling thread)."""
        seen, now = self.tap.seen, self.kiosk.clock.monotonic()
        return gather_status(self.kiosk, self.tap.fps(now), None if seen is None else seen.captured)

    def authorised(self, header: str, query_token: str) -> bool:
        """No token configured (loopback only), or the right one in the header or the query."""
        return token_matches(self.config.token, header, query_token)

    def waiting(self) -> Waiting | None:
        """The visitor the loop holds for the guard, if still within the time the guard has to act."""
        held = self.kiosk.metrics.visitor
        if held is None:
            return None
        seconds = self.kiosk.clock.monotonic() - held[0]
        return Waiting(seconds, held[1]) if seconds <= self.kiosk.config.feedback.gpio.review_timeout_s else None

    def desk(self) -> tuple[list[str], list[str]]:
        """The hosts and purposes the guard picks from (the venue's rules in force)."""
        settings = self.kiosk.lists.current.settings
        return list(settings.visit_hosts), list(settings.visit_purposes)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a slow client never holds up stop()

    def __init__(self, address: tuple[str, int], page: StatusPage) -> None:
        self.page = page
        self._slots = threading.BoundedSemaphore(page.clients)
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # not HTTPServer's: its getfqdn() can wait for DNS at boot
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(self.page.timeout_s)
        super().finish_request(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):  # too many at once: refuse rather than grow threads
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("status page: a connection failed", exc_info=True)  # e.g. the client went away


class _Handler(BaseHTTPRequestHandler):
    server_version = "kiosk-status"
    sys_version = ""
    timeout = None  # set on the socket by the server: StatusPage.timeout_s

    def do_GET(self) -> None:
        page = cast(_Server, self.server).page
        url = urlsplit(self.path)
        query = parse_qs(url.query, max_num_fields=10)
        query_token = query.get("token", [""])[0]
        if not page.authorised(self.headers.get("Authorization", ""), query_token):
            self._send(401, b"a token is needed: Authorization: Bearer <token> or ?token=<token>\n", "text/plain")
            return
        asked = Asked(
            {"token": query_token} if query_token and page.config.token else {},
            query.get("lang", [page.language])[0],
            query.get("done", [""])[0] == "1",
        )
        route = _ROUTES.get(url.path)
        if route is None:
            self._send(404, b"not found\n", "text/plain")
            return
        try:
            status, body, content_type = route(page, asked)
        except Exception:  # logged here with its traceback; the client only learns that it failed
            log.exception("status page: %s failed", url.path)
            status, body, content_type = 500, b"internal error; see the kiosk's log\n", "text/plain"
        self._send(status, body, content_type)

    def do_POST(self) -> None:
        """Only the visitor desk's form: the token in the form (or header, or query), a short body, a redirect."""
        page = cast(_Server, self.server).page
        url = urlsplit(self.path)
        query = parse_qs(url.query, max_num_fields=10)
        if url.path != "/guard/visit":
            self._not_allowed()
            return
        if page.commands is None:
            self._send(404, b"no visitor desk on this kiosk\n", "text/plain")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_FORM:
            self._send(413, b"the form is too large or has no length\n", "text/plain")
            return
        body = self.rfile.read(length)
        form_token = parse_qs(body.decode("utf-8", "replace"), max_num_fields=5).get("token", [""])[0]
        query_token = query.get("token", [""])[0]
        if not page.authorised(self.headers.get("Authorization", ""), form_token or query_token):
            self._send(401, b"a token is needed\n", "text/plain")
            return
        lang = query.get("lang", [page.language])[0]
        hosts, purposes = page.desk()
        made = visit_command(body, hosts, purposes, page.waiting(), page.kiosk.clock.monotonic())
        if isinstance(made, str):
            said = guard_text("refused", lang, why=guard_text(made, lang))
            html_page = render_guard(page.waiting(), hosts, purposes, page.config.token and form_token, lang, said)
            self._send(422, html_page.encode(), "text/html")
            return
        page.commands.put(made)
        carried = {"lang": lang, "done": "1", **({"token": form_token} if page.config.token else {})}
        self._send(303, b"", "text/plain", {"Location": "/guard?" + urlencode(carried)})

    def _not_allowed(self) -> None:
        self._send(405, b"only GET\n", "text/plain", {"Allow": "GET"})

    do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if content_type in ("text/plain", "text/html", "application/json"):
            content_type += "; charset=utf-8"
        headers = {"Content-Type": content_type, "Content-Length": str(len(body)), **_HEADERS, **(extra or {})}
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="kiosk"'
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("status page: %s %s -> %s", self.command, urlsplit(self.path).path, code)  # never the query

    def log_error(self, format: str, *args: Any) -> None:
        log.debug("status page: bad request (%s)", args[0] if args else "?")  # the line may hold a token


@dataclass(frozen=True)
class Asked:
    """What a request asks besides its path: the query to carry to links (the token), and the language."""

    carried: dict[str, str]
    lang: str
    done: bool = False  # /guard after a visit was registered


Route = Callable[[StatusPage, Asked], tuple[int, bytes, str]]


def _page(page: StatusPage, asked: Asked) -> tuple[int, bytes, str]:
    text = render_page(page.report(), asked.carried, page.refresh_s, lang=asked.lang, zone=page.zone)
    return 200, text.encode(), "text/html"


def _json(page: StatusPage, asked: Asked) -> tuple[int, bytes, str]:
    return 200, json.dumps(page.report(), ensure_ascii=False).encode(), "application/json"


def _metrics(page: StatusPage, asked: Asked) -> tuple[int, bytes, str]:
    return 200, generate_latest(page.registry), CONTENT_TYPE_PLAIN_0_0_4


def _snapshot(page: StatusPage, asked: Asked) -> tuple[int, bytes, str]:
    seen = page.tap.seen
    if seen is None:
        return 503, b"no frame yet\n", "text/plain"
    return 200, render_snapshot(seen, page.kiosk.config.decode.roi), "image/png"


def _guard(page: StatusPage, asked: Asked) -> tuple[int, bytes, str]:
    if page.commands is None:
        return 404, b"no visitor desk on this kiosk\n", "text/plain"
    hosts, purposes = page.desk()
    said = guard_text("done", asked.lang) if asked.done else None
    token = asked.carried.get("token", "")
    return 200, render_guard(page.waiting(), hosts, purposes, token, asked.lang, said).encode(), "text/html"


_ROUTES: dict[str, Route] = {
    "/": _page,
    "/status.json": _json,
    "/metrics": _metrics,
    "/snapshot.png": _snapshot,
    "/guard": _guard,
}
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a token in the query must not leak to another site
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}
