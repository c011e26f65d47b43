"""Reading a list the centre distributes (the trust list, the status list) from the kiosk's last good copy."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from kiosk.errors import KioskError
from kiosk.isotime import parse_iso

T = TypeVar("T")


def load_list(path: Path, what: str, error: type[KioskError], parse: Callable[[Any], T]) -> T:
    """The `what` in `path`, parsed by `parse`; `error` (parse's own) says which file and what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: cannot read the {what}: {exc}") from None
    try:
        return parse(data)
    except error as exc:
        raise error(f"{path}: {exc}") from None


def list_time(value: object, where: str, error: type[KioskError]) -> datetime | None:
    """A list's time field (`where` names it), None if absent; `error` if it is not ISO 8601."""
    if value is None:
        return None
    try:
        return parse_iso(str(value))
    except ValueError:
        raise error(f"'{where}' is not an ISO 8601 time") from None
