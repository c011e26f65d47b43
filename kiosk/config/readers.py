"""The code readers beside the camera: 2-D scanner modules, as a keyboard (evdev) or on a serial port."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from kiosk.config.section import Section

_TERMINATORS = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n", "tab": b"\t", "none": b""}


class ScannerConfig(Section):
    kind: Literal["hid", "serial"] = Field(description="hid: a keyboard-wedge scanner (evdev); serial: a serial port.")
    device: str = Field(
        min_length=1,
        max_length=256,
        description="hid: /dev/input/by-id/...-event-kbd or name:<part of its name>; serial: /dev/ttyACM0, ...",
    )
    layout: Literal["us", "de", "fr"] = Field("us", description="hid: the keyboard layout the scanner types in.")
    suffix: Literal["enter", "tab", "none"] = Field("enter", description="hid: the key sent after each code.")
    baud: int = Field(9600, ge=1200, le=921600, description="serial: the line's speed.")
    terminator: Literal["cr", "lf", "crlf", "tab", "none"] = Field(
        "cr", description="serial: what ends each code (none: a pause of gap_ms)."
    )
    gap_ms: float = Field(
        300, ge=20, le=5000, description="A code that pauses this long before its end is refused as incomplete."
    )
    max_bytes: int = Field(8192, ge=64, le=65536, description="A longer code is refused (a QR code holds < 7100).")
    reopen_s: float = Field(2.0, ge=0.1, le=60, description="Wait before opening an unplugged scanner again.")

    @model_validator(mode="after")
    def _device_fits_kind(self) -> ScannerConfig:
        if self.kind == "serial" and self.device.startswith("name:"):
            raise ValueError("name: finds keyboard (hid) scanners only; give a serial scanner its port")
        return self

    @property
    def source(self) -> str:
        """The decoder name stamped on the events this scanner reads."""
        return f"scanner-{self.kind}"

    @property
    def end_bytes(self) -> bytes:
        """What ends a code in the byte stream (a keyboard scanner's suffix key becomes a carriage return)."""
        if self.kind == "hid":
            return b"" if self.suffix == "none" else b"\r"
        return _TERMINATORS[self.terminator]
