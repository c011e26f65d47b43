"""When an access panel decides (OSDP, docs/osdp.md): the kiosk records what it vouches for as REVIEW
"panel-decides" before the panel hears of it, and records the panel's answer as a second event."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from conftest import CCCD_AN, write_images
from test_loop import Recorder, config_for, scene

from kiosk.app import assemble
from kiosk.camera.files import ImageFolderSource
from kiosk.commands import Command
from kiosk.config import KioskConfig


def panel_kiosk(tmp_path: Path, *payloads: str | None):
    config = config_for(tmp_path).model_copy(
        update={"policy": KioskConfig().policy.model_copy(update={"mode": "identity"})}
    )
    recorder = Recorder(config.database_path)
    source = ImageFolderSource(write_images(tmp_path / "f", scene(*payloads)), fps=None)
    kiosk = assemble(config, source=source, feedback=recorder)
    kiosk.loop.panel = True
    return kiosk, recorder


def run(kiosk) -> None:
    kiosk.start()
    try:
        kiosk.run(threading.Event(), until_end=True)
    except BaseException:
        kiosk.close()
        raise


def test_the_read_is_recorded_before_the_panel_hears_of_it_and_its_answer_after(tmp_path: Path):
    kiosk, recorder = panel_kiosk(tmp_path, CCCD_AN, "not a code we know")
    run(kiosk)
    try:
        asked, refused = recorder.signalled
        assert (asked.decision, asked.reason) == ("REVIEW", "panel-decides")  # the panel is told after this commit
        assert (refused.decision, refused.reason) == ("DENY", "unknown-code")  # never reported to the panel
        kiosk.loop.commands.put(Command("panel-granted", time.monotonic()))
        (granted,) = kiosk.loop.take_commands()
        assert (granted.decision, granted.reason, granted.subject_key) == ("ACCEPT", "panel-granted", asked.subject_key)
        kiosk.loop.commands.put(Command("panel-denied", time.monotonic()))
        assert kiosk.loop.take_commands() == []  # one answer per read
        kiosk.loop.commands.put(Command("panel-opened", time.monotonic()))
        (opened,) = kiosk.loop.take_commands()  # the panel opened the door by itself: recorded, no one's key
        assert (opened.decision, opened.reason, opened.subject_key, opened.kind) == (
            "ACCEPT", "panel-opened", None, "panel"
        )  # fmt: skip
        assert recorder.committed_first == [True] * 4
    finally:
        kiosk.close()


def test_a_denial_and_a_missing_badge_are_recorded_against_the_read(tmp_path: Path):
    kiosk, recorder = panel_kiosk(tmp_path, CCCD_AN)
    run(kiosk)
    try:
        (asked,) = recorder.signalled
        kiosk.loop.commands.put(Command("panel-no-card", time.monotonic()))
        (missing,) = kiosk.loop.take_commands()
        assert (missing.decision, missing.reason, missing.subject_key) == ("DENY", "no-badge", asked.subject_key)
        kiosk.loop.commands.put(Command("panel-granted", time.monotonic()))
        assert kiosk.loop.take_commands() == []  # nothing waiting any more
    finally:
        kiosk.close()
