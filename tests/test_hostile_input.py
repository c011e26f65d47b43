"""Hostile input: the fuzz bench on a small count (0 crashes, 0 hangs), and QR texts that try injection.

A code's text must never reach a shell, an SQL string, a log line or the voice. These tests scan such codes
through the real loop (camera frames from files, the real decoders, the real store, the real voice rendering
with espeak-ng) and look for the text everywhere it could have gone.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import on_canvas, qr_image, write_images
from dccmaker import VN_VACCINATION, hostile_payloads, make_hc1, make_signer, trust_json

from central.api import _upload_body
from central.photos import MAX_PIXELS
from central.subjects import SubjectError, text_in_image
from kiosk.app import Kiosk, assemble
from kiosk.camera.files import ImageFolderSource
from kiosk.config import KioskConfig
from kiosk.events import Event
from kiosk.policy.messages import Messages
from kiosk.store import EventStore
from kiosk.store.eventrules import event_problem

ROOT = Path(__file__).resolve().parent.parent

# What each string tries, and a fragment of it that would show it got through.
ATTACKS = {
    "sql": ("'; DROP TABLE events; --", "DROP TABLE"),
    "shell": ("$(touch /tmp/kiosk-owned)`id`;rm -rf ~ | nc x 1", "kiosk-owned"),
    "format": ("%s%s%n{0}{event.__class__}%(x)s", "%s%n{0}{event"),
    "ansi": ("\x1b[2J\x1b]0;owned\x07\x1b[31mRED", "\x1b]0;owned"),
    "log-line": ("x\r\nERROR kiosk: FAKE ENTRY\n", "FAKE ENTRY"),
    "ssml": ('<speak><prosody rate="x-fast">mở cửa</prosody><audio src="x"/></speak>', "<speak><prosody"),
    "espeak": ("[[pbas 0]] -w /etc/passwd --stdout", "/etc/passwd"),
}


def hostile_codes() -> list[str]:
    """Each attack as the name or address of a CCCD and a PC-Covid code, in a signed certificate, and bare."""
    codes = []
    signer = make_signer("ES256")
    for text, _ in ATTACKS.values():
        flat = text.replace("|", "/")  # the separator itself would only make it another layout
        codes.append(f"001090012345|123456789|{flat}|01021990|Nam|{flat}|15082021")
        codes.append(f"001090012345|{flat}|1990-02-01|1|Q0123456789ABCDE|<1<0912345678<")
        dcc = {**VN_VACCINATION, "nam": {"fn": text, "gn": text, "fnt": "X", "gnt": "Y"}}
        codes.append(make_hc1(signer, dcc))
        codes.append(text)
    return codes


# ---------------------------------------------------------------- the fuzz bench, small and seeded


def test_the_fuzz_bench_finds_no_crash_and_no_hang(tmp_path: Path):
    atheris_runs = 1000 if importlib.util.find_spec("atheris") else 0
    command = [sys.executable, str(ROOT / "bench" / "fuzz.py"), "--inputs", "3000", "--atheris", str(atheris_runs),
               "--seed", "7", "--crash-dir", str(tmp_path / "crashes"), "--json"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    result = json.loads(done.stdout)
    found = {name: t.get("found") or t.get("stderr_tail") for name, t in result["targets"].items() if t["crashes"]}
    assert result["crashes"] == 0, found
    assert result["hangs"] == 0, {name: t["wall_ms"] for name, t in result["targets"].items() if t["hangs"]}
    assert result["inputs"] >= 2900 + atheris_runs and done.returncode == 0
    assert not (tmp_path / "crashes").exists() or not any((tmp_path / "crashes").iterdir())
    # every target ran, and most mutated codes were refused by the parser that recognised them
    assert min(t["inputs"] for t in result["targets"].values()) >= 20
    assert result["targets"]["parse-hc1"]["refused"] > result["targets"]["parse-hc1"]["inputs"] // 2


# ---------------------------------------------------------------- regressions found by bench/fuzz.py


def blank_png(width: int, height: int) -> bytes:
    """A valid grey PNG of blank pixels: tiny compressed, huge decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\x00" * ((width + 1) * height), 9)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_a_picture_bomb_is_refused_from_its_header():
    bomb = blank_png(16_000, 16_000)  # 250 KB; decoded and searched for codes, it took 13 s and 2.3 GB
    assert len(bomb) < 300_000
    started = time.perf_counter()
    with pytest.raises(SubjectError, match=r"is more than 25 megapixels"):
        text_in_image(bomb)
    assert time.perf_counter() - started < 0.5  # the header is enough: nothing is inflated
    with pytest.raises(SubjectError, match=r"is 6000 x 5000 pixels, more than 25 megapixels"):
        text_in_image(blank_png(6000, 5000))  # under Pillow's own limit, over ours


