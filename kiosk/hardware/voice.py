"""Spoken prompts: Messages texts rendered to WAV once, cached, and played in the background per decision.

Rendering runs espeak-ng directly (`espeak-ng -v vi -s 150 -a 100 -w out.wav -- text`), or pyttsx3 in a child
process; either way under a timeout, because pyttsx3 is known to hang on a Raspberry Pi. A prompt's file name is
the sha256 of (engine, voice, rate, amplitude, text), so a changed setting or wording renders anew and an
unchanged one is never rendered twice, across restarts too.

Every prompt is rendered in a background thread at start; a decision whose prompt is not ready yet gets a tone,
it never waits. Nothing here speaks text from a code: `signal` takes the event and speaks the venue's message for
its reason code.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import unicodedata
import wave
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from kiosk.config.outputs import VoiceConfig
from kiosk.errors import KioskError
from kiosk.events import Event
from kiosk.hardware.voiceplay import Fallback, PromptPlayer
from kiosk.policy.messages import Messages

log = logging.getLogger(__name__)

Runner = Callable[[Sequence[str], float], None]  # runs argv under a timeout; raises VoiceError when it fails

MAX_TEXT = 300  # characters: a prompt is a short sentence, a longer override is a mistake
RENDER_TIMEOUT_S = 20.0

# Run as `python -c`, so a pyttsx3 that hangs can be killed (a thread cannot be). The text is an argv element.
_PYTTSX3_SCRIPT = """
import sys
import pyttsx3
voice, rate, volume, out, text = sys.argv[1:]
engine = pyttsx3.init("espeak")
engine.setProperty("voice", voice)
engine.setProperty("rate", int(rate))
engine.setProperty("volume", float(volume))
engine.save_to_file(text, out)
engine.runAndWait()
"""


class VoiceError(KioskError, RuntimeError):
    """A prompt could not be rendered (engine missing, failing or hanging, or an unusable text)."""


def run_command(argv: Sequence[str], timeout: float) -> None:
    """Run `argv` (no shell) to completion; VoiceError if it is missing, fails or outlives `timeout` (killed)."""
    try:
        done = subprocess.run(
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout
        )
    except FileNotFoundError as exc:
        raise VoiceError(f"{argv[0]} is not installed: apt install espeak-ng (see scripts/system-deps.sh)") from exc
    except subprocess.TimeoutExpired as exc:
        raise VoiceError(f"{argv[0]} did not finish within {timeout:.0f} s and was killed") from exc
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise VoiceError(f"{argv[0]} failed (exit {done.returncode}): {detail[-1] if detail else 'no message'}")


def clean_text(text: str) -> str:
    """`text` in NFC with control and format characters turned to spaces and runs of space collapsed."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)
    text = " ".join(text.split())
    if not text:
        raise VoiceError("a voice prompt is empty (after removing control characters); check feedback.messages")
    if len(text) > MAX_TEXT:
        raise VoiceError(f"a voice prompt is longer than {MAX_TEXT} characters: {text[:40]!r}...")
    return text


def wav_seconds(path: Path) -> float:
    """Duration of a WAV file in seconds; VoiceError if it is not a readable WAV."""
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getnframes() / wav.getframerate()
    except (wave.Error, EOFError, OSError) as exc:
        raise VoiceError(f"{path}: not a readable WAV file ({exc})") from exc


