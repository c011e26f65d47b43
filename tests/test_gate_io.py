from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from conftest import CCCD_AN, write_images
from test_gpio import states, wait_idle
from test_loop import Recorder, config_for, run_until_end, scene
from test_store import make_event

from kiosk.app import assemble
from kiosk.camera.files import ImageFolderSource
from kiosk.commands import Command
from kiosk.config.outputs import WebhookConfig
from kiosk.credentials import Identity
from kiosk.hardware.gate import GateRelay
from kiosk.hardware.gpio import GpioFeedback, GpioPins
from kiosk.hardware.inputs import GateInputs
from kiosk.hardware.webhook import WebhookFeedback
from kiosk.loop import _Review


def test_a_fail_safe_lock_is_energised_while_running_and_released_to_open(mock_factory):
    gate = GateRelay("GPIO17", active_high=True, logic="energize-to-lock", pin_factory=mock_factory)
    assert states(mock_factory, 17) == [0, 1] and not gate.is_open  # locked as soon as the kiosk runs
    gate.open_for(0.2)
    assert gate.is_open
    time.sleep(0.35)
    assert states(mock_factory, 17) == [0, 1, 0, 1] and not gate.is_open  # locked again by itself
    gate.open_for(0.2)
    time.sleep(0.1)
    gate.open_for(0.2)  # a second person extends the opening: no relock in between
    time.sleep(0.35)
    assert states(mock_factory, 17) == [0, 1, 0, 1, 0, 1]
    gate.release()
    assert states(mock_factory, 17)[-1] == 0  # released: what a power cut does, the lock opens (fail-safe)


def test_rgb_led_shows_one_colour_per_decision(mock_factory):
    pins = GpioPins(green_led="GPIO22", red_led="GPIO27", blue_led="GPIO5", buzzer=None, relay=None, light_s=0.2)
    feedback = GpioFeedback(pins, pin_factory=mock_factory)
    colours = {}
    for decision in ("ACCEPT", "DENY", "REVIEW"):
        feedback.signal(make_event(decision=decision))
        time.sleep(0.05)
        colours[decision] = feedback.rgb.color
        wait_idle(feedback)
    feedback.close()
    assert colours["ACCEPT"].green == 1 and colours["ACCEPT"].red == 0
    assert colours["DENY"].red == 1 and colours["DENY"].green == 0
    assert colours["REVIEW"].red == 1 and 0 < colours["REVIEW"].green < 1  # amber


def test_a_tonal_buzzer_plays_a_different_tune_per_decision(mock_factory):
    pins = GpioPins(green_led=None, red_led=None, buzzer="GPIO18", relay=None, buzzer_kind="tonal")
    feedback = GpioFeedback(pins, pin_factory=mock_factory)
    tunes = {}
    for decision in ("ACCEPT", "DENY", "REVIEW"):
        feedback.signal(make_event(decision=decision))
        heard: list[float | None] = []
        deadline = time.monotonic() + 0.8
        while time.monotonic() < deadline:  # listen: the tone the piezo is driven at, every 5 ms
            tone = feedback.buzzer.tone
            note = None if tone is None else round(tone.frequency)
            if not heard or heard[-1] != note:
                heard.append(note)
            time.sleep(0.005)
        tunes[decision] = heard
    feedback.close()
    assert tunes["ACCEPT"] == [523, 784, None]  # C5 then G5: rising, welcoming
    assert tunes["DENY"] == [440, None]  # one low A4
    assert tunes["REVIEW"] == [659, None, 659, None]  # two E5 with a rest between


class Alarms:
    def __init__(self) -> None:
        self.raised: list[str] = []

    def __call__(self, reason: str) -> None:
        self.raised.append(reason)


def test_buttons_become_commands_and_the_door_raises_alarms(mock_factory):
    commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
    alarms = Alarms()
    inputs = GateInputs(
        commands,
        door_sensor="GPIO6",
        guard_button="GPIO13",
        exit_button="GPIO26",
        door_open_alarm_s=0.3,
        alarm=alarms,
        pin_factory=mock_factory,
    )
    door = mock_factory.pin(6)
    door.drive_low()  # the contact is closed: the door is shut
    mock_factory.pin(13).drive_low()
    mock_factory.pin(13).drive_high()
    mock_factory.pin(26).drive_low()
    mock_factory.pin(26).drive_high()
    assert [commands.get_nowait().name, commands.get_nowait().name] == ["guard-accept", "exit"]
    door.drive_high()  # the door opens while the gate is shut
    time.sleep(0.5)
    assert alarms.raised == ["door-forced", "door-held-open"]
    door.drive_low()
    inputs.close()


def test_the_exit_button_opens_the_gate_after_recording_it(tmp_path: Path, mock_factory):
    config = config_for(tmp_path)
    recorder = Recorder(config.database_path)
    kiosk = assemble(
        config, source=ImageFolderSource(write_images(tmp_path / "f", scene(None)), fps=None), feedback=recorder
    )
    kiosk.loop.commands.put(Command("exit", time.monotonic()))
    run_until_end(kiosk)
    (event,) = recorder.signalled
    assert (event.kind, event.direction, event.decision, event.reason, event.subject_key) == (
        "button", "out", "ACCEPT", "exit-button", None
    )  # fmt: skip
    assert recorder.committed_first == [True]


