"""Where an update stands, in one small file of the state directory that both halves read and write.

The kiosk (unprivileged) writes "installing" when it has put a verified bundle in the spool, and "ok" when the
new release has proved healthy; the installer (root, `kiosk update install` from a systemd path unit) writes
"probation" once it has switched to the new release, "rolled-back" when it had to go back, and "failed" when the
install itself failed. The heartbeat reports it. Versions that were rolled back, failed or refused are remembered,
so that a kiosk does not try the same broken release again and again.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

STATE_FILE = "update-state.json"
SPOOL = "updates"  # <state_dir>/updates/<version>/{bundle, release.json}; "ready" names the version to install
READY = "ready"
States = ("ok", "installing", "probation", "rolled-back", "failed", "refused")


@dataclass(frozen=True)
class UpdateState:
    state: str = "ok"
    target: str | None = None  # the version being installed, on probation, or refused
    error: str | None = None
    deadline: float | None = None  # wall time by which a release on probation must have proved healthy
    since: float | None = None  # wall time the state was entered
    bad: tuple[str, ...] = field(default_factory=tuple)  # versions never to install again

    def heartbeat(self, running: str) -> dict[str, Any]:
        return {"running": running, "state": self.state, "target": self.target, "error": self.error}

    def moved(self, state: str, *, at: float, **changes: Any) -> UpdateState:
        return replace(self, state=state, since=at, **changes)

    def marked_bad(self, version: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.bad, version)))[-20:]


def load_state(state_dir: Path) -> UpdateState:
    """The state on disk; the default ("ok", nothing pending) when there is none or it does not read."""
    try:
        data = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("state") not in States:
            return UpdateState()
        return UpdateState(
            str(data["state"]),
            _text(data.get("target")),
            _text(data.get("error")),
            _number(data.get("deadline")),
            _number(data.get("since")),
            tuple(str(v)[:40] for v in data.get("bad", []) if isinstance(v, str))[-20:],
        )
    except (OSError, ValueError):
        return UpdateState()


def save_state(state_dir: Path, state: UpdateState) -> None:
    """Written through a temporary file and a rename: a power cut leaves the old state or the new one."""
    path = state_dir / STATE_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    data = json.dumps(asdict(state) | {"bad": list(state.bad)}).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)


def _text(value: object) -> str | None:
    return None if value is None else str(value)[:300]


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
