"""The doctor's vocabulary (a check's result, the context it runs in) and its checks of the machine: camera,
decoders, GPIO, audio, disk, database and clock. The checks of the kiosk's own state and of the server are in
kiosk/ops/doctor.py, with the runner.

Every check reads, never changes: the state directory is opened read-only and audio is rendered into a
temporary directory. Each returns one CheckResult; a warn or fail always carries a fix (a command or a config key).
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import zxingcpp

from kiosk.builders import HardwareError, build_decoder, build_pin_factory, build_source
from kiosk.camera.base import FrameSource, Grey
from kiosk.clock import Clock, SystemClock
from kiosk.config import CameraConfig, KioskConfig
from kiosk.config.model import DecoderName
from kiosk.config.outputs import VoiceConfig
from kiosk.decode import Decoder
from kiosk.errors import SourceError, StoreError
from kiosk.hardware.voice import PromptCache, VoiceError, wav_seconds
from kiosk.policy.messages import Messages
from kiosk.store import EventStore

Status = Literal["ok", "warn", "fail", "skip"]
_RANK: dict[Status, int] = {"skip": 0, "ok": 1, "warn": 2, "fail": 3}
SELF_TEST_TEXT = "KIOSK-DOCTOR-SELFTEST-0123456789"
_YEAR_2024 = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
_DEV = Path("/dev")
STOP_KIOSK = "sudo systemctl stop kiosk"


@dataclass(frozen=True)
class CheckResult:
    """What one check found: a status, a one-line finding, and for warn and fail what to do about it."""

    status: Status
    detail: str
    fix: str | None = None
    name: str = ""  # set by the runner from the check's registration


def ok(detail: str) -> CheckResult:
    return CheckResult("ok", detail)


def warn(detail: str, fix: str) -> CheckResult:
    return CheckResult("warn", detail, fix)


def fail(detail: str, fix: str) -> CheckResult:
    return CheckResult("fail", detail, fix)


def skip(detail: str) -> CheckResult:
    return CheckResult("skip", detail)


def combine(parts: Sequence[CheckResult]) -> CheckResult:
    """One result from several findings: the worst status, every finding, the fixes of those that need one."""
    counted = [p for p in parts if p.status != "skip"] or list(parts)
    status = max((p.status for p in counted), key=_RANK.__getitem__)
    fixes = [p.fix for p in parts if p.fix and p.status in ("warn", "fail")]
    return CheckResult(status, "; ".join(p.detail for p in parts), "; ".join(fixes) or None)


@dataclass(frozen=True)
class DoctorContext:
    """What every check is given: the config as loaded, where it came from, and the seams tests replace."""

    config: KioskConfig
    config_file: Path | None = None  # None: built-in defaults
    offline: bool = False
    clock: Clock = field(default_factory=SystemClock)
    sample_s: float = 2.0  # how long the camera check reads frames


def check_camera(ctx: DoctorContext) -> CheckResult:
    """Open the configured source and read frames for `sample_s`; the rate against camera.fps."""
    camera = ctx.config.camera
    if camera.source == "none":
        return skip("no camera: codes come from the scanners")
    try:
        source = build_source(camera.source, camera)
        source.open()
    except (SourceError, OSError, cv2.error) as exc:
        return fail(str(exc), _camera_fix(camera))
    try:
        frames, first_s, rate = _sample(source, ctx.sample_s)
    except (SourceError, OSError, cv2.error) as exc:
        return fail(f"{source.name}: opened, then failed: {exc}", _camera_fix(camera))
    finally:
        source.close()
    if frames == 0:
        return fail(f"{source.name}: opened but delivered no frame", _camera_fix(camera))
    if not source.live:
        return _replay_result(source.name, frames, rate, camera.fps)
    detail = f"{source.name}: {frames} frames, {rate:.1f} fps (camera.fps {camera.fps:g}), first after {first_s:.1f} s"
    if rate < camera.fps / 2:
        return warn(
            f"{detail}: under half the rate asked",
            "more light (a long exposure lowers the rate), a lower camera.width/height or camera.fps, "
            "a USB camera on its own USB port",
        )
    return ok(detail)


def _sample(source: FrameSource, seconds: float) -> tuple[int, float, float]:
    """Frames read, seconds to the first, and the rate: after the first frame for a camera (which needs time to
    start), over the whole run for a replay (how fast this machine can read it). A replay may end sooner."""
    start = time.monotonic()
    image = source.read()
    if image is None:
        return 0, 0.0, 0.0
    first = time.monotonic()
    frames, last, deadline = 1, first, first + seconds
    while last < deadline and source.read() is not None:
        frames, last = frames + 1, time.monotonic()
    since = first if source.live else start
    spans = frames - 1 if source.live else frames
    return frames, first - start, spans / (last - since) if last > since else 0.0


def _replay_result(name: str, frames: int, rate: float, fps: float) -> CheckResult:
    detail = f"{name}: a replay, not a camera; {frames} frames read at up to {rate:.0f} fps"
    if frames > 1 and rate < fps / 2:
        return warn(
            f"{detail}, under half camera.fps ({fps:g}): the replay drops frames",
            "smaller images in the folder, or a lower camera.fps",
        )
    return ok(detail)


def _camera_fix(camera: CameraConfig) -> str:
    spec = camera.source
    busy = f"if the kiosk is running it holds the camera: {STOP_KIOSK}, then run kiosk doctor again"
    if spec == "picamera2" and importlib.util.find_spec("picamera2") is None:
        return "sudo apt install python3-picamera2, in a venv made with --system-site-packages; or set camera.source"
    if spec == "picamera2":
        return f"check the ribbon cable and `rpicam-hello --list-cameras`; {busy}"
    if spec.isdigit() or spec.startswith("/dev/"):
        return f"check camera.source against `v4l2-ctl --list-devices`, and that this user is in group video; {busy}"
    if "://" in spec:
        return "check the URL in camera.source, the network and the camera's credentials (`ffprobe URL`)"
    return "camera.source must name a video file or a folder of images (png, jpg, ...), or a camera"


def self_test_images() -> list[tuple[str, Grey]]:
    """A QR code of SELF_TEST_TEXT made now, on a camera-sized grey frame: clean, then blurred and noisy."""
    barcode = zxingcpp.create_barcode(SELF_TEST_TEXT, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    code = np.array(barcode.to_image(scale=7), dtype=np.uint8)
    frame = np.full((480, 640), 128, dtype=np.uint8)
    top, left = (480 - code.shape[0]) // 2, (640 - code.shape[1]) // 2
    frame[top : top + code.shape[0], left : left + code.shape[1]] = code
    blurred = cv2.GaussianBlur(frame, (0, 0), 1.5).astype(np.float32)
    noise = np.random.default_rng(1).normal(0, 10, frame.shape)  # fixed seed: the same image on every run
    degraded = np.clip(blurred + noise, 0, 255).astype(np.uint8)
    return [("clean", frame), ("blurred and noisy", degraded)]


def check_decoders(ctx: DoctorContext) -> CheckResult:
    """Every configured decoder on the built-in code; the primary must read it, a fallback should."""
    images = self_test_images()
    names = ctx.config.decode.decoders
    parts = [_self_test(name, images, primary=i == 0) for i, name in enumerate(names)]
    return combine(parts)


def _self_test(name: DecoderName, images: list[tuple[str, Grey]], *, primary: bool) -> CheckResult:
    role = "primary" if primary else "fallback"
    try:
        decoder = build_decoder(name)
    except HardwareError as exc:
        problem = f"{name} ({role}) cannot load: {exc}"
        return fail(problem, str(exc)) if primary else warn(problem, str(exc))
    started = time.perf_counter()
    try:
        missed = [label for label, image in images if SELF_TEST_TEXT not in _texts(decoder, image)]
        problem = f"cannot read the {' or '.join(missed)} test code" if missed else ""
    except Exception as exc:  # a broken library raises anything; that is the finding
        problem = f"fails: {type(exc).__name__}: {exc}"
    if not problem:
        return ok(f"{name} reads the test code ({(time.perf_counter() - started) * 1000 / len(images):.1f} ms)")
    problem = f"{name} ({role}) {problem}"
    if primary:
        return fail(
            problem,
            "reinstall the kiosk's Python packages (sudo scripts/provision-pi.sh), or put another decoder "
            "first in decode.decoders",
        )
    return warn(
        problem, f"reinstall it (pyzbar needs `sudo apt install libzbar0`), or remove {name} from decode.decoders"
    )


def _texts(decoder: Decoder, image: Grey) -> list[str]:
    return [code.text for code in decoder.read(image).codes]


_FACTORY_FIX = {
    "lgpio": "install lgpio: `.venv/bin/pip install 'kiosk[pi]'` or `sudo apt install python3-lgpio`",
    "rpigpio": '`sudo apt install python3-rpi.gpio` (not on a Pi 5: use feedback.gpio.pin_factory = "lgpio")',
    "pigpio": "start the daemon: `sudo systemctl enable --now pigpiod`",
    "native": 'native does not work on a Pi 5: set feedback.gpio.pin_factory = "lgpio"',
}
_AUTO_ORDER = ("lgpio", "rpigpio", "pigpio", "native")  # gpiozero's own order for "auto"


def check_gpio(ctx: DoctorContext) -> CheckResult:
    """The pin factory starts and the GPIO character devices are open to this user."""
    feedback = ctx.config.feedback
    if not {"gpio", "wiegand"} & set(feedback.outputs):
        return skip("no gpio or wiegand in feedback.outputs")
    name = feedback.gpio.pin_factory
    if name == "mock":
        return warn(
            'feedback.gpio.pin_factory = "mock": lights, buzzer and relay are simulated, nothing is driven',
            'set feedback.gpio.pin_factory = "auto" ("lgpio" on a Pi 5)',
        )
    return combine([_start_factory(name), _chip_access()])


def _start_factory(name: str) -> CheckResult:
    env = os.environ.get("GPIOZERO_PIN_FACTORY", "")
    candidates = (name,) if name != "auto" else (env,) if env in _FACTORY_FIX else _AUTO_ORDER
    errors = []
    for candidate in candidates:
        try:
            factory: Any = build_pin_factory(candidate)
        except HardwareError as exc:
            errors.append(exc)
            continue
        factory.close()
        return ok(f"pin factory {candidate} starts" + (" (auto)" if name == "auto" else ""))
    # "auto" tried them all; the first, the preferred one, says what matters
    problem = str(errors[0]) if name != "auto" else f"pin_factory auto: none starts here; {errors[0]}"
    fix = _FACTORY_FIX.get(name, "install lgpio (`sudo apt install python3-lgpio`)")
    return fail(problem, f'{fix}; on a machine that is not a Pi, feedback.gpio.pin_factory = "mock"')


def _chip_access() -> CheckResult:
    chips = sorted(_DEV.glob("gpiochip*"))
    if not chips:
        return fail(f"no {_DEV}/gpiochip*: not a Raspberry Pi, or no GPIO driver", "run the kiosk on a Raspberry Pi")
    denied = [str(c) for c in chips if not os.access(c, os.R_OK | os.W_OK)]
    if denied:
        user = _user()
        return fail(
            f"{', '.join(denied)}: not readable and writable by {user}",
            f"sudo usermod -aG gpio {user}, then log in again (or restart the service)",
        )
    return ok(f"{', '.join(c.name for c in chips)} open to {_user()}")


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())


def check_audio(ctx: DoctorContext) -> CheckResult:
    """espeak-ng (or pyttsx3) renders a prompt, the player command exists, and ALSA lists a sound card."""
    feedback = ctx.config.feedback
    if "voice" not in feedback.outputs:
        return skip("no voice in feedback.outputs")
    prompt = Messages(feedback.language, dict(feedback.messages)).fault()
    return combine([_render(feedback.voice, prompt), _player(feedback.voice.player), sound_card()])


def _render(voice: VoiceConfig, text: str) -> CheckResult:
    with tempfile.TemporaryDirectory(prefix="kiosk-doctor-") as folder:
        try:
            seconds = wav_seconds(PromptCache(voice, Path(folder), timeout_s=10).render(text))
        except VoiceError as exc:
            missing = voice.engine == "espeak-ng" and shutil.which("espeak-ng") is None
            fix = "sudo apt install espeak-ng" if missing else "check feedback.voice.voice (`espeak-ng --voices`)"
            return fail(str(exc), fix)
    return ok(f"{voice.engine} renders ({voice.voice}, {seconds:.1f} s)")


def _player(command: list[str]) -> CheckResult:
    if shutil.which(command[0]) is None:
        return fail(
            f"feedback.voice.player: {command[0]} not found",
            "sudo apt install alsa-utils (aplay), or set feedback.voice.player to a command that plays a WAV file",
        )
    return ok(f"player {shlex.join(command)}")


def sound_card() -> CheckResult:
    """The first card `aplay -l` lists; a warning when there is none (the kiosk then plays tones)."""
    aplay = shutil.which("aplay")
    if aplay is None:
        return skip("no aplay to list sound cards")
    try:
        listing = subprocess.run([aplay, "-l"], capture_output=True, text=True, timeout=5, check=False)
    except subprocess.TimeoutExpired:
        return warn("`aplay -l` hung: the audio driver is stuck", "reboot; if it recurs, try another sound device")
    cards = [line for line in listing.stdout.splitlines() if line.startswith("card ")]
    if not cards:
        return warn(
            "no sound card: the kiosk plays tones instead of voice",
            "check `aplay -l`: enable audio (dtparam=audio=on in /boot/firmware/config.txt) or fit a USB sound "
            "card, and add the kiosk user to group audio",
        )
    return ok(cards[0].split(",")[0])


def check_disk(ctx: DoctorContext) -> CheckResult:
    """Free space on the state directory's filesystem."""
    state = ctx.config.state_dir
    where = next(p for p in (state, *state.parents) if p.exists())
    free_mb = shutil.disk_usage(where).free / 2**20
    detail = f"{free_mb:,.0f} MB free for {state}" + ("" if where == state else " (not created yet)")
    fix = f"free space on that filesystem: `sudo journalctl --vacuum-size=50M`, `du -xsh {where}/*`"
    if free_mb < 50:
        return fail(f"{detail}: the kiosk shuts the gate when it cannot record", fix)
    if free_mb < 500:
        return warn(f"{detail}: running low", fix)
    return ok(detail)


