"""`kiosk sync --once` as a technician reads it (issue 12 item 9: it printed `error None`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from central_fixtures import SECRET
from click.testing import CliRunner
from test_doctor import fill_database

from central.admin import make_enroll_code
from central.timeutil import utcnow
from kiosk.cli import cli
from kiosk.config import KioskConfig
from kiosk.demo.central import LocalCentral
from kiosk.sync.enrol import enrol_device


@pytest.fixture
def central(tmp_path: Path) -> Iterator[LocalCentral]:
    (tmp_path / "central").mkdir()
    with LocalCentral(tmp_path / "central", SECRET) as server:
        server.venue_with_code(("67", "Tỉnh Đắk Nông"), ("BV-DN", "Bệnh viện Đắk Nông"), "hospital")
        yield server


def enrolled_state(central: LocalCentral, tmp_path: Path) -> Path:
    state = tmp_path / "state"
    with central.engine.begin() as conn:
        code = make_enroll_code(conn, "BV-DN", utcnow())
    enrol_device(KioskConfig.model_validate({"state_dir": str(state)}), central.url, code, None)
    return state


def sync_once(state: Path, *args: str) -> tuple[int, str]:
    done = CliRunner().invoke(cli, ["sync", "--once", "--state-dir", str(state), *args], env={"KIOSK_CONFIG": ""})
    return done.exit_code, done.stdout  # what the command says; log lines go to stderr


def test_a_good_sync_reads_as_sentences_and_says_no_error(tmp_path: Path, central: LocalCentral) -> None:
    state = enrolled_state(central, tmp_path)
    fill_database(state / "events.db", 3)
    code, output = sync_once(state)
    assert code == 0, output
    assert output.splitlines()[0] == "Uploaded 3 events in 1 batch; 0 still waiting."
    assert "None" not in output and "error" not in output.lower()


def test_a_failed_sync_says_the_error_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "central").mkdir()
    with LocalCentral(tmp_path / "central", SECRET) as central:
        central.venue_with_code(("67", "Tỉnh Đắk Nông"), ("BV-DN", "Bệnh viện Đắk Nông"), "hospital")
        state = enrolled_state(central, tmp_path)
    fill_database(state / "events.db", 2)  # the centre has stopped: nothing can go
    code, output = sync_once(state)
    assert code == 1
    assert "Uploaded 0 events in 0 batches; 2 still waiting." in output
    assert "the last good copy stays in use" in output
    assert "Last error: " in output and "None" not in output


def test_json_keeps_a_null_error(tmp_path: Path, central: LocalCentral) -> None:
    state = enrolled_state(central, tmp_path)
    code, output = sync_once(state, "--json")
    assert code == 0 and '"error": null' in output
