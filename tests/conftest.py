"""Shared fixtures: real QR images made with segno, real gpiozero mock pins, SQLite in a temp dir."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno
from browser import browser, page  # noqa: F401 (fixtures: headless Chromium)
from central_fixtures import db_url  # noqa: F401
from gpiozero.pins.mock import MockFactory, MockPWMPin

DATA = Path(__file__).parent / "data"
QR_SAMPLES = DATA / "qr"


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`make test` runs `-n`), each worker gets a PostgreSQL database of its own in the run's
    cluster, `<database>_<worker>`, made here when missing: the central tests reset the `public` schema of the
    database in $KIOSK_TEST_PG_URL, and two workers resetting one schema would pull it from under each other."""
    from central_fixtures import PG_ENV

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    base = os.environ.get(PG_ENV)
    if not worker or not base:
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    url = make_url(base)
    name = f"{url.database}_{worker}"
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    os.environ[PG_ENV] = url.set(database=name).render_as_string(hide_password=False)


def qr_image(payload: str | bytes, *, scale: int = 6, border: int = 4, error: str = "m") -> np.ndarray:
    """A clean grey QR image of `payload` (UTF-8 byte mode for text, as Vietnamese ID cards write it)."""
    if isinstance(payload, bytes):
        qr = segno.make_qr(payload, error=error, mode="byte")
    else:
        qr = segno.make_qr(payload, error=error, encoding="utf-8" if not payload.isascii() else None)
    modules = np.array(qr.matrix, dtype=np.uint8)
    image = np.pad((1 - modules) * 255, border, constant_values=255).astype(np.uint8)
    return np.kron(image, np.ones((scale, scale), dtype=np.uint8))


def on_canvas(code: np.ndarray, *, size: tuple[int, int] = (480, 640), at: tuple[int, int] = (60, 80)) -> np.ndarray:
    """`code` placed on a mid-grey camera-sized frame (height, width)."""
    frame = np.full(size, 128, dtype=np.uint8)
    y, x = at
    frame[y : y + code.shape[0], x : x + code.shape[1]] = code
    return frame


def degrade(image: np.ndarray, *, blur: int = 3, noise: float = 6.0, tilt: float = 0.08, seed: int = 0) -> np.ndarray:
    """A camera's view of `image`: perspective tilt, defocus blur and sensor noise."""
    rng = np.random.default_rng(seed)
    h, w = image.shape
    d = tilt * w
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[d, d / 2], [w - d / 3, 0], [w, h - d / 2], [d / 2, h]])
    warped = cv2.warpPerspective(image, cv2.getPerspectiveTransform(src, dst), (w, h), borderValue=255)
    if blur:
        warped = cv2.GaussianBlur(warped, (0, 0), blur / 3)
    noisy = warped.astype(np.float32) + rng.normal(0, noise, warped.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def write_images(folder: Path, frames: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), frame)
    return folder


def timed(call: Callable[[], object], tries: int = 3) -> tuple[object, float]:
    """What `call` returns (or raises), and the least seconds it took over `tries` calls, garbage collection of
    the tests excluded. For the parsers' guard against pathological input: a parse that is slow every time.

    A full collection of hypothesis's own garbage can take 60 ms, and a busy machine can pause a process for
    longer: neither is the parser's time, so one slow call is not enough to fail.
    """
    best = float("inf")
    outcome: object = None
    gc.disable()
    try:
        for _ in range(tries):
            started = time.perf_counter()
            try:
                outcome = call()
            except Exception as exc:
                outcome = exc
            best = min(best, time.perf_counter() - started)
            if best < 0.01:
                break
        return outcome, best
    finally:
        gc.enable()


@pytest.fixture
def mock_factory() -> Iterator[MockFactory]:
    """gpiozero's MockFactory with PWM-capable pins, reset afterwards (it keeps pin state at class level)."""
    factory = MockFactory(pin_class=MockPWMPin)
    try:
        yield factory
    finally:
        factory.reset()


CCCD_AN = "001090012345|123456789|Nguyễn Văn An|01021990|Nam|Số 12 Phố Huế, Phường Hàng Bài, Hà Nội|15082021"
PCCOVID_AN = "001090012345|NGUYEN VAN AN|1990-02-01|1|Q0123456789ABCDE|<1<0912345678<"
