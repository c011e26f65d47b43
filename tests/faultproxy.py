"""A fault-injecting HTTP/1.1 reverse proxy for the sync tests: loopback only, asyncio in its own thread.

`with FaultProxy(central.url, plan) as proxy:` listens at `proxy.url` and, for each request, does what the
`FaultPlan` chooses: pass it on, answer an error itself, stall, reset the connection before forwarding, or
forward it and then reset instead of answering ("committed but answer lost"). It counts what it did per kind
(`proxy.counts`) and keeps a timed record of every request (`proxy.records()`).

Enough HTTP/1.1 for requests' keep-alive connections: Content-Length bodies (gzip or not, the body is opaque),
no chunked requests. Each forwarded request gets its own upstream connection with `Connection: close`, so the
answer is read to its end whatever its framing; the client's connection stays alive when that framing allows.
Bounded: header and body sizes, connections, upstream time, stall time; leaving the block closes every socket
and joins the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import random
import socket
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 8 * 1024 * 1024
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"})
REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 413: "Content Too Large", 422: "Unprocessable"}
REASONS |= {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Unavailable"}


@dataclass(frozen=True)
class Action:
    """What the proxy does with one request. Build with the functions below (answer, stall, ...)."""

    kind: str  # pass, answer, stall, reset-before, reset-after, delay, late
    status: int = 0  # answer: the status the proxy gives itself, without forwarding
    seconds: float = 0.0  # answer 429: Retry-After; stall: how long to say nothing; delay, late: how long to hold
    forward: bool = False  # stall: forward first (the server commits, the answer never comes)

    @property
    def label(self) -> str:
        """The name it is counted under: pass, 500, 503, 429, stall, stall-after, reset-before, ..."""
        if self.kind == "answer":
            return str(self.status)
        if self.kind == "stall" and self.forward:
            return "stall-after"
        return self.kind


PASS = Action("pass")


def answer(status: int, *, retry_after: float = 0.0) -> Action:
    """Answer `status` without forwarding (with `Retry-After: N` when retry_after is given)."""
    return Action("answer", status=status, seconds=retry_after)


def stall(seconds: float, *, forward: bool = False) -> Action:
    """Read the request, say nothing for `seconds` (or until the client gives up), then close."""
    return Action("stall", seconds=seconds, forward=forward)


def reset_before() -> Action:
    """Reset the connection without forwarding: the server never sees the request."""
    return Action("reset-before")


def reset_after() -> Action:
    """Forward, let the server answer, then reset instead of passing the answer on."""
    return Action("reset-after")


def delay(seconds: float) -> Action:
    """Forward, hold the server's answer for `seconds`, then pass it on (a slow network)."""
    return Action("delay", seconds=seconds)


def late(seconds: float) -> Action:
    """Hold the request for `seconds` before forwarding it: with `seconds` past the client's timeout, it reaches
    the server after the client has given up on it and, likely, sent it again."""
    return Action("late", seconds=seconds)


class FaultPlan:
    """Chooses an action per request: the scripted ones first, in order, then by probability (seeded).

    Only requests whose path starts with one of `paths` are subject to the plan; the others always pass and
    consume nothing. `push` adds to the script while the proxy runs (e.g. "answer 422 to the next upload").
    """

    def __init__(
        self,
        *,
        script: Iterable[Action] = (),
        odds: dict[Action, float] | None = None,
        seed: int = 0,
        paths: tuple[str, ...] = ("/api/v1/events",),
    ) -> None:
        self.paths = paths
        self._script: deque[Action] = deque(script)
        self._odds = dict(odds or {})
        if sum(self._odds.values()) > 1:
            raise ValueError("the odds of the faults add up to more than 1")
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    @classmethod
    def mixed(cls, rate: float, actions: list[Action], *, seed: int = 0, paths: tuple[str, ...] = ("/",)) -> FaultPlan:
        """A fraction `rate` of requests fail, evenly among `actions`."""
        return cls(odds={a: rate / len(actions) for a in actions}, seed=seed, paths=paths)

    def push(self, *actions: Action) -> None:
        with self._lock:
            self._script.extend(actions)

    def set_odds(self, odds: dict[Action, float]) -> None:
        with self._lock:
            self._odds = dict(odds)

    def choose(self, path: str) -> Action:
        if not path.startswith(self.paths):
            return PASS
        with self._lock:
            if self._script:
                return self._script.popleft()
            roll = self._rng.random()
            for action, odds in self._odds.items():
                if roll < odds:
                    return action
                roll -= odds
        return PASS


