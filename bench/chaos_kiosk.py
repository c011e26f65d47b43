"""`kiosk` as bench/chaos.py runs it: the real CLI, with three things added so that a SIGKILL can be aimed.

- Each event the loop asks the store to record is reported (`scan`), and so is each one the store reports
  committed (`ok <event id>`): the moment after which the gate may open. Lines go to the pipe whose file
  descriptor is in $KIOSK_CHAOS_FD, one `write` each, so a kill never leaves half a line.
- With $KIOSK_CHAOS_POINT=commit, the $KIOSK_CHAOS_AT-th recording stops inside its transaction: the boot's
  sequence number is taken, the row not yet inserted, nothing committed. It says `at commit` and waits for the
  kill.
- With $KIOSK_CHAOS_POINT=config, the $KIOSK_CHAOS_AT-th write of a list the centre sent stops after the data is
  written to the temporary file and before it is synced and renamed over the old copy. It says `at config` and
  waits for the kill. The frame loop goes on meanwhile: only the sync thread stops.

Everything else is the real `kiosk`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.cli import main
from kiosk.events import Event
from kiosk.store.events import EventStore

FD = int(os.environ["KIOSK_CHAOS_FD"])
POINT = os.environ.get("KIOSK_CHAOS_POINT", "")
AT = int(os.environ.get("KIOSK_CHAOS_AT", "0"))
LISTS = ("status-list.json.tmp", "trust-list.json.tmp", "policy.json.tmp")
_recording = threading.local()
_seen = {"commit": 0, "config": 0}
_never = threading.Event()


def say(line: str) -> None:
    os.write(FD, f"{line}\n".encode())


def stop_here(point: str) -> None:
    """Count an occurrence of `point`; at the one asked for, say so and wait for the SIGKILL."""
    if point != POINT:
        return
    _seen[point] += 1
    if _seen[point] == AT:
        say(f"at {point}")
        _never.wait()


def reporting(record: Callable[[EventStore, Event], Event]) -> Callable[[EventStore, Event], Event]:
    def wrapper(self: EventStore, event: Event) -> Event:
        say("scan")
        _recording.active = True
        try:
            stored = record(self, event)
        finally:
            _recording.active = False
        say(f"ok {stored.event_id}")
        return stored

    return wrapper


def pausing_row(as_row: Callable[[Event], dict[str, Any]]) -> Callable[[Event], dict[str, Any]]:
    def wrapper(self: Event) -> dict[str, Any]:
        if getattr(_recording, "active", False):  # inside EventStore.record's transaction, not the uploader's
            stop_here("commit")
        return as_row(self)

    return wrapper


def pausing_fsync(fsync: Callable[[int], None]) -> Callable[[int], None]:
    def wrapper(fd: int) -> None:
        try:
            name = str(Path(f"/proc/self/fd/{fd}").readlink())
        except OSError:
            name = ""
        if name.endswith(LISTS):
            stop_here("config")
        fsync(fd)

    return wrapper


EventStore.record = reporting(EventStore.record)  # type: ignore[method-assign]
Event.as_row = pausing_row(Event.as_row)  # type: ignore[method-assign]
os.fsync = pausing_fsync(os.fsync)

if __name__ == "__main__":
    main()
