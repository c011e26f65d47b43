from __future__ import annotations

import time

import pytest
from test_store import make_event

from kiosk.hardware.gpio import GpioFeedback, GpioPins

PINS = GpioPins("GPIO22", "GPIO27", "GPIO18", "GPIO17", relay_active_high=True, relay_hold_s=0.3, light_s=0.2)


def states(factory, pin: int) -> list[int]:
    return [int(s.state) for s in factory.pin(pin).states]


def wait_idle(feedback: GpioFeedback, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    devices = [feedback.relay, feedback.green, feedback.red, feedback.buzzer]
    while (
        any(d is not None and d._blink_thread and d._blink_thread.is_alive() for d in devices)
        and time.monotonic() < deadline
    ):
        time.sleep(0.01)


def test_accept_pulses_the_relay_lights_green_and_beeps_once(mock_factory):
    feedback = GpioFeedback(PINS, pin_factory=mock_factory)
    started = time.monotonic()
    feedback.signal(make_event(decision="ACCEPT"))
    assert time.monotonic() - started < 0.05  # patterns run in the background
    wait_idle(feedback)
    mock_factory.pin(17).assert_states_and_times([(0, False), (0, True), (0.3, False)])
    mock_factory.pin(22).assert_states_and_times([(0, False), (0, True), (0.2, False)])
    assert states(mock_factory, 17) == [0, 1, 0]
    assert states(mock_factory, 18) == [0, 1, 0]
    assert states(mock_factory, 27) == [0]  # red never lit
    feedback.close()


def test_deny_keeps_the_gate_shut_and_beeps_three_times(mock_factory):
    feedback = GpioFeedback(PINS, pin_factory=mock_factory)
    feedback.signal(make_event(decision="DENY"))
    wait_idle(feedback)
    assert states(mock_factory, 17) == [0]
    assert states(mock_factory, 27) == [0, 1, 0]
    assert states(mock_factory, 18) == [0, 1, 0, 1, 0, 1, 0]
    mock_factory.pin(18).assert_states_and_times([(0, 0), (0, 1), (0.1, 0), (0.1, 1), (0.1, 0), (0.1, 1), (0.1, 0)])
    feedback.close()


def test_review_lights_both_and_keeps_the_gate_shut(mock_factory):
    feedback = GpioFeedback(PINS, pin_factory=mock_factory)
    feedback.signal(make_event(decision="REVIEW"))
    wait_idle(feedback)
    assert states(mock_factory, 17) == [0]
    assert states(mock_factory, 22) == [0, 1, 0] and states(mock_factory, 27) == [0, 1, 0]
    feedback.close()


def test_second_accept_extends_the_pulse_without_a_glitch(mock_factory):
    feedback = GpioFeedback(PINS, pin_factory=mock_factory)
    feedback.signal(make_event(decision="ACCEPT"))
    time.sleep(0.1)
    feedback.signal(make_event(decision="ACCEPT"))
    wait_idle(feedback)
    assert states(mock_factory, 17) == [0, 1, 0]  # never released between the two people
    assert sum(s.timestamp for s in mock_factory.pin(17).states) == pytest.approx(0.4, abs=0.06)
    feedback.close()


def test_a_refusal_shuts_the_gate_still_open_for_the_person_before(mock_factory):
    feedback = GpioFeedback(PINS, pin_factory=mock_factory)
    feedback.signal(make_event(decision="ACCEPT"))
    time.sleep(0.05)
    feedback.signal(make_event(decision="DENY"))
    assert states(mock_factory, 17) == [0, 1, 0]
    assert states(mock_factory, 22)[-1] == 0 and states(mock_factory, 27)[-1] == 1  # green off, red on
    feedback.close()


def test_active_low_relay_board_starts_released(mock_factory):
    pins = GpioPins(None, None, None, "GPIO17", relay_active_high=False, relay_hold_s=0.2)
    feedback = GpioFeedback(pins, pin_factory=mock_factory)
    assert states(mock_factory, 17) == [0, 1]  # mock pins start low; the device drives high = released at once
    feedback.signal(make_event(decision="ACCEPT"))
    wait_idle(feedback)
    assert states(mock_factory, 17) == [0, 1, 0, 1]
    feedback.close()


def test_close_releases_the_relay_mid_pulse(mock_factory):
    feedback = GpioFeedback(PINS, pin_factory=mock_factory)
    feedback.signal(make_event(decision="ACCEPT"))
    time.sleep(0.05)
    feedback.close()
    assert states(mock_factory, 17)[-1] == 0


@pytest.mark.parametrize(("reason", "blinks"), [("camera", 10), ("loop", 10), ("store", 3), ("store-damaged", 3)])
def test_fault_releases_the_relay_and_blinks_red(mock_factory, reason, blinks):
    feedback = GpioFeedback(PINS, pin_factory=mock_factory)
    feedback.signal(make_event(decision="ACCEPT"))
    time.sleep(0.05)
    feedback.fault(reason)
    assert states(mock_factory, 17)[-1] == 0
    wait_idle(feedback)
    assert states(mock_factory, 27).count(1) == blinks  # the store's faults are told apart from the camera's
    feedback.close()
