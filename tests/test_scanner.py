"""Scanner modules beside the camera: a keyboard-wedge scanner read with evdev, a serial one with pyserial.

The keyboard scanner is tested through evdev's own reader (its C code unpacks the kernel's struct input_event)
on a pipe that carries those structs, because this machine's kernel has no uinput: `PipeEventDevice` is what a
/dev/input/event node is to evdev, minus the ioctls (the grab is recorded instead). Where /dev/uinput exists the
same exchange also runs through a real virtual keyboard (`test_a_real_virtual_keyboard_...`). The serial scanner
is a pty pair: the kiosk opens the slave through a /dev/serial/by-id-style symlink, which is repointed when the
"cable" is plugged back in.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CCCD_AN
from evdev import ecodes
from fakes.evdevpipe import PipeEventDevice, keystrokes
from hypothesis import given, settings
from hypothesis import strategies as st
from test_loop import Recorder, config_for

from kiosk.app import assemble
from kiosk.config import KioskConfig
from kiosk.config.errors import ConfigError
from kiosk.config.model import parse_config
from kiosk.ops.statushtml import render_page
from kiosk.ops.statusreport import gather_status
from kiosk.scanner.framing import Framer, Scan
from kiosk.scanner.hid import HidPort
from kiosk.scanner.keymap import KeyDecoder
from kiosk.scanner.reader import ScannerThread
from kiosk.scanner.serialport import serial_opener

# --- cutting bytes into codes ---------------------------------------------------------------------------------


def test_a_code_ends_at_its_terminator_and_crlf_leaves_no_empty_code():
    framer = Framer("scanner-serial", terminator=b"\r")
    assert [s.text for s in framer.feed(b"HD1:abc\r\nHD1:", 1.0)] == ["HD1:abc"]
    (second,) = framer.feed(b"def\r\n", 1.01)
    assert (second.text, second.problem, second.at) == ("HD1:def", None, 1.01)
    assert framer.expire(5.0) is None  # the lone LF left over is not a code


def test_half_a_code_then_silence_is_refused_as_incomplete_after_the_gap():
    framer = Framer("scanner-serial", terminator=b"\r", gap_s=0.3)
    assert framer.feed(b"001090012345|1234", 1.0) == []
    assert framer.expire(1.2) is None
    assert framer.expire(1.31) == Scan(None, "scan-incomplete", "scanner-serial", 1.0)
    assert not framer.pending


def test_a_10_kb_code_is_refused_as_too_long_without_keeping_it():
    framer = Framer("scanner-serial", terminator=b"\r", max_bytes=8192)
    for _ in range(10):
        assert framer.feed(b"A" * 1024, 1.0) == []
    assert len(framer._buffer) == 0  # dropped as it came
    refused, after = framer.feed(b"\rHD1:next\r", 1.1)
    assert refused.problem == "scan-too-long"
    assert after.text == "HD1:next"  # the next code is read normally


def test_bytes_that_are_not_utf8_are_refused_as_garbled():
    framer = Framer("scanner-serial")
    (scan,) = framer.feed("Nguyễn".encode("cp1258", "replace") + b"\xc3\x28\r", 1.0)
    assert (scan.text, scan.problem) == (None, "scan-garbled")


def test_with_no_terminator_a_pause_ends_the_code():
    framer = Framer("scanner-hid", terminator=b"", gap_s=0.1)
    assert framer.feed(b"HD1:abc", 1.0) == []
    assert framer.expire(1.2) == Scan("HD1:abc", None, "scanner-hid", 1.0)


# --- keystrokes back into text ----------------------------------------------------------------------------------


def typed(events: list[tuple[int, int]], layout: str = "us", suffix: str = "enter") -> bytes:
    keys = KeyDecoder(layout, suffix)
    return b"".join(keys.key(code, value) for code, value in events)


@pytest.mark.parametrize("layout", ["us", "de", "fr"])
def test_every_printable_character_the_layout_types_comes_back(layout):
    printable = "".join(chr(c) for c in range(0x20, 0x7F))
    assert typed(keystrokes(printable, layout), layout).decode() == printable + "\r"


def test_vietnamese_text_arrives_through_alt_codes():
    assert typed(keystrokes(CCCD_AN)).decode() == CCCD_AN + "\r"
    alt_0233 = [(ecodes.KEY_LEFTALT, 1)] + [(ecodes.ecodes[f"KEY_KP{d}"], 1) for d in "0233"] + [(56, 0)]
    assert typed(alt_0233).decode() == "é"  # a leading 0: Windows-1252


def test_a_key_the_layout_does_not_know_makes_the_code_garbled():
    framer = Framer("scanner-hid")
    data = typed([(ecodes.KEY_A, 1), (ecodes.KEY_F5, 1), (ecodes.KEY_B, 1), (ecodes.KEY_ENTER, 1)])
    (scan,) = framer.feed(data, 1.0)
    assert scan.problem == "scan-garbled"


def test_the_wrong_layout_reads_other_characters_which_the_suffix_setting_cannot_hide():
    assert typed(keystrokes("qz", "us"), "de") == b"qy\r"  # y and z change places: why the layout is configured
    assert typed(keystrokes("HD1:a", "us", ecodes.KEY_TAB), "us", "tab") == b"HD1:a\r"


# --- a keyboard scanner, through evdev's reader -------------------------------------------------------------------


class Plugs:
    """Hands the scanner thread one device per opening, as replugging gives a new device node."""

    def __init__(self) -> None:
        self.devices: queue.SimpleQueue[PipeEventDevice] = queue.SimpleQueue()
        self.opened: list[PipeEventDevice] = []

    def plug(self) -> PipeEventDevice:
        device = PipeEventDevice()
        self.devices.put(device)
        return device

    def open(self) -> HidPort:
        try:
            device = self.devices.get_nowait()
        except queue.Empty:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/dev/input/by-id/scanner") from None
        self.opened.append(device)
        return HidPort(device, KeyDecoder())


def collect() -> tuple[queue.SimpleQueue[Scan], object]:
    got: queue.SimpleQueue[Scan] = queue.SimpleQueue()
    return got, got.put


def wait_for(got: queue.SimpleQueue[Scan], timeout: float = 3.0) -> Scan:
    return got.get(timeout=timeout)


def test_a_keyboard_scanner_is_grabbed_read_unplugged_and_read_again():
    plugs, (got, sink) = Plugs(), collect()
    first = plugs.plug()
    thread = ScannerThread("hid", plugs.open, Framer("scanner-hid", gap_s=0.3), sink, reopen_s=0.05)  # type: ignore[arg-type]
    thread.start()
    try:
        first.type(keystrokes(CCCD_AN))
        scan = wait_for(got)
        assert (scan.text, scan.source) == (CCCD_AN, "scanner-hid")
        assert plugs.opened[0].grabbed  # its keystrokes reach this process only
        first.type(keystrokes("HD1:half", suffix=None))
        first.unplug()  # mid-code
        cut = wait_for(got)
        assert cut.problem == "scan-incomplete"
        assert first.closed and not first.grabbed
        time.sleep(0.2)  # nothing plugged in: the thread keeps trying, quietly
        assert thread._thread.is_alive() and not thread.stats.connected
        second = plugs.plug()
        second.type(keystrokes("HD1:again"))
        assert wait_for(got).text == "HD1:again"
        assert thread.stats.disconnects == 1 and thread.stats.connected
    finally:
        thread.stop()


def test_a_keyboard_scanner_that_stops_midway_is_refused_within_the_gap():
    plugs, (got, sink) = Plugs(), collect()
    device = plugs.plug()
    thread = ScannerThread("hid", plugs.open, Framer("scanner-hid", gap_s=0.2), sink)  # type: ignore[arg-type]
    thread.start()
    try:
        device.type(keystrokes("001090012345|12345", suffix=None))
        started = time.monotonic()
        scan = wait_for(got)
        assert scan.problem == "scan-incomplete"
        assert time.monotonic() - started < 1.0
        device.type(keystrokes("X" * 10_000))  # 10 kB: refused, not a hang
        assert wait_for(got, 10).problem == "scan-too-long"
    finally:
        thread.stop()


@pytest.mark.skipif(not os.path.exists("/dev/uinput"), reason="no /dev/uinput in this kernel (the pipe test covers)")
def test_a_real_virtual_keyboard_through_uinput():  # pragma: no cover - runs where uinput exists
    from evdev import InputDevice, UInput

    with UInput({ecodes.EV_KEY: list(range(1, 120))}, name="kiosk-test-scanner") as ui:
        time.sleep(0.3)  # udev makes the node
        port = HidPort(InputDevice(ui.device.path), KeyDecoder())
        try:
            for code, value in keystrokes("HD1:uinput"):
                ui.write(ecodes.EV_KEY, code, value)
                ui.syn()
            framer, deadline, scans = Framer("scanner-hid"), time.monotonic() + 3, []
            while not scans and time.monotonic() < deadline:
                scans = framer.feed(port.receive(0.2), time.monotonic())
            assert scans[0].text == "HD1:uinput"
        finally:
            port.close()


# --- a serial scanner on a pty pair -------------------------------------------------------------------------------


class SerialCable:
    """A pty pair whose slave the kiosk opens through a stable symlink, as /dev/serial/by-id/... is."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master = -1
        self.plug()

    def plug(self) -> None:
        self.master, slave = os.openpty()
        name = os.ttyname(slave)
        os.close(slave)  # pyserial opens it by name
        tmp = self.link.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(name)
        tmp.replace(self.link)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def unplug(self) -> None:
        if self.master >= 0:
            os.close(self.master)
            self.master = -1


