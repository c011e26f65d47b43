from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import CCCD_AN, QR_SAMPLES, degrade, on_canvas, qr_image

from kiosk.camera.images import is_image, load_grey
from kiosk.decode import DecoderChain, Reading
from kiosk.decode.opencv import OpenCVDecoder
from kiosk.decode.zbar import ZbarDecoder
from kiosk.decode.zxing import ZxingDecoder

DECODERS = [ZxingDecoder, ZbarDecoder, OpenCVDecoder]


@pytest.mark.parametrize("decoder_class", DECODERS)
def test_each_decoder_reads_vietnamese_text_exactly(decoder_class):
    codes = decoder_class().read(on_canvas(qr_image(CCCD_AN, scale=4))).codes
    assert [(c.text, c.payload, c.binary) for c in codes] == [(CCCD_AN, CCCD_AN.encode(), False)]


@pytest.mark.parametrize("decoder_class", [ZxingDecoder, ZbarDecoder])
def test_binary_payload_is_returned_byte_for_byte(decoder_class):
    payload = bytes(range(256))[128:] + b"\x00\xff\xfe"
    (code,) = decoder_class().read(qr_image(payload, scale=5)).codes
    assert code.payload == payload and code.binary
    assert code.text.encode("latin-1") == payload


@pytest.mark.parametrize("sample", ["qrcode-2/31.webp", "qrcode-7/01-01.png"])
def test_opencv_errors_on_odd_payloads_do_not_escape(sample):
    # On these, OpenCV's binding raises UnicodeDecodeError (a Shift-JIS payload) or cv2.error (a structured-append
    # mode it does not implement); the adapter reads nothing rather than crash the kiosk.
    image = load_grey(QR_SAMPLES / sample)
    assert image is not None
    assert isinstance(OpenCVDecoder().read(image), Reading)


@pytest.mark.parametrize("decoder_class", DECODERS)
def test_several_codes_in_one_frame_are_all_returned(decoder_class):
    frame = np.full((480, 640), 255, dtype=np.uint8)
    frame[20 : 20 + 174, 20 : 20 + 174] = qr_image("first person", scale=6)[:174, :174]
    second = qr_image("second person", scale=6)
    frame[250 : 250 + second.shape[0], 380 : 380 + second.shape[1]] = second
    texts = {c.text for c in decoder_class().read(frame).codes}
    assert texts == {"first person", "second person"}


def test_zxing_reports_a_symbol_it_cannot_read_as_a_hint():
    image = qr_image("damaged beyond repair, with enough text to have data", scale=8, error="l")
    rng = np.random.default_rng(1)
    modules = image.shape[0] // 8
    for _ in range(60):  # flip far more modules than level L corrects, away from the finder patterns
        y, x = rng.integers(9, modules - 9, 2)
        image[y * 8 : (y + 1) * 8, x * 8 : (x + 1) * 8] ^= 255
    reading = ZxingDecoder().read(image)
    assert reading.codes == []
    assert reading.hints == [(32, 32, 266, 266)]  # the symbol without its quiet zone


def test_empty_frame_costs_one_primary_pass():
    chain = DecoderChain([ZxingDecoder(), ZbarDecoder()])
    result = chain.decode(np.full((480, 640), 120, dtype=np.uint8))
    assert (result.codes, result.unread, result.attempts) == ([], [], 1)


def test_degraded_camera_view_is_read():
    frame = degrade(on_canvas(qr_image(CCCD_AN, scale=4)), blur=3, noise=8, tilt=0.1)
    codes = DecoderChain([ZxingDecoder(), ZbarDecoder()]).decode(frame).codes
    assert [c.text for c in codes] == [CCCD_AN]


def test_region_of_interest_and_downscale_give_frame_coordinates():
    code = qr_image("where am I", scale=8)
    frame = on_canvas(code, at=(200, 300))
    chain = DecoderChain([ZxingDecoder()], roi=(0.25, 0.25, 0.75, 0.75), downscale=0.5)
    (found,) = chain.decode(frame).codes
    xs = [p[0] for p in found.corners]
    ys = [p[1] for p in found.corners]
    side = code.shape[0] - 2 * 4 * 8  # the symbol without its quiet zone
    assert abs(min(xs) - (300 + 32)) <= 6 and abs(min(ys) - (200 + 32)) <= 6
    assert abs(max(xs) - min(xs) - side) <= 10


def test_code_outside_the_region_of_interest_is_ignored():
    frame = on_canvas(qr_image("outside", scale=4), at=(10, 10))
    assert DecoderChain([ZxingDecoder()], roi=(0.5, 0.5, 0.5, 0.5)).decode(frame).codes == []


