"""Applying the configuration the centre sends: each list written atomically into the state directory.

The kiosk keeps working from these files when the server is unreachable (the last good copy stays), and reads
them at start, so a restart offline still has the lists of the last successful pull.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from kiosk.credentials.trust import TrustListError, TrustStore
from kiosk.policy.access import AccessList, AccessListError
from kiosk.policy.statuslist import StatusList, StatusListError
from kiosk.sync.identity import write_atomic

log = logging.getLogger(__name__)
ETAG_FILE = "config.etag"
ACCESS_ETAG_FILE = "access-list.etag"
ACCESS_FILE = "access-list.json"
POLICY_FILE = "policy.json"
PEERS_FILE = "peers.json"
FILES = {
    "trust_list": "trust-list.json",
    "status_list": "status-list.json",
    "policy": POLICY_FILE,
    "peers": PEERS_FILE,  # the venue's other gates and their device keys (docs/venue-state.md)
}
CONFIRM_EVERY = timedelta(hours=1)  # the ages that matter are in hours: no SD-card write on every poll


def load_etag(state_dir: Path, name: str = ETAG_FILE) -> str | None:
    try:
        return (state_dir / name).read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def save_etag(state_dir: Path, etag: str, name: str = ETAG_FILE) -> None:
    if etag:
        write_atomic(state_dir / name, etag.encode("ascii", "replace"))


def apply_access(state_dir: Path, document: dict[str, Any], etag: str) -> AccessList | None:
    """Write the venue's access list if it loads whole, and return it; None (logged, the last good copy kept, the
    ETag not saved so that it is asked for again) if it does not."""
    try:
        access = AccessList.from_json(document)
    except AccessListError as exc:
        log.error("the server sent an unusable access list (%s); keeping the previous one", exc)
        return None
    write_atomic(state_dir / ACCESS_FILE, json.dumps(document, ensure_ascii=False).encode())
    save_etag(state_dir, etag, ACCESS_ETAG_FILE)  # after the list: a crash between them only costs a pull
    return access


@dataclass(frozen=True)
class Pulled:
    """The lists of one answer of the centre that were usable, parsed (and written, as the last good copy)."""

    trust: TrustStore | None = None
    status: StatusList | None = None
    policy: dict[str, Any] | None = None  # the venue policy's settings, to lay over the config file's
    peers: bool = False  # the venue's other gates changed (read from their file by whoever talks to them)

    def __bool__(self) -> bool:
        return self.trust is not None or self.status is not None or self.policy is not None or self.peers


def apply_config(state_dir: Path, document: dict[str, Any]) -> Pulled:
    """Write the lists of `document` that are usable, and return them parsed. A list that would not load is
    refused whole (the previous copy stays) and logged: a broken push must not empty the kiosk's lists."""
    parsed: dict[str, Any] = {}
    for key, name in FILES.items():
        value = document.get(key)
        if value is None:
            continue
        usable = _parsed(key, value)
        if usable is None:
            continue
        write_atomic(state_dir / name, json.dumps(value, ensure_ascii=False, sort_keys=True).encode())
        parsed[key] = usable
    return Pulled(parsed.get("trust_list"), parsed.get("status_list"), parsed.get("policy"), "peers" in parsed)


def status_version(state_dir: Path) -> int:
    """The version of the status list this kiosk holds (0: none yet)."""
    try:
        version = json.loads((state_dir / FILES["status_list"]).read_text(encoding="utf-8")).get("version", 0)
    except (OSError, ValueError, AttributeError):
        return 0
    return version if isinstance(version, int) else 0


def merge_status(state_dir: Path, changes: dict[str, Any]) -> StatusList | None:
    """Lay the centre's status changes over the kiosk's copy (or replace it when the answer is whole); the
    merged list, or None if nothing usable came (the copy stays as it was)."""
    path = state_dir / FILES["status_list"]
    current: dict[str, Any] = {}
    if not changes.get("full"):
        try:
            current = {e["subject_key"]: e for e in json.loads(path.read_text(encoding="utf-8"))["entries"]}
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("%s: unreadable; asking for the whole status list next time", path)
            return None
    for key in changes.get("cleared", []):
        current.pop(key, None)
    for entry in changes.get("entries", []):
        if isinstance(entry, dict) and "subject_key" in entry:
            current[entry["subject_key"]] = entry
    merged = {
        "version": changes.get("version"),
        "issued_at": changes.get("issued_at"),
        "entries": list(current.values()),
    }
    status = _parsed("status_list", merged)
    if status is None:
        return None
    write_atomic(path, json.dumps(merged, ensure_ascii=False, sort_keys=True).encode())
    return cast(StatusList, status)


def confirm_lists(state_dir: Path, at: datetime) -> list[str]:
    """The centre said at `at` (its clock) that the kiosk's lists are current: move their `issued_at` up to it,
    so a list's age is the time since the centre last confirmed it. The lists ("trust_list", "status_list")
    whose file was rewritten."""
    confirmed = []
    for key in ("trust_list", "status_list"):
        path = state_dir / FILES[key]
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            issued = datetime.fromisoformat(document["issued_at"]) if document.get("issued_at") else None
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            continue  # none yet, or unreadable: the next full answer brings it
        if issued is not None and (issued.tzinfo is None or at - issued < CONFIRM_EVERY):
            continue
        write_atomic(path, json.dumps({**document, "issued_at": at.isoformat()}, ensure_ascii=False).encode())
        confirmed.append(key)
    return confirmed


def _parsed(key: str, value: Any) -> TrustStore | StatusList | dict[str, Any] | None:
    """`value` as the kiosk uses it, or None (logged) if it is not usable."""
    try:
        if key == "trust_list":
            return TrustStore.from_json(value)
        if key == "status_list":
            return StatusList.from_json(value)
        if key == "peers":
            if not isinstance(value, list):
                raise ValueError("peers must be a list")
            return {"peers": value}
        if not isinstance(value, dict):
            raise ValueError("policy must be an object")
        return value
    except (TrustListError, StatusListError, ValueError) as exc:
        log.error("the server sent an unusable %s (%s); keeping the previous one", key, exc)
        return None


def load_policy_overrides(state_dir: Path) -> dict[str, Any]:
    """The venue policy the centre set (mode, rules), to lay over the config file's."""
    try:
        data = json.loads((state_dir / POLICY_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.error("%s: unreadable (%s); using the config file's policy", state_dir / POLICY_FILE, exc)
        return {}
    return data if isinstance(data, dict) else {}
