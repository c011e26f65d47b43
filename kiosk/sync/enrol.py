"""`kiosk enroll` and `kiosk sync --once`: the technician's two sync commands, as library functions."""

from __future__ import annotations

import logging
import socket
from typing import Any

from kiosk.config import KioskConfig
from kiosk.errors import KioskError
from kiosk.store import EventStore
from kiosk.sync.client import enroll
from kiosk.sync.configsync import apply_config
from kiosk.sync.identity import Enrolment, make_key, save_enrolment, write_atomic
from kiosk.sync.worker import SyncWorker

log = logging.getLogger(__name__)


def enrol_device(config: KioskConfig, server: str, code: str, ca_bundle: str | None) -> Enrolment:
    """Make (or reuse) the device key, register it, keep what the centre answers."""
    state = config.state_dir
    key = make_key(state)
    answer = enroll(server, code, key, socket.gethostname(), ca_bundle)
    try:
        secret = bytes.fromhex(str(answer["subject_key_secret"]))
    except (KeyError, ValueError):
        raise KioskError("the server's enrolment answer has no usable subject-key secret") from None
    if _recorded(config):
        log.warning("events recorded before enrolment carry subject keys of the local secret: not matchable centrally")
    write_atomic(config.secret_path, secret.hex().encode() + b"\n", mode=0o600)
    apply_config(state, answer.get("config") or {})
    enrolment = Enrolment(server.rstrip("/"), str(answer["device_id"]), str(answer["venue"]), ca_bundle)
    save_enrolment(state, enrolment)
    return enrolment


def run_once(worker: SyncWorker, store: EventStore) -> dict[str, Any]:
    """Push the whole backlog (or until the first failure), pull the config, send a heartbeat."""
    outcome = "sent"
    while outcome in ("sent", "quarantined"):  # a quarantined batch is set aside: go on with the rest
        outcome = worker.upload_once(store)
    config_ok = worker.pull_config()
    worker.send_heartbeat(store)
    status = store.status(0)
    stats = worker.stats
    return {
        "uploaded": stats.held,
        "batches": stats.batches,
        "quarantined": stats.quarantined,
        "remaining": status.unsent,
        "config": ("updated" if stats.config_updates else "unchanged") if config_ok else "failed",
        "error": stats.last_error,
    }


def describe_sync(report: dict[str, Any]) -> list[str]:
    """`sync_once`'s report as sentences for a technician; the error line only when there was one."""
    batches = f"{report['batches']} batch" + ("" if report["batches"] == 1 else "es")
    lines = [f"Uploaded {report['uploaded']} events in {batches}; {report['remaining']} still waiting."]
    if report["quarantined"]:
        lines.append(f"{report['quarantined']} batches refused by the server and set aside (see kiosk doctor).")
    lines.append(_CONFIG_SENTENCES[report["config"]])
    if report["error"]:
        lines.append(f"Last error: {report['error']}")
    return lines


_CONFIG_SENTENCES = {
    "updated": "Lists and policy updated.",
    "unchanged": "Lists and policy unchanged.",
    "failed": "Lists and policy not updated: the last good copy stays in use.",
}


def _recorded(config: KioskConfig) -> int:
    if not config.database_path.exists():
        return 0
    store = EventStore(config.database_path, read_only=True)
    try:
        return store.status(0).events
    finally:
        store.close()


def once_heartbeat(store: EventStore) -> dict[str, Any]:
    """The heartbeat of `kiosk sync --once`: no loop is running, so the backlog only."""
    status = store.status(0)
    return {"backlog": status.unsent, "quarantined": status.quarantined, "source": "kiosk sync --once"}
