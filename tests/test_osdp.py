"""The kiosk as an OSDP reader: libosdp's own control panel (CP) on the other end of a pty pair, secure channel on.

The reader opens the pty's slave by name through pyserial, behind a symlink, as a USB adapter behind
/dev/serial/by-id; the panel's channel reads and writes the master. Pulling the line closes both ends and removes
the link; plugging it back makes a new pair behind the same link. Every wait is bounded; every thread and fd is
released in a fixture's finally (checked by `no_leaks`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import osdp
import pytest

from kiosk.hardware.osdp import OsdpError, OsdpReader, OsdpSettings
from kiosk.hardware.osdpcard import CardRead, card_for
from kiosk.hardware.osdpcmd import buzzer_action, led_action, output_action
from kiosk.hardware.osdphandler import NAK_RECORD, CommandHandler
from kiosk.hardware.osdpkey import load_scbk, save_scbk
from kiosk.hardware.osdpline import SerialChannel
from kiosk.hardware.osdpverdict import PanelVerdict, Verdicts
from kiosk.hardware.wiegand import card_number, decode_frame

KEY = bytes(range(16))
WRONG_KEY = bytes(range(16, 32))
ADDRESS = 101
SUBJECT = "0123456789abcdef0123456789abcdef"


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> bool:
    """True as soon as `condition()` is; False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


