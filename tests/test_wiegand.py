"""Wiegand output: frames and parity, the pulse train on gpiozero's mock pins, the lgpio wave, the feedback queue."""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory
from hypothesis import given
from hypothesis import strategies as st
from test_store import make_event

from kiosk.config.outputs import WiegandConfig
from kiosk.hardware.wiegand import (
    FRAME_GAP_S,
    QUEUE_FRAMES,
    GpiozeroWiegandDriver,
    LgpioWiegandDriver,
    WiegandError,
    WiegandFeedback,
    card_number,
    decode_frame,
    frame_bits,
    make_wiegand_driver,
)

KEY = "0123456789abcdef0123456789abcdef"  # make_event's subject key
D0, D1 = 23, 24
CONFIG = WiegandConfig()  # GPIO23/GPIO24, 26-bit, facility 0, 100 us pulses 2000 us apart, ACCEPT only


def bits_of(text: str) -> list[int]:
    return [int(c) for c in text.replace(" ", "")]


# --- frames -----------------------------------------------------------------------------------------------------

KNOWN_26 = [
    # facility 1, card 1: data 00000001 0000|0000 00000001. First 12 data bits hold one 1 -> even parity 1;
    # last 12 hold one 1 -> odd parity 0 (already odd).
    (1, 1, "1 00000001 0000 000000000001 0"),
    # facility 18 (00010010), card 0x1234 (0001 0010 0011 0100): first 12 = 000100100001 (three 1s) -> 1;
    # last 12 = 001000110100 (four 1s) -> odd parity 1.
    (18, 0x1234, "1 00010010 0001 001000110100 1"),
    (0, 0, "0 00000000 0000 000000000000 1"),  # no 1s: even parity 0, odd parity 1
    (255, 65535, "0 11111111 1111 111111111111 1"),  # twelve 1s in each half: 0 and 1
]
KNOWN_34 = [
    # card 0x00010001: first 16 data bits = 0x0001 (one 1) -> even parity 1; last 16 = 0x0001 -> odd parity 0.
    (0x00010001, "1 0000000000000001 0000000000000001 0"),
    (0, "0 " + "0" * 32 + " 1"),
    (0xFFFFFFFF, "0 " + "1" * 32 + " 1"),  # sixteen 1s in each half
]


@pytest.mark.parametrize(("facility", "card", "expected"), KNOWN_26)
def test_known_26_bit_frames(facility: int, card: int, expected: str) -> None:
    assert frame_bits(card, bits=26, facility=facility) == bits_of(expected)
    assert decode_frame(bits_of(expected)) == (facility, card)


@pytest.mark.parametrize(("card", "expected"), KNOWN_34)
def test_known_34_bit_frames(card: int, expected: str) -> None:
    assert frame_bits(card, bits=34) == bits_of(expected)
    assert decode_frame(bits_of(expected)) == (0, card)


@pytest.mark.parametrize("facility", [0, 1, 127, 128, 254, 255])
@pytest.mark.parametrize("card", [0, 1, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF])
def test_26_bit_round_trip_at_the_edges(facility: int, card: int) -> None:
    frame = frame_bits(card, bits=26, facility=facility)
    assert len(frame) == 26
    assert decode_frame(frame) == (facility, card)


@given(st.integers(0, 255), st.integers(0, 0xFFFF))
def test_26_bit_round_trip(facility: int, card: int) -> None:
    assert decode_frame(frame_bits(card, bits=26, facility=facility)) == (facility, card)


@given(st.integers(0, 0xFFFFFFFF))
def test_34_bit_round_trip(card: int) -> None:
    frame = frame_bits(card, bits=34)
    assert len(frame) == 34
    assert decode_frame(frame) == (0, card)


@given(st.sampled_from([26, 34]), st.integers(0, 0xFFFFFFFF), st.data())
def test_every_single_bit_error_breaks_parity(bits: int, value: int, data: st.DataObject) -> None:
    frame = frame_bits(value & 0xFFFF, bits=26, facility=value >> 24) if bits == 26 else frame_bits(value, bits=34)
    flip = data.draw(st.integers(0, bits - 1))
    frame[flip] ^= 1
    with pytest.raises(WiegandError, match="parity"):
        decode_frame(frame)