def test_the_guard_accepts_a_review_within_the_timeout_only(tmp_path: Path):
    from kiosk.config import KioskConfig
    from kiosk.policy.statuslist import StatusList

    config = config_for(tmp_path).model_copy(
        update={"policy": KioskConfig().policy.model_copy(update={"mode": "identity"})}
    )
    recorder = Recorder(config.database_path)
    source = ImageFolderSource(write_images(tmp_path / "f", scene(CCCD_AN)), fps=None)
    kiosk = assemble(config, source=source, feedback=recorder)
    subject = kiosk.loop.keyer.key(Identity("VN-ID", CCCD_AN[:12]))
    flagged = StatusList.from_json({"entries": [{"subject_key": subject, "status": "yellow"}]})
    kiosk.lists.publish(kiosk.lists.current.with_lists(status=flagged))  # as sync does
    kiosk.start()
    try:
        kiosk.run(threading.Event(), until_end=True)
        (review,) = recorder.signalled
        assert (review.decision, review.reason) == ("REVIEW", "status-yellow")
        kiosk.loop.commands.put(Command("guard-accept", time.monotonic()))
        (accepted,) = kiosk.loop.take_commands()  # committed, then signalled (the recorder checks the order)
        assert (accepted.decision, accepted.reason, accepted.subject_key) == ("ACCEPT", "guard-accepted", subject)
        assert recorder.committed_first == [True, True]
        kiosk.loop.commands.put(Command("guard-accept", time.monotonic()))
        assert kiosk.loop.take_commands() == []  # nothing left waiting for the guard
        kiosk.loop._review = _Review(review, time.monotonic(), None)
        kiosk.loop.commands.put(Command("guard-accept", time.monotonic() + 31))  # too late: the person has gone
        assert kiosk.loop.take_commands() == []
    finally:
        kiosk.close()


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    delay = 0.0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(Receiver.delay)
        Receiver.received.append({"body": body, "auth": self.headers.get("Authorization")})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def receiver() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_webhook_posts_the_decision_without_personal_data_and_never_blocks():
    Receiver.received, Receiver.delay = [], 0.3
    server = receiver()
    url = f"http://127.0.0.1:{server.server_port}/open"
    hook = WebhookFeedback(WebhookConfig(url=url, queue=2, headers={"Authorization": "Bearer t"}))
    started = time.perf_counter()
    for _ in range(5):
        hook.signal(make_event())
    assert time.perf_counter() - started < 0.01  # five calls queued or dropped at once, none waited for
    deadline = time.monotonic() + 5
    while hook.sent + hook.failed < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    hook.close()
    server.shutdown()
    assert hook.dropped >= 2 and hook.sent >= 2
    first = Receiver.received[0]
    assert first["auth"] == "Bearer t" and first["body"]["decision"] == "ACCEPT"
    assert "subject_key" not in first["body"]


def test_webhook_receiver_down_is_counted_not_raised():
    hook = WebhookFeedback(WebhookConfig(url="http://127.0.0.1:9/closed", timeout_s=0.5))
    hook.signal(make_event())
    deadline = time.monotonic() + 5
    while hook.failed == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    hook.close()
    assert hook.failed == 1


def gpio_kiosk(tmp_path: Path, frames: list, *, loop: bool = False):
    from kiosk.config import KioskConfig

    config = KioskConfig.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "camera": {"realtime": False, "loop": loop},
            "feedback": {"outputs": ["gpio"], "gpio": {"pin_factory": "mock", "relay_hold_s": 10.0}},
        }
    )
    source = ImageFolderSource(write_images(tmp_path / "f", frames), fps=30 if loop else None, loop=loop)
    kiosk = assemble(config, source=source)
    return kiosk, kiosk.feedback.gpio.relay.pin_factory


def relay_states(factory) -> list[int]:
    return [int(s.state) for s in factory.pin(17).states]


def test_the_relay_is_released_when_the_loop_fails(tmp_path: Path):
    from test_loop import ExplodingReader

    from kiosk.errors import KioskError

    kiosk, factory = gpio_kiosk(tmp_path, scene(CCCD_AN) + [np_blank()] * 60)
    real_reader = kiosk.loop.reader
    kiosk.start()
    try:
        frames = 0

        class FailAfterTheDecision:
            def read(self, frame, at):
                nonlocal frames
                frames += 1
                return real_reader.read(frame, at) if frames <= 8 else ExplodingReader().read(frame, at)

        kiosk.loop.reader = FailAfterTheDecision()
        with contextlib.suppress(KioskError):
            kiosk.run(threading.Event(), until_end=True)
        assert 1 in relay_states(factory)  # it opened for the person (10 s hold) before the loop gave up
    finally:
        kiosk.close()
    assert relay_states(factory)[-1] == 0
    factory.reset()


def test_the_relay_is_released_on_sigterm(tmp_path: Path):
    import os
    import signal

    from kiosk.cli import stop_on_signals

    kiosk, factory = gpio_kiosk(tmp_path, scene(CCCD_AN), loop=True)
    kiosk.start()
    try:
        with stop_on_signals() as stop:
            threading.Timer(1.0, os.kill, args=(os.getpid(), signal.SIGTERM)).start()
            kiosk.run(stop)
        assert 1 in relay_states(factory)
    finally:
        kiosk.close()
    assert relay_states(factory)[-1] == 0
    factory.reset()


def test_the_relay_is_released_when_the_camera_dies(tmp_path: Path):
    from test_loop import DeadFeed

    from kiosk.errors import SourceError

    kiosk, factory = gpio_kiosk(tmp_path, scene(CCCD_AN))
    kiosk.start()
    try:
        kiosk.run(threading.Event(), until_end=True)
        assert relay_states(factory)[-1] == 1
        kiosk.loop.frames = DeadFeed(live=True)  # what a capture thread that died looks like to the loop
        with contextlib.suppress(SourceError):
            kiosk.run(threading.Event())
    finally:
        kiosk.close()
    assert relay_states(factory)[-1] == 0
    factory.reset()


def np_blank():
    import numpy as np

    return np.full((480, 640), 130, dtype=np.uint8)