class Line:
    """A pty pair behind a symlink: the reader's serial port, which the test can pull out and plug back."""

    def __init__(self, directory: Path) -> None:
        self.link = directory / "ttyOSDP"
        self.master: int | None = None
        self.slave: int | None = None
        self.plug()

    def plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo before pyserial opens it
        fcntl.fcntl(master, fcntl.F_SETFL, fcntl.fcntl(master, fcntl.F_GETFL) | os.O_NONBLOCK)
        tmp = self.link.with_suffix(".new")
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(self.link)
        self.master, self.slave = master, slave

    def unplug(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        for fd in (self.master, self.slave):
            if fd is not None:
                os.close(fd)
        self.master = self.slave = None


class PanelChannel:
    """The panel's end of the line (libosdp calls read, write and flush by name)."""

    def __init__(self, line: Line) -> None:
        self.line, self.id = line, 0

    def read(self, max_bytes: int) -> bytes:
        fd = self.line.master
        try:
            return os.read(fd, max_bytes) if fd is not None else b""
        except OSError:  # EAGAIN: nothing there; EIO: the reader's side is closed
            return b""

    def write(self, buf: bytes) -> int:
        fd = self.line.master
        try:
            return os.write(fd, buf) if fd is not None else len(buf)  # a cut cable takes what it is sent
        except OSError:
            return len(buf)

    def flush(self) -> None:
        pass


class Recorder:
    """The kiosk's side of the callbacks."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.verdicts: list[PanelVerdict] = []

    def led(self, color: str, on: bool) -> None:
        self.calls.append(("led", color, on))

    def buzzer(self, on: bool) -> None:
        self.calls.append(("buzzer", on))

    def output(self, number: int, on: bool, seconds: float) -> None:
        self.calls.append(("output", number, on, seconds))

    def panel(self, verdict: PanelVerdict) -> None:
        self.verdicts.append(verdict)


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def no_leaks() -> Iterator[None]:
    threads, fds = set(threading.enumerate()), _fds()
    yield
    assert wait_for(lambda: set(threading.enumerate()) <= threads, 3), "a thread was left running"
    assert _fds() <= fds | {"0", "1", "2"}, "an fd was left open"


@pytest.fixture
def line(tmp_path: Path, no_leaks: None) -> Iterator[Line]:
    made = Line(tmp_path)
    try:
        yield made
    finally:
        made.unplug()


def start_panel(line: Line, key: bytes | None, *, enforce: bool = True) -> Any:
    flags = [osdp.LibFlag.EnforceSecure] if key and enforce else []
    info = osdp.PDInfo(ADDRESS, PanelChannel(line), scbk=key, flags=flags)
    cp = osdp.ControlPanel([info], log_level=osdp.LogLevel.Error)
    cp.start()
    return cp


@pytest.fixture
def panel_factory(line: Line) -> Iterator[Callable[[bytes | None], Any]]:
    started: list[Any] = []

    def make(key: bytes | None = KEY, *, enforce: bool = True) -> Any:
        started.append(start_panel(line, key, enforce=enforce))
        return started[-1]

    try:
        yield make
    finally:
        for cp in started:
            if cp.thread is not None:  # a test may have stopped it (ControlPanel.stop raises the second time)
                with contextlib.suppress(RuntimeError):
                    cp.stop()


@pytest.fixture
def reader_factory(line: Line) -> Iterator[Callable[..., tuple[OsdpReader, Recorder]]]:
    started: list[OsdpReader] = []

    def make(**settings: Any) -> tuple[OsdpReader, Recorder]:
        record = Recorder()
        settings.setdefault("scbk", KEY)
        config = OsdpSettings(port=str(line.link), address=ADDRESS, **settings)
        channel = SerialChannel(config.port, config.baud, reopen_min_s=0.05, reopen_max_s=0.2)
        reader = OsdpReader(
            config,
            on_led=record.led,
            on_buzzer=record.buzzer,
            on_output=record.output,
            on_panel=record.panel,
            channel=channel,
        )
        started.append(reader)
        reader.start()
        return reader, record

    try:
        yield make
    finally:
        for reader in started:
            reader.stop()


def secure_pair(panel_factory: Any, reader_factory: Any, **settings: Any) -> tuple[Any, OsdpReader, Recorder]:
    cp = panel_factory(KEY)
    reader, record = reader_factory(**settings)
    assert wait_for(lambda: cp.is_sc_active(ADDRESS) and reader.secure and reader.online), "no secure channel"
    return cp, reader, record


def led(color: int, *, temporary: bool = True, ticks: int = 5) -> dict[str, Any]:
    return {
        "command": osdp.Command.LED,
        "reader": 0,
        "led_number": 0,
        "control_code": 2 if temporary else 1,
        "on_count": 10,
        "off_count": 0,
        "on_color": color,
        "off_color": osdp.CommandLEDColor.Black,
        "timer_count": ticks,
        "temporary": temporary,
    }


# --- against libosdp's control panel ---


def test_secure_channel_and_card_read(panel_factory: Any, reader_factory: Any) -> None:
    cp, reader, _ = secure_pair(panel_factory, reader_factory)
    card = card_for(SUBJECT, None, "subject-bits", 64)
    assert card is not None
    reader.report(card)
    event = cp.get_event(ADDRESS, timeout=3)
    assert event is not None
    assert event["event"] == osdp.Event.CardRead
    assert event["format"] == osdp.CardFormat.Wiegand
    assert (event["length"], event["data"]) == (64, bytes.fromhex(SUBJECT[:16]))
    assert reader.stats.reported == 1


def test_a_26_bit_card_is_the_wiegand_outputs_frame(panel_factory: Any, reader_factory: Any) -> None:
    cp, reader, _ = secure_pair(panel_factory, reader_factory, bits=26)
    card = card_for(SUBJECT, None, "subject-bits", 26)
    assert card is not None
    reader.report(card)
    event = cp.get_event(ADDRESS, timeout=3)
    assert event is not None and event["length"] == 26
    frame = CardRead(event["length"], event["data"], "subject-bits").bits()
    assert decode_frame(frame) == (0, card_number(SUBJECT, 26))


def test_led_buzzer_and_output_commands_are_obeyed(panel_factory: Any, reader_factory: Any) -> None:
    cp, reader, record = secure_pair(panel_factory, reader_factory)
    cp.submit_command(ADDRESS, led(osdp.CommandLEDColor.Green, ticks=3))
    assert wait_for(lambda: ("led", "green", True) in record.calls, 3)
    assert wait_for(lambda: ("led", "green", False) in record.calls, 3), "the temporary colour did not end"
    cp.submit_command(
        ADDRESS,
        {"command": osdp.Command.Buzzer, "reader": 0, "control_code": 2, "on_count": 2, "off_count": 1, "rep_count": 1},
    )
    assert wait_for(lambda: ("buzzer", True) in record.calls, 3)
    assert wait_for(lambda: ("buzzer", False) in record.calls, 3), "the timed beep did not end"
    cp.submit_command(ADDRESS, {"command": osdp.Command.Output, "output_no": 0, "control_code": 5, "timer_count": 30})
    assert wait_for(lambda: ("output", 0, True, 3.0) in record.calls, 3)
    assert reader.stats.commands == 3 and reader.stats.refused == 0
    assert cp.is_online(ADDRESS)


def test_the_panels_verdict_follows_the_card_read(panel_factory: Any, reader_factory: Any) -> None:
    cp, reader, record = secure_pair(panel_factory, reader_factory)
    card = card_for(SUBJECT, None, "subject-bits", 64)
    assert card is not None
    reader.report(card, tag="review-1")
    assert cp.get_event(ADDRESS, timeout=3) is not None
    cp.submit_command(ADDRESS, led(osdp.CommandLEDColor.Red))
    assert wait_for(lambda: record.verdicts, 3)
    assert record.verdicts[0].outcome == "denied" and record.verdicts[0].tag == "review-1"
    reader.report(card, tag="review-2")
    assert cp.get_event(ADDRESS, timeout=3) is not None
    cp.submit_command(ADDRESS, {"command": osdp.Command.Output, "output_no": 0, "control_code": 5, "timer_count": 30})
    assert wait_for(lambda: len(record.verdicts) == 2, 3)
    assert (record.verdicts[1].outcome, record.verdicts[1].tag) == ("granted", "review-2")


def test_a_silent_panel_gives_no_verdict(panel_factory: Any, reader_factory: Any) -> None:
    cp, reader, record = secure_pair(panel_factory, reader_factory, verdict_window_s=0.5)
    card = card_for(SUBJECT, None, "subject-bits", 64)
    assert card is not None
    reader.report(card, tag="t")
    assert cp.get_event(ADDRESS, timeout=3) is not None
    assert wait_for(lambda: record.verdicts, 3)
    assert record.verdicts == [PanelVerdict(None, "t")]


def test_a_lost_line_is_recovered(line: Line, panel_factory: Any, reader_factory: Any) -> None:
    cp, reader, _ = secure_pair(panel_factory, reader_factory)
    line.unplug()  # the adapter is pulled: the reader's port fails, the panel hears nothing
    assert wait_for(lambda: reader.channel.errors >= 1 and not reader.channel.stats.connected, 3)
    time.sleep(0.5)  # the line stays down for a while (the reader keeps retrying meanwhile)
    line.plug()
    assert wait_for(lambda: reader.channel.stats.connected, 3), "the port was not reopened"
    assert reader.channel.opens >= 2
    assert wait_for(lambda: cp.is_online(ADDRESS) and cp.is_sc_active(ADDRESS) and reader.secure, 8)
    while cp.get_event(ADDRESS, timeout=0) is not None:
        pass
    card = card_for(SUBJECT, None, "subject-bits", 64)
    assert card is not None
    reader.report(card)
    event = cp.get_event(ADDRESS, timeout=3)
    assert event is not None and event["data"] == card.data


@pytest.mark.slow
def test_a_long_outage_then_a_panel_takes_the_reader_back(line: Line, panel_factory: Any, reader_factory: Any) -> None:
    """Past ~8 s without answers libosdp's CP sets the reader offline and waits a fixed 300 s before trying again
    (real panels retry on their own schedule): a new CP on the same line stands for the panel's retry here."""
    cp, reader, record = secure_pair(panel_factory, reader_factory)
    line.unplug()
    assert wait_for(lambda: not cp.is_online(ADDRESS) and not reader.online, 12)
    card = card_for(SUBJECT, None, "subject-bits", 64)
    assert card is not None
    reader.report(card, tag="while-down")  # never sent late: dropped at once
    assert wait_for(lambda: record.verdicts == [PanelVerdict(None, "while-down")], 1)
    cp.stop()
    line.plug()
    cp = panel_factory(KEY)
    assert wait_for(lambda: cp.is_sc_active(ADDRESS) and reader.secure and reader.online, 8)
    reader.report(card)
    event = cp.get_event(ADDRESS, timeout=3)
    assert event is not None and event["data"] == card.data


def test_a_wrong_key_gets_no_secure_channel_and_no_card_read(panel_factory: Any, reader_factory: Any) -> None:
    cp = panel_factory(WRONG_KEY)
    reader, record = reader_factory()
    card = card_for(SUBJECT, None, "subject-bits", 64)
    assert card is not None
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        assert not cp.is_sc_active(ADDRESS) and not reader.secure
        reader.report(card, tag="x")
        time.sleep(0.25)
    assert cp.get_event(ADDRESS, timeout=0.5) is None
    assert not cp.is_online(ADDRESS)
    assert reader.stats.reported == 0 and reader.stats.dropped >= 5
    assert all(v.outcome is None for v in record.verdicts)


def test_install_mode_keeps_the_key_the_panel_sets(tmp_path: Path, panel_factory: Any, reader_factory: Any) -> None:
    """libosdp's CP, given a key and no EnforceSecure, fails SC with it, retries with SCBK-D (the reader in install
    mode accepts), then sends KEYSET with its key: the reader keeps it (0600) and SC restarts with it."""
    key_file = tmp_path / "osdp.key"
    cp = panel_factory(KEY, enforce=False)
    reader, _ = reader_factory(scbk=None, install_mode=True, key_file=key_file)
    assert wait_for(lambda: key_file.exists() and cp.is_sc_active(ADDRESS) and reader.secure, 5)
    assert load_scbk(key_file) == KEY and key_file.stat().st_mode & 0o777 == 0o600
    assert reader.stats.commands == 1  # the KEYSET


def test_plain_mode_works_without_a_key(panel_factory: Any, reader_factory: Any) -> None:
    cp = panel_factory(None)
    reader, _ = reader_factory(scbk=None, plain=True)
    assert wait_for(lambda: cp.is_online(ADDRESS) and reader.online, 5)
    assert not reader.secure
    card = card_for(None, "4242", "badge", 26, facility=7)
    assert card is not None
    reader.report(card)
    event = cp.get_event(ADDRESS, timeout=3)
    assert event is not None
    assert decode_frame(CardRead(event["length"], event["data"], "badge").bits()) == (7, 4242)


# --- the reader alone ---


def test_report_before_start_and_after_stop_is_dropped_with_no_verdict(tmp_path: Path) -> None:
    record = Recorder()
    reader = OsdpReader(OsdpSettings(port=str(tmp_path / "none"), scbk=KEY), on_panel=record.panel)
    card = card_for(SUBJECT, None, "subject-bits", 64)
    assert card is not None
    reader.report(card, tag=1)
    reader.start()
    started = time.monotonic()
    reader.stop()
    reader.stop()  # idempotent
    assert time.monotonic() - started < 1.0
    reader.report(card, tag=2)
    assert [v.tag for v in record.verdicts] == [1, 2] and reader.stats.dropped == 2
    assert reader.channel.errors >= 1  # no such port: counted, never raised
    with pytest.raises(OsdpError, match="starts once"):
        reader.start()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"address": 127}, "address is 0-126"),
        ({"baud": 9601}, "baud is one of"),
        ({"scbk": b"short"}, "16 bytes"),
        ({"scbk": None}, "needs a secure-channel key"),
        ({"install_mode": True}, "install_mode and plain must be off"),
        ({"scbk": None, "install_mode": True}, "install_mode needs key_file"),
        ({"facility": 3, "bits": 34}, "only for 26-bit cards"),
        ({"card_format": "ascii"}, "card format is one of"),
        ({"bits": 200}, "bits is 8-128"),
    ],
)
def test_bad_settings_say_what_is_wrong(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(OsdpError, match=message):
        OsdpSettings(port="/dev/ttyUSB0", **{"scbk": KEY, **settings})


def test_settings_never_show_the_key() -> None:
    assert KEY.hex() not in repr(OsdpSettings(port="/dev/ttyUSB0", scbk=KEY))
    assert "0123" not in repr(card_for(SUBJECT, None, "subject-bits", 64))


# --- card formats ---


def test_subject_bits_are_the_keys_leading_bits() -> None:
    card = card_for(SUBJECT, None, "subject-bits", 64)
    assert card == CardRead(64, bytes.fromhex("0123456789abcdef"), "subject-bits")
    odd = card_for(SUBJECT, None, "subject-bits", 12)
    assert odd is not None and (odd.length, odd.data) == (12, bytes([0x01, 0x20]))
    assert odd.bits() == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0]
    full = card_for(SUBJECT.upper(), None, "subject-bits", 128)
    assert full is not None and full.data == bytes.fromhex(SUBJECT)