class Counting:
    """A decoder that reads nothing and counts its calls (to observe the chain's second attempts)."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def read(self, image: np.ndarray) -> Reading:
        self.calls += 1
        return Reading()


def test_second_attempts_stop_at_the_budget():
    ticks = iter(np.arange(0, 1, 0.004))  # every timer read advances 4 ms
    fallback = Counting()
    chain = DecoderChain([Counting(), fallback], budget_ms=10, timer=lambda: float(next(ticks)))
    result = chain.decode(np.zeros((100, 100), np.uint8), near=[(10, 10, 90, 90)])
    assert result.codes == [] and 2 <= result.attempts <= 3


def test_fallback_is_tried_when_a_code_is_likely():
    fallback = Counting()
    DecoderChain([Counting(), fallback], budget_ms=1000).decode(np.zeros((50, 50), np.uint8), near=[(0, 0, 50, 50)])
    assert fallback.calls >= 1


def test_retry_off_means_primary_only():
    fallback = Counting()
    DecoderChain([Counting(), fallback], retry=False).decode(np.zeros((50, 50), np.uint8), near=[(0, 0, 50, 50)])
    assert fallback.calls == 0


def expected_payload(image: Path) -> bytes | None:
    for suffix in (".txt", ".bin"):
        if image.with_suffix(suffix).exists():
            return image.with_suffix(suffix).read_bytes()
    return None


def sample_images() -> list[tuple[Path, bytes]]:
    out = []
    for folder in sorted(QR_SAMPLES.glob("qrcode-*")):
        for image in sorted(p for p in folder.iterdir() if is_image(p)):
            expected = expected_payload(image)
            if expected is not None:
                out.append((image, expected))
    return out


def reads(codes: list, expected: bytes) -> bool:
    return any(c.payload == expected or c.text.encode() == expected for c in codes)


def test_chain_reads_every_sample_that_any_single_decoder_reads():
    singles = [ZxingDecoder(), ZbarDecoder(), OpenCVDecoder()]
    chain = DecoderChain([ZxingDecoder(), ZbarDecoder(), OpenCVDecoder()])
    missed, read = [], 0
    for image_path, expected in sample_images():
        image = load_grey(image_path)
        assert image is not None, image_path
        any_single = any(reads(d.read(image).codes, expected) for d in singles)
        by_chain = reads(chain.decode(image, thorough=True).codes, expected)
        read += by_chain
        if any_single and not by_chain:
            missed.append(image_path.name)
    assert missed == []
    assert read >= 130  # 130 of 137 here; a regression in the chain shows up as a drop


def test_no_code_is_read_from_the_false_positive_samples():
    chain = DecoderChain([ZxingDecoder(), ZbarDecoder(), OpenCVDecoder()])
    folder = QR_SAMPLES / "falsepositives-1"
    images = [load_grey(p) for p in sorted(folder.iterdir()) if is_image(p)]
    assert len(images) == 21 and all(i is not None for i in images)
    assert [chain.decode(i, thorough=True).codes for i in images if i is not None] == [[]] * 21


def test_inverted_code_on_a_dark_mode_phone_is_read():
    frame = 255 - on_canvas(qr_image("dark mode", scale=5))
    assert [c.text for c in DecoderChain([ZxingDecoder()]).decode(frame).codes] == ["dark mode"]


def test_upscaled_second_attempt_reads_a_tiny_blurred_code():
    small = cv2.resize(qr_image(CCCD_AN, scale=2), None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
    frame = on_canvas(cv2.GaussianBlur(small, (0, 0), 0.6), at=(100, 100))
    chain = DecoderChain([ZxingDecoder(), ZbarDecoder()])
    assert [c.text for c in chain.decode(frame, thorough=True).codes] == [CCCD_AN]


@pytest.mark.parametrize("payload", [CCCD_AN.encode(), "café crème".encode("latin-1"), b"plain ascii"])
def test_every_decoder_gives_the_same_text_so_a_code_is_one_code_whoever_reads_it(payload: bytes):
    found = [code for d in DECODERS for image in (qr_image(payload, scale=5), on_canvas(qr_image(payload, scale=4)))
             for code in d().read(image).codes]  # fmt: skip
    assert {c.decoder for c in found} == {"zxing", "pyzbar", "opencv"}
    assert len({c.digest_source for c in found}) == 1 and not any(c.binary for c in found)


def test_overlapping_hints_are_merged_into_one_region():
    from kiosk.decode.chain import _merged

    assert _merged([(0, 0, 10, 10), (50, 50, 60, 60), (8, 8, 55, 55)]) == [(0, 0, 60, 60)]
    assert _merged([(0, 0, 10, 10), (20, 20, 30, 30)]) == [(0, 0, 10, 10), (20, 20, 30, 30)]


def test_an_unreadable_second_code_is_reported_even_when_another_is_read():
    frame = np.full((480, 900), 255, dtype=np.uint8)
    good = qr_image("readable", scale=6)
    frame[20 : 20 + good.shape[0], 20 : 20 + good.shape[1]] = good
    bad = qr_image("damaged beyond repair, with enough text to have data", scale=6, error="l")
    rng = np.random.default_rng(1)
    for _ in range(60):
        y, x = rng.integers(9, bad.shape[0] // 6 - 9, 2)
        bad[y * 6 : (y + 1) * 6, x * 6 : (x + 1) * 6] ^= 255
    frame[20 : 20 + bad.shape[0], 450 : 450 + bad.shape[1]] = bad
    result = DecoderChain([ZxingDecoder()]).decode(frame)
    assert [c.text for c in result.codes] == ["readable"] and len(result.unread) == 1
    assert result.unread[0][0] >= 450


def test_tiny_region_with_downscale_does_not_raise():
    chain = DecoderChain([ZxingDecoder()], roi=(0.5, 0.5, 0.01, 0.01), downscale=0.1)
    assert chain.decode(np.zeros((480, 640), np.uint8)).codes == []
