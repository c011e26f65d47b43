"""The HTTP API kiosks talk to (docs/sync-protocol.md). Stateless: any number of processes behind a balancer.

Each request is one transaction. A request the API cannot use is refused with a 4xx that says what was wrong;
an event is answered as held only after the transaction that stored it has committed.

No `from __future__ import annotations` here: FastAPI reads the route annotations at runtime.
"""

import gzip
import json
import logging
import threading
import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from central import __version__
from central.admission import Admission, pool_limit
from central.devices import TOKEN_TTL, Device, authenticate, challenge, enroll, issue_token, record_heartbeat
from central.diagnostics.routes import MAX_BODY as MAX_DIAGNOSTICS_BYTES
from central.diagnostics.routes import add_diagnostics_route
from central.errors import CentralError, Unauthenticated
from central.failover import add_failover_handler
from central.feed.routes import add_feed_route
from central.gzipped import json_answer
from central.ingest import ingest
from central.lists import config_document, status_list
from central.models import (
    MAX_BATCH,
    ChallengeRequest,
    ClaimAnswer,
    ClaimRequest,
    EnrollRequest,
    Heartbeat,
    TokenRequest,
    UploadAnswer,
    UploadRequest,
    VenuePassages,
    VisitsAnswer,
    VisitsUpload,
)
from central.passkeys import PassKey
from central.people import access_etag, access_list, list_etag
from central.ratelimit import AddressLimit, BodyLimit, Kind, RateLimiter, TooManyRequests, bearer_token
from central.releases.routes import add_release_route
from central.releases.store import releases_dir
from central.rollup import mark_heard
from central.timeutil import utcnow
from central.venuestate import claim, venue_passages
from central.visitingest import hold_visits
from central.web import add_web

MAX_VERSION = 2**63 - 1  # a database integer: a larger `since` was a server error (found by schemathesis)
MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # a batch of 500 events is about 200 KiB of JSON
MAX_OTHER_BYTES = 64 * 1024  # enrolment, authentication, heartbeat: a few hundred bytes each
MAX_VISITS_BYTES = 1024 * 1024  # 500 visits whose host and purpose are 80 escaped Vietnamese letters: about 600 KiB

log = logging.getLogger(__name__)


class PayloadTooLarge(CentralError):
    status = 413


class UnsupportedMediaType(CentralError):
    status = 415


