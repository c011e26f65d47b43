from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from itertools import pairwise
from pathlib import Path

import pytest
from conftest import CCCD_AN, write_images
from test_loop import scene

from kiosk.app import assemble
from kiosk.camera.files import ImageFolderSource
from kiosk.config import KioskConfig
from kiosk.hardware.wiegand import decode_frame


def feedback_test(tmp_path: Path, toml: str) -> dict:
    config = tmp_path / "kiosk.toml"
    config.write_text(toml)
    result = subprocess.run(
        [sys.executable, "-m", "kiosk", "feedback-test", "--mock", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KIOSK_STATE_DIR": str(tmp_path / "state")},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def wiegand_bits(d0: list[list[float]], d1: list[list[float]]) -> list[int]:
    """Pulses (the line low, then high again) in time order: a pulse on DATA0 is a 0, on DATA1 a 1. The last
    fall of each line is the pin being closed (a mock pin reads 0 when closed), not a pulse."""

    def pulses(states: list[list[float]]) -> list[float]:
        return [t for (t, v), (_, after) in pairwise(states[1:]) if v == 0 and after == 1]

    return [bit for _, bit in sorted([(t, 0) for t in pulses(d0)] + [(t, 1) for t in pulses(d1)])]


def test_feedback_test_walks_every_output_and_reports_pin_timelines(tmp_path: Path):
    report = feedback_test(tmp_path, '[feedback]\noutputs = ["gpio", "wiegand"]\n[feedback.gpio]\nrelay_hold_s = 1.0\n')
    by_name = {(o["name"], o["pin"]): o["states"] for o in report["outputs"]}
    assert set(by_name) >= {("green_led", "GPIO22"), ("red_led", "GPIO27"), ("buzzer", "GPIO18"), ("relay", "GPIO17")}
    relay = by_name[("relay", "GPIO17")]
    assert [v for _, v in relay] == [0, 1, 0] and relay[2][0] - relay[1][0] == pytest.approx(1.0, abs=0.1)
    assert [v for _, v in by_name[("green_led", "GPIO22")]] == [0, 1, 0]
    bits = wiegand_bits(by_name[("wiegand", "GPIO23")], by_name[("wiegand", "GPIO24")])
    assert decode_frame(bits) == (0, 1)  # the test frame: facility 0, card 1
    assert [v["text"] for v in report["voice"]][:2] == ["Đèn xanh", "Đèn đỏ"]
    assert all(Path(v["wav"]).exists() and v["seconds"] > 0.3 for v in report["voice"])
    assert report["problems"] == []


def test_feedback_test_reports_what_it_cannot_drive(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "kiosk", "feedback-test", "--json", "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GPIOZERO_PIN_FACTORY": "", "KIOSK_CONFIG": str(tmp_path / "none.toml")},
    )
    assert result.returncode == 2  # the named config file does not exist: a usage error, said plainly
    assert "file not found" in result.stderr


def test_all_outputs_assembled_from_config_work_together(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    config = KioskConfig.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "camera": {"realtime": False},
            "feedback": {
                "outputs": ["console", "gpio", "voice", "screen", "wiegand"],
                "gpio": {"pin_factory": "mock", "relay_hold_s": 1.0},
                "wiegand": {"send_on": "all"},
                "voice": {"player": ["true"]},
                "screen": {"fullscreen": False, "width": 640, "height": 400},
            },
        }
    )
    source = ImageFolderSource(write_images(tmp_path / "f", scene(CCCD_AN)), fps=None)
    kiosk = assemble(config, source=source)
    outputs = kiosk.feedback
    factory = outputs.gpio.relay.pin_factory
    try:
        kiosk.start()
        kiosk.run(threading.Event(), until_end=True)
        wiegand = next(o for o in outputs.fanout.outputs if type(o).__name__ == "WiegandFeedback")
        assert wiegand.wait_idle(5) and wiegand.sent == 1
        assert outputs.screen.render() is not None
        assert outputs.screen._seen is not None  # the loop's frames reach the screen...
        assert kiosk.status_page is not None and kiosk.status_page.tap.seen is not None  # ...and the status page
        assert [int(s.state) for s in factory.pin(17).states][:2] == [0, 1]  # the gate opened
    finally:
        kiosk.close()
        factory.reset()
    assert [int(s.state) for s in factory.pin(17).states][-1] == 0  # and is released on close
