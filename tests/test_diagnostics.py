"""Remote diagnostics, the kiosk's half: the doctor's report (without the checks that would disturb a running
gate) and the last log lines, answered once per request through the sync channel."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from test_loop import config_for

from kiosk.logs import RECENT, LogRing
from kiosk.ops.diagnose import SKIPPED, diagnose
from kiosk.sync.client import Retryable
from kiosk.sync.diagnostics import Diagnostics


class Centre:
    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []
        self.down = False

    def diagnostics(self, answer: dict[str, Any]) -> None:
        if self.down:
            raise Retryable("connection refused")
        self.answers.append(answer)


def test_the_answer_is_the_doctor_and_the_last_lines_without_disturbing_the_gate(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    logging.getLogger("kiosk.test").addHandler(RECENT)
    try:
        for n in range(5):
            logging.getLogger("kiosk.test").warning("line %d", n)
    finally:
        logging.getLogger("kiosk.test").removeHandler(RECENT)
    answer = diagnose(config, {"id": "req-1", "log_lines": 3})
    assert answer["id"] == "req-1" and answer["logs"][-1].endswith("kiosk.test: line 4") and len(answer["logs"]) == 3
    names = {check["name"] for check in answer["doctor"]["checks"]}
    assert "database" in names and not names & set(SKIPPED)
    assert diagnose(config, {"id": "req-2", "log_lines": "all"})["logs"] == []  # a bad count: no lines, no error


def test_a_request_is_answered_once_and_again_when_the_centre_did_not_take_it(tmp_path: Path) -> None:
    runs: list[dict[str, Any]] = []

    def run(request: dict[str, Any]) -> dict[str, Any]:
        runs.append(request)
        return {"id": request["id"], "doctor": {"ok": True, "checks": []}, "logs": []}

    centre = Centre()
    asked = Diagnostics(tmp_path, centre, run)  # type: ignore[arg-type]
    centre.down = True
    asked.remember({"diagnostics": {"id": "req-7", "log_lines": 50}})
    with pytest.raises(Retryable):
        asked.answer()
    centre.down = False
    assert asked.answer() and [a["id"] for a in centre.answers] == ["req-7"]
    assert len(runs) == 1  # the doctor ran once; its answer was posted again
    again = Diagnostics(tmp_path, centre, run)  # type: ignore[arg-type]  # after a restart
    again.remember({"diagnostics": {"id": "req-7", "log_lines": 50}})
    assert not again.answer() and len(centre.answers) == 1


def test_the_ring_keeps_the_last_lines_only() -> None:
    ring = LogRing(capacity=3)
    logger = logging.getLogger("kiosk.ring")
    logger.addHandler(ring)
    try:
        for n in range(5):
            logger.error("multi\nline %d", n)
    finally:
        logger.removeHandler(ring)
    assert [line.split(": ", 1)[1] for line in ring.last(10)] == ["multi | line 2", "multi | line 3", "multi | line 4"]
    assert ring.last(0) == []


def test_a_technician_asks_a_real_centre_and_the_kiosk_answers_at_its_next_pull(tmp_path: Path) -> None:
    from central_fixtures import SECRET
    from test_sync_cli import enrolled_state, sync_once

    from central.diagnostics.store import ask, keep_answer, latest, pending
    from central.timeutil import utcnow
    from kiosk.demo.central import LocalCentral
    from kiosk.sync.identity import load_enrolment

    (tmp_path / "central").mkdir()
    with LocalCentral(tmp_path / "central", SECRET) as central:
        central.venue_with_code(("67", "Tỉnh Đắk Nông"), ("BV-DN", "Bệnh viện Đắk Nông"), "hospital")
        state = enrolled_state(central, tmp_path)
        enrolment = load_enrolment(state)
        assert enrolment is not None
        device = enrolment.device_id
        with central.engine.begin() as conn:
            asked = ask(conn, device, 20, actor="technician", now=utcnow(), reason="gate 3 reads nothing")
        assert sync_once(state)[0] == 0
        with central.engine.begin() as conn:
            found = latest(conn, device)
            assert found is not None and found["id"] == asked and found["answer"] is not None
            checks = {check["name"]: check["status"] for check in found["answer"]["doctor"]["checks"]}
            assert checks["database"] == "ok" and "camera" not in checks
            assert pending(conn, device, utcnow()) is None  # answered: no longer in the config document
            forged = {"id": asked, "doctor": {}, "logs": ["from someone else"]}
            assert not keep_answer(conn, "another-device", forged, utcnow())
        assert sync_once(state)[0] == 0  # nothing asked: nothing answered again
