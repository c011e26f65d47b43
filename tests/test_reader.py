"""The reader of issue 13: reads what raw zxing-cpp misses, never a text that is not on the frame, clips no later
than raw zxing-cpp, and an idle gate's frames at no extra cost once it knows the scene.

Frames come from the benchmark's generator (bench/hardframes.py) where a realistic degraded frame is needed, and
from clean symbols degraded here where a property must hold for any degradation.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp
from conftest import on_canvas, qr_image
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.builders import build_chain
from kiosk.camera.images import is_image, load_grey
from kiosk.config import DecodeConfig
from kiosk.decode.locate import likely_symbols
from kiosk.decode.memory import RegionMemory
from kiosk.decode.reader import FrameReader
from kiosk.decode.zxing import ZxingDecoder

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import hardframes as hf  # noqa: E402

QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
FALSE_POSITIVES = Path(__file__).parent / "data" / "qr" / "falsepositives-1"
CCCD = "079196004821|025917345|Nguyễn Thị Thu Hà|12031996|Nữ|Số 12 Lê Lợi, Quận 1, TP Hồ Chí Minh|15082021"


def reader(budget_ms: float = 15.0) -> FrameReader:
    return FrameReader(build_chain(DecodeConfig(budget_ms=budget_ms)))


def raw_reads(image: np.ndarray, text: str) -> bool:
    return any(r.valid and r.text == text for r in zxingcpp.read_barcodes(image, formats=QR))


@pytest.mark.parametrize("index", [7, 32, 35, 83, 152, 227])
def test_a_hard_frame_raw_zxing_misses_is_read(index: int) -> None:
    """Frames of the benchmark's set (seed 13: motion blur, tilt, small modules, JPEG, defocus) that raw zxing-cpp
    and the reader before issue 13 did not read. A generous budget: what is read, not how fast (the figures with
    the gate's 15 ms budget are in BENCHMARKS.md)."""
    sample = hf.single_frame(index, seed=13)
    assert not raw_reads(sample.image, sample.text)
    assert [c.text for c in reader(budget_ms=500).read(sample.image, 0.0).codes] == [sample.text]


def test_a_symbol_no_decoder_saw_is_looked_for_where_it_is_likely() -> None:
    """Second attempts used to wait for zxing-cpp to report a symbol; a blurred one usually gave it none."""
    frame = cv2.GaussianBlur(on_canvas(qr_image(CCCD, scale=2), at=(150, 200)), (0, 0), 1.4)
    x0, y0, x1, y1 = likely_symbols(frame)[0]
    assert x0 <= 200 + 20 and y0 <= 150 + 20 and x1 >= 200 + 80 and y1 >= 150 + 80
    assert likely_symbols(np.full((480, 640), 128, np.uint8)) == []


def test_a_light_code_on_a_dark_screen_is_still_read() -> None:
    """The first pass no longer looks for inverted symbols on the whole frame (it cost almost as much again)."""
    frame = on_canvas(255 - qr_image(CCCD, scale=4), at=(80, 120))
    assert not ZxingDecoder().read(frame).codes
    assert [c.text for c in reader().read(frame, 0.0).codes] == [CCCD]
    assert [c.text for c in reader().read_still(frame).codes] == [CCCD]


def test_a_micro_qr_symbol_is_a_place_to_look_not_a_code() -> None:
    import segno

    micro = segno.make_micro("12345")
    modules = np.pad((1 - np.array(micro.matrix, np.uint8)) * 255, 2, constant_values=255).astype(np.uint8)
    reading = ZxingDecoder().read(on_canvas(np.kron(modules, np.ones((8, 8), np.uint8))))
    assert reading.codes == [] and len(reading.hints) == 1


def test_photos_of_no_code_read_nothing() -> None:
    photos = [load_grey(p) for p in sorted(FALSE_POSITIVES.iterdir()) if is_image(p)]
    assert len(photos) >= 20
    for photo in photos:
        assert photo is not None
        assert reader().read(photo, 0.0).codes == [] and reader().read_still(photo).codes == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    blur=st.floats(0.0, 2.5),
    noise=st.floats(0.0, 20.0),
    quality=st.integers(25, 95),
    glare=st.floats(0.0, 1.5),
    scale=st.integers(2, 4),
)
def test_the_reader_never_returns_a_text_that_is_not_on_the_frame(
    seed: int, blur: float, noise: float, quality: int, glare: float, scale: int
) -> None:
    """Whatever the degradation, the reader returns the frame's text or nothing: repairs (enlarging, sharpening,
    inverting) must never make a checksum pass on something else."""
    rng = np.random.default_rng(seed)
    text = f"{rng.integers(10**11, 10**12)}||Trần Văn {rng.integers(100)}|01021990|Nam|Hà Nội|15082021"
    frame = on_canvas(qr_image(text, scale=scale), at=(int(rng.integers(0, 200)), int(rng.integers(0, 300))))
    frame = _degraded(frame, rng, blur, noise, quality, glare)
    assert {c.text for c in reader().read(frame, 0.0).codes} <= {text}


