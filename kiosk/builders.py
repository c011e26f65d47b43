"""Builders: each turns one section of the configuration into a concrete part (camera, decoders, outputs,
lists). Only the assembly (kiosk/app.py) and the command line call them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

from kiosk.camera import FrameSource
from kiosk.config import CameraConfig, DecodeConfig
from kiosk.config.model import DecoderName
from kiosk.config.readers import ScannerConfig
from kiosk.credentials.trust import TrustListError, TrustStore
from kiosk.decode import Decoder, DecoderChain
from kiosk.errors import KioskError
from kiosk.policy.access import AccessList, AccessListError
from kiosk.policy.statuslist import StatusList, StatusListError
from kiosk.scanner.framing import Framer
from kiosk.scanner.reader import Port, ScannerThread, ScanSink

log = logging.getLogger(__name__)


class HardwareError(KioskError, RuntimeError):
    """A configured output or decoder cannot be used on this machine."""


SourceKind = Literal["picamera2", "device", "stream", "images", "video", "none"]


def source_kind(spec: str) -> SourceKind:
    """What `camera.source` names: "picamera2", a device (an index or /dev/video*), a stream URL, an image folder
    or a video file, or "none" (scanners only). The one place the spec is read; `SOURCES` builds each kind."""
    if spec == "picamera2":
        return "picamera2"
    if spec == "none":
        return "none"
    if spec.isdigit() or spec.startswith("/dev/"):
        return "device"
    if "://" in spec:
        return "stream"
    return "images" if Path(spec).is_dir() else "video"


def build_source(spec: str, camera: CameraConfig) -> FrameSource:
    """The frame source named by `spec`, by its kind's builder in SOURCES."""
    return SOURCES[source_kind(spec)](spec, camera)


def _picamera(spec: str, camera: CameraConfig) -> FrameSource:
    from kiosk.camera.picamera import PicameraSource

    return PicameraSource(width=camera.width, height=camera.height, fps=camera.fps)


def _opencv(spec: str, camera: CameraConfig) -> FrameSource:
    from kiosk.camera.opencv import OpenCVSource

    return OpenCVSource(spec, width=camera.width, height=camera.height, fps=camera.fps)


def _none(spec: str, camera: CameraConfig) -> FrameSource:
    from kiosk.camera.nocamera import NoCamera

    return NoCamera()


def _images(spec: str, camera: CameraConfig) -> FrameSource:
    from kiosk.camera.files import ImageFolderSource

    return ImageFolderSource(Path(spec), fps=camera.fps, loop=camera.loop)


def _video(spec: str, camera: CameraConfig) -> FrameSource:
    from kiosk.camera.files import VideoFileSource

    return VideoFileSource(Path(spec), fps=None, loop=camera.loop)


SOURCES: dict[SourceKind, Callable[[str, CameraConfig], FrameSource]] = {
    "picamera2": _picamera,
    "device": _opencv,
    "stream": _opencv,
    "images": _images,
    "video": _video,
    "none": _none,
}


def build_decoder(name: DecoderName) -> Decoder:
    """The decoder `name`, by its builder in DECODERS."""
    return DECODERS[name]()


def _zxing() -> Decoder:
    from kiosk.decode.zxing import ZxingDecoder

    return ZxingDecoder(downscale=False)  # measured: reads as much on 640x480 frames, in 60 % of the time


def _pyzbar() -> Decoder:
    try:
        from kiosk.decode.zbar import ZbarDecoder
    except ImportError as exc:
        raise HardwareError(f"pyzbar cannot load libzbar ({exc}): apt install libzbar0") from exc
    return ZbarDecoder()


def _opencv_qr() -> Decoder:
    from kiosk.decode.opencv import OpenCVDecoder

    return OpenCVDecoder()


DECODERS: dict[DecoderName, Callable[[], Decoder]] = {"zxing": _zxing, "pyzbar": _pyzbar, "opencv": _opencv_qr}