def create_app(
    engine: Engine,
    secret: bytes,
    *,
    clock: Callable[[], datetime] = utcnow,
    pass_key: PassKey | None = None,
    secure_cookies: bool = False,
    rate_limits: RateLimiter | None = None,
    read_engine: Engine | None = None,
) -> FastAPI:
    """The app; `rate_limits` None means none (embedded uses: tests, the demo), `serve` passes the configured ones;
    `read_engine`: where the dashboard and tracing read (a standby, central/readside.py), None: on `engine`."""
    # No /docs or /redoc: they load Swagger UI from a public CDN. Signed-in staff get the OpenAPI document from
    # central/web/site_pages.py.
    app = FastAPI(
        title="kiosk-central",
        version=__version__,
        summary="Gate kiosks sync here (docs/sync-protocol.md)",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    admission = Admission(pool_limit(engine))  # the API's and the pages' transactions (central/admission.py)
    deps = _Deps(engine, clock, rate_limits or RateLimiter.unlimited(), admission)

    @app.exception_handler(CentralError)
    async def refused(_: Request, exc: CentralError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)

    add_failover_handler(app)  # 503 and Retry-After while the database fails over (central/failover.py)

    @app.get("/healthz")
    def health(conn: Annotated[Connection, Depends(deps.transaction, scope="function")]) -> dict[str, Any]:
        conn.exec_driver_sql("SELECT 1")
        return {"ok": True, "version": __version__, "database": engine.dialect.name}

    app.add_middleware(BodyLimit, limit_for=_body_limit)
    app.add_middleware(AddressLimit, limits=deps.limits, kind_for=_limited_as)  # added last: runs first
    _enrolment_routes(app, deps, secret)
    _sync_routes(app, deps)
    add_feed_route(app, engine, clock, deps.limits)  # GET /api/v1/events: the pull feed (docs/feeds.md)
    add_web(
        app, engine, clock, secret=secret, pass_key=pass_key, secure_cookies=secure_cookies, read_engine=read_engine,
        admission=admission,
    )  # fmt: skip
    return app


class _Deps:
    """What the routes share: one transaction per request, and the device a bearer token belongs to."""

    def __init__(
        self, engine: Engine, clock: Callable[[], datetime], limits: RateLimiter, admission: Admission
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.limits = limits
        self.admission = admission
        # One transaction per request, admitted first (central/admission.py). Used with scope="function": the commit
        # happens before the answer is sent. FastAPI's default ("request") commits after, so a client could act on
        # an answer (a nonce, an enrolment) not yet committed.
        self.transaction = admission.dependency(engine)
        # SQLite takes one writer at a time, and its busy handler (sleep, retry) can keep a writer waiting for
        # seconds behind later ones: uploads queue on this lock instead. PostgreSQL writes concurrently.
        sqlite = engine.dialect.name == "sqlite"
        self.writer: AbstractContextManager[object] = threading.Lock() if sqlite else nullcontext()

    def device(self, conn: Connection, authorization: str | None) -> Device:
        """The device of a bearer token. A token found good passes the address limit from now on (AddressLimit),
        one refused counts against it again."""
        token = bearer_token(authorization)
        if token is None:
            raise Unauthenticated("missing bearer token: authenticate at /api/v1/auth/token")
        try:
            device = authenticate(conn, token, self.clock())
        except CentralError:
            self.limits.distrust(token)
            raise
        self.limits.vouch(token)
        return device

    def admitted_device(self, conn: Connection, authorization: str | None) -> Device:
        """The token's device, counted against its rate limit (once per request: call this once)."""
        device = self.device(conn, authorization)
        self.limits.admit_device(device.id)
        return device


def _enrolment_routes(app: FastAPI, deps: _Deps, secret: bytes) -> None:
    Tx = Annotated[Connection, Depends(deps.transaction, scope="function")]

    @app.post("/api/v1/enroll", status_code=201)
    def enroll_device(body: EnrollRequest, conn: Tx) -> dict[str, Any]:
        now = deps.clock()
        enrolled = enroll(conn, body.code, body.public_key, body.name, now)
        config, _ = config_document(conn, enrolled.id, enrolled.venue_id, now)
        return {"device_id": enrolled.id, "venue": enrolled.venue, "subject_key_secret": secret.hex(), "config": config}

    @app.post("/api/v1/auth/challenge")
    def auth_challenge(body: ChallengeRequest, conn: Tx) -> dict[str, Any]:
        return {"nonce": challenge(conn, body.device_id, deps.clock()), "expires_in": 60}

    @app.post("/api/v1/auth/token")
    def auth_token(body: TokenRequest, conn: Tx) -> dict[str, Any]:
        token = issue_token(conn, body.device_id, body.nonce, body.signature, deps.clock())
        deps.limits.vouch(token)  # its first calls are not counted against a venue address a flood has emptied
        return {"token": token, "expires_in": int(TOKEN_TTL.total_seconds())}


def _sync_routes(app: FastAPI, deps: _Deps) -> None:
    Tx = Annotated[Connection, Depends(deps.transaction, scope="function")]

    def sender(conn: Tx, authorization: Annotated[str | None, Header()] = None) -> Device:
        return deps.admitted_device(conn, authorization)

    @app.post(
        "/api/v1/events",
        openapi_extra={"requestBody": {"content": {"application/json": {"schema": UploadRequest.model_json_schema()}}}},
        responses={413: {"description": "more than 500 events or 2 MiB"}, 422: {"description": "malformed events"}},
    )
    async def upload(request: Request) -> UploadAnswer:
        authorization = request.headers.get("authorization")
        # nothing is inflated or parsed for a stranger, nor for a device over its limit
        async with deps.admission:
            await run_in_threadpool(check_token, authorization)
        _check_json(request.headers.get("content-type"))
        body = _upload_body(await request.body(), request.headers.get("content-encoding", ""))
        async with deps.admission:
            return await run_in_threadpool(store_upload, authorization, body)

    def check_token(authorization: str | None) -> None:
        with deps.engine.begin() as conn:
            deps.admitted_device(conn, authorization)

    def store_upload(authorization: str | None, body: UploadRequest) -> UploadAnswer:
        with deps.writer, deps.engine.begin() as conn:
            device = deps.device(conn, authorization)
            now = deps.clock()
            held = ingest(conn, device, body.device_time, body.events, now)
        return UploadAnswer(held=held, server_time=now.isoformat())

    @app.get("/api/v1/config", responses={304: {"description": "unchanged since the ETag given"}})
    def config(
        conn: Tx, device: Annotated[Device, Depends(sender)], if_none_match: Annotated[str | None, Header()] = None
    ) -> Response:
        document, version = config_document(conn, device.id, device.venue_id, deps.clock())
        etag = f'"{version}"'
        if _unchanged(if_none_match, etag):
            return Response(status_code=304, headers={"ETag": etag})
        return JSONResponse(document, headers={"ETag": etag})

    @app.get("/api/v1/status-list")
    def status_changes(
        conn: Tx, device: Annotated[Device, Depends(sender)], since: Annotated[int, Query(ge=0, le=MAX_VERSION)] = 0
    ) -> dict[str, Any]:
        """The status list whole (since=0) or its changes after the version the kiosk holds."""
        return status_list(conn, deps.clock(), since)

    @app.post("/api/v1/heartbeat", status_code=204)
    def heartbeat(body: Heartbeat, conn: Tx, device: Annotated[Device, Depends(sender)]) -> Response:
        now = deps.clock()
        record_heartbeat(conn, device.id, body.model_dump(), now)
        mark_heard(conn, device.venue_id, now)
        return Response(status_code=204)

    _access_list_route(app, deps, sender)
    # GET /api/v1/releases/{version}/bundle (docs/updates.md), from the state directory `release add` keeps them in
    add_release_route(app, deps.transaction, sender, releases_dir(deps.engine.url.render_as_string()))
    _visits_route(app, deps, sender)
    _venue_routes(app, deps, sender)
    add_diagnostics_route(app, deps.transaction, sender, deps.clock)  # POST /api/v1/diagnostics


def _venue_routes(app: FastAPI, deps: _Deps, sender: Callable[..., Device]) -> None:
    """The venue's gates about each other (docs/venue-state.md)."""
    Tx = Annotated[Connection, Depends(deps.transaction, scope="function")]

    @app.get("/api/v1/venue-passages")
    def passages(
        conn: Tx,
        device: Annotated[Device, Depends(sender)],
        after: Annotated[str, Query(max_length=128, pattern=r"^[0-9A-Za-z:.+|-]*$")] = "",
    ) -> VenuePassages:
        """The ACCEPT passages of the venue's other gates received after the cursor (the last day's for none)."""
        found, cursor = venue_passages(conn, device.venue_id, device.id, after, deps.clock())
        return VenuePassages(passages=found, cursor=cursor)

    @app.post("/api/v1/claims")
    def claims(body: ClaimRequest, conn: Tx, device: Annotated[Device, Depends(sender)]) -> ClaimAnswer:
        """Claim the first entry on a single-use pass at the device's venue: first, or which gate has it."""
        first, holder, at = claim(conn, device.venue_id, device.id, body.subject_key, deps.clock())
        return ClaimAnswer(first=first, device_id=holder, at=at.isoformat() if at else None)


def _visits_route(app: FastAPI, deps: _Deps, sender: Callable[..., Device]) -> None:
    Tx = Annotated[Connection, Depends(deps.transaction, scope="function")]

    @app.post("/api/v1/visits", responses={422: {"description": "malformed visits, or more than 500"}})
    def visits(body: VisitsUpload, conn: Tx, device: Annotated[Device, Depends(sender)]) -> VisitsAnswer:
        """Visits opened at the device's gates (docs/access-list.md), held at its venue once each: a visit sent
        again is answered as held and not stored twice (the first copy is kept)."""
        return VisitsAnswer(held=hold_visits(conn, device, list(body.visits), deps.clock()))


def _access_list_route(app: FastAPI, deps: _Deps, sender: Callable[..., Device]) -> None:
    Tx = Annotated[Connection, Depends(deps.transaction, scope="function")]

    @app.get(
        "/api/v1/access-list",
        responses={
            200: {"description": "the venue's access list (docs/access-list.md), gzip when accepted"},
            304: {"description": "unchanged since the ETag given"},
        },
    )
    def venue_access_list(
        request: Request,
        conn: Tx,
        device: Annotated[Device, Depends(sender)],
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        """The access list of the device's venue; its ETag is checked against the list's version alone."""
        etag = access_etag(conn, device.venue_id)
        if _unchanged(if_none_match, etag):
            return Response(status_code=304, headers={"ETag": etag})
        document = access_list(conn, device.venue_id, deps.clock())
        headers = {"ETag": list_etag(document["version"])}  # the version read, should a change have come between
        return json_answer(document, headers, request.headers.get("accept-encoding"))


def _unchanged(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (among others, separated by commas)."""
    return bool(if_none_match) and etag in [v.strip() for v in str(if_none_match).split(",")]


STRANGER_PATHS = frozenset({"/api/v1/enroll", "/api/v1/auth/challenge", "/api/v1/auth/token"})


def _limited_as(path: str) -> Kind | None:
    """How the address limit counts a call to `path`: every enrolment or authentication call, and any other API
    call whose token is not known good (the staff pages and /healthz are not limited here)."""
    if path in STRANGER_PATHS:
        return "stranger"
    return "bearer" if path.startswith("/api/") else None


def _body_limit(path: str) -> int | None:
    """The largest body the API reads at `path` (the staff pages set their own); an upload's may be gzip of
    incompressible bytes, a little larger than what it inflates to."""
    if path == "/api/v1/events":
        return MAX_UPLOAD_BYTES + 64 * 1024
    if path == "/api/v1/visits":
        return MAX_VISITS_BYTES
    if path == "/api/v1/diagnostics":
        return MAX_DIAGNOSTICS_BYTES
    return MAX_OTHER_BYTES if path.startswith("/api/") else None


def _check_json(content_type: str | None) -> None:
    """None is read as JSON, as FastAPI does for the other routes; any other media type is refused."""
    if content_type is not None and content_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType(f"Content-Type {content_type[:60]!r}: the events are sent as application/json")


def _upload_body(raw: bytes, encoding: str) -> UploadRequest:
    if encoding.strip().lower() == "gzip":
        raw = _gunzip(raw)
    if len(raw) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"upload larger than {MAX_UPLOAD_BYTES} bytes: send at most {MAX_BATCH} events")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise CentralError("body is not JSON") from None
    if isinstance(data, dict) and isinstance(data.get("events"), list) and len(data["events"]) > MAX_BATCH:
        raise PayloadTooLarge(f"more than {MAX_BATCH} events in one batch")
    try:
        return UploadRequest.model_validate(data)
    except ValidationError as exc:
        raise MalformedUpload(exc) from None


def _gunzip(raw: bytes) -> bytes:
    try:
        inflater = zlib.decompressobj(wbits=31)
        data = inflater.decompress(raw, MAX_UPLOAD_BYTES + 1)
    except (zlib.error, gzip.BadGzipFile):
        raise CentralError("Content-Encoding says gzip but the body is not gzip") from None
    if len(data) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"upload inflates to more than {MAX_UPLOAD_BYTES} bytes")
    if not inflater.eof:  # cut short: the end of the stream, and its CRC check, never came
        raise CentralError("the gzip body is truncated")
    return data


class MalformedUpload(CentralError):
    status = 422

    def __init__(self, exc: ValidationError) -> None:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10]]
        super().__init__("; ".join(problems))