@pytest.fixture
def cable(tmp_path: Path) -> Iterator[SerialCable]:
    cable = SerialCable(tmp_path / "usb-Newland_NLS-FR40-if00")
    yield cable
    cable.unplug()


def test_a_serial_scanner_reads_utf8_survives_unplugging_and_refuses_junk(cable: SerialCable):
    got, sink = collect()
    thread = ScannerThread(
        "serial", serial_opener(str(cable.link), 9600), Framer("scanner-serial", gap_s=0.2), sink, reopen_s=0.05
    )  # type: ignore[arg-type]
    thread.start()
    try:
        deadline = time.monotonic() + 3
        while not thread.stats.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        cable.send(CCCD_AN.encode() + b"\r")
        assert wait_for(got).text == CCCD_AN
        cable.send(b"\xff\xfe\x00garbage\r")
        assert wait_for(got).problem == "scan-garbled"
        cable.send(b"HD1:half")
        assert wait_for(got).problem == "scan-incomplete"
        cable.unplug()
        time.sleep(0.3)
        cable.plug()
        deadline = time.monotonic() + 3
        while (thread.stats.disconnects == 0 or not thread.stats.connected) and time.monotonic() < deadline:
            time.sleep(0.02)
        cable.send(b"HD1:back\r")
        assert wait_for(got).text == "HD1:back"
    finally:
        thread.stop()


