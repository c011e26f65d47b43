"""Request limits for the kiosk API: how often and how big.

How often: a token bucket per device, and one per address for the calls of those not known to be a device: every
enrolment, challenge and token call, and every call with a token this process has not seen valid (missing,
made up, expired, or not yet seen here). `AddressLimit` takes from the address's bucket before the app reads the
body or the database, so a flood of made-up tokens from one address is answered 429 instead of costing a lookup
each, while a kiosk whose token was found good passes free, even from an address that flood has emptied.

How big: `BodyLimit` refuses an API request body over its size with 413 before reading it (by its Content-Length)
or as soon as it streams past the limit, so no client can make the server hold a body of any size in memory.

A bucket holds up to `burst` requests and refills at `rate` a second. A request that finds its bucket empty is
answered 429 with Retry-After, the whole seconds until a token is back; the kiosk's uploader waits that long and
sends the same batch again, so a limited kiosk is slowed, never made to drop anything. The defaults let a kiosk
drain a three-day backlog at full speed (bench/drain.py: 200 batches of 500 in a few seconds) without a 429.

The buckets, and the tokens found good, live in the memory of one server process. With `serve --workers N` each
process keeps its own, so a device spread over the processes by a balancer gets up to N times its limit, and its
first call with a token to a process that has not seen it counts once against its address. That still stops one
broken or hostile device or address from taking the server, which is what the limits are for; a limit shared by
all processes would cost a round trip to a shared store on every request.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from hashlib import sha256
from typing import Literal

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from central.errors import CentralError

DEVICE_ENV = "KIOSK_CENTRAL_DEVICE_LIMIT"
ADDRESS_ENV = "KIOSK_CENTRAL_ADDRESS_LIMIT"
MAX_KEYS = 100_000  # buckets kept per kind; the least recently used goes first (it comes back full)
_SPEC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|min)\s*,\s*(\d+)\s*$")
_FORMAT = "RATE/s,BURST or RATE/min,BURST (for example 10/s,600), or off"


class TooManyRequests(CentralError):
    """Over the limit: try again after `retry_after` seconds."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    """`burst` requests at once, then `rate` a second."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"a limit needs a rate above 0 and a burst of at least 1, not {self}")

    def __str__(self) -> str:
        return f"{self.rate:g}/s,{self.burst}"


DEVICE_LIMIT = Limit(rate=10.0, burst=600)
ADDRESS_LIMIT = Limit(rate=10.0, burst=300)


def parse_limit(text: str, where: str) -> Limit | None:
    """A limit written as `10/s,600` or `600/min,600`; None for `off`. `where` names the setting in the error."""
    if text.strip().lower() == "off":
        return None
    match = _SPEC.match(text)
    if match is None:
        raise ValueError(f"{where}: {text!r} is not {_FORMAT}")
    rate, per, burst = float(match[1]), match[2], int(match[3])
    try:
        return Limit(rate / (60.0 if per == "min" else 1.0), burst)
    except ValueError:
        raise ValueError(f"{where}: {text!r}: the rate must be above 0 and the burst at least 1") from None