def check_database(ctx: DoctorContext) -> CheckResult:
    """PRAGMA integrity_check on the event database (read-only); no database yet is fine."""
    path = ctx.config.database_path
    if not path.exists():
        return ok(f"{path}: no database yet (a fresh kiosk: made at the first start)")
    if not os.access(path, os.R_OK):
        return fail(
            f"{path}: not readable by {_user()}", "run the doctor as the kiosk's user: sudo -u kiosk kiosk doctor"
        )
    fix = (
        f"{STOP_KIOSK} and run kiosk doctor again; if it still fails, copy {path}* off the kiosk (its unsent "
        f"events), then `mv {path} {path}.broken` so the kiosk starts a new one"
    )
    try:
        store = EventStore(path, read_only=True)
        try:
            good = store.integrity_ok()
        finally:
            store.close()
    except (StoreError, sqlite3.Error) as exc:
        return fail(f"{path}: cannot be read: {exc}", fix)
    if not good:
        return fail(f"{path}: PRAGMA integrity_check found damage", fix)
    sound = ok(f"{path}: {path.stat().st_size / 2**20:.1f} MB, integrity_check ok")
    aside = sorted(p.name for p in path.parent.glob(f"{path.name}.corrupt-*") if not p.name.endswith(("-wal", "-shm")))
    return combine([sound, _set_aside(path, aside)]) if aside else sound