# --- the whole kiosk ----------------------------------------------------------------------------------------------


def scanner_config(tmp_path: Path, device: str, source: str = "none") -> KioskConfig:
    base = config_for(tmp_path)
    data = base.model_dump(mode="json")
    data["camera"]["source"] = source
    data["policy"]["mode"] = "identity"
    data["scanners"] = [{"kind": "serial", "device": device, "gap_ms": 200}]
    return KioskConfig.model_validate(data)


def test_a_kiosk_with_only_a_scanner_records_then_signals_and_says_which_reader(tmp_path: Path, cable: SerialCable):
    config = scanner_config(tmp_path, str(cable.link))
    recorder = Recorder(config.database_path)
    kiosk = assemble(config, feedback=recorder)
    stop = threading.Event()

    def scan_and_stop() -> None:  # the loop runs in this test's thread, which owns the store's connection
        try:
            deadline = time.monotonic() + 3
            while not kiosk.scanners[0].stats.connected and time.monotonic() < deadline:
                time.sleep(0.01)
            cable.send(CCCD_AN.encode() + b"\r")
            cable.send(CCCD_AN.encode() + b"\r")  # presentation mode reads it again: one passage
            cable.send(b"HD1:cut")
            deadline = time.monotonic() + 3
            while len(recorder.signalled) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            stop.set()

    kiosk.start()
    scanning = threading.Thread(target=scan_and_stop)
    scanning.start()
    try:
        kiosk.run(stop)
        scanning.join(5)
        accepted, refused = recorder.signalled
        assert (accepted.decision, accepted.reason, accepted.decoder) == ("ACCEPT", "identity-ok", "scanner-serial")
        assert (refused.decision, refused.reason, refused.subject_key) == ("DENY", "scan-incomplete", None)
        assert recorder.committed_first == [True, True]
        assert recorder.faults == []  # no camera, and no "camera stalled" fault for it
        assert kiosk.heartbeat(kiosk.store)["scanners"][0]["scans"] == 3
        report = gather_status(kiosk, 0.0, None)
        (shown,) = report["scanners"]
        assert (shown["connected"], shown["scans"], shown["refused"]) == (True, 3, 1)
        assert "<h2>Máy quét mã</h2>" in render_page(report) and "Codes refused" in render_page(report, lang="en")
    finally:
        kiosk.close()


