"""Applying the configuration the centre sends: each list written atomically into the state directory.

The kiosk keeps working from these files when the server is unreachable (the last good copy stays), and reads
them at start, so a restart offline still has the lists of the last successful pull.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from kiosk.credentials.trust import TrustListError, TrustStore
from kiosk.policy.statuslist import StatusList, StatusListError
from kiosk.sync.identity import write_atomic

log = logging.getLogger(__name__)
ETAG_FILE = "config.etag"
POLICY_FILE = "policy.json"
FILES = {"trust_list": "trust-list.json", "status_list": "status-list.json", "policy": POLICY_FILE}
CONFIRM_EVERY = timedelta(hours=1)  # the ages that matter are in hours: no SD-card write on every poll


def load_etag(state_dir: Path) -> str | None:
    try:
        return (state_dir / ETAG_FILE).read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def save_etag(state_dir: Path, etag: str) -> None:
    if etag:
        write_atomic(state_dir / ETAG_FILE, etag.encode("ascii", "replace"))


def apply_config(state_dir: Path, document: dict[str, Any]) -> bool:
    """Write the lists of `document` that are usable; True if anything was written. A list that would not
    load is refused whole (the previous copy stays) and logged: a broken push must not empty the kiosk's lists."""
    written = False
    for key, name in FILES.items():
        value = document.get(key)
        if value is None or not _usable(key, value):
            continue
        write_atomic(state_dir / name, json.dumps(value, ensure_ascii=False, sort_keys=True).encode())
        written = True
    return written


def status_version(state_dir: Path) -> int:
    """The version of the status list this kiosk holds (0: none yet)."""
    try:
        version = json.loads((state_dir / FILES["status_list"]).read_text(encoding="utf-8")).get("version", 0)
    except (OSError, ValueError, AttributeError):
        return 0
    return version if isinstance(version, int) else 0


def merge_status(state_dir: Path, changes: dict[str, Any]) -> bool:
    """Lay the centre's status changes over the kiosk's copy (or replace it when the answer is whole)."""
    path = state_dir / FILES["status_list"]
    current: dict[str, Any] = {}
    if not changes.get("full"):
        try:
            current = {e["subject_key"]: e for e in json.loads(path.read_text(encoding="utf-8"))["entries"]}
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("%s: unreadable; asking for the whole status list next time", path)
            return False
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
    if not _usable("status_list", merged):
        return False
    write_atomic(path, json.dumps(merged, ensure_ascii=False, sort_keys=True).encode())
    return True


def confirm_lists(state_dir: Path, at: datetime) -> bool:
    """The centre said at `at` (its clock) that the kiosk's lists are current: move their `issued_at` up to it,
    so a list's age is the time since the centre last confirmed it. True if a file was rewritten."""
    confirmed = False
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
        confirmed = True
    return confirmed


def _usable(key: str, value: Any) -> bool:
    try:
        if key == "trust_list":
            TrustStore.from_json(value)
        elif key == "status_list":
            StatusList.from_json(value)
        elif not isinstance(value, dict):
            raise ValueError("policy must be an object")
    except (TrustListError, StatusListError, ValueError) as exc:
        log.error("the server sent an unusable %s (%s); keeping the previous one", key, exc)
        return False
    return True


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
