"""Cost of the kiosk screen: drawing one image, presenting it, and the hand-over on the frame loop's thread.

For each screen size, a 640x480 camera frame with a code in view (outline and region of interest drawn):
  render idle     camera view + overlays + the idle bar (cached panel)
  render banner   camera view + overlays + a decision banner (cached panel; the first of each reason is "cold")
  banner cold     the first time a reason is shown: Pillow draws its text (once per reason)
  present         PygamePresenter.show with SDL_VIDEODRIVER=dummy (software blit + flip; no real display)
  frame()         ScreenFeedback.frame, what ScanLoop.on_frame costs the loop (microseconds)

    .venv/bin/python bench/screen_render.py [--rounds 300] [--json]
"""

from __future__ import annotations

import argparse
import os
import time
from importlib.metadata import version
from typing import Any

import numpy as np
from common import add_repo_to_path, emit, machine, pct, timed_ms

add_repo_to_path()
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from kiosk.camera.base import Frame  # noqa: E402
from kiosk.config.outputs import ScreenConfig  # noqa: E402
from kiosk.decode import DecoderChain  # noqa: E402
from kiosk.decode.zxing import ZxingDecoder  # noqa: E402
from kiosk.hardware.display import MemoryPresenter, PygamePresenter, ScreenFeedback  # noqa: E402
from kiosk.hardware.screen import Banner, ScreenRenderer, Seen  # noqa: E402
from kiosk.policy.messages import MESSAGES, Messages  # noqa: E402

SIZES = ((800, 480), (1280, 720))
ROI = (0.15, 0.1, 0.7, 0.8)


def camera_frame() -> tuple[np.ndarray, Seen]:
    """A noisy 640x480 frame with a QR code in it, and what the decoder chain found there."""
    import segno

    rng = np.random.default_rng(1)
    frame = rng.normal(128, 12, (480, 640)).clip(0, 255).astype(np.uint8)
    qr = np.array(segno.make_qr("https://example.vn/menu").matrix, dtype=np.uint8)
    code = np.kron(np.pad((1 - qr) * 255, 4, constant_values=255), np.ones((5, 5), dtype=np.uint8))
    frame[120 : 120 + code.shape[0], 220 : 220 + code.shape[1]] = code
    result = DecoderChain([ZxingDecoder()]).decode(frame)
    return frame, Seen(frame, tuple(c.corners for c in result.codes), tuple(result.unread))


def measure(width: int, height: int, rounds: int) -> dict[str, Any]:
    _, seen = camera_frame()
    renderer = ScreenRenderer(width, height, Messages("vi"), roi=ROI)
    banner = Banner("ACCEPT", "identity-ok", float("inf"))
    cold = []
    for reason in MESSAGES:
        started = time.perf_counter()
        renderer.render(seen, Banner("DENY", reason, float("inf")), 0.0)
        cold.append((time.perf_counter() - started) * 1000)
    presenter = PygamePresenter(width, height, fullscreen=False)
    image = renderer.render(seen, banner, 0.0)
    presenter.show(image)
    present = timed_ms(lambda: presenter.show(image), rounds)
    presenter.close()
    return {
        "render idle ms": pct(timed_ms(lambda: renderer.render(seen, None, 0.0), rounds)),
        "render banner ms": pct(timed_ms(lambda: renderer.render(seen, banner, 0.0), rounds)),
        "banner cold ms": pct(cold),
        "present (pygame, dummy) ms": pct(present),
    }


def frame_handover(rounds: int) -> dict[str, float]:
    """ScreenFeedback.frame while its render thread runs, in microseconds."""
    frame, _ = camera_frame()
    result = DecoderChain([ZxingDecoder()]).decode(frame)
    config = ScreenConfig(width=800, height=480, fps=30, fullscreen=False)
    screen = ScreenFeedback(config, Messages("vi"), roi=ROI, presenter=MemoryPresenter(keep=1))
    try:
        samples = []
        for n in range(rounds * 10):
            started = time.perf_counter()
            screen.frame(Frame(frame, n, time.monotonic()), result)
            samples.append((time.perf_counter() - started) * 1e6)
    finally:
        screen.close()
    return pct(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="one line of JSON")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "machine": {**machine(), "pygame": version("pygame"), "pillow": version("pillow")},
        "camera frame": "640x480 grey, one code outlined, ROI drawn",
    }
    for width, height in SIZES:
        result[f"{width}x{height}"] = measure(width, height, args.rounds)
    result["frame() us"] = frame_handover(args.rounds)
    emit(result, args.json)


if __name__ == "__main__":
    main()
