"""The feed's cursor: opaque to consumers, stable for ever. base64url (no padding) of "v1:<txid>:<seq>", the
position of the last event a page gave in the feed's order (central/feed/log.py). The empty cursor is the start.
"""

from __future__ import annotations

import base64
import binascii
import re

from central.errors import CentralError

MAX_CURSOR = 128
_INNER = re.compile(r"v1:(0|[1-9][0-9]{0,18}):(0|[1-9][0-9]{0,18})")
START = (0, 0)
LARGEST = 2**63 - 1


class BadCursor(CentralError):
    status = 400


def encode(txid: int, seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{txid}:{seq}".encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[int, int]:
    """(txid, seq) of a cursor this server gave; BadCursor, saying so, for anything else."""
    if not cursor:
        return START
    if len(cursor) > MAX_CURSOR:
        raise BadCursor(f"after: a cursor is at most {MAX_CURSOR} characters; give one a page returned")
    try:
        inner = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        inner = ""
    match = _INNER.fullmatch(inner)
    if match is None or max(int(match[1]), int(match[2])) > LARGEST:
        raise BadCursor("after: not a cursor of this feed; give the next_cursor of a page, or none to start")
    return int(match[1]), int(match[2])