def _set_aside(path: Path, aside: list[str]) -> CheckResult:
    """Damaged databases the kiosk moved aside at start (kiosk/store/salvage.py): kept until a person acts."""
    return warn(
        f"a damaged database was set aside at start ({', '.join(aside)}); its readable unsent events were "
        "salvaged into the new one",
        f"copy {path.parent}/{aside[-1]}* off the kiosk for analysis (unsalvaged events may be recovered with "
        f"`sqlite3 FILE .recover`), then delete them there",
    )


def check_clock(ctx: DoctorContext) -> CheckResult:
    """The wall clock is synchronised (adjtimex), and at least not years behind."""
    wall = ctx.clock.wall()
    when = datetime.fromtimestamp(wall, UTC).isoformat(timespec="seconds")
    ntp = "`timedatectl status`, `chronyc tracking` (or systemd-timesyncd), and that UDP 123 reaches an NTP server"
    if wall < _YEAR_2024:
        return fail(
            f"the wall clock reads {when}: never set (no RTC, no NTP)",
            f"connect the network and `sudo timedatectl set-ntp true`; check {ntp}",
        )
    if not ctx.clock.synchronised():
        return warn(
            f"not synchronised ({when}): events are marked so, the server corrects their time",
            f"sudo timedatectl set-ntp true; check {ntp}",
        )
    return ok(f"synchronised: {when}")