def test_a_camera_and_a_scanner_at_once_each_event_names_its_reader(tmp_path: Path, cable: SerialCable):
    from conftest import write_images
    from test_loop import scene

    from kiosk.camera.files import ImageFolderSource

    other = "079090000001||Trần Thị Bình|02031991|Nữ|Số 3 Lê Lợi, Huế|15082021"
    config = scanner_config(tmp_path, str(cable.link), source=str(tmp_path / "frames"))
    recorder = Recorder(config.database_path)
    frames = ImageFolderSource(write_images(tmp_path / "frames", scene(None, CCCD_AN, None)), fps=15)
    kiosk = assemble(config, source=frames, feedback=recorder)
    stop = threading.Event()

    def scan_and_stop() -> None:
        try:
            deadline = time.monotonic() + 3
            while not kiosk.scanners[0].stats.connected and time.monotonic() < deadline:
                time.sleep(0.01)
            cable.send(other.encode() + b"\r")
            while len(recorder.signalled) < 2 and time.monotonic() < deadline + 5:
                time.sleep(0.01)
        finally:
            stop.set()

    kiosk.start()
    scanning = threading.Thread(target=scan_and_stop)
    scanning.start()
    try:
        kiosk.run(stop)
        scanning.join(5)
    finally:
        kiosk.close()
    readers = {event.decoder for event in recorder.signalled}
    assert len(recorder.signalled) == 2 and "scanner-serial" in readers and readers & {"zxing", "pyzbar"}
    assert {event.reason for event in recorder.signalled} == {"identity-ok"}


def test_config_names_what_is_wrong_with_a_scanner():
    with pytest.raises(ConfigError) as caught:
        parse_config('[camera]\nsource = "none"\n')
    assert "needs a [[scanners]] entry" in str(caught.value)
    text = '[[scanners]]\nkind = "hid"\ndevice = "name:a"\n\n[[scanners]]\nkind = "usb"\ndevice = "/dev/ttyACM0"\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="kiosk.toml")
    assert str(caught.value) == "kiosk.toml:6: scanners.1.kind: Input should be 'hid' or 'serial' (got \"usb\")"
    config = parse_config('[[scanners]]\nkind = "hid"\ndevice = "name:Honeywell"\nlayout = "de"\nsuffix = "tab"\n')
    assert (config.scanners[0].source, config.scanners[0].end_bytes) == ("scanner-hid", b"\r")


@given(chunks=st.lists(st.binary(max_size=300), max_size=40), gap=st.floats(0.02, 1.0))
@settings(max_examples=200, deadline=None)
def test_no_byte_stream_makes_the_framer_raise_or_keep_more_than_its_limit(chunks, gap):
    framer = Framer("scanner-serial", gap_s=gap, max_bytes=256)
    now = 0.0
    for chunk in chunks:
        now += 0.01
        for scan in framer.feed(chunk, now):
            assert (scan.text is None) != (scan.problem is None)
            assert scan.text is None or len(scan.text.encode()) <= 256
        assert len(framer._buffer) <= 256


@given(events=st.lists(st.tuples(st.integers(0, 255), st.integers(0, 2)), max_size=200))
@settings(max_examples=200, deadline=None)
def test_no_key_sequence_makes_the_key_decoder_raise(events):
    keys = KeyDecoder("fr", "enter")
    for code, value in events:
        assert isinstance(keys.key(code, value), bytes)


def test_doctor_finds_each_scanner_and_says_what_to_do_when_one_is_missing(tmp_path: Path, cable: SerialCable):
    from kiosk.ops.doctorchecks import DoctorContext, check_camera
    from kiosk.ops.doctorscanner import check_scanners

    config = scanner_config(tmp_path, str(cable.link))
    assert check_camera(DoctorContext(config)).status == "skip"  # no camera: not a failure
    found = check_scanners(DoctorContext(config))
    assert (found.status, "opens at 9600 baud" in found.detail) == ("ok", True)
    held = serial_opener(str(cable.link), 9600)()  # the running kiosk has it
    try:
        assert check_scanners(DoctorContext(config)).status == "warn"
    finally:
        held.close()
    data = config.model_dump(mode="json")
    data["scanners"].append({"kind": "hid", "device": "name:No Such Scanner"})
    missing = check_scanners(DoctorContext(KioskConfig.model_validate(data)))
    assert missing.status == "fail" and "No Such Scanner" in missing.detail and "input group" in missing.fix