def _degraded(frame: np.ndarray, rng: np.random.Generator, blur: float, noise: float, quality: int, glare: float):
    h, w = frame.shape
    shift = (rng.uniform(-0.08, 0.08, (4, 2)) * [w, h]).astype(np.float32)
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    img = cv2.warpPerspective(frame, cv2.getPerspectiveTransform(corners, corners + shift), (w, h), borderValue=128)
    img = img.astype(np.float32)
    if blur:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    img += 255 * glare * np.exp(-(((xx - cx) / 60) ** 2 + ((yy - cy) / 40) ** 2))
    img += rng.normal(0, noise, img.shape)
    grey = np.clip(img, 0, 255).astype(np.uint8)
    _, jpeg = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)


@pytest.mark.parametrize("index", [0, 5, 8, 11, 14, 17, 23])
def test_a_clip_is_read_and_no_later_than_raw_zxing(index: int) -> None:
    """A code coming into view, shaking, settling: the gate's reader (one per clip, frames in order) reads it, and
    never after raw zxing-cpp on each frame alone. Clip 11 (a hard card) was never read before issue 13."""
    clip = hf.clip(index, seed=13)
    gate = reader(budget_ms=500)  # what is read, not how fast: CI machines are slower
    ours = next((i for i, f in enumerate(clip.frames) if gate.read(f, i / hf.FPS).codes), None)
    raw = next((i for i, f in enumerate(clip.frames) if raw_reads(f, clip.text)), None)
    assert ours is not None
    assert raw is None or ours <= raw


def test_an_idle_gate_stops_trying_what_it_tried_and_a_code_coming_in_is_tried_afresh() -> None:
    """An empty scene with a notice full of text (which looks like a symbol to `likely_symbols`): once every
    repair failed on it, the frames cost the first pass only; a code held up changes the scene."""
    scene = hf.idle_stream(12, 40, seed=13)  # a notice
    gate = reader()
    attempts = [gate.read(frame, n / hf.FPS).attempts for n, frame in enumerate(scene)]
    assert max(attempts[:5]) > 1  # the notice was tried
    assert attempts[-10:] == [1] * 10  # and is left alone now
    code = hf.single_frame(0, seed=13)
    assert gate.read(code.image, 41 / hf.FPS).codes[0].text == code.text


def test_a_region_coming_into_focus_is_tried_afresh() -> None:
    memory = RegionMemory()
    card = on_canvas(qr_image(CCCD, scale=2), at=(150, 200))
    blurred = cv2.GaussianBlur(card, (0, 0), 1.5)
    box = (180, 130, 320, 270)
    crop = blurred[130:270, 180:320]
    for n in range(20):  # tried in vain on as many frames, looking the same
        memory.failed(memory.recall(crop, box, n / 15), 7)
    assert memory.recall(crop, box, 21 / 15).done == 7
    sharp = card[130:270, 180:320]
    assert memory.recall(sharp, box, 22 / 15).done == 0


def test_a_gate_view_that_takes_several_states_costs_the_first_pass_in_each() -> None:
    """A door open then shut, lights on then off: each state, once nothing in it is left to try, is known again
    when it comes back (for `forget_s`), and a code held up in front of either is not."""
    memory = RegionMemory(forget_s=60.0)
    states = [hf.idle_stream(i, 1, seed=13)[0] for i in (12, 13)]
    for n, state in enumerate(states):
        assert not memory.unchanged(state, n)
        memory.settle(n)
    assert memory.unchanged(states[0], 2.0) and memory.unchanged(states[1], 3.0)
    held = states[0].copy()
    held[150:350, 220:420] = cv2.resize(qr_image(CCCD, scale=2), (200, 200))
    assert not memory.unchanged(held, 4.0)
    assert not memory.unchanged(states[0], 70.0)  # forgotten: tried afresh now and then


def test_repairs_longer_than_the_budget_do_not_keep_an_idle_gate_trying() -> None:
    """A repair that costs more than a frame's whole budget on a region is never made in the loop; the region
    counts as done with it, so an idle scene still settles (before, 1280x720 scenes never did)."""
    chain = build_chain(DecodeConfig(budget_ms=0.1))  # no repair fits: each is timed once, then never made
    for scene in (hf.idle_stream(12, 41, seed=13), hf.idle_stream(14, 41, seed=13)):  # two notices
        assert likely_symbols(scene[0])
        memory = RegionMemory()  # the second scene meets a chain that already knows every repair's cost
        settled = []  # per frame: whether the scene was known as one with nothing left to try
        for n, frame in enumerate(scene):
            settled.append(memory.unchanged(frame, n / hf.FPS))
            chain.decode(frame, memory=memory, at=n / hf.FPS)
        assert True in settled[:20] and all(settled[settled.index(True) :])
