"""`kiosk demo`: the whole loop on bundled media, with mock GPIO shown as a live status line, and a summary.

The media (`media/gate.mp4`) is a synthetic film of people showing CCCD cards and PC-Covid phone codes to a
gate camera, made by scripts/make_demo_media.py; every person in it is fictitious. One of them is on the
demo's denylist, so the demo shows a refusal as well.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from gpiozero.pins.mock import MockFactory, MockPWMPin

from kiosk.app import Kiosk, assemble
from kiosk.camera.files import VideoFileSource
from kiosk.config import KioskConfig
from kiosk.credentials import Identity, SubjectKeyer
from kiosk.demo.accounting import Outcome, Presentation, account
from kiosk.demo.central import LocalCentral
from kiosk.demo.display import DemoDisplay
from kiosk.hardware.feedback import FeedbackFanout
from kiosk.hardware.gpio import GpioFeedback, GpioPins
from kiosk.sync.enrol import enrol_device

MEDIA = Path(__file__).parent / "media"
# Published, demo-only secret: subject keys made with it protect nothing. Never use it on a real gate.
DEMO_SECRET = "de30" * 16
DENIED_ID = "074083001122"  # the demo's denylisted (fictitious) person
DEMO_PORT = 8080  # the central server's, when free (else any free port)


COOLDOWN_S = 5.0  # film seconds: one person showing the same code again at once is one passage


def demo_config(state_dir: Path, speed: float = 1.0) -> KioskConfig:
    """The demo gate. Its debounce windows are in the film's time (divided by `speed`), so the film played
    faster gives the same passages: the same code shown again at once is one passage at any speed."""
    denied = SubjectKeyer(bytes.fromhex(DEMO_SECRET)).key(Identity("VN-ID", DENIED_ID))
    return KioskConfig.model_validate(
        {
            "state_dir": str(state_dir),
            "device": {"id": "demo-kiosk", "venue": "DEMO-GATE-01", "direction": "in"},
            "camera": {"source": str(MEDIA / "gate.mp4"), "realtime": True},
            "decode": {"decoders": ["zxing", "pyzbar"]},
            "debounce": {"cooldown_s": COOLDOWN_S / speed, "absent_s": 1.0 / speed},
            "policy": {"denylist": [denied]},
            "feedback": {"outputs": ["gpio"], "gpio": {"pin_factory": "mock", "relay_hold_s": 1.5, "light_s": 1.0}},
            "sync": {"poll_s": 0.5, "heartbeat_s": 5, "config_s": 30},
        }
    )


def run_demo(
    state_dir: Path | None = None,
    *,
    speed: float = 1.0,
    out: TextIO = sys.stdout,
    wait: Callable[[], None] | None = None,
) -> int:
    """Run the demo; returns the process exit code. With `wait`, the central server stays up (for a browser)
    until `wait` returns, e.g. on Ctrl-C."""
    temporary = state_dir is None
    state = Path(tempfile.mkdtemp(prefix="kiosk-demo-")) if state_dir is None else state_dir
    state.mkdir(parents=True, exist_ok=True)  # --state-dir DIR: made if new, as kiosk run makes its own
    try:
        return _run(state, speed, out, wait)
    finally:
        if temporary:
            shutil.rmtree(state, ignore_errors=True)


def _run(state: Path, speed: float, out: TextIO, wait: Callable[[], None] | None) -> int:
    config = demo_config(state, speed)
    manifest = json.loads((MEDIA / "manifest.json").read_text(encoding="utf-8"))
    with LocalCentral(state, bytes.fromhex(DEMO_SECRET), port=DEMO_PORT) as central:
        code, password = _province(central)
        enrolment = enrol_device(config, central.url, code, None)
        out.write(f"central server at {central.url}; kiosk enrolled as device {enrolment.device_id}\n")
        replay = _gate(config, manifest, speed, out)
        held = central.events_held(enrolment.device_id)
        out.write(summary(replay, manifest, state) + "\n")
        recorded = _events(config.database_path)
        out.write(f"  centre      {held} of the kiosk's {recorded} events held by the central server\n")
        if wait is not None:
            out.write(_tour(central.url, password, manifest))
            out.flush()
            wait()
    return 0 if held == recorded else 1


def _province(central: LocalCentral) -> tuple[str, str]:
    """The demo gate in a province of two districts, with four venues that have no kiosk yet (so coverage is
    not 100 %), and a demo administrator; returns the gate's enrolment code and the administrator's password
    (random, printed once)."""
    from central.accounts import add_account
    from central.admin import add_unit, add_venue, make_enroll_code
    from central.timeutil import utcnow

    now = utcnow()
    password = secrets.token_urlsafe(9)
    with central.engine.begin() as conn:
        add_unit(conn, "67", "Tỉnh Đắk Nông", None, now)
        add_unit(conn, "660", "Thành phố Gia Nghĩa", "67", now)
        add_unit(conn, "661", "Huyện Đắk R'Lấp", "67", now)
        for code, name, unit, category in [
            ("DEMO-GATE-01", "Cổng nhà máy (demo)", "660", "factory"),
            ("BV-DKT", "Bệnh viện Đa khoa tỉnh Đắk Nông", "660", "hospital"),
            ("CHO-GN", "Chợ Gia Nghĩa", "660", "market"),
            ("BX-KD", "Bến xe Kiến Đức", "661", "station"),
            ("THPT-PCT", "Trường THPT Phạm Văn Đồng", "661", "school"),
        ]:
            add_venue(conn, code, name, unit, category, now)
        add_account(conn, "demo", password, "administrator", now)
        return make_enroll_code(conn, "DEMO-GATE-01", now), password


def _tour(url: str, password: str, manifest: dict[str, Any]) -> str:
    someone = manifest["presentations"][0]["payload"].split("|")[0]  # a fictitious person of the film
    return (
        f"\nthe central server stays up at {url}/ until Ctrl-C; sign in as demo / {password}\n"
        f"  dashboard   {url}/dashboard        the demo gate's passages, by unit\n"
        f"  tracing     {url}/trace            e.g. ID number {someone}, a person in the film\n"
        f"  declaration {url}/declare          a health declaration and its QR pass\n"
    )


@dataclass(frozen=True)
class Replay:
    """The kiosk after the film (closed), how long the film took, at what speed, and what it decided."""

    kiosk: Kiosk
    elapsed_s: float
    speed: float
    decisions: list[tuple[str, str | None, str]]


def _gate(config: KioskConfig, manifest: dict[str, Any], speed: float, out: TextIO) -> Replay:
    """The kiosk on the film with mock GPIO, closed once its events have reached the centre."""
    factory = MockFactory(pin_class=MockPWMPin)
    try:
        gpio = _gpio(config, factory)
        display = DemoDisplay(gpio, out)
        source = VideoFileSource(MEDIA / "gate.mp4", fps=manifest["fps"] * speed)
        kiosk = assemble(config, source=source, feedback=FeedbackFanout([gpio, display]))
        out.write(f"kiosk demo: {_cast(manifest)} at a gate, film {_film(manifest, speed)}\n")
        started = time.monotonic()
        kiosk.start()
        ticker = threading.Thread(target=display.tick_until, args=(kiosk.grabber,), daemon=True)
        ticker.start()
        try:
            kiosk.run(threading.Event(), until_end=True)
            _drain(kiosk)
        finally:
            display.stop()
            ticker.join(timeout=2)
            kiosk.close()
        return Replay(kiosk, time.monotonic() - started, speed, display.decisions)
    finally:
        factory.reset()


def _drain(kiosk: Kiosk, timeout_s: float = 20.0) -> None:
    """Wait (bounded) until the uploader has the centre hold every event."""
    deadline = time.monotonic() + timeout_s
    while kiosk.store.status(0).unsent and time.monotonic() < deadline:
        if kiosk.sync is not None:
            kiosk.sync.wake()
        time.sleep(0.1)


def _events(database: Path) -> int:
    from kiosk.store import EventStore

    store = EventStore(database, read_only=True)
    try:
        return store.status(0).events
    finally:
        store.close()


def _gpio(config: KioskConfig, factory: MockFactory) -> GpioFeedback:
    gpio = config.feedback.gpio
    pins = GpioPins(
        gpio.green_led, gpio.red_led, gpio.buzzer, gpio.relay, gpio.relay_active_high, gpio.relay_hold_s, gpio.light_s
    )
    return GpioFeedback(pins, pin_factory=factory)


def _cast(manifest: dict[str, Any]) -> str:
    people = len({p["person"] for p in manifest["presentations"]})
    return f"{len(manifest['presentations'])} presentations of a QR code by {people} people"


def _film(manifest: dict[str, Any], speed: float) -> str:
    seconds = manifest["frames"] / manifest["fps"]
    pace = "" if speed == 1 else f", played at {speed:g}x"
    return f"of {seconds:.0f} s at {manifest['fps']} fps ({manifest['width']}x{manifest['height']}){pace}"


def summary(replay: Replay, manifest: dict[str, Any], state: Path) -> str:
    """The final report: what the loop saw, decided and committed, how fast, and what became of each
    presentation of the film."""
    kiosk = replay.kiosk
    metrics: dict[str, Any] = kiosk.metrics.snapshot()
    stats = kiosk.grabber.stats
    frames, rate = metrics["frames"], manifest["fps"] * replay.speed
    keyer = SubjectKeyer(bytes.fromhex(DEMO_SECRET))
    outcomes = account(Presentation.from_manifest(manifest), replay.decisions, keyer)
    lines = [
        "",
        "summary",
        f"  frames      {frames} of the film's {manifest['frames']} decoded, {stats.dropped} dropped; "
        f"{frames / replay.elapsed_s:.1f} per second (the film played at {rate:g} fps)",
        f"  codes       {metrics['codes']} read, in {metrics['frames_with_code']} frames showing a code",
        f"  decisions   {sum(metrics['decisions'].values())} for {len(outcomes)} presentations: "
        + ", ".join(f"{k} {v}" for k, v in sorted(metrics["decisions"].items())),
        *[
            f"              #{o.presentation.number} {_frames(o)}: not decided, {o.why_not}"
            for o in outcomes
            if not o.decision
        ],
        f"  latency     frame to feedback p50 {_ms(metrics['decision_ms']['p50'])}, "
        f"p95 {_ms(metrics['decision_ms']['p95'])} (commit with synchronous=FULL included)",
        f"  decode      per frame p50 {_ms(metrics['decode_ms']['p50'])}, p95 {_ms(metrics['decode_ms']['p95'])}",
        f"  store       {state / 'events.db'}: {_stored(kiosk.config.database_path)}",
    ]
    return "\n".join(lines)


def _frames(outcome: Outcome) -> str:
    shown = outcome.presentation
    return f"(frames {shown.first_frame}-{shown.last_frame}, {shown.medium})"


def _stored(database: Path) -> str:
    from kiosk.store import EventStore

    store = EventStore(database, read_only=True)
    try:
        status = store.status()
        ok = "integrity ok" if store.integrity_ok() else "INTEGRITY CHECK FAILED"
        return f"{status.events} events, {status.unsent} not yet sent, {ok}"
    finally:
        store.close()


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"