def test_a_picture_at_the_limit_is_still_read():
    import cv2

    code = on_canvas(qr_image("001090012345|NGUYEN VAN AN|1990-02-01|1|Q0123456789ABCDE|", scale=4))
    assert text_in_image(bytes(cv2.imencode(".png", code)[1])).startswith("001090012345|")
    assert MAX_PIXELS >= 4000 * 3000  # a phone's 12-megapixel photo


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n", b"GIF89a" + b"\xff" * 20, b"\xff\xd8\xff" * 100])
def test_a_broken_picture_is_refused_with_what_was_wrong(data: bytes):
    with pytest.raises(SubjectError, match="not a readable image"):
        text_in_image(data)


# ---------------------------------------------------------------- injection through the real loop


class Spawned:
    """Every process started, with its argv, while the loop runs; subprocess still works (espeak-ng renders)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.argvs: list[str] = []
        original = subprocess.Popen.__init__

        def popen(this: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
            self.argvs.append(json.dumps([str(a) for a in args] if isinstance(args, list | tuple) else str(args)))
            assert not kwargs.get("shell"), f"a shell was started: {args!r}"
            original(this, args, *rest, **kwargs)

        monkeypatch.setattr(subprocess.Popen, "__init__", popen)
        for name in ("system", "popen", "execv", "execve", "execvp", "spawnv", "spawnvp", "posix_spawn"):
            if hasattr(os, name):
                monkeypatch.setattr(os, name, self.forbidden(name))

    def forbidden(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> None:
            self.argvs.append(json.dumps([name, *map(str, args)]))
            raise AssertionError(f"os.{name} called: {args!r}")

        return call


def shown_twice_each(codes: list[str]) -> list[Any]:
    """Frames showing each code twice, then nothing (so the next code is a new presentation)."""
    frames = []
    for code in codes:
        frames += [on_canvas(qr_image(code, scale=3), at=(20, 20))] * 2 + [on_canvas(qr_image("x") * 0 + 255)]
    return frames


def through_the_gate(
    config: KioskConfig, frames: list[Any], folder: Path, before_start: Callable[[Kiosk], None] | None = None
) -> tuple[Kiosk, list[Event]]:
    """The real kiosk (closed at the end) run over `frames`, and the events it recorded."""
    kiosk = assemble(config, source=ImageFolderSource(write_images(folder, frames), fps=None))
    if before_start is not None:
        before_start(kiosk)
    kiosk.start()
    try:
        kiosk.run(threading.Event(), until_end=True)
    finally:
        kiosk.close()
    store = EventStore(config.database_path, read_only=True)
    try:
        return kiosk, store.unsent(10_000)
    finally:
        store.close()


def test_hostile_codes_reach_no_shell_sql_log_console_or_voice(tmp_path: Path, monkeypatch, caplog, capfd):
    codes = hostile_codes()
    frames = shown_twice_each(codes)
    config = KioskConfig.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "device": {"id": "gate-7", "venue": "BV-DAKNONG", "direction": "in"},
            "camera": {"realtime": False},
            "decode": {"decoders": ["zxing", "pyzbar", "opencv"]},
            "debounce": {"cooldown_s": 0},
            "feedback": {"outputs": ["console", "voice"], "voice": {"player": ["true"]}},
        }
    )
    spawned = Spawned(monkeypatch)
    caplog.set_level(logging.DEBUG)
    said: list[str] = []

    def listen(kiosk: Kiosk) -> None:  # what the voice is asked to say, before it says it
        voice = kiosk.feedback.fanout.outputs[1]  # type: ignore[attr-defined]
        speak = voice._say
        monkeypatch.setattr(voice, "_say", lambda text, kind: (said.append(text), speak(text, kind)))
        assert voice.wait_rendered(30)

    _, events = through_the_gate(config, frames, tmp_path / "frames", before_start=listen)
    out, err = capfd.readouterr()
    assert len(events) == len(codes)  # every code was read and recorded: the attacks were really scanned
    assert {e.kind for e in events} >= {"cccd", "pc-covid", "eu-dcc", "unknown"}

    logs = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    dump = "\n".join(sqlite3.connect(config.database_path).iterdump())
    files = b"".join(p.read_bytes() for p in Path(config.state_dir).rglob("*") if p.is_file())
    assert "CREATE TABLE" in dump and "events" in dump  # no table was dropped
    for attack, (text, fragment) in ATTACKS.items():
        for where, seen in [("argv", "\n".join(spawned.argvs)), ("log", logs), ("stdout", out), ("stderr", err),
                            ("database", dump)]:  # fmt: skip
            assert fragment not in seen, f"{attack} text reached the {where}"
        assert fragment.encode() not in files and text.encode() not in files, f"{attack} text is in a state file"
    assert "Nguyễn" not in logs + out + dump and "001090012345" not in logs + out + dump
    # The voice said only the venue's prepared sentences, and espeak-ng was given nothing else.
    prepared = set(Messages(config.feedback.language, config.feedback.messages).all_texts())
    assert said and set(said) <= prepared
    espeak = [json.loads(a) for a in spawned.argvs if "espeak-ng" in a]
    assert espeak and all(argv[-1] in prepared and argv[-2] == "--" for argv in espeak)


# ---------------------------------------------------------------- hostile certificates through the real loop


def test_hostile_certificates_are_refused_at_the_gate_with_a_reason_and_no_traceback(tmp_path: Path, caplog, capfd):
    """Issue 12: signed certificates whose CBOR is not JSON data (byte-string keys, tags, huge integers, NaN,
    deep nesting, cycles) are refused as malformed, each recorded with its reason; nothing fails on the way, and
    the rows are what the centre's upload accepts (the kiosk keeps derived fields only: no payload reaches it)."""
    signer = make_signer("ES256", days=365 * 30)
    codes = [make_hc1(signer, payload=payload) for payload in hostile_payloads().values()]
    frames = shown_twice_each(codes)
    state = tmp_path / "state"
    state.mkdir()
    issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (state / "trust-list.json").write_text(json.dumps({"issued_at": issued, **trust_json(signer)}))
    config = KioskConfig.model_validate(
        {
            "state_dir": str(state),
            "device": {"id": "gate-7", "venue": "BV-DAKNONG", "direction": "in"},
            "camera": {"realtime": False},
            "decode": {"decoders": ["zxing", "pyzbar", "opencv"]},
            "debounce": {"cooldown_s": 0},
            "policy": {"mode": "certificate"},
            "feedback": {"outputs": ["console"]},
            "status_page": {"enabled": False},  # its port may be taken by another test run: an error, not ours
        }
    )
    caplog.set_level(logging.DEBUG)
    kiosk, events = through_the_gate(config, frames, tmp_path / "frames")
    out, err = capfd.readouterr()
    assert len(events) == len(codes)
    assert {(e.kind, e.decision, e.reason) for e in events} == {("eu-dcc", "DENY", "malformed")}
    assert kiosk.metrics.handler_errors == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert "Traceback" not in out + err
    rows = [e.as_row() for e in events]
    assert all(event_problem(row) is None for row in rows)
    device_time = {"wall": 1.7e9, "mono": 5.0, "boot_id": events[0].boot_id, "synced": True}
    upload = _upload_body(json.dumps({"device_time": device_time, "events": rows}).encode(), "")
    assert [e.reason for e in upload.events] == ["malformed"] * len(codes)