class PromptCache:
    """Rendered prompts in `cache_dir`, one WAV per (engine, voice, rate, amplitude, text)."""

    def __init__(
        self,
        config: VoiceConfig,
        cache_dir: Path,
        *,
        runner: Runner = run_command,
        timeout_s: float = RENDER_TIMEOUT_S,
    ) -> None:
        self.config = config
        self.cache_dir = cache_dir
        self.runner = runner
        self.timeout_s = timeout_s
        self._ready: dict[str, Path] = {}  # text as asked -> its WAV; filled by render(), read by ready()

    def path_for(self, text: str) -> Path:
        c = self.config
        key = json.dumps([c.engine, c.voice, c.rate_wpm, c.amplitude, clean_text(text)], ensure_ascii=False)
        return self.cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()}.wav"

    def ready(self, text: str) -> Path | None:
        """The WAV of `text` if it is rendered already; never renders, never touches the disk."""
        return self._ready.get(text)

    def render(self, text: str) -> Path:
        """The WAV of `text`, rendering it if it is not in the cache (blocking)."""
        path = self.path_for(text)
        if not self._usable(path):
            try:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                self._render_atomically(clean_text(text), path)
            except OSError as exc:
                hint = "check feedback.voice.cache_dir and the disk"
                raise VoiceError(
                    f"{self.cache_dir}: cannot write voice prompts ({exc.strerror or exc}); {hint}"
                ) from exc
        self._ready[text] = path
        return path

    def render_all(self, texts: Iterable[str], stop: threading.Event | None = None) -> int:
        """Render every text (until `stop` is set); a failure is logged and skipped. Returns how many failed."""
        failed = 0
        for text in texts:
            if stop is not None and stop.is_set():
                break
            try:
                self.render(text)
            except VoiceError as exc:
                failed += 1
                # The first failure says why; the rest (usually the same cause) only count.
                log.log(logging.WARNING if failed == 1 else logging.DEBUG, "voice prompt not rendered: %s", exc)
        if failed:
            log.warning("%d voice prompts not rendered: tones play for those decisions", failed)
        return failed

    def _usable(self, path: Path) -> bool:
        try:
            return wav_seconds(path) > 0
        except VoiceError:
            return False

    def _render_atomically(self, text: str, path: Path) -> None:
        # Render to a temporary name and rename: a crash or a killed engine never leaves a half prompt in the cache.
        fd, name = tempfile.mkstemp(dir=self.cache_dir, prefix=".render-", suffix=".wav")
        os.close(fd)
        tmp = Path(name)
        try:
            self.runner(self._argv(text, tmp), self.timeout_s)
            if wav_seconds(tmp) <= 0:
                raise VoiceError(f"{self.config.engine} rendered no audio for {text!r}")
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)

    def _argv(self, text: str, out: Path) -> list[str]:
        c = self.config
        if c.engine == "espeak-ng":
            # "--" ends the options: a text such as "-w /etc/x" is spoken, never taken as an option.
            return [
                "espeak-ng",
                "-v",
                c.voice,
                "-s",
                str(c.rate_wpm),
                "-a",
                str(c.amplitude),
                "-w",
                str(out),
                "--",
                text,
            ]
        if importlib.util.find_spec("pyttsx3") is None:
            raise VoiceError(
                'feedback.voice.engine = "pyttsx3" but pyttsx3 is not installed: `.venv/bin/pip install pyttsx3`, '
                'or use engine = "espeak-ng"'
            )
        volume = min(c.amplitude / 100, 1.0)  # pyttsx3's volume is 0-1; espeak-ng's amplitude 100 is normal
        return [sys.executable, "-c", _PYTTSX3_SCRIPT, c.voice, str(c.rate_wpm), str(volume), str(out), text]


class VoiceFeedback:
    """Speaks the venue's message for each decision's reason code; tones (the fallback) when it cannot.

    `signal` returns in microseconds: the prompt plays in a background process, a new decision cuts the previous
    prompt short, and a playback past `config.timeout_s` is killed. `fallback(kind)` is called with the decision
    ("ACCEPT", "DENY", "REVIEW") or "fault" when the prompt is not rendered yet or the player does not work.
    """

    def __init__(
        self,
        config: VoiceConfig,
        messages: Messages,
        cache_dir: Path,
        *,
        fallback: Fallback | None = None,
        runner: Runner = run_command,
    ) -> None:
        self.messages = messages
        self.prompts = PromptCache(config, cache_dir, runner=runner)
        self.player = PromptPlayer(config.player, config.timeout_s, fallback=fallback)
        self._stop = threading.Event()
        self._renderer = threading.Thread(
            target=self.prompts.render_all, args=(messages.all_texts(), self._stop), name="voice-render", daemon=True
        )
        self._renderer.start()

    def signal(self, event: Event) -> None:
        self._say(self.messages.text(event.reason), event.decision)

    def fault(self, reason: str) -> None:
        self._say(self.messages.fault(), "fault")

    def close(self) -> None:
        self._stop.set()
        self.player.close()
        self._renderer.join(timeout=2.0)  # at most one render in flight, itself under a timeout

    def render(self, text: str) -> Path:
        """Render `text` now (blocking), for `kiosk feedback-test`'s fixed labels; returns the WAV."""
        return self.prompts.render(text)

    def play_file(self, wav: Path) -> None:
        """Play a WAV made by render() (a technician's label); returns at once; no tone if voice is off."""
        self.player.play(wav, None)

    @staticmethod
    def wav_seconds(path: Path) -> float:
        """Duration of a rendered prompt (the module's wav_seconds, here for `kiosk feedback-test`)."""
        return wav_seconds(path)

    def wait_rendered(self, timeout: float) -> bool:
        """Wait for the start-up rendering to finish; True if it has."""
        self._renderer.join(timeout)
        return not self._renderer.is_alive()

    def _say(self, text: str, kind: str) -> None:
        wav = self.prompts.ready(text)
        if wav is None:
            self.player.tone(kind)  # not rendered yet (or could not be): a tone now beats a word later
        else:
            self.player.play(wav, kind)
