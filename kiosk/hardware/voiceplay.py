"""Playing rendered prompts: one player process at a time, in the background, never outliving its timeout.

`PromptPlayer.play` only hands the request to a worker thread, so the caller (the frame loop) returns in
microseconds. The worker stops a prompt still playing (a new decision interrupts the old one), starts the player
command with the WAV path appended, and kills a playback that runs past `timeout_s`: a hung audio device never
piles up processes. A player that is missing, or that fails at once (no sound card), switches voice off for good
with one warning; from then on the fallback (tones) is called instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

Fallback = Callable[[str], None]  # called with "ACCEPT", "DENY", "REVIEW" or "fault"; must not block

_POLL_S = 0.05  # how often a playing process is checked; a new request interrupts at once, not at the next poll
_TERM_GRACE_S = 0.2  # SIGTERM, then SIGKILL after this
_KILL_GRACE_S = 1.0  # a process still there this long after SIGKILL is stuck in the kernel (audio driver)


@dataclass
class PlayerStats:
    """Counters of the worker thread (read from others as plain ints and a bounded deque)."""

    started: int = 0
    finished: int = 0
    interrupted: int = 0
    killed: int = 0  # by the watchdog, after timeout_s
    failed: int = 0
    tones: int = 0
    start_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1000))  # play() -> process started


class PromptPlayer:
    """Plays WAV files with `command` (e.g. ["aplay", "-q"]) in the background; see the module docstring."""

    def __init__(
        self,
        command: Sequence[str],
        timeout_s: float,
        *,
        fallback: Fallback | None = None,
        fail_window_s: float = 0.3,
    ) -> None:
        self.command = list(command)
        self.timeout_s = timeout_s
        self.fallback = fallback
        self.fail_window_s = fail_window_s
        self.degraded = False
        self.stats = PlayerStats()
        self._pending: tuple[Path, str | None, float] | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._warned_late = False
        if shutil.which(self.command[0]) is None:
            self._degrade(
                "is not installed or not on PATH (apt install alsa-utils, or set feedback.voice.player)", None
            )
        self._thread = threading.Thread(target=self._run, name="voice-player", daemon=True)
        self._thread.start()

    def play(self, wav: Path, kind: str | None) -> None:
        """Play `wav` in place of whatever is playing; `kind` picks the tone if voice is off (None: no tone).

        Returns at once: the worker thread starts the player.
        """
        if self._closed:
            return
        if self.degraded:
            self.tone(kind)
            return
        with self._lock:
            self._pending = (wav, kind, time.monotonic())  # an older request not started yet is dropped
            self._wake.set()

    def tone(self, kind: str | None) -> None:
        """The fallback for `kind`, if there is one; its failure is logged, never raised into the loop."""
        if self.fallback is None or kind is None:
            return
        self.stats.tones += 1
        try:
            self.fallback(kind)
        except Exception:
            log.exception("voice fallback for %s failed", kind)

    def close(self, timeout: float = 2.0) -> None:
        """Stop the prompt playing and the worker thread."""
        self._closed = True
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            with self._lock:
                request, self._pending = self._pending, None
                self._wake.clear()
            if self._closed:
                return
            if request is not None:
                self._play(*request)

    def _play(self, wav: Path, kind: str | None, requested: float) -> None:
        if self.degraded:  # went off while this request waited
            self.tone(kind)
            return
        try:
            process = subprocess.Popen(
                [*self.command, str(wav)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: a wrapper script's children are stopped too
            )
        except OSError as exc:
            self._degrade(f"cannot be started ({exc.strerror or exc}); check feedback.voice.player", kind)
            return
        started = time.monotonic()
        self.stats.started += 1
        self.stats.start_ms.append((started - requested) * 1000)
        self._finish(process, started, kind)

    def _finish(self, process: subprocess.Popen[bytes], started: float, kind: str | None) -> None:
        outcome = self._watch(process, started)
        if outcome == "exited":
            self._exited(process.returncode, time.monotonic() - started, kind)
            return
        if outcome == "timeout":
            self.stats.killed += 1
            log.warning("voice player still running after %.1f s (audio device hung?): stopped", self.timeout_s)
        else:
            self.stats.interrupted += 1
        self._stop(process)

    def _watch(self, process: subprocess.Popen[bytes], started: float) -> str:
        """Wait until the process exits ("exited"), runs past timeout_s ("timeout") or a request comes."""
        deadline = started + self.timeout_s
        while process.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            if self._wake.wait(min(_POLL_S, left)):
                return "interrupted"
        return "exited"

    def _exited(self, code: int, after_s: float, kind: str | None) -> None:
        if code == 0:
            self.stats.finished += 1
            return
        self.stats.failed += 1
        if after_s <= self.fail_window_s + _POLL_S:
            self._degrade(f"exited with code {code} at once (no sound card? check `aplay -l`)", kind)
        elif not self._warned_late:
            self._warned_late = True
            log.warning("voice player exited with code %d after %.1f s; prompts may be cut short", code, after_s)

    def _stop(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM to the player's group, SIGKILL if it lingers; a process that survives both turns voice off."""
        for sig, grace in ((signal.SIGTERM, _TERM_GRACE_S), (signal.SIGKILL, _KILL_GRACE_S)):
            _signal_group(process, sig)
            try:
                process.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                continue
        # NOTE: a process in uninterruptible sleep (a wedged USB audio driver) ignores even SIGKILL; starting
        # more players would only pile them up behind it.
        self._degrade(f"(pid {process.pid}) did not exit after SIGKILL (audio driver hung)", None)

    def _degrade(self, why: str, kind: str | None) -> None:
        if not self.degraded:
            self.degraded = True
            log.warning(
                "voice player `%s` %s: spoken prompts are off, tones play instead until the kiosk restarts",
                shlex.join(self.command),
                why,
            )
        if kind is not None:
            self.tone(kind)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # Only while the process is not yet reaped: until then its pid (and so its group id) cannot be reused.
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
