"""The OSDP reader's settings (what the kiosk's config maps onto) and its published counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kiosk.hardware.osdpcard import CardFormat, OsdpError, check_format
from kiosk.hardware.osdpline import LineStats
from kiosk.hardware.osdpverdict import WINDOW_S

BAUDS = (9600, 19200, 38400, 57600, 115200, 230400)


@dataclass(frozen=True)
class OsdpSettings:
    """What the reader needs; the kiosk's config maps onto it. `scbk` is a secret: not in repr."""

    port: str
    baud: int = 9600
    address: int = 0
    scbk: bytes | None = field(default=None, repr=False)
    install_mode: bool = False  # no key yet: secure channel with SCBK-D until the panel sends KEYSET
    plain: bool = False  # no secure channel at all: benches and the lab only
    key_file: Path | None = None  # where a KEYSET from the panel is kept (0600); without it KEYSET is refused
    card_format: CardFormat = "subject-bits"
    bits: int = 64
    facility: int = 0
    outputs: int = 1  # outputs the panel may drive (output 0 is the gate relay)
    verdict_window_s: float = WINDOW_S

    def __post_init__(self) -> None:
        if not 0 <= self.address <= 126:
            raise OsdpError(f"osdp address is 0-126 (127 is broadcast), not {self.address}")
        if self.baud not in BAUDS:
            raise OsdpError(f"osdp baud is one of {', '.join(map(str, BAUDS))}, not {self.baud}")
        self._check_keys()
        if not 0 <= self.outputs <= 8:
            raise OsdpError(f"osdp outputs is 0-8, not {self.outputs}")
        if not 0.5 <= self.verdict_window_s <= 30:
            raise OsdpError(f"osdp verdict window is 0.5-30 s, not {self.verdict_window_s}")
        check_format(self.card_format, self.bits)
        if not 0 <= self.facility <= 255 or (self.bits != 26 and self.facility):
            raise OsdpError(f"osdp facility is 0-255 and only for 26-bit cards, not {self.facility} with {self.bits}")

    def _check_keys(self) -> None:
        if self.scbk is not None and len(self.scbk) != 16:
            raise OsdpError(f"osdp scbk is 16 bytes (32 hex digits), not {len(self.scbk)} bytes")
        if self.scbk is None and not (self.install_mode or self.plain):
            raise OsdpError("osdp needs a secure-channel key (scbk) or install mode to receive one from the panel")
        if self.scbk is not None and (self.install_mode or self.plain):
            raise OsdpError("osdp scbk is set: install_mode and plain must be off")
        if self.install_mode and self.plain:
            raise OsdpError("osdp install_mode sets up a secure channel: plain must be off")
        if self.install_mode and self.key_file is None:
            raise OsdpError("osdp install_mode needs key_file, to keep the key the panel sends (KEYSET)")

    @property
    def secure(self) -> bool:
        return not self.plain


@dataclass(frozen=True, slots=True)
class OsdpStats:
    reported: int  # card reads handed to libosdp
    dropped: int  # card reads not sent: the panel was offline or not secure, or libosdp's queue was full
    commands: int  # commands from the panel obeyed
    refused: int  # commands answered with a NAK by the kiosk
    callback_errors: int  # a kiosk callback raised (logged by type, the panel got its answer)
    online: bool
    secure: bool
    line: LineStats