@pytest.mark.parametrize("bits", [26, 34])
def test_26_and_34_bits_are_the_wiegand_frames(bits: int) -> None:
    card = card_for(SUBJECT, None, "subject-bits", bits)
    assert card is not None and card.length == bits
    assert decode_frame(card.bits()) == (0, card_number(SUBJECT, 26 if bits == 26 else 34))


def test_badge_numbers() -> None:
    card = card_for(None, "123456", "badge", 34)
    assert card is not None and decode_frame(card.bits()) == (0, 123456)
    raw = card_for("ignored", " 300 ", "badge", 16)
    assert raw is not None and (raw.length, raw.data) == (16, (300).to_bytes(2, "big"))


@pytest.mark.parametrize(
    ("key", "badge", "fmt", "bits"),
    [
        (None, "1", "subject-bits", 64),  # no subject key
        ("xyz", None, "subject-bits", 8),  # not hex
        ("0123", None, "subject-bits", 64),  # too short for 64 bits
        (SUBJECT, None, "badge", 26),  # not enrolled
        (SUBJECT, "12a", "badge", 26),  # not a decimal number
        (SUBJECT, "65536", "badge", 26),  # too large for an H10301 card number
        (SUBJECT, "256", "badge", 8),  # too large for 8 bits
        (SUBJECT, "-1", "badge", 16),
    ],
)
def test_nothing_to_report_is_none(key: str | None, badge: str | None, fmt: Any, bits: int) -> None:
    assert card_for(key, badge, fmt, bits) is None


