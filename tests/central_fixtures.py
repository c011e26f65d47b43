"""Fixtures for the central server's tests: a fresh database of each kind, a real server on loopback, a device.

- `db_url`: a fresh, migrated database for each test: a SQLite file in tmp_path, and PostgreSQL too when
  $KIOSK_TEST_PG_URL is set (the test command sets it from scripts/test-postgres.sh).
- `CentralServer`: `central.api.create_app` served by uvicorn on 127.0.0.1 and a free port.
- `DeviceClient`: what a kiosk does over HTTP (enrol, challenge, token, upload), with its own Ed25519 key.

Not a conftest, so that tests name what they use; tests/conftest.py imports `db_url` from here. The central
server's packages (fastapi, uvicorn, sqlalchemy) are imported only when used: a kiosk installed without the
`central` extra still runs its own tests.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from kiosk.redact import redact_url

if TYPE_CHECKING:
    import uvicorn
    from sqlalchemy import Engine

PG_ENV = "KIOSK_TEST_PG_URL"
SECRET = bytes(range(32))  # the centre's subject-key secret in tests
HTTP_TIMEOUT_S = 30.0
# uvicorn's loggers without handlers of their own, passing their lines to the root logger (as under journald).
# An earlier server in the same test run may have given them handlers and turned propagation off: this undoes it.
TO_ROOT_LOGGER = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {name: {"handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
}


def database_urls() -> list[str]:
    """The kinds of database the central tests run on: SQLite always, PostgreSQL when $KIOSK_TEST_PG_URL is set."""
    return ["sqlite", "postgresql"] if os.environ.get(PG_ENV) else ["sqlite"]


@pytest.fixture(params=database_urls())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database migrated to the latest schema, as a URL `central.db.connect` takes."""
    return fresh_database(request.param, tmp_path)


def fresh_database(kind: str, tmp_path: Path) -> str:
    from central.db import connect

    url = f"sqlite:///{tmp_path / 'central.db'}" if kind == "sqlite" else reset_postgres(os.environ[PG_ENV])
    connect(url).dispose()  # migrates
    return url


def reset_postgres(url: str) -> str:
    """An empty `public` schema in the test database; fails the test (no skip) if PostgreSQL cannot be reached."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.pool import NullPool

    from central.db import resolve_url

    url = resolve_url(url)
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    try:
        try:
            conn = engine.connect()
        except OperationalError as exc:
            unreachable = str(exc.orig)  # failed outside this block, so that pytest shows no chained traceback
        else:
            unreachable = ""
        if unreachable:
            pytest.fail(
                f"${PG_ENV} is set to {redact_url(url)} but PostgreSQL cannot be reached: {unreachable}\n"
                f"start it with scripts/test-postgres.sh, or unset {PG_ENV} to test on SQLite only",
                pytrace=False,
            )
        with conn, conn.begin():
            # A connection a test left open would block the DROP for ever: an error after 10 s instead.
            conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()
    return url


class FakeClock:
    """The server's clock, moved by the test (`create_app(clock=...)`): expiries and received times follow it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class CentralServer:
    """The central API served by uvicorn on 127.0.0.1 and a free port, in a thread of the test process.

    A thread rather than `kiosk-central serve` in a subprocess: the test then gives the server its clock
    (`FakeClock`) and secret, reads the database through the same engine, and start-up takes a fraction of a
    second. bench/ingest.py runs the subprocess, as deployed. The listening socket is bound here before the
    thread starts (port 0), so there is no race for a "free" port.
    """

    def __init__(
        self,
        db_url: str,
        *,
        clock: Callable[[], datetime] | None = None,
        secret: bytes = SECRET,
        pass_key: Any = None,
        start_timeout_s: float = 10.0,
        access_log: bool = False,
        read_url: str | None = None,
        pool: dict[str, Any] | None = None,
    ) -> None:
        self.db_url = db_url
        self.pool = pool or {}  # create_engine's pool options for the server's engine (pool_size, max_overflow...)
        self.read_url = read_url  # where the dashboard and tracing read (a standby; central/readside.py)
        self.access_log = access_log  # uvicorn's access lines, to the root logger (as journald gets them)
        self.clock = clock or FakeClock()
        self.secret = secret
        self.pass_key = pass_key  # a central.passkeys.PassKey: the declaration form issues passes
        self.start_timeout_s = start_timeout_s
        self.url = ""
        self._engine: Engine | None = None
        self._read_engine: Engine | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._threads_before: set[threading.Thread] = set()

    @property
    def engine(self) -> Engine:
        """The server's own engine: what tests read the database through."""
        assert self._engine is not None, "the server is not running: use it as a context manager"
        return self._engine

    def __enter__(self) -> CentralServer:
        import uvicorn

        from central.api import create_app
        from central.db import connect
        from central.readside import read_engine

        self._threads_before = set(threading.enumerate())
        self._engine = connect(self.db_url, **self.pool)
        if self.pass_key is not None:
            from central.passkeys import publish

            with self._engine.begin() as conn:
                publish(conn, self.pass_key, self.clock())
        reads = read_engine(self.read_url) if self.read_url else None
        self._read_engine = reads
        app = create_app(self._engine, self.secret, clock=self.clock, pass_key=self.pass_key, read_engine=reads)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(
            app,
            log_level="info" if self.access_log else "warning",
            access_log=self.access_log,
            log_config=TO_ROOT_LOGGER if self.access_log else uvicorn.config.LOGGING_CONFIG,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="central-server", daemon=True
        )
        self._thread.start()
        self._wait_started()
        return self

    def _wait_started(self) -> None:
        assert self._server is not None and self._thread is not None
        deadline = time.monotonic() + self.start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the central server did not start within {self.start_timeout_s} s at {self.url}")
            time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving, close the socket and the engine, and check that no thread of the server is left."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout_s)
        if self._socket is not None:
            self._socket.close()
        if self._engine is not None:
            self._engine.dispose()
        if self._read_engine is not None:
            self._read_engine.dispose()
            self._read_engine = None
        thread, self._thread, self._server, self._socket, self._engine = self._thread, None, None, None, None
        if thread is not None and thread.is_alive():
            raise RuntimeError(f"the central server at {self.url} did not stop within {2 * timeout_s} s")
        self._check_no_threads_left(timeout_s)

    def _check_no_threads_left(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while left := [t for t in threading.enumerate() if t not in self._threads_before and t.is_alive()]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"threads left behind by the central server: {[t.name for t in left]}")
            left[0].join(0.05)


