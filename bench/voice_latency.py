"""Voice start after a decision, with cached prompts; and the frame loop's latency while prompts play.

1. Start latency: every prompt is rendered first (espeak-ng, into a temporary cache). Then `--decisions` events
   are signalled, `--gap-ms` apart, to a VoiceFeedback whose player is still playing the previous prompt (the
   worst case: it must be stopped first). Measured, on the monotonic clock:
     signal_ms  how long VoiceFeedback.signal() holds the caller (the frame loop);
     start_ms   signal() -> the player process started (Popen returned, in the player's worker thread);
     exec_ms    signal() -> the player's first instruction ran (fake player only: it writes a timestamp).
   The player is the real `aplay -q` when it is installed and works, else a fake one (a /bin/sh script that
   writes a timestamp and sleeps 2 s), and the output says which.
2. Frame loop: the same replay of distinct people (bench/latency.py's frames) through the assembled kiosk at
   camera pace, once with no feedback (the baseline) and once with voice, whose fake player "plays" each prompt
   for 2 s. Compared: frame -> decision p95 and the per-frame decode time.

    .venv/bin/python bench/voice_latency.py [--decisions 200] [--gap-ms 50] [--people 60] [--fps 15] [--json]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from common import add_repo_to_path, emit, machine, pct
from latency import frames_for

add_repo_to_path()

from kiosk.app import assemble  # noqa: E402
from kiosk.camera.files import ImageFolderSource  # noqa: E402
from kiosk.config import KioskConfig  # noqa: E402
from kiosk.config.outputs import VoiceConfig  # noqa: E402
from kiosk.events import Event  # noqa: E402
from kiosk.hardware import Feedback, FeedbackFanout  # noqa: E402
from kiosk.hardware.voice import VoiceFeedback  # noqa: E402
from kiosk.policy.messages import MESSAGES, Messages  # noqa: E402


def fake_player(work: Path) -> tuple[list[str], Path]:
    """A player that writes the time (ns) first thing, then sleeps 2 s."""
    stamps = work / "player-started"
    script = work / "fake-player.sh"
    # `date` reads CLOCK_REALTIME, as time.time_ns() does, which the signal times are taken with.
    script.write_text(f"#!/bin/sh\ndate +%s%N >> {stamps}\nexec sleep 2\n")
    script.chmod(0o755)
    return [str(script)], stamps


def event(n: int) -> Event:
    reasons = list(MESSAGES)
    decision = ("ACCEPT", "DENY", "REVIEW")[n % 3]
    return Event(f"e{n}", "bench", n, 0.0, 0.0, True, "bench", "BENCH", "in", "cccd", None, decision,
                 reasons[n % len(reasons)], "zxing", 0.0)  # fmt: skip


def voice(work: Path, player: list[str]) -> VoiceFeedback:
    config = VoiceConfig(player=player, timeout_s=6.0)
    feedback = VoiceFeedback(config, Messages("vi"), work / "voice-cache")
    if not feedback.wait_rendered(60):
        raise SystemExit("voice prompts not rendered within 60 s")
    return feedback


def pick_player(work: Path) -> tuple[list[str], str, Path | None]:
    """The real aplay if it can play here, else the fake player; and what was chosen, and why."""
    if shutil.which("aplay") is not None:
        probe = voice(work, ["aplay", "-q"])
        probe.signal(event(0))
        time.sleep(1.0)  # long enough for a failing aplay (no sound card) to be noticed
        probe.close()
        if not probe.player.degraded:
            return ["aplay", "-q"], "aplay -q (real)", None
        why = "aplay is installed but cannot play here (no sound card): fake player"
    else:
        why = "aplay is not installed: fake player"
    command, stamps = fake_player(work)
    return command, why, stamps


def start_latency(work: Path, decisions: int, gap_ms: float) -> dict[str, Any]:
    command, chosen, stamps = pick_player(work)
    feedback = voice(work, command)
    signalled: list[int] = []
    signal_ms: list[float] = []
    for n in range(decisions):
        signalled.append(time.time_ns())
        began = time.perf_counter()
        feedback.signal(event(n))
        signal_ms.append((time.perf_counter() - began) * 1000)
        time.sleep(gap_ms / 1000)
    time.sleep(0.5)
    feedback.close()
    stats = feedback.player.stats
    result: dict[str, Any] = {
        "player": chosen,
        "decisions": decisions,
        "gap_ms": gap_ms,
        "started": stats.started,
        "interrupted": stats.interrupted,
        "signal_ms": pct(signal_ms),
        "start_ms": pct(list(stats.start_ms)),
        "target_start_p95_ms": 100,
    }
    if stamps is not None:
        started = [int(line) for line in stamps.read_text().split()]
        if len(started) == decisions:  # one process per decision, none coalesced: pair them up
            result["exec_ms"] = pct([(s - d) / 1e6 for s, d in zip(started, signalled, strict=True)])
    return result


def loop_run(folder: Path, state: Path, fps: float, feedback: Feedback) -> dict[str, Any]:
    config = KioskConfig.model_validate({"state_dir": str(state), "decode": {"decoders": ["zxing", "pyzbar"]}})
    kiosk = assemble(config, source=ImageFolderSource(folder, fps=fps), feedback=feedback)
    kiosk.start()
    try:
        kiosk.run(threading.Event(), until_end=True)
    finally:
        kiosk.close()
    return {
        "decisions": len(kiosk.metrics.decision_ms),
        "dropped": kiosk.grabber.stats.dropped,
        "frame_to_decision_ms": pct(list(kiosk.metrics.decision_ms)),
        "decode_ms": pct(list(kiosk.metrics.decode_ms)),
    }


def loop_latency(work: Path, people: int, fps: float) -> dict[str, Any]:
    folder = work / "frames"
    folder.mkdir()
    for i, frame in enumerate(frames_for(people, 4, np.random.default_rng(1))):
        cv2.imwrite(str(folder / f"{i:05d}.png"), frame)
    command, _ = fake_player(work)
    baseline = loop_run(folder, work / "state-base", fps, FeedbackFanout([]))
    feedback = voice(work, command)
    with_voice = loop_run(folder, work / "state-voice", fps, feedback)
    return {
        "people": people,
        "fps": fps,
        "baseline": baseline,
        "with_voice": {**with_voice, "prompts_started": feedback.player.stats.started},
        "p95_change_ms": round(with_voice["frame_to_decision_ms"]["p95"] - baseline["frame_to_decision_ms"]["p95"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--gap-ms", type=float, default=50.0)
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # On the repository's disk (not tmpfs), as bench/latency.py: the commit's fsync is part of the loop's latency.
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as work:
        start = start_latency(Path(work), args.decisions, args.gap_ms)
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as work:
        loop = loop_latency(Path(work), args.people, args.fps)
    emit({"benchmark": "voice_latency", "machine": machine(), "voice_start": start, "frame_loop": loop}, args.json)


if __name__ == "__main__":
    main()