def test_card_for_refuses_a_bad_format_or_length() -> None:
    with pytest.raises(OsdpError, match="card format"):
        card_for(SUBJECT, None, "ascii", 64)  # type: ignore[arg-type]
    with pytest.raises(OsdpError, match="bits is 8-128"):
        card_for(SUBJECT, None, "subject-bits", 4)


# --- verdicts ---


def test_verdicts_once_per_report() -> None:
    seen: list[PanelVerdict] = []
    verdicts = Verdicts(seen.append, window_s=3.0)
    verdicts.led("green", temporary=True, now=1.0)  # nothing reported: ignored
    verdicts.reported(10.0, tag="a")
    verdicts.led("amber", temporary=True, now=10.1)  # not telling
    verdicts.led("red", temporary=False, now=10.2)  # the idle colour: not telling
    verdicts.led("green", temporary=True, now=10.5)
    verdicts.led("red", temporary=True, now=10.6)  # after the verdict: ignored
    verdicts.reported(20.0, tag="b")
    verdicts.output(on=False, now=20.1)
    verdicts.output(on=True, now=20.2)
    verdicts.reported(30.0, tag="c")
    verdicts.led("red", temporary=True, now=30.4)
    verdicts.reported(40.0, tag="d")
    verdicts.tick(42.9)
    verdicts.tick(43.1)  # silent
    verdicts.reported(50.0, tag="e")
    verdicts.reported(50.5, tag="f")  # supersedes e
    verdicts.led("green", temporary=True, now=54.0)  # too late for f
    verdicts.reported(60.0, tag="g")
    verdicts.close(61.0)
    assert [(v.outcome, v.tag) for v in seen] == [
        ("granted", "a"),
        ("granted", "b"),
        ("denied", "c"),
        (None, "d"),
        (None, "e"),
        (None, "f"),
        (None, "g"),
    ]
    assert seen[0].after_s == 0.5 and seen[3].after_s is None


