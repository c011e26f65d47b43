"""Cutting a scanner's byte stream into codes, and refusing what cannot be a code.

A scanner module sends each code it reads followed by a terminator (a carriage return by default, set in the
scanner's own configuration), as keystrokes or on a serial line. What arrives is not always whole: the person
moves the phone while the engine is still sending, the cable is pulled mid-code, a misconfigured scanner sends
bytes in some code page. Each of these ends as a `Scan` with a `problem` that the loop records and signals as a
refusal, and none of them makes the reader wait for more than `gap_s` or hold more than `max_bytes`.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_BYTES = 8192  # a QR code holds at most 7,089 digits or 2,953 bytes: anything longer is not one code


@dataclass(frozen=True, slots=True)
class Scan:
    """One code from a scanner module: its text, or the problem that kept it from being one.

    `source` says which reader read it ("scanner-hid", "scanner-serial"), and is stamped on the event as the
    decoder; `at` is the monotonic time of its last byte (the last keystroke), from which latency is measured.
    """

    text: str | None
    problem: str | None  # scan-incomplete, scan-too-long, scan-garbled
    source: str
    at: float


class Framer:
    """Bytes in, whole codes out: a code ends at `terminator`, or (with no terminator) at a pause of `gap_s`.

    A code that has started and then pauses for `gap_s` before its terminator is refused as incomplete; a code
    longer than `max_bytes` is refused as too long (its bytes are dropped as they come, up to its end); a code
    that is not UTF-8 is refused as garbled. The text is never logged.
    """

    def __init__(self, source: str, *, terminator: bytes = b"\r", gap_s: float = 0.3, max_bytes: int = MAX_BYTES):
        self.source = source
        self.terminator = terminator
        self.gap_s = gap_s
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._overflow = False
        self._last = 0.0

    @property
    def pending(self) -> bool:
        """A code has started and not yet ended."""
        return bool(self._buffer) or self._overflow

    def deadline(self) -> float | None:
        """When the code in progress counts as ended by a pause (None: none in progress)."""
        return self._last + self.gap_s if self.pending else None

    def feed(self, data: bytes, now: float) -> list[Scan]:
        """The codes that `data` (received at `now`) completes, in order."""
        scans: list[Scan] = []
        expired = self.expire(now)
        if expired is not None:
            scans.append(expired)
        self._last = now
        rest = bytes(data)
        while rest:
            if not self.terminator:
                self._take(rest)
                break
            before, found, rest = rest.partition(self.terminator)
            self._take(before)
            if not found:
                break
            scan = self._end(now, complete=True)
            if scan is not None:
                scans.append(scan)
        return scans

    def expire(self, now: float) -> Scan | None:
        """The code in progress, ended by a pause that has lasted `gap_s` by `now` (None if not)."""
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return None
        return self._end(self._last, complete=not self.terminator)

    def flush(self, now: float) -> Scan | None:
        """The code in progress, ended now because its device went away: incomplete unless none is expected."""
        if not self.pending:
            return None
        return self._end(now, complete=not self.terminator)

    def _take(self, data: bytes) -> None:
        if self._overflow:
            return
        self._buffer += data
        if len(self._buffer) > self.max_bytes:
            self._overflow = True
            self._buffer.clear()

    def _end(self, at: float, *, complete: bool) -> Scan | None:
        raw, overflow = bytes(self._buffer), self._overflow
        self._buffer.clear()
        self._overflow = False
        if overflow:
            return Scan(None, "scan-too-long", self.source, at)
        if not raw.strip(b"\r\n\t "):
            return None  # the second byte of CR LF, a stray Enter: not a code
        if not complete:
            return Scan(None, "scan-incomplete", self.source, at)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return Scan(None, "scan-garbled", self.source, at)
        return Scan(text.strip("\r\n"), None, self.source, at)
