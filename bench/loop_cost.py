"""Per-frame cost of the kiosk loop against raw zxing-cpp on the same frames.

For each frame set (640x480 and 1280x720, with and without a code) every frame is timed twice, interleaved:
  raw   zxingcpp.read_barcodes(frame, formats=QRCode): the baseline, what any program would call;
  loop  hand-over through the capture slot + ScanLoop.process (decode chain, debounce, credential, decision;
        for a new code also the SQLite commit, synchronous=FULL, on this disk).
The frames with a code repeat one person's code, so after the first frame the debouncer holds it back, as at a
real gate; that first frame's commit is in the p95, not the median.
The frames without a code are textured photos cycled in turn, which look enough like a symbol to earn second
attempts: the loop's reader tries them until it knows each one (kiosk/decode/memory.py). So the loop's figures
are also given for the first `--learn` frames (learning the scene) and for the frames after (knowing it).

    .venv/bin/python bench/loop_cost.py [--rounds 700] [--learn 300] [--json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import zxingcpp
from common import DEMO_VIDEO, QR_SAMPLES, add_repo_to_path, emit, machine, pct

add_repo_to_path()

from kiosk.camera import FrameGrabber  # noqa: E402
from kiosk.camera.base import Frame  # noqa: E402
from kiosk.camera.files import VideoFileSource  # noqa: E402
from kiosk.camera.images import load_grey  # noqa: E402
from kiosk.clock import SystemClock  # noqa: E402
from kiosk.config import PolicyConfig  # noqa: E402
from kiosk.credentials import SubjectKeyer  # noqa: E402
from kiosk.credentials.trust import TrustStore  # noqa: E402
from kiosk.decode import DecoderChain  # noqa: E402
from kiosk.decode.debounce import Debouncer  # noqa: E402
from kiosk.decode.reader import FrameReader  # noqa: E402
from kiosk.decode.zbar import ZbarDecoder  # noqa: E402
from kiosk.decode.zxing import ZxingDecoder  # noqa: E402
from kiosk.hardware import FeedbackFanout  # noqa: E402
from kiosk.loop import Gate, ScanLoop  # noqa: E402
from kiosk.policy.snapshot import Bearings, Snapshot  # noqa: E402
from kiosk.policy.statuslist import StatusList  # noqa: E402
from kiosk.published import Published  # noqa: E402
from kiosk.store import EventStore  # noqa: E402

QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def frame_sets() -> dict[str, list[np.ndarray]]:
    """Real photos without a code (zxing-cpp's false-positive set) and demo frames with one person's code."""
    photos = [load_grey(QR_SAMPLES / "falsepositives-1" / f"{n:02d}.webp") for n in (1, 2, 5, 6, 7, 8, 9, 10)]
    empty = [p for p in photos if p is not None and p.shape == (480, 640)]
    source = VideoFileSource(DEMO_VIDEO)
    source.open()
    frames = []
    while (image := source.read()) is not None:
        frames.append(image)
    source.close()
    zxing = ZxingDecoder()
    with_code = [f for f in frames[18:44] if zxing.read(f).codes]  # the first person, holding a card up
    return {
        "640x480 no code": empty,
        "640x480 code": with_code,
        "1280x720 no code": [cv2.resize(f, (1280, 720), interpolation=cv2.INTER_CUBIC) for f in empty],
        "1280x720 code": [cv2.resize(f, (1280, 720), interpolation=cv2.INTER_CUBIC) for f in with_code],
    }


class _Nowhere:
    live = False
    pace_fps = None
    name = "bench"

    def open(self) -> None: ...

    def read(self) -> None: ...

    def close(self) -> None: ...


def make_loop(state: Path) -> tuple[ScanLoop, FrameGrabber, EventStore]:
    grabber = FrameGrabber(_Nowhere())
    store = EventStore(state / "events.db")
    loop = ScanLoop(
        frames=grabber,
        reader=FrameReader(DecoderChain([ZxingDecoder(), ZbarDecoder()])),
        debouncer=Debouncer(cooldown_s=3.0),
        keyer=SubjectKeyer(b"benchmark secret, 32 bytes long!"),
        lists=Published(Snapshot(TrustStore(), StatusList(), PolicyConfig(), Bearings(SystemClock()))),
        store=store,
        feedback=FeedbackFanout([]),
        clock=SystemClock(),
        gate=Gate("bench", "BENCH", "in"),
    )
    return loop, grabber, store


def time_raw(image: np.ndarray, i: int, loop: ScanLoop, grabber: FrameGrabber) -> float:
    started = time.perf_counter()
    zxingcpp.read_barcodes(image, formats=QR)
    return (time.perf_counter() - started) * 1000


def time_loop(image: np.ndarray, i: int, loop: ScanLoop, grabber: FrameGrabber) -> float:
    started = time.perf_counter()
    grabber._put(Frame(image, i, time.monotonic()))  # the capture thread's hand-over, here in this thread
    frame = grabber.next(timeout=0)
    assert frame is not None
    loop.process(frame)
    return (time.perf_counter() - started) * 1000


def measure(frames: list[np.ndarray], rounds: int, learn: int, state: Path) -> dict[str, Any]:
    loop, grabber, store = make_loop(state)
    raw, looped = [], []
    for i in range(rounds + 20):
        image = frames[i % len(frames)]
        # Alternate which runs first, so neither always finds the frame warm in the CPU cache.
        first, second = (time_raw, time_loop) if i % 2 else (time_loop, time_raw)
        times = {first: first(image, i, loop, grabber), second: second(image, i, loop, grabber)}
        if i >= 20:  # warm-up excluded
            raw.append(times[time_raw])
            looped.append(times[time_loop])
    store.close()
    out: dict[str, Any] = {}
    for part, first, last in (("", 0, len(raw)), (" learning", 0, learn), (" knowing", learn, len(raw))):
        r, lp = pct(raw[first:last]), pct(looped[first:last])
        overhead = round(100 * (lp["p50"] / r["p50"] - 1), 1)
        out |= {f"raw_ms{part}": r, f"loop_ms{part}": lp, f"overhead_pct_p50{part}": overhead}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=700)
    parser.add_argument("--learn", type=int, default=300, help="frames counted as learning the scene")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"benchmark": "loop_cost", "machine": machine(), "sets": {}}
    for name, frames in frame_sets().items():
        with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as state:
            results["sets"][name] = {"frames": len(frames), **measure(frames, args.rounds, args.learn, Path(state))}
    emit(results, args.json)


if __name__ == "__main__":
    main()
