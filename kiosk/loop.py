"""The frame loop: frame -> codes -> new passages -> credential -> decision -> committed event -> feedback.

Codes from scanner modules join the same path after the decoders: debounce (their own: a scanner reads once,
not in every frame), credential, decision, commit, feedback.

It is handed every seam and builds nothing itself. The order inside `_handle` is the kiosk's central promise:
the event is committed to the store before feedback is called, so an opened gate always has a record; if the
commit fails, the gate stays shut and the fault is signalled instead.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum, auto
from typing import Literal, Protocol

from kiosk.camera.base import Frame
from kiosk.clock import Clock
from kiosk.commands import Command
from kiosk.credentials import Credential, Kind, SubjectKeyer
from kiosk.credentials.verifier import Verifier
from kiosk.decode import Code
from kiosk.decode.chain import ChainResult
from kiosk.decode.debounce import Debouncer, payload_digest
from kiosk.decode.reader import FrameReader
from kiosk.errors import KioskError, SourceError, StoreError
from kiosk.events import Event, Visit
from kiosk.hardware.feedback import Feedback
from kiosk.ids import uuid7
from kiosk.logs import Throttle
from kiosk.metrics import LoopMetrics
from kiosk.policy.snapshot import Snapshot
from kiosk.published import Published
from kiosk.scanner.framing import Scan

log = logging.getLogger(__name__)

_MAX_FAILING = 50  # consecutive failing frames after which the loop gives up (and systemd restarts it)


class _Failed(Enum):
    NOT_RECORDED = auto()  # the code was for a passage, but it could not be recorded


_NOT_RECORDED = _Failed.NOT_RECORDED

# An access panel's answer to a card the kiosk reported (docs/osdp.md), as the event that records it.
PANEL_VERDICTS = {
    "panel-granted": ("ACCEPT", "panel-granted"),
    "panel-denied": ("DENY", "panel-denied"),
    "panel-no-card": ("DENY", "no-badge"),  # the person has no badge number the panel could know them by
}


class FrameFeed(Protocol):
    def next(self, timeout: float) -> Frame | None: ...

    @property
    def exhausted(self) -> bool: ...

    @property
    def live(self) -> bool: ...


class EventSink(Protocol):
    def record(self, event: Event, visit: Visit | None = None) -> Event: ...


@dataclass(frozen=True)
class Gate:
    """Where the passages happen: stamped on every event."""

    device_id: str
    venue: str
    direction: str


class ScanLoop:
    """Runs frames through the pipeline until stopped (or a replay ends)."""

    def __init__(
        self,
        *,
        frames: FrameFeed,
        reader: FrameReader,
        debouncer: Debouncer,
        keyer: SubjectKeyer,
        lists: Published[Snapshot],
        store: EventSink,
        feedback: Feedback,
        clock: Clock,
        gate: Gate,
        metrics: LoopMetrics | None = None,
        stall_s: float = 5.0,
        commands: queue.SimpleQueue[Command] | None = None,
        review_timeout_s: float = 30.0,
        on_frame: Callable[[Frame, ChainResult], None] | None = None,
        after_commit: Callable[[], None] = lambda: None,
        on_tick: Callable[[], None] = lambda: None,
        scans: queue.SimpleQueue[Scan] | None = None,
        scan_debouncer: Debouncer | None = None,
        panel: bool = False,
    ) -> None:
        self.frames = frames
        self.reader = reader
        self.debouncer = debouncer
        self.keyer = keyer
        self.lists = lists  # the lists in force, taken afresh for each decision (sync publishes new ones)
        self.store = store
        self.feedback = feedback
        self.clock = clock
        self.gate = gate
        self.metrics = metrics or LoopMetrics()
        self.stall_s = stall_s
        self._throttle = Throttle(log)
        self.after_commit = after_commit  # e.g. wake the uploader
        self.on_frame = on_frame  # e.g. the screen and the status page; must not block
        self.on_tick = on_tick  # after every frame processed: feeds systemd's watchdog
        self.commands: queue.SimpleQueue[Command] = commands or queue.SimpleQueue()  # buttons, from gpiozero
        self.review_timeout_s = review_timeout_s
        self.scans: queue.SimpleQueue[Scan] = scans or queue.SimpleQueue()  # from the scanner threads
        self.scan_debouncer = scan_debouncer or Debouncer(debouncer.cooldown_s)
        self._review: _Review | None = None  # the last REVIEW, for the guard's button and page
        # With an access panel deciding (OSDP), what the kiosk accepts is reported to the panel as a card read,
        # recorded first as REVIEW "panel-decides"; the panel's answer comes back as a command and is recorded too.
        self.panel = panel
        self._panel: _Review | None = None  # the read the panel has not answered yet

    def run(self, stop: threading.Event, *, until_end: bool = False) -> None:
        """Process frames until `stop` is set, or (with `until_end`) the replay is exhausted.

        Raises SourceError when a camera's capture thread has died, StoreError (damaged) when SQLite says the
        database file is damaged, and KioskError when every frame fails: the process then exits and systemd
        restarts it (at start a damaged file is set aside and salvaged), rather than a gate that looks alive but
        reads nothing or records nothing.
        """
        watch = _Watch(self.stall_s)
        while not stop.is_set():
            self.take_commands()
            self.take_scans()
            frame = self.frames.next(timeout=0.2)
            if frame is None:
                if self.frames.exhausted:
                    if self.frames.live:
                        raise SourceError("camera capture stopped; exiting so that the service is restarted")
                    if until_end:
                        return
                if watch.stalled():
                    log.error("no frame from the camera for %.0f s", self.stall_s)
                    self.feedback.fault("camera")
                continue
            watch.frame()
            self._guarded(frame, watch)

    def _guarded(self, frame: Frame, watch: _Watch) -> None:
        """`process`, where one bad frame does not stop the gate (unless every frame fails, or the file is damaged)."""
        try:
            self.process(frame)
        except Exception as exc:  # the traceback holds no QR text
            if _fatal(exc):
                raise
            self.metrics.handler_errors += 1
            self._throttle.error("frame", "frame %d failed", frame.index, exc_info=True)
            if watch.failed():
                self.feedback.fault("loop")
                raise KioskError(f"{_MAX_FAILING} frames in a row failed; exiting to be restarted") from None
        else:
            watch.succeeded()
            self.on_tick()

    def process(self, frame: Frame) -> list[Event]:
        """One frame through the pipeline; returns the events committed for it."""
        started = time.perf_counter()
        result = self.reader.read(frame.image, frame.captured)
        self.metrics.frame((time.perf_counter() - started) * 1000, len(result.codes))
        if self.on_frame is not None:
            self.on_frame(frame, result)
        if not result.codes and not self.debouncer.tracking:
            return []
        by_digest = {payload_digest(code.digest_source): code for code in result.codes}
        events = []
        for digest in self.debouncer.feed(self.clock.monotonic(), by_digest):
            try:
                event = self._handle(by_digest[digest], frame.captured)
            except Exception as exc:  # one person's code must not cost the others in the same frame their passage
                if _fatal(exc):
                    raise
                self.metrics.handler_errors += 1
                self._throttle.error("handle", "handling a code failed", exc_info=True)
                event = _NOT_RECORDED
            if event is _NOT_RECORDED:
                self.debouncer.retract(digest)  # try again on the next frame it is seen in
            elif event is not None:
                events.append(event)
        return events

    def take_scans(self) -> list[Event]:
        """Act on the codes the scanners read since the last frame; returns the events committed for them."""
        events: list[Event] = []
        while True:
            try:
                scan = self.scans.get_nowait()
            except queue.Empty:
                return events
            try:
                event = self._scanned(scan)
            except Exception as exc:  # as for a frame: one scan must not stop the gate
                if _fatal(exc):
                    raise
                self.metrics.handler_errors += 1
                self._throttle.error("scan", "handling a scanned code failed", exc_info=True)
                continue
            if event is not None and event is not _NOT_RECORDED:
                events.append(event)

    def _scanned(self, scan: Scan) -> Event | Literal[_Failed.NOT_RECORDED] | None:
        """One scanner's code through debounce and `_handle`; a refused one (cut short, too long, not UTF-8) is
        recorded and signalled as a refusal, with no credential read from it."""
        if scan.text is None:
            reason = scan.problem or "scan-garbled"
            event = self._event(Kind.UNKNOWN.value, None, "DENY", reason, scan.source)
            latency_ms = (self.clock.monotonic() - scan.at) * 1000
            stored = self._commit(replace(event, latency_ms=round(latency_ms, 3)))
            if stored is not _NOT_RECORDED:
                self.metrics.decision(stored.decision, latency_ms)
            return stored
        code = Code(scan.text.encode("utf-8"), scan.text, scan.source)
        digest = payload_digest(code.digest_source)
        if not self.scan_debouncer.feed(self.clock.monotonic(), [digest]):
            return None  # the same code again within the cooldown: a scanner in presentation mode re-reads it
        handled = self._handle(code, scan.at)
        if handled is _NOT_RECORDED:
            self.scan_debouncer.retract(digest)
        return handled

    def _handle(self, code: Code, captured: float) -> Event | Literal[_Failed.NOT_RECORDED] | None:
        """The committed event for `code`, seen (or its last keystroke received) at monotonic `captured`; None
        for a part of a multi-part code; _NOT_RECORDED on failure."""
        lists = self.lists.current  # one snapshot for the whole decision, whatever sync publishes meanwhile
        now = lists.verifier.now()
        credential = self._read(code, lists.verifier, now)
        if credential.problem == "partial":
            return None  # one QR of a card split over several: the card is decided when all are in
        subject_key = self.keyer.key_of(credential)
        decision = lists.policy.decide(credential, subject_key, now)
        outcome, reason = str(decision.outcome), decision.reason
        if self.panel and outcome == "ACCEPT" and subject_key is not None:
            outcome, reason = "REVIEW", "panel-decides"  # the kiosk vouches for the code, the panel decides
        latency_ms = (self.clock.monotonic() - captured) * 1000
        event = self._event(credential.kind.value, subject_key, outcome, reason, code.decoder)
        stored = self._commit(replace(event, latency_ms=round(latency_ms, 3)))
        if stored is not _NOT_RECORDED:
            self.metrics.decision(stored.decision, (self.clock.monotonic() - captured) * 1000)
            if stored.reason == "panel-decides":
                self._panel = _Review(stored, self.clock.monotonic(), None)
            elif stored.decision == "REVIEW":
                self._review = _Review(stored, self.clock.monotonic(), _tail(credential))
                visitor = stored.reason == "visitor"  # the guard's page shows who waits (one reference swapped)
                self.metrics.visitor = (self._review.at, self._review.id_tail) if visitor else None
        return stored

    def _commit(self, event: Event, visit: Visit | None = None) -> Event | Literal[_Failed.NOT_RECORDED]:
        """Record `event` (and the visit it opens), then (only then) signal it: an opened gate always has a record."""
        try:
            stored = self.store.record(event) if visit is None else self.store.record(event, visit)
        except StoreError as exc:
            self.metrics.store_failed(str(exc))  # the heartbeat and the status page say so
            self._throttle.error("store", "decision not recorded, gate kept shut: %s", exc)
            if exc.damaged:  # waiting mends a full disk or a lock, never a damaged file: exit, to be salvaged
                log.error("the event database is damaged; exiting so that it is set aside at the next start")
                self.feedback.fault("store-damaged")
                raise
            self.feedback.fault("store")
            return _NOT_RECORDED
        self.metrics.store_recording()  # recording again (space came back): the heartbeat says so by itself
        self.feedback.signal(stored)
        self.after_commit()
        return stored

    def take_commands(self) -> list[Event]:
        """Act on the button presses queued since the last frame; returns the events they committed."""
        events: list[Event] = []
        while True:
            try:
                command = self.commands.get_nowait()
            except queue.Empty:
                return events
            made = self._command(command)
            if made is not None:
                stored = self._commit(*made)
                if stored is not _NOT_RECORDED:
                    events.append(stored)

    def _command(self, command: Command) -> tuple[Event, Visit | None] | None:
        if command.name == "exit":  # someone leaving pressed the exit button: an opening, so a record
            event = self._event("button", None, "ACCEPT", "exit-button", "button")
            return replace(event, direction="out"), None
        if command.name in PANEL_VERDICTS or command.name == "panel-opened":
            return self._panel_answer(command)
        review, self._review = self._review, None
        self.metrics.visitor = None
        if review is None or command.at - review.at > self.review_timeout_s:
            log.info("guard acted with no decision waiting for the guard")
            return None
        held = review.event  # the guard saw the person and accepts: a new event, the REVIEW stays recorded too
        if command.name != "visit":
            return self._event(held.kind, held.subject_key, "ACCEPT", "guard-accepted", "button"), None
        if held.reason != "visitor" or held.subject_key is None:
            self._review = review  # still waiting: the guard may let them in another way
            log.info("a visit was registered for a person who was not sent to the visitor desk")
            return None
        event = self._event(held.kind, held.subject_key, "ACCEPT", "visit-opened", "guard")
        visit = Visit(
            str(uuid7(int(event.wall_time * 1000))),
            event.event_id,
            held.subject_key,
            command.host,
            command.purpose,
            review.id_tail,
            event.wall_time,
        )
        return event, visit

    def _panel_answer(self, command: Command) -> tuple[Event, Visit | None] | None:
        """The panel's answer to the card last reported, as an event; an output command with no read waiting is
        the panel opening the door by itself (its own button, a remote open): recorded before the relay moves."""
        pending, self._panel = self._panel, None
        fresh = pending is not None and command.at - pending.at <= self.review_timeout_s
        if command.name == "panel-opened" and not fresh:
            return self._event("panel", None, "ACCEPT", "panel-opened", "panel"), None
        if pending is None or not fresh:
            log.info("the access panel answered with no read waiting for its answer")
            return None
        outcome, reason = PANEL_VERDICTS.get(command.name, ("ACCEPT", "panel-granted"))
        held = pending.event
        return self._event(held.kind, held.subject_key, outcome, reason, "panel"), None

    def _read(self, code: Code, verifier: Verifier, now: datetime) -> Credential:
        if code.binary:
            return Credential(Kind.UNKNOWN)
        try:
            return verifier.read(code.text, now)
        except Exception as exc:  # a parser bug must not crash the gate; log the type only, never the text
            self.metrics.handler_errors += 1
            log.error("credential parser failed with %s", type(exc).__name__)
            return Credential(Kind.UNKNOWN, problem="parser-error")

    def _event(self, kind: str, subject_key: str | None, outcome: str, reason: str, decoder: str) -> Event:
        wall = self.clock.wall()
        mono = self.clock.monotonic()
        return Event(
            event_id=str(uuid7(int(wall * 1000))),
            boot_id=self.clock.boot_id,
            seq=0,
            wall_time=wall,
            mono_time=mono,
            clock_synced=self.clock.synchronised(),
            device_id=self.gate.device_id,
            venue=self.gate.venue,
            direction=self.gate.direction,
            kind=kind,
            subject_key=subject_key,
            decision=outcome,
            reason=reason,
            decoder=decoder,
            latency_ms=0.0,
        )


@dataclass(frozen=True, slots=True)
class _Review:
    """A decision waiting for the guard: the REVIEW event, when (monotonic), and the last four digits of the ID
    number shown, kept in memory only until the guard acts, for a visit's roll call."""

    event: Event
    at: float
    id_tail: str | None


def _tail(credential: Credential) -> str | None:
    number = credential.identity.number if credential.identity is not None else ""
    return number[-4:] if len(number) >= 8 and number[-4:].isdigit() else None


def _fatal(exc: Exception) -> bool:
    """An error that must end the run instead of costing one frame or one passage."""
    return isinstance(exc, StoreError) and exc.damaged


class _Watch:
    """Notices a camera that stopped delivering frames, and a loop that fails on every frame."""

    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s
        self._last_frame = time.monotonic()
        self._reported = False
        self._failing = 0

    def frame(self) -> None:
        self._last_frame = time.monotonic()
        self._reported = False

    def stalled(self) -> bool:
        """True once per stall, when no frame has come for `stall_s` (0: no camera, never)."""
        if self.stall_s <= 0 or self._reported or time.monotonic() - self._last_frame < self.stall_s:
            return False
        self._reported = True
        return True

    def failed(self) -> bool:
        """Count a failed frame; True when too many failed in a row."""
        self._failing += 1
        return self._failing >= _MAX_FAILING

    def succeeded(self) -> None:
        self._failing = 0