def test_permanent_leds_count_when_asked_and_a_failing_callback_is_contained() -> None:
    def boom(_: PanelVerdict) -> None:
        raise RuntimeError("the kiosk's bug")

    verdicts = Verdicts(boom, permanent_leds=True)
    verdicts.reported(0.0)
    verdicts.led("green", temporary=False, now=0.1)
    assert not verdicts.waiting


# --- commands ---


def test_command_dicts_as_actions() -> None:
    action = led_action(led(2, ticks=20))
    assert action is not None
    assert (action.color, action.on, action.temporary, action.seconds) == ("green", True, True, 2)
    steady = led_action(led(1, temporary=False))
    assert steady is not None and (steady.color, steady.on, steady.seconds) == ("red", True, None)
    assert led_action({**led(1, temporary=False), "on_count": 0}) is not None
    assert led_action({**led(2), "control_code": 0}) is None
    assert buzzer_action({"control_code": 1}) is not None
    beep = buzzer_action({"control_code": 2, "on_count": 5, "off_count": 5, "rep_count": 0})
    assert beep is not None and beep.on and beep.seconds is None
    assert output_action({"control_code": 2, "output_no": 1, "timer_count": 9}) == output_action(
        {"control_code": 4, "output_no": 1, "timer_count": 0}
    )
    timed_off = output_action({"control_code": 6, "output_no": 0, "timer_count": 15})
    assert timed_off is not None and (timed_off.on, timed_off.seconds) == (False, 1.5)
    assert output_action({"control_code": 0, "output_no": 0, "timer_count": 0}) is None


