"""Remote diagnostics (docs/updates.md, "Remote diagnostics"): what a technician at the centre asked this kiosk
for, answered through the sync channel, since kiosks sit behind NAT and the centre cannot call them.

The answer is the doctor's report, minus the checks that would disturb the running gate (the camera and the
scanners are held by the loop; audio would sound at the gate; the server check is the sync thread's own job),
and the last log lines from memory (kiosk.logs.RECENT). Neither holds personal data: the doctor reports counts,
paths and versions, and the logs never carry QR text, names or ID numbers.
"""

from __future__ import annotations

from typing import Any

from kiosk import __version__
from kiosk.config import KioskConfig
from kiosk.logs import RECENT
from kiosk.ops.doctor import CHECKS, DoctorContext, run_doctor

MAX_LINES = 500
SKIPPED = ("camera", "scanners", "audio", "server")


def diagnose(config: KioskConfig, request: dict[str, Any]) -> dict[str, Any]:
    """The answer to one request {"id", "log_lines"}."""
    lines = request.get("log_lines", 100)
    count = min(MAX_LINES, lines) if isinstance(lines, int) and not isinstance(lines, bool) and lines > 0 else 0
    checks = [check for check in CHECKS if check.name not in SKIPPED]
    report = run_doctor(DoctorContext(config, offline=True), checks)
    return {
        "id": str(request.get("id", ""))[:64],
        "version": __version__,
        "doctor": report.as_json() | {"skipped": list(SKIPPED)},
        "logs": [line[:500] for line in RECENT.last(count)],
    }