@contextmanager
def kiosk_central_serve(
    *args: str,
    options: tuple[str, ...] = (),
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 30.0,
) -> Iterator[str]:
    """`kiosk-central ARGS... serve --port P OPTIONS...` in a subprocess, as deployed; yields its base URL once
    /healthz answers, and stops it (SIGTERM) on leaving."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "central", *args, "serve", "--port", str(port), *options]
    server = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base, server, timeout_s)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stderr:
            server.stderr.close()


def _wait_up(base: str, server: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.poll() is None, server.stderr.read().decode() if server.stderr else "serve exited"
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"kiosk-central serve did not answer at {base}")


def add_unit(engine: Engine, code: str = "HN", name: str = "Hà Nội", parent: str | None = None) -> None:
    from central.admin import add_unit as add

    with engine.begin() as conn:
        add(conn, code, name, parent, datetime.now(UTC))


def add_venue(engine: Engine, code: str = "V1", unit: str = "HN", category: str = "hospital") -> None:
    from central.admin import add_venue as add

    with engine.begin() as conn:
        add(conn, code, f"Venue {code}", unit, category, datetime.now(UTC))


def new_enroll_code(engine: Engine, venue: str = "V1", now: datetime | None = None) -> str:
    """A one-time enrolment code for `venue`, made at `now` (default: the real time) and valid 24 hours on."""
    from central.admin import make_enroll_code

    with engine.begin() as conn:
        return make_enroll_code(conn, venue, now or datetime.now(UTC))


def setup_venue(engine: Engine, venue: str = "V1", unit: str = "HN", now: datetime | None = None) -> str:
    """A unit (if missing) and a venue in it; returns an enrolment code for the venue, made at `now`."""
    from sqlalchemy import select

    from central.schema import units

    with engine.connect() as conn:
        exists = conn.execute(select(units.c.id).where(units.c.code == unit)).first()
    if exists is None:
        add_unit(engine, unit)
    add_venue(engine, venue, unit)
    return new_enroll_code(engine, venue, now)


def make_event(
    *,
    event_id: str | None = None,
    boot_id: str = "boot-1",
    seq: int = 1,
    wall_time: float | None = None,
    mono_time: float = 100.0,
    clock_synced: bool = True,
    **fields: Any,
) -> dict[str, Any]:
    """An event as a kiosk uploads it (docs/sync-protocol.md); `fields` override the rest."""
    event = {
        "event_id": event_id or str(uuid.uuid4()),
        "boot_id": boot_id,
        "seq": seq,
        "wall_time": time.time() if wall_time is None else wall_time,
        "mono_time": mono_time,
        "clock_synced": clock_synced,
        "direction": "in",
        "kind": "cccd",
        "subject_key": uuid.uuid4().hex,
        "decision": "ACCEPT",
        "reason": "logged",
        "decoder": "zxing",
        "latency_ms": 4.2,
    }
    return {**event, **fields}


def make_events(count: int, **fields: Any) -> list[dict[str, Any]]:
    return [make_event(seq=n + 1, mono_time=100.0 + n, **fields) for n in range(count)]


def device_time(
    *, wall: float | None = None, mono: float = 10_000.0, boot_id: str = "boot-1", synced: bool = True
) -> dict[str, Any]:
    return {"wall": time.time() if wall is None else wall, "mono": mono, "boot_id": boot_id, "synced": synced}


class DeviceClient:
    """A kiosk as the server sees it, over HTTP with `requests`: an Ed25519 key, enrolment, signed challenges."""

    def __init__(self, base_url: str, *, name: str = "test-gate") -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.key = Ed25519PrivateKey.generate()
        self.session = requests.Session()
        self.device_id = ""
        self.venue = ""
        self.token = ""
        self.enrolment: dict[str, Any] = {}

    def __enter__(self) -> DeviceClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def twin(self) -> DeviceClient:
        """The same device (key, id, token) on a connection of its own: a kiosk retrying while a request hangs."""
        other = DeviceClient(self.base_url, name=self.name)
        other.key, other.device_id, other.venue, other.token = self.key, self.device_id, self.venue, self.token
        return other

    @property
    def public_key(self) -> str:
        return base64.b64encode(self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.post(self.base_url + path, json=body, timeout=HTTP_TIMEOUT_S, **kwargs)

    def enroll(self, code: str, *, public_key: str | None = None) -> requests.Response:
        """POST /enroll; on 201 the device id, venue and first config are kept."""
        answer = self.post(
            "/api/v1/enroll", {"code": code, "public_key": public_key or self.public_key, "name": self.name}
        )
        if answer.status_code == 201:
            self.enrolment = answer.json()
            self.device_id, self.venue = self.enrolment["device_id"], self.enrolment["venue"]
        return answer

    def challenge(self, device_id: str | None = None) -> requests.Response:
        return self.post("/api/v1/auth/challenge", {"device_id": device_id or self.device_id})

    def sign(self, nonce: str, device_id: str | None = None) -> str:
        message = b"kiosk-auth-v1\n" + (device_id or self.device_id).encode() + b"\n" + nonce.encode()
        return base64.b64encode(self.key.sign(message)).decode()

    def request_token(
        self, nonce: str, signature: str | None = None, device_id: str | None = None
    ) -> requests.Response:
        body = {"device_id": device_id or self.device_id, "nonce": nonce, "signature": signature or self.sign(nonce)}
        return self.post("/api/v1/auth/token", body)

    def authenticate(self) -> str:
        """Challenge, sign, token: the bearer token, kept for the calls that follow."""
        challenged = self.challenge()
        assert challenged.status_code == 200, challenged.text
        answer = self.request_token(challenged.json()["nonce"])
        assert answer.status_code == 200, answer.text
        self.token = answer.json()["token"]
        return self.token

    def auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def upload(
        self, events: list[dict[str, Any]], *, clock: dict[str, Any] | None = None, compress: bool = True
    ) -> requests.Response:
        """POST /events as the kiosk sends it: JSON, gzip-compressed unless `compress` is false."""
        body = json.dumps({"device_time": clock or device_time(), "events": events}).encode()
        return self.upload_raw(gzip.compress(body, 6) if compress else body, gzipped=compress)

    def upload_raw(self, body: bytes, *, gzipped: bool = False) -> requests.Response:
        headers = {"Content-Type": "application/json", **self.auth_header()}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        return self.session.post(self.base_url + "/api/v1/events", data=body, headers=headers, timeout=HTTP_TIMEOUT_S)

    def config(self, etag: str | None = None) -> requests.Response:
        headers = {**self.auth_header(), **({"If-None-Match": etag} if etag else {})}
        return self.session.get(self.base_url + "/api/v1/config", headers=headers, timeout=HTTP_TIMEOUT_S)

    def heartbeat(self, body: dict[str, Any]) -> requests.Response:
        return self.post("/api/v1/heartbeat", body, headers=self.auth_header())

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.base_url + path, headers=self.auth_header(), timeout=HTTP_TIMEOUT_S, **kwargs)


def enrolled_device(server: CentralServer, venue: str = "V1", *, name: str = "test-gate") -> DeviceClient:
    """A device enrolled at `venue` (made if missing) and holding a token."""
    from sqlalchemy import select

    from central.schema import venues

    with server.engine.connect() as conn:
        exists = conn.execute(select(venues.c.id).where(venues.c.code == venue)).first()
    now = server.clock()
    code = new_enroll_code(server.engine, venue, now) if exists else setup_venue(server.engine, venue, now=now)
    device = DeviceClient(server.url, name=name)
    answer = device.enroll(code)
    assert answer.status_code == 201, answer.text
    device.authenticate()
    return device
