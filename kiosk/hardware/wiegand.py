"""Wiegand 26/34-bit output to an existing access-control panel, as if the kiosk were a card reader.

Both DATA lines idle high (open collector, pulled up by the panel); a 0 is a low pulse on D0, a 1 on D1. The Pi
reaches the panel's 5 V (or 12 V) lines through an interface stage (README): through a non-inverting one (BSS138
level shifter) its pin idles high and pulses low; through an inverting one (NPN, optocoupler) the reverse,
`inverted=True`.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import sys
import threading
import time
from time import perf_counter_ns
from typing import Any, Literal, Protocol

from gpiozero import DigitalOutputDevice

from kiosk.config.outputs import WiegandConfig
from kiosk.errors import KioskError
from kiosk.events import Event

log = logging.getLogger(__name__)

FrameBits = Literal[26, 34]
FRAME_GAP_S = 0.2  # panels end a frame after tens of ms of silence; 0.2 s is a wide margin and shorter than a passage
QUEUE_FRAMES = 16  # frames waiting at most; more are dropped and counted
_SPIN_NS = 500_000  # the last 0.5 ms before an edge is a busy wait: a sleep can wake 0.1 ms or more late
_FRAME_SWITCH_INTERVAL_S = 0.0005  # see GpiozeroWiegandDriver.send
_HEX = re.compile(r"[0-9a-fA-F]+")


class WiegandError(KioskError, ValueError):
    """A Wiegand frame or card number cannot be made or read (out of range, bad parity, bad length)."""


def _data_bits(bits: int) -> int:
    if bits not in (26, 34):
        raise WiegandError(f"a Wiegand frame has 26 or 34 bits, not {bits}")
    return bits - 2


def frame_bits(card: int, *, bits: FrameBits, facility: int = 0) -> list[int]:
    """The frame for `card`: even parity over the first half of the data, the data, odd parity over the second.

    26-bit (H10301): 8-bit facility and 16-bit card. 34-bit: a 32-bit card and no facility (a panel that reads
    34-bit frames as 16-bit facility + 16-bit card sees `card >> 16` and `card & 0xFFFF`).
    """
    width = _data_bits(bits)
    if bits == 26 and not 0 <= facility <= 0xFF:
        raise WiegandError(f"a 26-bit facility code is 0-255, not {facility}")
    if bits == 34 and facility != 0:
        raise WiegandError("a 34-bit frame carries a 32-bit card number and no facility code; use facility 0")
    card_width = 16 if bits == 26 else 32
    if not 0 <= card < 1 << card_width:
        raise WiegandError(f"a {bits}-bit card number is 0-{(1 << card_width) - 1}, not {card}")
    payload = facility << 16 | card
    data = [(payload >> (width - 1 - i)) & 1 for i in range(width)]
    half = width // 2
    return [sum(data[:half]) % 2, *data, 1 - sum(data[half:]) % 2]


def decode_frame(bits: list[int]) -> tuple[int, int]:
    """(facility, card) of a received frame; WiegandError on a wrong length, a non-bit or a parity error."""
    width = _data_bits(len(bits))
    if any(b not in (0, 1) for b in bits):
        raise WiegandError(f"a frame holds only 0 and 1: {bits}")
    data, half = bits[1:-1], width // 2
    if bits[0] != sum(data[:half]) % 2:
        raise WiegandError("even parity over the first half of the frame is wrong")
    if bits[-1] != 1 - sum(data[half:]) % 2:
        raise WiegandError("odd parity over the second half of the frame is wrong")
    payload = int("".join(map(str, data)), 2)
    return (payload >> 16, payload & 0xFFFF) if width == 24 else (0, payload)


def card_number(subject_key: str, bits: FrameBits) -> int:
    """The card number the kiosk sends for a person: the leading hex digits of their subject key.

    The key is already a keyed hash (HMAC of the identity), so its leading digits are uniform and reveal nothing:
    4 digits (16 bits) for 26-bit frames, 8 (32 bits) for 34-bit frames.

    Collisions are possible. With 16 bits (65,536 cards) the chance that two of n people share a number is about
    2% for 50 people, 7% for 100, 50% for 300 and near certain for 1,000; with 32 bits it is 0.01% for 1,000 and
    1.2% for 10,000. Use 34-bit frames wherever the panel decides per person.

    What a panel operator must know:
    - The numbers follow the subject-key secret: they match across kiosks only once the central server has
      enrolled them with the shared secret, and they all change if the secret is replaced (re-enrol the panel).
    - send_on = "accept" (the default): the kiosk has already decided, the panel only has to open. Enrol the
      facility code ("any card of facility N", where the panel has it) or the numbers of the expected people.
    - send_on = "all": every identified person's number goes out, refused ones too, so the panel decides. Enrol
      exactly the numbers of the people allowed, never "any card of facility N". Many panels log an unknown card
      with its number: scan the person once, read the number from the panel's log, enrol it. Technicians can
      compute it: `python -c "from kiosk.hardware.wiegand import card_number; print(card_number(KEY, 26))"`.
      The central server may later publish the mapping from person to card number.
    """
    digits = 4 if bits == 26 else 8
    if len(subject_key) < digits or _HEX.fullmatch(subject_key) is None:
        raise WiegandError(f"a subject key is {digits} or more hex digits; got {len(subject_key)} characters")
    return int(subject_key[:digits], 16)


class WiegandDriver(Protocol):
    """Puts a frame on the two DATA lines; `send` returns when the lines are idle again."""

    def send(self, bits: list[int], pulse_us: int, interval_us: int) -> None: ...

    def close(self) -> None:
        """Leave both lines idle and release them."""
        ...


class GpiozeroWiegandDriver:
    """Two gpiozero output devices timed in Python: a busy wait on perf_counter_ns for the pulse and the end of
    the gap, a sleep for the rest of it.

    Edges land within tens of microseconds while the interpreter is quiet; busy Python threads and the OS stretch
    some gaps by milliseconds (never shorten one: a late edge shifts the rest of the frame). Panels count edges and
    tolerate that, but lgpio (LgpioWiegandDriver) times the edges in C without the GIL and is preferred on a Pi.

    "on" always means "pulse asserted" (active_high=inverted): with the default non-inverting stage the pin is
    created high (initial_value=False) and goes low for a pulse.
    """

    def __init__(self, d0: str, d1: str, pin_factory: Any = None, *, inverted: bool = False) -> None:
        # NOTE: a factory without output_with_state (lgpio in gpiozero 2.0) sets a pin low for a moment before
        # high when it is claimed; a panel drops such a 1-bit frame for its length.
        self.lines = [
            DigitalOutputDevice(pin, active_high=inverted, initial_value=False, pin_factory=pin_factory)
            for pin in (d0, d1)
        ]
        self._lock = threading.Lock()
        self._closed = False

    def send(self, bits: list[int], pulse_us: int, interval_us: int) -> None:
        with self._lock:
            if self._closed:
                return
            # NOTE: after each sleep this thread needs the GIL back, and a busy Python thread keeps it for the
            # interpreter's switch interval (5 ms). Lowered for the frame, the gaps two busy threads stretched to
            # 14 ms (p50) and 60 ms (max) shrink to 2.2 ms and under 20 ms (measured on 2 cores; tests/test_wiegand.py).
            switch = sys.getswitchinterval()
            sys.setswitchinterval(min(switch, _FRAME_SWITCH_INTERVAL_S))
            start = perf_counter_ns()
            try:
                for bit in bits:
                    _wait_until(start)
                    line = self.lines[bit]
                    line.on()
                    began = perf_counter_ns()
                    _spin_until(began + pulse_us * 1000)
                    line.off()
                    # late edges shift the rest of the frame: no pulse is shortened and no gap is squeezed
                    start = max(began + interval_us * 1000, perf_counter_ns() + (interval_us - pulse_us) * 1000)
            finally:
                sys.setswitchinterval(switch)
                for line in self.lines:
                    line.off()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for line in self.lines:
                line.off()
                line.close()  # the pin becomes an input: the interface stage's pull resistor holds it idle


def _spin_until(deadline_ns: int) -> None:
    while perf_counter_ns() < deadline_ns:
        pass


def _wait_until(deadline_ns: int) -> None:
    remaining = deadline_ns - perf_counter_ns()
    if remaining > _SPIN_NS:
        # a sleep, not an interruptible wait: a frame is never cut short (the panel would read a wrong card)
        time.sleep((remaining - _SPIN_NS) / 1e9)
    _spin_until(deadline_ns)


class LgpioWiegandDriver:
    """Both lines as one lgpio group; a frame is one `tx_wave`, timed by lgpio's own thread in C (no GIL).

    lgpio is imported here, not at module import: it exists only on a Pi with /dev/gpiochip*.
    """

    def __init__(self, d0: int, d1: int, chip: int = 0, *, inverted: bool = False) -> None:
        import lgpio

        self._lg: Any = lgpio
        self._leader = d0
        self._idle = 0 if inverted else 0b11  # group bit 0 is D0, bit 1 is D1
        self._handle: int = lgpio.gpiochip_open(chip)
        try:
            lgpio.group_claim_output(self._handle, [d0, d1], [self._idle & 1, self._idle >> 1])
        except Exception:
            lgpio.gpiochip_close(self._handle)
            raise
        self._pins = (d0, d1)
        self._lock = threading.Lock()
        self._closed = False

    def send(self, bits: list[int], pulse_us: int, interval_us: int) -> None:
        lg = self._lg
        pulses = []
        for bit in bits:
            pulses.append(lg.pulse(self._idle ^ (1 << bit), 0b11, pulse_us))
            pulses.append(lg.pulse(self._idle, 0b11, interval_us - pulse_us))
        with self._lock:
            if self._closed:
                return
            lg.tx_wave(self._handle, self._leader, pulses)
            # wait for the wave to end, so the gap before the next frame counts from its last edge
            deadline = time.monotonic() + len(bits) * interval_us / 1e6 + 1.0
            while lg.tx_busy(self._handle, self._leader, lg.TX_WAVE) and time.monotonic() < deadline:
                time.sleep(0.002)  # not interruptible: a wave in flight cannot be stopped anyway

    def close(self) -> None:
        lg = self._lg
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                lg.group_write(self._handle, self._leader, self._idle, 0b11)
                lg.group_free(self._handle, self._leader)
                for pin in self._pins:  # as gpiozero leaves a closed pin: an input, held idle by the stage
                    lg.gpio_claim_input(self._handle, pin, lg.SET_PULL_NONE)
            finally:
                lg.gpiochip_close(self._handle)


def make_wiegand_driver(d0: str, d1: str, pin_factory: Any = None, *, inverted: bool = False) -> WiegandDriver:
    """LgpioWiegandDriver when the pin factory is lgpio and lgpio opens the chip, else GpiozeroWiegandDriver."""
    chip = _lgpio_chip(pin_factory)
    if chip is not None:
        try:
            return LgpioWiegandDriver(_bcm(d0), _bcm(d1), chip, inverted=inverted)
        except Exception as exc:  # ImportError, lgpio.error: the timing is worse, the frames still go out
            log.warning("Wiegand: lgpio cannot drive %s/%s (%s); timing the pulses in Python instead", d0, d1, exc)
    return GpiozeroWiegandDriver(d0, d1, pin_factory, inverted=inverted)


def _lgpio_chip(pin_factory: Any) -> int | None:
    if pin_factory is None:  # "auto": the factory gpiozero would choose (lgpio first, where it is installed)
        from gpiozero import Device

        try:
            Device.ensure_pin_factory()
        except Exception:
            return None
        pin_factory = Device.pin_factory
    if type(pin_factory).__name__ != "LGPIOFactory":
        return None
    return int(getattr(pin_factory, "chip", 0))


def _bcm(pin: str) -> int:
    return int(pin.upper().removeprefix("GPIO").removeprefix("BCM"))


class WiegandFeedback:
    """Sends the person's card number to the panel on ACCEPT (or on every identified person with send_on "all").

    `signal` only queues the frame; one thread sends the frames in order with FRAME_GAP_S of silence between
    them. A full queue drops the frame and counts it in `dropped`. `fault` sends nothing: the panel keeps its
    door shut without a frame. `close` lets a frame in flight finish (a cut frame would be misread), drops the
    rest, and leaves both lines idle.
    """

    def __init__(
        self,
        config: WiegandConfig,
        *,
        pin_factory: Any = None,
        driver: WiegandDriver | None = None,
        inverted: bool = False,
    ) -> None:
        if config.d0 is None or config.d1 is None:
            raise WiegandError('feedback.wiegand.d0 and feedback.wiegand.d1 must both be pins (e.g. "GPIO23")')
        if config.bits == 34 and config.facility:
            raise WiegandError(f"feedback.wiegand.facility = {config.facility} applies to 26-bit frames; set it to 0")
        self.config = config
        self.driver = driver or make_wiegand_driver(config.d0, config.d1, pin_factory, inverted=inverted)
        self.sent = 0
        self.dropped = 0
        self._queue: queue.Queue[list[int] | None] = queue.Queue(maxsize=QUEUE_FRAMES)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="wiegand", daemon=True)
        self._worker.start()

    def signal(self, event: Event) -> None:
        config = self.config
        if self._stop.is_set() or event.subject_key is None:
            return
        if config.send_on != "all" and event.decision != "ACCEPT":
            return
        try:
            frame = frame_bits(card_number(event.subject_key, config.bits), bits=config.bits, facility=config.facility)
            self._queue.put_nowait(frame)
        except WiegandError as exc:
            log.warning("Wiegand: event seq=%d sends nothing: %s", event.seq, exc)
        except queue.Full:
            self.dropped += 1
            log.warning("Wiegand: %d frames waiting; event seq=%d dropped", QUEUE_FRAMES, event.seq)

    def fault(self, reason: str) -> None:
        pass

    def wait_idle(self, timeout: float) -> bool:
        """True once every queued frame has gone out (for technicians' tests and the tests here)."""
        done = self._queue.all_tasks_done
        with done:
            return done.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout)

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
                self._queue.task_done()
        with contextlib.suppress(queue.Full):  # a racing signal filled it: the worker wakes on it and sees the stop
            self._queue.put_nowait(None)
        self._worker.join(timeout=34 * self.config.interval_us / 1e6 + 1.0)
        self.driver.close()

    def _run(self) -> None:
        while (frame := self._queue.get()) is not None:
            try:
                if not self._stop.is_set():
                    self.driver.send(frame, self.config.pulse_us, self.config.interval_us)
                    self.sent += 1
            except Exception:
                log.exception("Wiegand: frame not sent")
            finally:
                self._queue.task_done()
            self._stop.wait(FRAME_GAP_S)
        self._queue.task_done()
