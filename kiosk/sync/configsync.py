"""Applying the configuration the centre sends: each list written atomically into the state directory.

The kiosk keeps working from these files when the server is unreachable (the last good copy stays), and reads
them at start, so a restart offline still has the lists of the last successful pull.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from kiosk.credentials.trust import TrustListError, TrustStore
from kiosk.statuslist import StatusList, StatusListError
from kiosk.sync.identity import write_atomic

log = logging.getLogger(__name__)
ETAG_FILE = "config.etag"
POLICY_FILE = "policy.json"
FILES = {"trust_list": "trust-list.json", "status_list": "status-list.json", "policy": POLICY_FILE}


def load_etag(state_dir: Path) -> str | None:
    try:
        return (state_dir / ETAG_FILE).read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def apply_config(state_dir: Path, document: dict[str, Any], etag: str) -> bool:
    """Write the lists of `document` that are usable; True if anything was written. A list that would not
    load is refused whole (the previous copy stays) and logged: a broken push must not empty the kiosk's lists."""
    written = False
    for key, name in FILES.items():
        value = document.get(key)
        if value is None or not _usable(key, value):
            continue
        write_atomic(state_dir / name, json.dumps(value, ensure_ascii=False, sort_keys=True).encode())
        written = True
    if etag:
        write_atomic(state_dir / ETAG_FILE, etag.encode("ascii", "replace"))
    return written


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
