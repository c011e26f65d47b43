"""The frame loop: frame -> codes -> new passages -> credential -> decision -> committed event -> feedback.

It is handed every seam and builds nothing itself. The order inside `_handle` is the kiosk's central promise:
the event is committed to the store before feedback is called, so an opened gate always has a record; if the
commit fails, the gate stays shut and the fault is signalled instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, auto
from typing import Literal, Protocol

from kiosk.camera.base import Frame
from kiosk.clock import Clock
from kiosk.credentials import Credential, Kind, SubjectKeyer
from kiosk.credentials.trust import TrustStore
from kiosk.debounce import Debouncer, payload_digest
from kiosk.decode import Box, Code, DecoderChain
from kiosk.decode.chain import ChainResult
from kiosk.errors import KioskError, SourceError, StoreError
from kiosk.events import Event
from kiosk.hardware.feedback import Feedback
from kiosk.ids import uuid7
from kiosk.logs import Throttle
from kiosk.metrics import LoopMetrics
from kiosk.policy import Policy
from kiosk.verifier import Verifier

log = logging.getLogger(__name__)

_RECENT_S = 1.0  # an unread symbol seen this recently is worth second attempts at its place
_MAX_FAILING = 50  # consecutive failing frames after which the loop gives up (and systemd restarts it)


class _Failed(Enum):
    NOT_RECORDED = auto()  # the code was for a passage, but it could not be recorded


_NOT_RECORDED = _Failed.NOT_RECORDED


class FrameFeed(Protocol):
    def next(self, timeout: float) -> Frame | None: ...

    @property
    def exhausted(self) -> bool: ...

    @property
    def live(self) -> bool: ...


class EventSink(Protocol):
    def record(self, event: Event) -> Event: ...


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
        chain: DecoderChain,
        debouncer: Debouncer,
        keyer: SubjectKeyer,
        policy: Policy,
        store: EventSink,
        feedback: Feedback,
        clock: Clock,
        gate: Gate,
        verifier: Verifier | None = None,
        metrics: LoopMetrics | None = None,
        stall_s: float = 5.0,
    ) -> None:
        self.frames = frames
        self.chain = chain
        self.debouncer = debouncer
        self.keyer = keyer
        self.policy = policy
        self.store = store
        self.feedback = feedback
        self.clock = clock
        self.gate = gate
        self.verifier = verifier or Verifier(TrustStore(), clock)
        self.metrics = metrics or LoopMetrics()
        self.stall_s = stall_s
        self._unread: list[Box] = []  # symbols seen but not read lately: second attempts look there
        self._unread_at = float("-inf")
        self._throttle = Throttle(log)
        self.after_commit: Callable[[], None] = lambda: None  # e.g. wake the uploader
        self.on_frame: Callable[[Frame, ChainResult], None] | None = None  # e.g. the screen; must not block

    def run(self, stop: threading.Event, *, until_end: bool = False) -> None:
        """Process frames until `stop` is set, or (with `until_end`) the replay is exhausted.

        Raises SourceError when a camera's capture thread has died, and KioskError when every frame fails:
        the process then exits and systemd restarts it, rather than a gate that looks alive but reads nothing.
        """
        watch = _Watch(self.stall_s)
        while not stop.is_set():
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
            try:
                self.process(frame)
            except Exception:  # one bad frame must not stop the gate; the traceback holds no QR text
                self.metrics.handler_errors += 1
                self._throttle.error("frame", "frame %d failed", frame.index, exc_info=True)
                if watch.failed():
                    self.feedback.fault("loop")
                    raise KioskError(f"{_MAX_FAILING} frames in a row failed; exiting to be restarted") from None
            else:
                watch.succeeded()

    def process(self, frame: Frame) -> list[Event]:
        """One frame through the pipeline; returns the events committed for it."""
        started = time.perf_counter()
        near = self._unread if frame.captured - self._unread_at < _RECENT_S else []
        result = self.chain.decode(frame.image, near=near)
        self.metrics.frame((time.perf_counter() - started) * 1000, len(result.codes))
        if result.unread:
            self._unread, self._unread_at = result.unread, frame.captured
        if self.on_frame is not None:
            self.on_frame(frame, result)
        if not result.codes and not self.debouncer.tracking:
            return []
        by_digest = {payload_digest(code.digest_source): code for code in result.codes}
        events = []
        for digest in self.debouncer.feed(self.clock.monotonic(), by_digest):
            try:
                event = self._handle(by_digest[digest], frame)
            except Exception:  # one person's code must not cost the others in the same frame their passage
                self.metrics.handler_errors += 1
                self._throttle.error("handle", "handling a code failed", exc_info=True)
                event = _NOT_RECORDED
            if event is _NOT_RECORDED:
                self.debouncer.retract(digest)  # try again on the next frame it is seen in
            elif event is not None:
                events.append(event)
        return events

    def _handle(self, code: Code, frame: Frame) -> Event | Literal[_Failed.NOT_RECORDED] | None:
        """The committed event for `code`; None for a part of a multi-part code; _NOT_RECORDED on failure."""
        now = self.verifier.now()
        credential = self._read(code, now)
        if credential.problem == "partial":
            return None  # one QR of a card split over several: the card is decided when all are in
        subject_key = credential.subject_key or (self.keyer.key(credential.identity) if credential.identity else None)
        decision = self.policy.decide(credential, subject_key, now)
        event = self._event(credential, subject_key, decision.outcome, decision.reason, code.decoder, frame)
        try:
            stored = self.store.record(event)
        except StoreError as exc:
            self.metrics.store_errors += 1
            self._throttle.error("store", "decision not recorded, gate kept shut: %s", exc)
            self.feedback.fault("store")
            return _NOT_RECORDED
        self.feedback.signal(stored)
        self.after_commit()
        self.metrics.decision(stored.decision, (self.clock.monotonic() - frame.captured) * 1000)
        return stored

    def _read(self, code: Code, now: datetime) -> Credential:
        if code.binary:
            return Credential(Kind.UNKNOWN)
        try:
            return self.verifier.read(code.text, now)
        except Exception as exc:  # a parser bug must not crash the gate; log the type only, never the text
            self.metrics.handler_errors += 1
            log.error("credential parser failed with %s", type(exc).__name__)
            return Credential(Kind.UNKNOWN, problem="parser-error")

    def _event(
        self,
        credential: Credential,
        subject_key: str | None,
        outcome: str,
        reason: str,
        decoder: str,
        frame: Frame,
    ) -> Event:
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
            kind=credential.kind.value,
            subject_key=subject_key,
            decision=outcome,
            reason=reason,
            decoder=decoder,
            latency_ms=round((mono - frame.captured) * 1000, 3),
        )


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
        """True once per stall, when no frame has come for `stall_s`."""
        if self._reported or time.monotonic() - self._last_frame < self.stall_s:
            return False
        self._reported = True
        return True

    def failed(self) -> bool:
        """Count a failed frame; True when too many failed in a row."""
        self._failing += 1
        return self._failing >= _MAX_FAILING

    def succeeded(self) -> None:
        self._failing = 0
