"""The OSDP secure-channel base key (SCBK) on disk: a secret, so mode 0600, written atomically, never logged.

The file holds the 16-byte key as 32 hex digits and a newline. It is written by the technician (a key the panel's
software shows for this reader) or by the reader itself when the panel sends a KEYSET command (install mode: the
panel sets up the secure channel with the well-known default key SCBK-D, then gives the reader its own key).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from kiosk.hardware.osdpcard import OsdpError

SCBK_BYTES = 16


def load_scbk(path: Path) -> bytes:
    """The key in `path`; OsdpError (naming the file, never the key) if it is missing, readable by others or bad."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise OsdpError(f"osdp key file {path}: cannot read it ({type(exc).__name__})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise OsdpError(f"osdp key file {path}: readable by others (mode {mode & 0o777:o}); chmod 600 it")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise OsdpError(f"osdp key file {path}: not {SCBK_BYTES * 2} hex digits") from None
    if len(key) != SCBK_BYTES:
        raise OsdpError(f"osdp key file {path}: a key is {SCBK_BYTES * 2} hex digits, not {len(text)}")
    return key


def save_scbk(path: Path, key: bytes) -> None:
    """Writes `key` to `path` (mode 0600) through a temporary file and a rename: a power cut leaves the old key or
    the new one, never half of one."""
    if len(key) != SCBK_BYTES:
        raise OsdpError(f"an OSDP SCBK is {SCBK_BYTES} bytes, not {len(key)}")
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key.hex().encode("ascii") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