def build_chain(decode: DecodeConfig) -> DecoderChain:
    roi = (decode.roi.x, decode.roi.y, decode.roi.width, decode.roi.height) if decode.roi else None
    return DecoderChain(
        [build_decoder(n) for n in decode.decoders],
        roi=roi,
        downscale=decode.downscale,
        retry=decode.retry,
        budget_ms=decode.budget_ms,
    )


def build_pin_factory(name: str) -> Any:
    """A gpiozero pin factory by name; None lets gpiozero choose ("auto")."""
    if name == "auto":
        return None
    from gpiozero.exc import BadPinFactory

    modules = {
        "mock": ("gpiozero.pins.mock", "MockFactory"),
        "lgpio": ("gpiozero.pins.lgpio", "LGPIOFactory"),
        "rpigpio": ("gpiozero.pins.rpigpio", "RPiGPIOFactory"),
        "pigpio": ("gpiozero.pins.pigpio", "PiGPIOFactory"),
        "native": ("gpiozero.pins.native", "NativeFactory"),
    }
    module, cls = modules[name]
    try:
        return getattr(__import__(module, fromlist=[cls]), cls)()
    except (ImportError, BadPinFactory, OSError, RuntimeError) as exc:
        raise HardwareError(f"GPIO pin factory {name!r} cannot start here: {exc}") from exc


def load_trust(path: Path, warn_h: float) -> TrustStore:
    """The trust list; an empty one (every signature unverifiable, said loudly) if it is missing or broken."""
    if not path.exists():
        log.warning("%s: no trust list yet: signed credentials cannot be verified until sync brings one", path)
        return TrustStore()
    try:
        trust = TrustStore.load(path)
    except TrustListError as exc:
        log.error("%s; signed credentials cannot be verified until it is replaced", exc)
        return TrustStore()
    age = trust.age(datetime.now(UTC))
    if age is not None and warn_h and age > warn_h * 3600:
        log.warning("%s: issued %.0f hours ago; sync has not refreshed it", path, age / 3600)
    return trust


def load_access(path: Path, mode: str) -> AccessList:
    """The access list; an empty one (nobody enrolled: everyone is a stranger) if it is missing or broken."""
    try:
        access = AccessList.load(path)
    except AccessListError as exc:
        log.error("%s; nobody counts as enrolled until sync brings a good one", exc)
        return AccessList()
    if mode == "access" and not access.people:
        log.warning(
            "%s: nobody enrolled yet: access mode treats everyone as a stranger until sync brings the list", path
        )
    return access


def load_status(path: Path) -> StatusList:
    try:
        return StatusList.load(path)
    except StatusListError as exc:
        log.error("%s; deciding without a status list until it is replaced", exc)
        return StatusList()


def build_scanners(scanners: list[ScannerConfig], sink: ScanSink) -> list[ScannerThread]:
    """One thread per configured scanner module, each handing its whole codes to `sink`; started by the kiosk."""
    threads = []
    for number, scanner in enumerate(scanners, 1):
        framer = Framer(
            scanner.source, terminator=scanner.end_bytes, gap_s=scanner.gap_ms / 1000, max_bytes=scanner.max_bytes
        )
        opener = _scanner_opener(scanner)
        name = f"{scanner.source} {number} ({scanner.device})"
        threads.append(ScannerThread(name, opener, framer, sink, reopen_s=scanner.reopen_s))
    return threads


def _scanner_opener(scanner: ScannerConfig) -> Callable[[], Port]:
    if scanner.kind == "serial":
        from kiosk.scanner.serialport import serial_opener

        return serial_opener(scanner.device, scanner.baud)
    try:
        from kiosk.scanner.hid import hid_opener
        from kiosk.scanner.keymap import KeyDecoder
    except ImportError as exc:
        raise HardwareError(f"keyboard scanners need evdev ({exc}): pip install 'kiosk[readers]'") from exc
    return hid_opener(scanner.device, partial(KeyDecoder, scanner.layout, scanner.suffix, scanner.end_bytes))
