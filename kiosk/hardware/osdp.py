"""The kiosk as an OSDP reader (a peripheral device, PD) on an access panel's RS-485 line, secure channel on.

In this mode the panel decides and the kiosk follows: the kiosk reports each credential it accepted as a card read
(`osdpcard.card_for`), and obeys the panel's LED, buzzer and output commands through its callbacks. Whether the
panel granted or denied is inferred from those commands (`osdpverdict`: a temporary green LED or an output switched
on is "granted", a temporary red LED "denied", nothing within 3 s is silence) and reported once per card read to
`on_panel`. OSDP carries no explicit verdict, so this is an inference with limits (see osdpverdict's docstring).

One thread ("osdp") owns libosdp: it submits queued card reads, calls libosdp's refresh every 20 ms or at once
when a card read is queued, and runs every callback. So `report` only queues (microseconds), and callbacks must
return quickly (drive a pin, queue a job). A card read is dropped, and its verdict is None, when the panel is not
talking to the reader over a secure channel (a read delivered minutes later could open a door for no one), and
libosdp's queue is flushed when the reader goes offline, for the same reason.

Commands the reader does not support are refused with a NAK (RECORD, "cannot process"); commands outside its
capabilities (text, readers other than 0, outputs beyond `outputs`) are refused by libosdp itself (CMD_UNKNOWN).
libosdp's own log (stderr) runs at warning level: at debug it prints packets.
"""

from __future__ import annotations

import importlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from kiosk.hardware.osdpcard import CardRead, OsdpError, card_for
from kiosk.hardware.osdphandler import CommandHandler
from kiosk.hardware.osdpline import SerialChannel
from kiosk.hardware.osdpsettings import OsdpSettings, OsdpStats
from kiosk.hardware.osdpverdict import PanelVerdict, Verdicts

__all__ = ["CardRead", "OsdpError", "OsdpReader", "OsdpSettings", "OsdpStats", "PanelVerdict", "card_for"]

log = logging.getLogger(__name__)

REFRESH_S = 0.02  # libosdp asks for a refresh at least every 50 ms
STOP_JOIN_S = 2.0


def _noop(*_: Any) -> None:
    pass