@dataclass
class Record:
    """One request as the proxy saw it (monotonic times, this process)."""

    method: str
    path: str
    label: str
    received: float
    done: float = 0.0  # when the answer was written, or the connection closed or reset
    upstream: int | None = None  # the server's status, if the request was forwarded and answered
    body: bytes = field(default=b"", repr=False)  # as the client sent it (gzip stays gzip)


@dataclass
class _Request:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def for_upstream(self) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in self.headers if k.lower() not in HOP_BY_HOP]
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass
class _Stats:
    counts: Counter[str] = field(default_factory=Counter)
    records: list[Record] = field(default_factory=list)
    holding: int = 0  # answers the server gave that the proxy holds back (delay) right now
    holds: int = 0  # holds begun, ever


class FaultProxy:
    """A reverse proxy on 127.0.0.1 in front of `upstream` (http://127.0.0.1:PORT), misbehaving as planned."""

    def __init__(
        self,
        upstream: str,
        plan: FaultPlan | None = None,
        *,
        max_connections: int = 32,
        upstream_timeout_s: float = 30.0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1") or parts.port is None:
            raise ValueError(f"{upstream}: the fault proxy only fronts a loopback server with an explicit port")
        self.upstream = (parts.hostname, parts.port)
        self.plan = plan or FaultPlan()
        self.port = 0
        self.max_connections = max_connections
        self.upstream_timeout_s = upstream_timeout_s
        self._stats = _Stats()
        self._changed = threading.Condition()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faultproxy", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def counts(self) -> Counter[str]:
        """How many requests got each kind of treatment (by Action.label)."""
        with self._changed:
            return Counter(self._stats.counts)

    def records(self, path: str = "") -> list[Record]:
        """Every request so far whose path starts with `path`, in arrival order."""
        with self._changed:
            return [r for r in self._stats.records if r.path.startswith(path)]

    @property
    def holds(self) -> int:
        with self._changed:
            return self._stats.holds

    def wait_for_hold(self, after: int, timeout: float) -> bool:
        """Wait until a hold begun after the `after`-th is in progress: the server has committed the request
        and its answer has not reached the client. False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._stats.holds > after and self._stats.holding > 0, timeout)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"the fault proxy did not start: {self._error!r}")
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            raise RuntimeError("the fault proxy's thread did not stop")

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported by __enter__ if it happens before the server is up
            self._error = exc
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=MAX_HEAD)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()
            await asyncio.sleep(0)  # let the closed transports release their sockets

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._tasks) >= self.max_connections:
            writer.close()
            return
        self._tasks.add(task)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            pass  # the client went away or spoke nonsense: drop the connection
        except asyncio.CancelledError:
            pass  # the proxy is stopping; ending quietly keeps asyncio from logging the cancelled handler
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; True if the connection can take another."""
        request = await _read_request(reader)
        if request is None:
            return False
        action = self.plan.choose(request.path)
        record = Record(request.method, request.path, action.label, time.monotonic(), body=request.body)
        with self._changed:
            self._stats.counts[action.label] += 1
            self._stats.records.append(record)
        try:
            return await self._act(action, request, record, reader, writer)
        finally:
            record.done = time.monotonic()

    async def _act(
        self,
        action: Action,
        request: _Request,
        record: Record,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        if action.kind == "answer":
            writer.write(_canned(action.status, action.seconds))
            await writer.drain()
            return True
        if action.kind == "reset-before":
            _reset(writer)
            return False
        if action.kind == "stall" and not action.forward:
            await _say_nothing(reader, action.seconds)
            return False
        if action.kind == "late":
            await asyncio.sleep(action.seconds)
        try:
            reply, keep_alive = await self._forward(request, record)
        except (OSError, TimeoutError, ValueError):  # the server is down or broken: say so, as a gateway does
            reply, keep_alive = _canned(502, 0), False
        if action.kind == "reset-after":
            _reset(writer)
            return False
        if action.kind == "stall":
            await _say_nothing(reader, action.seconds)
            return False
        if action.kind == "delay":
            await self._hold(action.seconds)
        writer.write(reply)
        await writer.drain()
        return keep_alive

    async def _forward(self, request: _Request, record: Record) -> tuple[bytes, bool]:
        """The server's answer, ready for the client, and whether the client's connection may stay open."""
        host, port = self.upstream
        up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(host, port), self.upstream_timeout_s)
        try:
            up_writer.write(request.for_upstream())
            await up_writer.drain()
            raw = await asyncio.wait_for(_read_to_end(up_reader), self.upstream_timeout_s)
        finally:
            up_writer.close()
        reply, status, keep_alive = _relayed(raw)
        record.upstream = status
        return reply, keep_alive

    async def _hold(self, seconds: float) -> None:
        with self._changed:
            self._stats.holding += 1
            self._stats.holds += 1
            self._changed.notify_all()
        try:
            await asyncio.sleep(seconds)
        finally:
            with self._changed:
                self._stats.holding -= 1


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """The next request on a keep-alive connection; None if the client closed it between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers = [_header(line) for line in lines[1:] if line]
    names = {k.lower(): v for k, v in headers}
    if "chunked" in names.get("transfer-encoding", "").lower():
        raise ValueError("chunked request bodies are not supported by the fault proxy")
    length = int(names.get("content-length", "0"))
    if not 0 <= length <= MAX_BODY:
        raise ValueError(f"request body of {length} bytes")
    body = await reader.readexactly(length) if length else b""
    return _Request(method, path, headers, body)


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip(), value.strip()


async def _read_to_end(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await reader.read(65536):
        size += len(chunk)
        if size > MAX_BODY:
            raise ValueError("the server's answer is too large for the fault proxy")
        chunks.append(chunk)
    return b"".join(chunks)


def _relayed(raw: bytes) -> tuple[bytes, int, bool]:
    """The server's answer without its `Connection: close`; its status; whether its framing allows keep-alive."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ConnectionError("the server's answer was cut short")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = [_header(line) for line in lines[1:] if line]
    names = {k.lower() for k, _ in headers}
    framed = status in (204, 304) or "content-length" in names or "transfer-encoding" in names
    kept = [f"{k}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP]
    if not framed:
        kept.append("Connection: close")  # the body ends where the connection does
    return ("\r\n".join([lines[0], *kept]) + "\r\n\r\n").encode("latin-1") + body, status, framed


def _canned(status: int, retry_after: float) -> bytes:
    body = b'{"detail": "fault proxy: injected HTTP %d"}' % status
    headers = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}", "Content-Type: application/json"]
    if retry_after:
        headers.append(f"Retry-After: {round(retry_after)}")
    headers.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + body


async def _say_nothing(reader: asyncio.StreamReader, seconds: float) -> None:
    """Stall: no answer for `seconds`, or until the client gives up and closes its end."""
    with contextlib.suppress(TimeoutError, ConnectionError):
        await asyncio.wait_for(reader.read(1), seconds)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN: the client sees 'connection reset by peer'."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def offered_to_server(records: list[Record]) -> Counter[str]:
    """How often each event id reached the server in an upload it accepted (200): above 1 is a resend, after an
    answer was lost. For the kiosk's uploads (gzip JSON, docs/sync-protocol.md)."""
    offered: Counter[str] = Counter()
    for record in records:
        if record.upstream == 200 and record.body:
            offered.update(e["event_id"] for e in json.loads(gzip.decompress(record.body))["events"])
    return offered


def described(records: list[Record]) -> str:
    """Each request on one line, for a failing assertion: its label, the server's status, and how many events
    (and the first id) it carried, so that a batch sent twice shows as such."""
    lines = []
    for n, record in enumerate(records):
        try:
            ids = [e["event_id"] for e in json.loads(gzip.decompress(record.body))["events"]] if record.body else []
        except (OSError, ValueError, KeyError, TypeError):
            ids = []
        first = ids[0][:8] if ids else "-"
        lines.append(
            f"{n}: {record.label} upstream={record.upstream} events={len(ids)} first={first} "
            f"at {record.received:.3f}-{record.done:.3f}"
        )
    return "\n".join(lines)
