"""The access list through a real centre (bench/access_bench.py's pull figures): a venue's people imported from
CSV at a centre on SQLite served on loopback, then pulled by the kiosk's own client and written as its last good
copy, as the sync thread does; an unchanged list answered 304."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from central.people import import_groups, import_people
from central.timeutil import utcnow
from kiosk.config import KioskConfig
from kiosk.demo.central import LocalCentral
from kiosk.sync.client import CentralClient
from kiosk.sync.configsync import apply_access
from kiosk.sync.enrol import enrol_device
from kiosk.sync.identity import load_enrolment, load_key

SECRET = bytes(range(32))
GROUPS = 'name,windows,valid_from,valid_until,gates\nstaff,"T2-T6 06:30-18:30",,,\nnight,"T2-T6 22:00-24:00",,,\n'


def pulls(size: int, people: list[str], rounds: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        with LocalCentral(directory, SECRET) as central:
            code = central.venue_with_code(("67", "Đắk Nông"), ("BENCH", "Nhà máy"), "factory")
            rows = "".join(f",{key},,{'staff' if i % 2 else 'staff night'}\n" for i, key in enumerate(people))
            started = time.perf_counter()
            with central.engine.begin() as conn:
                import_groups(conn, "BENCH", GROUPS.encode(), actor="bench", now=utcnow())
                import_people(conn, "BENCH", f"cccd,subject_key,name,groups\n{rows}".encode(), secret=None,
                              actor="bench", now=utcnow())  # fmt: skip
            import_s = time.perf_counter() - started
            config = KioskConfig.model_validate({"state_dir": str(directory / "kiosk")})
            config.state_dir.mkdir()
            enrol_device(config, central.url, code, None)
            enrolment = load_enrolment(config.state_dir)
            assert enrolment is not None
            client = CentralClient(enrolment.server, enrolment.device_id, load_key(config.state_dir))
            client.access_list(None)  # the token, once, out of the timing
            whole, unchanged, sizes = [], [], []
            for _ in range(rounds):
                started = time.perf_counter()
                answer = client.access_list(None)
                assert answer is not None
                access = apply_access(config.state_dir, *answer)
                whole.append((time.perf_counter() - started) * 1000)
                assert access is not None and len(access) == size
                sizes.append((config.state_dir / "access-list.json").stat().st_size)
                started = time.perf_counter()
                assert client.access_list(answer[1]) is None
                unchanged.append((time.perf_counter() - started) * 1000)
            client.session.close()
    return {
        "centre_import_s": round(import_s, 2),
        "pull_200_ms": {"min": round(min(whole), 1), "median": round(sorted(whole)[len(whole) // 2], 1)},
        "pull_304_ms": {"min": round(min(unchanged), 2), "median": round(sorted(unchanged)[len(unchanged) // 2], 2)},
        "kiosk_copy_bytes": sizes[-1],
    }