class Buckets:
    """One token bucket per key (a device id, an address), all with the same limit; safe across threads."""

    def __init__(self, limit: Limit, *, clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_KEYS):
        self.limit = limit
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()
        self.refused = 0  # requests answered 429, since the start

    def take(self, key: str) -> float:
        """Take a token for `key`: 0.0 if there was one, else the seconds until there is (nothing taken)."""
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.pop(key, (float(self.limit.burst), now))
            tokens = min(float(self.limit.burst), tokens + (now - at) * self.limit.rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.limit.rate
            self._buckets[key] = (tokens - 1.0 if wait == 0.0 else tokens, now)
            self.refused += wait > 0.0
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            return wait

    def __len__(self) -> int:
        return len(self._buckets)


class KnownTokens:
    """Bearer tokens found good by this process (their digests), the least recently used forgotten first."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self._max_keys = max_keys
        self._digests: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, token: str) -> None:
        key = _digest(token)
        with self._lock:
            self._digests[key] = None
            self._digests.move_to_end(key)
            if len(self._digests) > self._max_keys:
                self._digests.popitem(last=False)

    def discard(self, token: str) -> None:
        with self._lock:
            self._digests.pop(_digest(token), None)

    def __contains__(self, token: str) -> bool:
        with self._lock:
            return _digest(token) in self._digests

    def __len__(self) -> int:
        return len(self._digests)


def _digest(token: str) -> bytes:
    return sha256(token.encode()).digest()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None if there is none."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    return authorization.removeprefix("Bearer ").strip() or None


class RateLimiter:
    """The API's limits: per device on the calls with a good token, per address on the others. None: no limit."""

    def __init__(
        self,
        device: Limit | None = DEVICE_LIMIT,
        address: Limit | None = ADDRESS_LIMIT,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.devices = None if device is None else Buckets(device, clock=clock)
        self.addresses = None if address is None else Buckets(address, clock=clock)
        self.known = KnownTokens()

    @classmethod
    def unlimited(cls) -> RateLimiter:
        return cls(None, None)

    def admit_device(self, device_id: str) -> None:
        """Raises TooManyRequests if this device is over its limit."""
        _admit(self.devices, device_id, "this device sends too many requests")

    def admit_address(self, address: str) -> None:
        """Raises TooManyRequests if this address is over its limit for enrolment and authentication."""
        _admit(self.addresses, address, "too many enrolment or authentication requests from this address")

    def admit_bearer(self, address: str, token: str | None) -> None:
        """Before `token` is looked up: a token found good before passes free; any other is counted against
        `address` (TooManyRequests when over), so made-up tokens cost a lookup each only within the limit."""
        if self.addresses is None or (token is not None and token in self.known):
            return
        _admit(self.addresses, address, "too many requests without a valid token from this address")

    def vouch(self, token: str) -> None:
        """`token` was found good (or was just issued): its calls no longer count against their address."""
        if self.addresses is not None:
            self.known.add(token)

    def distrust(self, token: str | None) -> None:
        """`token` was refused (expired, revoked): its next call counts against its address again."""
        if token is not None:
            self.known.discard(token)

    def __str__(self) -> str:
        device = "off" if self.devices is None else self.devices.limit
        address = "off" if self.addresses is None else self.addresses.limit
        return f"per device {device}, per address {address}"


def _admit(buckets: Buckets | None, key: str, what: str) -> None:
    if buckets is None:
        return
    wait = buckets.take(key)
    if wait > 0.0:
        seconds = max(1, math.ceil(wait))
        raise TooManyRequests(f"{what}: limit {buckets.limit}; retry after {seconds} s", seconds)


def limiter_from_env(environ: Mapping[str, str]) -> RateLimiter:
    """The limits of $KIOSK_CENTRAL_DEVICE_LIMIT and $KIOSK_CENTRAL_ADDRESS_LIMIT, each defaulting to ours."""
    device, address = environ.get(DEVICE_ENV), environ.get(ADDRESS_ENV)
    return RateLimiter(
        DEVICE_LIMIT if device is None else parse_limit(device, f"${DEVICE_ENV}"),
        ADDRESS_LIMIT if address is None else parse_limit(address, f"${ADDRESS_ENV}"),
    )


Kind = Literal["stranger", "bearer"]


class AddressLimit:
    """ASGI middleware: the per-address limit, taken before the app reads the body or the database.

    `kind_for(path)` says how a path is limited: "stranger" (enrolment, authentication: every call counts),
    "bearer" (a call with a token: counts unless the token was found good before), None (not here)."""

    def __init__(self, app: ASGIApp, limits: RateLimiter, kind_for: Callable[[str], Kind | None]) -> None:
        self.app = app
        self.limits = limits
        self.kind_for = kind_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = self.kind_for(scope["path"]) if scope["type"] == "http" else None
        if kind is not None:
            client = scope.get("client")
            address = str(client[0]) if client else "unknown"
            try:
                if kind == "stranger":
                    self.limits.admit_address(address)
                else:
                    self.limits.admit_bearer(address, bearer_token(_header(scope, b"authorization")))
            except TooManyRequests as exc:
                headers = {"Retry-After": str(exc.retry_after), "Connection": "close"}  # the body is not read
                await JSONResponse({"detail": str(exc)}, status_code=429, headers=headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class BodyLimit:
    """ASGI middleware: a request body over `limit_for(path)` bytes is refused with 413 (None: no limit)."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int | None]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for(scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:  # chunked, or a Content-Length that lied: stop reading here
                raise HTTPException(413, f"request body over {limit} bytes")
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _too_large(limit: int) -> JSONResponse:
    detail = {"detail": f"request body over {limit} bytes"}
    return JSONResponse(detail, status_code=413, headers={"Connection": "close"})  # the rest is not read
