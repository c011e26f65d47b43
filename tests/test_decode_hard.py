"""The generator of issue 13's benchmark (bench/hardframes.py): deterministic, labelled as documented, every code
really encoded, `in_view` exact, and no code in the empty frames."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import segno
import zxingcpp

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import hardframes as hf  # noqa: E402
import hardscene as sc  # noqa: E402

from kiosk.decode.opencv import OpenCVDecoder  # noqa: E402
from kiosk.decode.zbar import ZbarDecoder  # noqa: E402

QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


@pytest.fixture(scope="module")
def samples() -> list[hf.Sample]:
    return hf.single_frames(9, seed=5)


@pytest.fixture(scope="module")
def clip() -> hf.Clip:
    return hf.clip(1, seed=5)


def test_the_same_seed_gives_the_same_frames_bit_for_bit(samples: list[hf.Sample]) -> None:
    again = hf.single_frames(9, seed=5)
    assert all(np.array_equal(a.image, b.image) and a.text == b.text for a, b in zip(samples, again, strict=True))
    assert np.array_equal(hf.empty_frame(4, seed=5), hf.empty_frame(4, seed=5))
    assert not np.array_equal(samples[0].image, hf.single_frame(0, seed=6).image)


def test_clips_are_deterministic_too(clip: hf.Clip) -> None:
    again = hf.clip(1, seed=5)
    assert clip.in_view == again.in_view
    assert all(np.array_equal(a, b) for a, b in zip(clip.frames, again.frames, strict=True))


def test_frames_are_grey_640x480_and_levels_come_in_equal_thirds(samples: list[hf.Sample]) -> None:
    assert all(s.image.shape == (480, 640) and s.image.dtype == np.uint8 for s in samples)
    assert [s.level for s in samples] == ["easy", "medium", "hard"] * 3
    assert {s.medium for s in samples} <= {"phone", "paper"}
    assert all(s.main in hf.MAINS for s in samples)


def test_degradations_stay_within_the_documented_ranges(samples: list[hf.Sample]) -> None:
    for s in samples:
        d = s.degradations
        assert hf.SIZE_RANGE[0] - 0.01 <= d["size"] <= hf.SIZE_RANGE[1] + 1e-6, s
        assert 0 <= d["tilt"] <= 35 and d["motion"] <= hf.MAX_MOTION_PX and 30 <= d["jpeg"] <= 90
        assert d["module_px"] >= hf.MIN_MODULE_PX["hard"] - 0.05  # readable in principle: modules of >= 1.6 px
        if s.main == "tilt":
            assert hf.RANGES["tilt"][s.level][0] <= d["tilt"] <= hf.RANGES["tilt"][s.level][1]
        if s.medium == "phone" and "glare_core" in d:
            assert d["glare_core"] <= max(hf.GLARE_ALLOWANCE.values())


def test_every_text_is_really_encoded_in_a_clean_rendering_of_its_symbol(samples: list[hf.Sample]) -> None:
    for s in samples:
        qr = segno.make_qr(s.text, error=s.error, encoding="utf-8", boost_error=False)
        assert qr.symbol_size(border=0)[0] == s.modules
        clean = (sc.qr_matrix(s.text, s.error) * 255).astype(np.uint8)
        assert [r.text for r in zxingcpp.read_barcodes(clean, formats=QR)] == [s.text]


def test_the_symbol_corners_given_are_where_the_code_is(samples: list[hf.Sample]) -> None:
    # the ground truth that the oracle column of the benchmark uses: the code reads once rectified at them
    readable = [hf.readable(s.image, s.corners, s.modules, s.text) for s in samples if s.level == "easy"]
    assert all(readable)


def test_in_view_is_the_first_frame_with_the_whole_symbol_inside_and_it_stays_inside(clip: hf.Clip) -> None:
    assert len(clip.frames) == hf.CLIP_FRAMES and 0 < clip.in_view < hf.CLIP_FRAMES
    inside = [bool((q >= 0).all() and (q[:, 0] <= 639).all() and (q[:, 1] <= 479).all()) for q in clip.quads]
    assert inside.index(True) == clip.in_view
    assert all(inside[clip.in_view :])
    assert not any(inside[: clip.in_view])


def test_a_settled_clip_frame_is_readable_in_principle(clip: hf.Clip) -> None:
    assert hf.readable(clip.frames[-1], clip.quads[-1], clip.modules, clip.text, quiet=True)


def test_empty_frames_contain_no_readable_code() -> None:
    zbar, ocv = ZbarDecoder(), OpenCVDecoder()
    for i in range(len(hf.EMPTY_KINDS) * 3):  # every kind of scene at every level
        frame = hf.empty_frame(i, seed=5)
        assert frame.shape == (480, 640)
        assert not zxingcpp.read_barcodes(frame, formats=QR)
        assert not zbar.read(frame).codes and not ocv.read(frame).codes
