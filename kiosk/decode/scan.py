"""`kiosk scan`: decode image files, folders of images and video files, one result per image or video."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.camera.files import VideoFileSource
from kiosk.camera.images import images_in, is_image, is_video, load_grey
from kiosk.decode import Code, DecoderChain
from kiosk.decode.reader import FrameReader
from kiosk.errors import SourceError


@dataclass
class ScanResult:
    file: str
    codes: list[dict[str, Any]] = field(default_factory=list)
    ms: float = 0.0
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file, "codes": self.codes, "ms": round(self.ms, 3)}
        if self.error:
            out["error"] = self.error
        return out


def scan_paths(paths: list[str], chain: DecoderChain) -> Iterator[ScanResult]:
    """Results for every image and video in `paths` (folders are expanded, in natural order)."""
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for child in images_in(path):
                yield scan_image(str(child), chain)
            for child in sorted(p for p in path.iterdir() if p.is_file() and is_video(p)):
                yield scan_video(str(child), chain)
        elif is_video(path) or (not is_image(path) and load_grey(path) is None):
            yield scan_video(given, chain)
        else:
            yield scan_image(given, chain)


def scan_image(name: str, chain: DecoderChain) -> ScanResult:
    image = load_grey(Path(name))
    if image is None:
        return ScanResult(name, error="not a readable image")
    started = time.perf_counter()
    result = FrameReader(chain).read_still(image)
    elapsed = (time.perf_counter() - started) * 1000
    return ScanResult(name, [code_json(c) for c in result.codes], elapsed)


def scan_video(name: str, chain: DecoderChain) -> ScanResult:
    """Every frame of a video; each distinct code once, with the index of the first frame it was read in."""
    source = VideoFileSource(Path(name))
    try:
        source.open()
    except SourceError as exc:
        return ScanResult(name, error=str(exc))
    found: dict[bytes, dict[str, Any]] = {}
    elapsed, index = 0.0, 0
    reader, period = FrameReader(chain), 1.0 / (source.pace_fps or 15.0)  # the film's own time between frames
    try:
        while (image := source.read()) is not None:
            started = time.perf_counter()
            result = reader.read(image, index * period)
            elapsed += time.perf_counter() - started
            for code in result.codes:
                found.setdefault(code.digest_source, {**code_json(code), "frame": index})
            index += 1
    finally:
        source.close()
    return ScanResult(name, list(found.values()), elapsed * 1000)


def code_json(code: Code) -> dict[str, Any]:
    out: dict[str, Any] = {"text": code.text, "decoder": code.decoder}
    if code.binary:
        out["binary"] = True
        out["hex"] = code.payload.hex()
    return out