class OsdpReader:
    """One OSDP reader on one serial line. `start` once, `report` from any thread, `stop` (idempotent) at the end."""

    def __init__(
        self,
        settings: OsdpSettings,
        *,
        on_led: Callable[[str, bool], None] = _noop,
        on_buzzer: Callable[[bool], None] = _noop,
        on_output: Callable[[int, bool, float], None] = _noop,
        on_panel: Callable[[PanelVerdict], None] = _noop,
        channel: SerialChannel | None = None,
        log_level: str = "Warning",
    ) -> None:
        self.settings = settings
        self.channel = channel or SerialChannel(settings.port, settings.baud)
        self.verdicts = Verdicts(on_panel, window_s=settings.verdict_window_s)
        self.handler = CommandHandler(
            on_led, on_buzzer, on_output, self.verdicts, key_file=settings.key_file, clock=time.monotonic
        )
        self._log_level = log_level
        self._queue: queue.SimpleQueue[tuple[CardRead, object]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._online = self._secure = False
        self.reported = self.dropped = 0

    @property
    def online(self) -> bool:
        return self._online

    @property
    def secure(self) -> bool:
        """The secure channel is active (False in plain mode)."""
        return self._secure

    @property
    def stats(self) -> OsdpStats:
        handler = self.handler
        return OsdpStats(
            self.reported,
            self.dropped,
            handler.obeyed,
            handler.refused,
            handler.errors,
            self._online,
            self._secure,
            self.channel.stats,
        )

    def card_of(self, subject_key: str | None, badge: str | None) -> CardRead | None:
        """`card_for` with this reader's format, length and facility: None when there is nothing to report."""
        s = self.settings
        return card_for(subject_key, badge, s.card_format, s.bits, facility=s.facility)

    def start(self) -> None:
        """Sets up libosdp and starts the thread; OsdpError if libosdp is missing or refuses the settings."""
        with self._lock:
            if self._thread is not None or self._stopping.is_set():
                raise OsdpError("an OSDP reader starts once")
            ctx = self._make_pd()
            if not self.channel.open():
                log.warning("OSDP: %s is not there yet; the reader keeps trying", self.settings.port)
            self._thread = threading.Thread(target=self._run, args=(ctx,), name="osdp", daemon=True)
            self._thread.start()

    def report(self, card: CardRead, tag: object = None) -> None:
        """Queues a card read for the panel; `tag` comes back in the PanelVerdict. Never blocks (a lock held by
        start and stop only). When the reader is not running the read is dropped and on_panel gets None here."""
        with self._lock:  # a report racing stop() is either drained by the thread or dropped here
            running = self._thread is not None and not self._stopping.is_set()
            if running:
                self._queue.put((card, tag))
        if running:
            self._wake.set()
            return
        self.dropped += 1
        self.verdicts.dropped(tag)

    def stop(self) -> None:
        """Stops the thread (within STOP_JOIN_S), ends a waiting verdict silent, closes the port. Idempotent."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_JOIN_S)
            if thread.is_alive():
                log.warning("OSDP: the reader thread did not stop within %.0f s", STOP_JOIN_S)
        self.channel.close()

    def _make_pd(self) -> Any:
        try:
            osdp: Any = importlib.import_module("osdp")
            sys_: Any = importlib.import_module("osdp_sys")
        except ImportError as exc:
            raise OsdpError(f"the OSDP reader needs libosdp (pip install 'kiosk[readers]'): {exc}") from None
        s = self.settings
        # libosdp refuses EnforceSecure without an SCBK: install mode accepts plain commands until it has a key
        flags = [osdp.LibFlag.EnforceSecure] if s.scbk is not None else []
        if s.install_mode:
            flags.append(osdp.LibFlag.InstallMode)
        caps = [(osdp.Capability.LEDControl, 1, 1), (osdp.Capability.AudibleControl, 1, 1)]
        if s.secure:  # AES-128 secure channel; a panel not in EnforceSecure tries SC only when the PD declares it
            caps.append((osdp.Capability.CommunicationSecurity, 1, 1))
        if s.outputs:
            caps.append((osdp.Capability.OutputControl, 1, s.outputs))
        info = osdp.PDInfo(s.address, self.channel, scbk=s.scbk, name=f"kiosk-{s.address}", flags=flags)
        level = getattr(osdp.LogLevel, self._log_level, None)
        if not isinstance(level, int):
            raise OsdpError(f"libosdp's log level is Error, Warning, Info or Debug, not {self._log_level!r}")
        sys_.set_loglevel(level)
        try:
            ctx = sys_.PeripheralDevice(info.get(), capabilities=osdp.PDCapabilities(caps).get())
        except Exception as exc:
            raise OsdpError(f"libosdp refused the reader's settings ({type(exc).__name__})") from None
        self.handler.bind(osdp)
        ctx.set_command_callback(self.handler)
        return ctx

    def _run(self, ctx: Any) -> None:
        while not self._stopping.is_set():
            try:
                self._step(ctx)
            except Exception as exc:  # a bug here must not end the reader: the panel would see it vanish
                log.error("OSDP: refresh failed (%s)", type(exc).__name__)
                self._stopping.wait(0.5)
            self._wake.wait(REFRESH_S)
            self._wake.clear()
        self.verdicts.close(time.monotonic())
        self._online = self._secure = False
        self._drop_queued()

    def _drop_queued(self) -> None:
        while True:
            try:
                _, tag = self._queue.get_nowait()
            except queue.Empty:
                return
            self.dropped += 1
            self.verdicts.dropped(tag)

    def _step(self, ctx: Any) -> None:
        self._submit(ctx)
        ctx.refresh()
        online = bool(ctx.is_online())
        secure = bool(ctx.is_sc_active())
        if (self._online and not online) or (self.settings.secure and self._secure and not secure):
            flushed = int(ctx.flush_events())
            self.dropped += flushed
            log.warning("OSDP: the panel stopped polling securely; %d card reads not sent", flushed)
        elif online and not self._online:
            log.info("OSDP: online with the panel")
        if secure != self._secure:
            log.info("OSDP: secure channel %s", "active" if secure else "down")
        self._online, self._secure = online, secure
        now = time.monotonic()
        self.handler.tick(now)
        self.verdicts.tick(now)

    def _submit(self, ctx: Any) -> None:
        while True:
            try:
                card, tag = self._queue.get_nowait()
            except queue.Empty:
                return
            ready = self._online and (self._secure or not self.settings.secure)
            if ready and ctx.submit_event(self.handler.card_event(card)):
                self.reported += 1
                self.verdicts.reported(time.monotonic(), tag)
            else:
                self.dropped += 1
                log.warning("OSDP: card read not sent: %s", "libosdp's queue is full" if ready else "panel offline")
                self.verdicts.dropped(tag)