def test_unsupported_commands_are_refused_and_callbacks_never_raise(tmp_path: Path) -> None:
    def boom(*_: Any) -> None:
        raise RuntimeError("card 1234 key abcd")

    handler = CommandHandler(boom, boom, boom, Verdicts(boom), key_file=None, clock=time.monotonic)
    handler.bind(osdp)
    assert handler({"command": osdp.Command.Manufacturer, "vendor_code": 1, "mfg_command": 2, "data": b"x"}) == (
        NAK_RECORD,
        None,
    )
    assert handler({"command": osdp.Command.Comset, "address": 5, "baud_rate": 9600})[0] == NAK_RECORD
    assert handler({"command": osdp.Command.Keyset, "type": 1, "data": KEY})[0] == NAK_RECORD  # no key file
    assert handler({"garbage": True}) == (NAK_RECORD, None)
    assert handler(led(2)) == (0, None)  # the command was valid: acknowledged, the kiosk's failure counted
    assert handler.errors >= 1 and handler.refused == 4


def test_keyset_keeps_the_key_in_a_private_file(tmp_path: Path) -> None:
    key_file = tmp_path / "osdp.key"
    handler = CommandHandler(print, print, print, Verdicts(print), key_file=key_file, clock=time.monotonic)
    handler.bind(osdp)
    assert handler({"command": osdp.Command.Keyset, "type": 1, "data": WRONG_KEY}) == (0, None)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert load_scbk(key_file) == WRONG_KEY
    save_scbk(key_file, KEY)
    assert load_scbk(key_file) == KEY
    key_file.chmod(0o644)
    with pytest.raises(OsdpError, match="readable by others"):
        load_scbk(key_file)
    key_file.chmod(0o600)
    key_file.write_text("abc\n")
    with pytest.raises(OsdpError, match="hex digits") as caught:
        load_scbk(key_file)
    assert str(key_file) in str(caught.value)
    with pytest.raises(OsdpError, match="cannot read"):
        load_scbk(tmp_path / "missing")


# --- the serial line ---


class FlakyPort:
    def __init__(self, fail: list[bool]) -> None:
        self.fail, self.closed = fail, False

    def read(self, n: int) -> bytes:
        if self.fail[0]:
            raise OSError(5, "Input/output error")
        return b"\x53"

    def write(self, buf: bytes) -> int:
        return len(buf)

    def reset_input_buffer(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_the_channel_reopens_with_backoff_and_never_raises() -> None:
    now = [0.0]
    fail = [False]
    ports: list[FlakyPort] = []
    absent = [False]

    def opener(port: str, baud: int) -> FlakyPort:
        if absent[0]:
            raise FileNotFoundError(port)
        ports.append(FlakyPort(fail))
        return ports[-1]

    channel = SerialChannel("/dev/x", 9600, reopen_min_s=1.0, reopen_max_s=4.0, opener=opener, clock=lambda: now[0])
    assert channel.read(10) == b"\x53" and channel.opens == 1
    fail[0], absent[0] = True, True
    assert channel.read(10) == b"" and ports[0].closed and channel.errors == 1
    assert channel.write(b"abc") == -1
    channel.flush()
    now[0] = 0.5
    assert channel.read(10) == b"" and channel.errors == 1  # backoff: not tried yet
    now[0] = 1.1
    assert channel.read(10) == b"" and channel.errors == 2  # tried, still absent; next in 2 s
    now[0] = 2.0
    assert channel.read(10) == b"" and channel.errors == 2
    fail[0], absent[0] = False, False
    now[0] = 3.2
    assert channel.read(10) == b"\x53" and channel.opens == 2 and channel.stats.connected
    channel.close()
    assert channel.read(10) == b"" and not channel.stats.connected
