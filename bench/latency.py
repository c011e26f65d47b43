"""Frame-to-decision latency: frame available -> decision committed (SQLite, synchronous=FULL) -> feedback called.

A replay of distinct people (each code held up for a few frames) runs through the assembled kiosk at camera
pace, with GPIO feedback on gpiozero's MockFactory. The latency of each decision is read from the loop's
metrics (monotonic clock, from the moment the capture thread handed the frame over until feedback returned).

    .venv/bin/python bench/latency.py [--people 120] [--fps 15] [--json]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path

import cv2
import numpy as np
import segno
from common import add_repo_to_path, emit, machine, pct

add_repo_to_path()

from gpiozero.pins.mock import MockFactory, MockPWMPin  # noqa: E402

from kiosk.app import assemble  # noqa: E402
from kiosk.camera.files import ImageFolderSource  # noqa: E402
from kiosk.config import KioskConfig  # noqa: E402
from kiosk.hardware.gpio import GpioFeedback, GpioPins  # noqa: E402


def person(n: int) -> str:
    return f"0790{n:08d}||Người Thử {n}|01011990|Nam|Số {n} Lê Lợi, TP. Hồ Chí Minh|10082021"


def frames_for(people: int, hold: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Camera-like 640x480 frames: each person's code for `hold` frames (moving a little), then a blank frame."""
    frames = []
    for n in range(people):
        modules = np.array(segno.make_qr(person(n), error="m", encoding="utf-8").matrix, dtype=np.uint8)
        code = np.kron(np.pad((1 - modules) * 255, 4, constant_values=255), np.ones((4, 4), np.uint8))
        for k in range(hold):
            frame = np.full((480, 640), 120, np.uint8)
            y, x = 100 + 3 * k, 150 + 2 * k
            frame[y : y + code.shape[0], x : x + code.shape[1]] = code
            noisy = cv2.GaussianBlur(frame, (0, 0), 0.8).astype(np.float32) + rng.normal(0, 4, frame.shape)
            frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
        frames.append(np.full((480, 640), 120, np.uint8))
    return frames


def run(people: int, fps: float, work: Path) -> dict[str, object]:
    folder = work / "frames"
    folder.mkdir()
    for i, frame in enumerate(frames_for(people, 4, np.random.default_rng(1))):
        cv2.imwrite(str(folder / f"{i:05d}.png"), frame)
    config = KioskConfig.model_validate({"state_dir": str(work / "state"), "decode": {"decoders": ["zxing", "pyzbar"]}})
    factory = MockFactory(pin_class=MockPWMPin)
    try:
        gpio = GpioFeedback(GpioPins(relay_hold_s=1.0, light_s=0.2), pin_factory=factory)
        kiosk = assemble(config, source=ImageFolderSource(folder, fps=fps), feedback=gpio)
        kiosk.start()
        try:
            kiosk.run(threading.Event(), until_end=True)
        finally:
            kiosk.close()
    finally:
        factory.reset()
    latencies = list(kiosk.metrics.decision_ms)
    return {
        "people": people,
        "decisions": len(latencies),
        "frames": kiosk.metrics.frames,
        "dropped": kiosk.grabber.stats.dropped,
        "frame_to_feedback_ms": pct(latencies),
        "decode_ms": pct(list(kiosk.metrics.decode_ms)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=120)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # The database lives on the disk the repository is on (not tmpfs), so the fsync of each commit is real.
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as work:
        result = run(args.people, args.fps, Path(work))
    emit({"benchmark": "latency", "machine": machine(), "fps": args.fps, **result}, args.json)


if __name__ == "__main__":
    main()
