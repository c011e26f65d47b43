"""A central server on loopback for the demo: SQLite in the demo's directory, uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn
from sqlalchemy import func, select

from central.admin import add_unit, add_venue, make_enroll_code
from central.api import create_app
from central.db import connect
from central.passkeys import load_pass_key, publish
from central.schema import events
from central.timeutil import utcnow


class LocalCentral:
    """`with LocalCentral(dir, secret) as central:` a real central server at `central.url` until the block ends."""

    def __init__(
        self, directory: Path, secret: bytes, *, tls: tuple[Path, Path] | None = None, port: int | None = None
    ) -> None:
        self.engine = connect(f"sqlite:///{directory / 'central.db'}")
        pass_key = load_pass_key(directory / "central.pass-key", announce=False)  # the declaration form's passes
        with self.engine.begin() as conn:
            publish(conn, pass_key, utcnow())
        self.port = port if port is not None and _is_free(port) else _free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(self.engine, secret, pass_key=pass_key),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ssl_certfile=str(tls[0]) if tls else None,
            ssl_keyfile=str(tls[1]) if tls else None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="central", daemon=True)

    def __enter__(self) -> LocalCentral:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the local central server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.engine.dispose()

    def venue_with_code(self, unit: tuple[str, str], venue: tuple[str, str], category: str) -> str:
        """Register a unit and a venue; an enrolment code for the venue."""
        now = utcnow()
        with self.engine.begin() as conn:
            add_unit(conn, unit[0], unit[1], None, now)
            add_venue(conn, venue[0], venue[1], unit[0], category, now)
            return make_enroll_code(conn, venue[0], now)

    def events_held(self, device_id: str) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(select(func.count()).where(events.c.device_id == device_id)).scalar_one())


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no obstacle
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