@pytest.mark.parametrize(
    ("card", "bits", "facility", "match"),
    [
        (1 << 16, 26, 0, "0-65535"),
        (-1, 26, 0, "0-65535"),
        (1, 26, 256, "facility code is 0-255"),
        (1 << 32, 34, 0, "0-4294967295"),
        (1, 34, 5, "no facility code"),
        (1, 30, 0, "26 or 34 bits"),
    ],
)
def test_out_of_range_values_are_refused(card: int, bits: Any, facility: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        frame_bits(card, bits=bits, facility=facility)


@pytest.mark.parametrize(("frame", "match"), [([0] * 25, "26 or 34 bits"), ([0] * 25 + [2], "only 0 and 1")])
def test_malformed_frames_are_refused(frame: list[int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        decode_frame(frame)


def test_card_number_is_the_leading_hex_digits_of_the_subject_key() -> None:
    assert card_number(KEY, 26) == 0x0123
    assert card_number(KEY, 34) == 0x01234567
    assert card_number(KEY.upper(), 34) == 0x01234567
    for bad in ("012", "not-hex-at-all-0123456789abcdef", ""):
        with pytest.raises(WiegandError, match="hex digits"):
            card_number(bad, 26)


# --- the pulse train on mock pins ---------------------------------------------------------------------------------

Edge = tuple[float, int, bool]  # seconds, line (0 = D0, 1 = D1), level


def mock_edges(factory: MockFactory) -> list[Edge]:
    """Every level change of D0 and D1 since restart(), on one time axis."""
    edges = []
    for line, number in enumerate((D0, D1)):
        pin = factory.pin(number)
        # MockPin records each change as the time since the one before; anchor both pins on the time of their
        # last change (a private attribute) rather than on two clear_states() calls a preemption may part.
        t = pin._last_change
        for state in reversed(pin.states[1:]):
            edges.append((t, line, bool(state.state)))
            t -= state.timestamp
    return sorted(edges)


def restart(factory: MockFactory) -> None:
    """Forget the pins' earlier changes."""
    for number in (D0, D1):
        factory.pin(number).clear_states()


def pulses_of(edges: list[Edge], *, idle: bool = True) -> list[tuple[float, int, float]]:
    """(start, bit, width) of each pulse: a line leaving the idle level and coming back; never both at once."""
    pulses, active = [], {}
    for t, line, level in edges:
        if level != idle:
            assert not active, f"D0 and D1 active at once at {t:.6f}s"
            active[line] = t
        else:
            start = active.pop(line)
            pulses.append((start, line, t - start))
    assert not active, "a line was left active"
    return pulses


def frames_of(pulses: list[tuple[float, int, float]], gap: float) -> list[list[int]]:
    """The pulse train split where the lines stayed idle longer than `gap`."""
    frames: list[list[int]] = []
    last = -gap
    for start, bit, _ in pulses:
        if start - last > gap:
            frames.append([])
        frames[-1].append(bit)
        last = start
    return frames


@pytest.fixture
def mock_pins() -> Iterator[MockFactory]:
    """Plain mock pins: conftest's MockPWMPin drops a pin to 0 when it is closed, which no Wiegand pin does."""
    factory = MockFactory()
    try:
        yield factory
    finally:
        factory.reset()


@pytest.fixture
def feedback(mock_pins: MockFactory) -> Iterator[WiegandFeedback]:
    feedback = WiegandFeedback(CONFIG, pin_factory=mock_pins)
    restart(mock_pins)
    yield feedback
    feedback.close()


def test_the_lines_idle_high_before_and_after_a_frame(feedback: WiegandFeedback, mock_pins: MockFactory) -> None:
    for number in (D0, D1):
        assert mock_pins.pin(number).state == 1
    feedback.signal(make_event(decision="ACCEPT"))
    assert feedback.wait_idle(2.0)
    edges = mock_edges(mock_pins)
    assert edges[0][2] is False  # the first change is a pulse going low: the line was high before
    for number in (D0, D1):
        states = mock_pins.pin(number).states
        assert states[0].state == states[-1].state == mock_pins.pin(number).state == 1


def test_the_pulse_train_decodes_back_to_the_frame(feedback: WiegandFeedback, mock_pins: MockFactory) -> None:
    feedback.signal(make_event(decision="ACCEPT"))
    assert feedback.wait_idle(2.0)
    bits = [bit for _, bit, _ in pulses_of(mock_edges(mock_pins))]
    assert bits == frame_bits(card_number(KEY, 26), bits=26, facility=0)
    assert decode_frame(bits) == (0, 0x0123)
    assert feedback.sent == 1


def test_pulse_widths_and_intervals(feedback: WiegandFeedback, mock_pins: MockFactory) -> None:
    # Python timing on a shared machine, so: no pulse shorter than asked and no start sooner than an interval
    # after the one before (the driver never shortens either; pulses_of checks they never overlap), and medians
    # close to the asked values. No bound on the outliers: measured here (2 cores, 100 us / 2000 us, 40 frames)
    # widths p50 105 us, p99 130-250 us, max up to 5 ms; intervals p50 2011 us, p99 2.4-4.2 ms, max 5-7 ms; with
    # two busy Python threads alongside, intervals p50 2.2 ms, p99 6.5-11 ms, max 13-19 ms.
    feedback.signal(make_event(decision="ACCEPT"))
    assert feedback.wait_idle(2.0)
    pulses = pulses_of(mock_edges(mock_pins))
    widths = [width for _, _, width in pulses]
    intervals = [b[0] - a[0] for a, b in itertools.pairwise(pulses)]
    pulse_s, interval_s = CONFIG.pulse_us / 1e6, CONFIG.interval_us / 1e6
    assert min(widths) >= pulse_s
    assert statistics.median(widths) == pytest.approx(pulse_s, abs=150e-6)
    assert min(intervals) >= interval_s
    assert statistics.median(intervals) == pytest.approx(interval_s, abs=500e-6)


def test_frames_of_two_quick_decisions_are_not_interleaved(feedback: WiegandFeedback, mock_pins: MockFactory) -> None:
    other = "fedcba9876543210fedcba9876543210"
    feedback.signal(make_event(decision="ACCEPT"))
    feedback.signal(make_event(decision="ACCEPT", subject_key=other))
    assert feedback.wait_idle(3.0)
    pulses = pulses_of(mock_edges(mock_pins))
    frames = frames_of(pulses, gap=FRAME_GAP_S / 2)
    assert [decode_frame(frame) for frame in frames] == [(0, 0x0123), (0, 0xFEDC)]
    assert pulses[26][0] - pulses[25][0] >= FRAME_GAP_S  # the panel sees a silence between the two


def test_signal_returns_at_once(feedback: WiegandFeedback) -> None:
    took = []
    for _ in range(10):
        started = time.perf_counter()
        feedback.signal(make_event(decision="ACCEPT"))
        took.append(time.perf_counter() - started)
    # A frame takes 52 ms; signal only queues it: about 0.1 ms here, even while the worker spins out a pulse.
    # The bound on the slowest call is loose because this shared 2-core machine sometimes parks a thread for
    # a few ms (measured: 2 of 20 runs had one call over 2 ms).
    assert statistics.median(took) < 2e-3
    assert max(took) < 20e-3
    assert feedback.wait_idle(5.0)


@pytest.mark.parametrize(
    ("send_on", "decision", "subject_key", "frames"),
    [
        ("accept", "ACCEPT", KEY, 1),
        ("accept", "DENY", KEY, 0),
        ("accept", "REVIEW", KEY, 0),
        ("all", "DENY", KEY, 1),
        ("all", "REVIEW", KEY, 1),
        ("all", "ACCEPT", None, 0),  # no person identified: nothing to send
        ("accept", "ACCEPT", None, 0),
    ],
)
def test_what_is_sent(
    mock_pins: MockFactory, send_on: str, decision: str, subject_key: str | None, frames: int
) -> None:
    feedback = WiegandFeedback(CONFIG.model_copy(update={"send_on": send_on}), pin_factory=mock_pins)
    restart(mock_pins)
    feedback.signal(make_event(decision=decision, subject_key=subject_key))
    assert feedback.wait_idle(2.0)
    feedback.close()
    assert feedback.sent == frames
    assert len(pulses_of(mock_edges(mock_pins))) == 26 * frames


def test_34_bit_frames_on_the_lines(mock_pins: MockFactory) -> None:
    feedback = WiegandFeedback(CONFIG.model_copy(update={"bits": 34, "interval_us": 500}), pin_factory=mock_pins)
    restart(mock_pins)
    feedback.signal(make_event())
    assert feedback.wait_idle(2.0)
    feedback.close()
    assert decode_frame([bit for _, bit, _ in pulses_of(mock_edges(mock_pins))]) == (0, 0x01234567)


def test_close_lets_the_frame_in_flight_finish_and_leaves_the_lines_high(mock_pins: MockFactory) -> None:
    feedback = WiegandFeedback(CONFIG, pin_factory=mock_pins)
    restart(mock_pins)
    feedback.signal(make_event())
    feedback.signal(make_event())  # still queued at close: dropped
    deadline = time.monotonic() + 2.0
    while not mock_edges(mock_pins) and time.monotonic() < deadline:  # until the first frame is on the lines
        time.sleep(0.001)
    feedback.close()
    assert [decode_frame(f) for f in frames_of(pulses_of(mock_edges(mock_pins)), FRAME_GAP_S / 2)] == [(0, 0x0123)]
    for number in (D0, D1):
        pin = mock_pins.pin(number)
        assert pin.state == 1 and pin.function == "input"  # released: the interface stage holds it idle
    feedback.signal(make_event())  # after close: ignored, not an error
    feedback.close()


def test_a_full_queue_drops_and_counts_instead_of_blocking(mock_pins: MockFactory) -> None:
    feedback = WiegandFeedback(CONFIG, pin_factory=mock_pins)
    started = time.perf_counter()
    for _ in range(QUEUE_FRAMES + 4):  # one in flight, QUEUE_FRAMES waiting, the rest dropped
        feedback.signal(make_event())
    assert time.perf_counter() - started < 0.05
    assert feedback.dropped in (3, 4)  # 4 if the worker had not yet taken the first frame
    feedback.close()
    assert feedback.sent <= 1 and feedback.wait_idle(0.1)


def test_an_inverting_stage_idles_low_and_pulses_high(mock_pins: MockFactory) -> None:
    driver = GpiozeroWiegandDriver("GPIO23", "GPIO24", mock_pins, inverted=True)
    assert mock_pins.pin(D0).state == mock_pins.pin(D1).state == 0
    restart(mock_pins)
    frame = frame_bits(7, bits=26, facility=3)
    driver.send(frame, 100, 400)
    driver.close()
    assert [bit for _, bit, _ in pulses_of(mock_edges(mock_pins), idle=False)] == frame


def test_misconfiguration_is_refused_at_start(mock_pins: MockFactory) -> None:
    with pytest.raises(ValueError, match=r"feedback\.wiegand\.facility"):
        WiegandFeedback(CONFIG.model_copy(update={"bits": 34, "facility": 3}), pin_factory=mock_pins)
    with pytest.raises(ValueError, match=r"feedback\.wiegand\.d0"):
        WiegandFeedback(CONFIG.model_copy(update={"d1": None}), pin_factory=mock_pins)


# --- lgpio --------------------------------------------------------------------------------------------------------


class FakeLgpio:
    """lgpio's calls as the driver uses them, with `tx_wave` played out on a simulated clock."""

    TX_WAVE = 1
    SET_PULL_NONE = 0

    class error(Exception):
        pass

    def __init__(self, *, fail: bool = False) -> None:
        self.fail, self.chips, self.inputs, self.closed = fail, [], set(), False
        self.levels: dict[int, int] = {}
        self.group: list[int] = []
        self.edges: list[Edge] = []
        self.clock = 0.0

    def gpiochip_open(self, chip: int) -> int:
        if self.fail:
            raise self.error("can not open gpiochip")
        self.chips.append(chip)
        return 3

    def group_claim_output(self, handle: int, gpios: list[int], levels: list[int]) -> int:
        self.group = list(gpios)
        self.levels.update(zip(gpios, levels, strict=True))
        return 0

    def pulse(self, bits: int, mask: int, delay: int) -> tuple[int, int, int]:
        return (bits, mask, delay)

    def group_write(self, handle: int, leader: int, bits: int, mask: int) -> int:
        for i, gpio in enumerate(self.group):
            if mask >> i & 1:
                level = bits >> i & 1
                if level != self.levels[gpio]:
                    self.edges.append((self.clock, i, bool(level)))
                self.levels[gpio] = level
        return 0

    def tx_wave(self, handle: int, leader: int, pulses: list[tuple[int, int, int]]) -> int:
        assert leader == self.group[0]
        for bits, mask, delay in pulses:
            self.group_write(handle, leader, bits, mask)
            self.clock += delay / 1e6
        return 10

    def tx_busy(self, handle: int, gpio: int, kind: int) -> int:
        return 0

    def group_free(self, handle: int, leader: int) -> int:
        self.group_freed = True
        return 0

    def gpio_claim_input(self, handle: int, gpio: int, flags: int) -> int:
        self.inputs.add(gpio)
        return 0

    def gpiochip_close(self, handle: int) -> int:
        self.closed = True
        return 0


@pytest.fixture
def fake_lgpio(monkeypatch: pytest.MonkeyPatch) -> FakeLgpio:
    fake = FakeLgpio()
    monkeypatch.setitem(sys.modules, "lgpio", fake)
    return fake


class LGPIOFactory(MockFactory):
    """Mock pins under the name make_wiegand_driver looks for; chip 4 as on a Pi 5 with an older kernel."""

    chip = 4


@pytest.mark.parametrize("inverted", [False, True])
def test_the_lgpio_wave_decodes_back_to_the_frame(fake_lgpio: FakeLgpio, inverted: bool) -> None:
    driver = LgpioWiegandDriver(D0, D1, 0, inverted=inverted)
    idle = 0 if inverted else 1
    assert fake_lgpio.group == [D0, D1] and fake_lgpio.levels == {D0: idle, D1: idle}  # claimed idle, no glitch
    frame = frame_bits(0xBEEF, bits=26, facility=42)
    driver.send(frame, 100, 2000)
    pulses = pulses_of(fake_lgpio.edges, idle=bool(idle))
    assert [bit for _, bit, _ in pulses] == frame
    assert all(width == pytest.approx(100e-6) for _, _, width in pulses)
    assert all(b[0] - a[0] == pytest.approx(2000e-6) for a, b in itertools.pairwise(pulses))
    driver.close()
    assert fake_lgpio.levels == {D0: idle, D1: idle} and fake_lgpio.inputs == {D0, D1} and fake_lgpio.closed


def test_the_lgpio_driver_is_chosen_on_the_lgpio_factory(fake_lgpio: FakeLgpio) -> None:
    factory = LGPIOFactory()
    try:
        driver = make_wiegand_driver("GPIO23", "GPIO24", factory)
        assert isinstance(driver, LgpioWiegandDriver) and fake_lgpio.chips == [4]
        driver.close()
    finally:
        factory.reset()


def test_gpiozero_timing_is_the_fallback_when_lgpio_cannot_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lgpio", FakeLgpio(fail=True))
    factory = LGPIOFactory()
    try:
        driver = make_wiegand_driver("GPIO23", "GPIO24", factory)
        assert isinstance(driver, GpiozeroWiegandDriver)
        driver.close()
    finally:
        factory.reset()


def test_other_factories_get_gpiozero_timing(mock_pins: MockFactory) -> None:
    driver = make_wiegand_driver("GPIO23", "GPIO24", mock_pins)
    assert isinstance(driver, GpiozeroWiegandDriver)
    driver.close()
