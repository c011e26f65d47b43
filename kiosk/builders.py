"""Builders: each turns one section of the configuration into a concrete part (camera, decoders, outputs,
lists). Only the assembly (kiosk/app.py) and the command line call them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiosk.camera import FrameSource
from kiosk.config import CameraConfig, DecodeConfig
from kiosk.credentials.trust import TrustListError, TrustStore
from kiosk.decode import Decoder, DecoderChain
from kiosk.errors import KioskError
from kiosk.policy.statuslist import StatusList, StatusListError

log = logging.getLogger(__name__)


class HardwareError(KioskError, RuntimeError):
    """A configured output or decoder cannot be used on this machine."""


def build_source(spec: str, camera: CameraConfig) -> FrameSource:
    """The frame source named by `spec`: picamera2, a device, a stream URL, a video file or an image folder."""
    from kiosk.camera.files import ImageFolderSource, VideoFileSource
    from kiosk.camera.opencv import OpenCVSource
    from kiosk.camera.picamera import PicameraSource

    if spec == "picamera2":
        return PicameraSource(width=camera.width, height=camera.height, fps=camera.fps)
    if spec.isdigit() or spec.startswith("/dev/") or "://" in spec:
        return OpenCVSource(spec, width=camera.width, height=camera.height, fps=camera.fps)
    path = Path(spec)
    if path.is_dir():
        return ImageFolderSource(path, fps=camera.fps, loop=camera.loop)
    return VideoFileSource(path, fps=None, loop=camera.loop)


def build_decoder(name: str) -> Decoder:
    if name == "zxing":
        from kiosk.decode.zxing import ZxingDecoder

        return ZxingDecoder(downscale=False)  # measured: reads as much on 640x480 frames, in 60 % of the time
    if name == "pyzbar":
        try:
            from kiosk.decode.zbar import ZbarDecoder
        except ImportError as exc:
            raise HardwareError(f"pyzbar cannot load libzbar ({exc}): apt install libzbar0") from exc
        return ZbarDecoder()
    from kiosk.decode.opencv import OpenCVDecoder

    return OpenCVDecoder()


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


def load_status(path: Path) -> StatusList:
    try:
        return StatusList.load(path)
    except StatusListError as exc:
        log.error("%s; deciding without a status list until it is replaced", exc)
        return StatusList()
