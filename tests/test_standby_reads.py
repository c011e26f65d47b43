"""The dashboard and tracing read on a hot standby (issue 18): the page says how old its data is.

A primary and a streaming hot standby (pg_basebackup -R, tests/pgclusters.py) on loopback; the centre writes to the
primary and reads its dashboard and traces with libpq's multi-host URL and `target_session_attrs=prefer-standby`,
as a province runs it beside pg_auto_failover (docs/scale.md). The standby's replay is paused to make it fall
behind, and it is stopped to show that the pages fall back to the primary. Skipped only when the PostgreSQL 15
server binaries are not installed.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from central_fixtures import CentralServer, DeviceClient, FakeClock, enrolled_device, make_event, make_events
from pgclusters import PASSWORD, ClusterSet, missing_binaries, wait_for
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool
from web_helpers import Staff, add_account

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(90),
    pytest.mark.skipif(missing_binaries() is not None, reason=str(missing_binaries())),
]


@dataclass
class Province:
    clusters: ClusterSet
    server: CentralServer
    device: DeviceClient
    staff: Staff

    def on_standby(self, sql: str) -> object:
        engine = create_engine(self.clusters["standby"].url("kiosk"), poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql)).scalar()
        finally:
            engine.dispose()

    def upload(self, count: int) -> None:
        answer = self.device.upload(make_events(count))
        assert answer.status_code == 200, answer.text

    def scans_today(self, lang: str = "vi") -> tuple[str, str]:
        """The dashboard's scans of today, and its line on how old the data is."""
        page = self.staff.get(f"/dashboard?lang={lang}")
        assert page.status_code == 200, page.text[:500]
        scans = re.search(r'data-figure="scans_today">([^<]*)<', page.text)
        age = re.search(r'<p class="([^"]*data-age[^"]*)" id="data-age">([^<]*)</p>', page.text)
        assert scans and age, "the dashboard shows no scans of today or no data age"
        return scans.group(1), f"{age.group(1)}: {age.group(2).strip()}"


@pytest.fixture(scope="module")
def province() -> Iterator[Province]:
    with ClusterSet("primary") as clusters:
        primary = clusters["primary"]
        engine = create_engine(primary.url(), poolclass=NullPool, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE DATABASE kiosk"))
        engine.dispose()
        standby = clusters.add_standby("standby", of="primary")
        hosts = f"127.0.0.1:{primary.port},127.0.0.1:{standby.port}"
        reads = f"postgresql://postgres:{PASSWORD}@{hosts}/kiosk?target_session_attrs=prefer-standby"
        with CentralServer(primary.url("kiosk"), clock=FakeClock(), read_url=reads) as server:
            add_account(server, "admin", "administrator")
            staff = Staff(server)
            assert staff.login("admin").status_code == 303
            with enrolled_device(server) as device:
                yield Province(clusters, server, device, staff)


def test_the_dashboard_reads_on_the_standby_and_says_it_is_up_to_date(province: Province) -> None:
    province.upload(3)
    wait_for("the standby to show 3 scans", lambda: province.scans_today()[0] == "3")
    assert province.scans_today() == ("3", "note data-age: Số liệu từ máy chủ dự phòng, đã cập nhật đầy đủ")
    assert province.scans_today("en")[1] == "note data-age: Data from the standby server, up to date"
    assert province.on_standby("SELECT pg_is_in_recovery()") is True


def test_a_standby_behind_shows_its_older_figures_and_how_late_they_are(province: Province) -> None:
    before = int(province.scans_today()[0])
    province.on_standby("SELECT pg_wal_replay_pause()")
    try:
        province.upload(2)  # on the primary; the standby receives it and does not replay it
        with province.server.engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM events")).scalar()
        assert stored == before + 2
        received = "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()"
        wait_for("the standby to receive the upload", lambda: province.on_standby(received))
        clock: FakeClock = province.server.clock  # type: ignore[assignment]
        clock.now = datetime.now(UTC) + timedelta(seconds=5)
        scans, age = province.scans_today()
        assert scans == str(before), "the standby's figures, not the primary's"
        assert re.fullmatch(r"note data-age: Số liệu từ máy chủ dự phòng, tính đến .+ \(chậm \d+ giây\)", age), age
        clock.now = datetime.now(UTC) + timedelta(seconds=180)
        scans, age = province.scans_today("en")
        assert scans == str(before)
        assert re.fullmatch(r"data-age late: Data from the standby server, as of .+ \(behind by 3 minutes\)", age), age
    finally:
        province.on_standby("SELECT pg_wal_replay_resume()")
        clock.now = datetime.now(UTC)
    wait_for("the standby to catch up", lambda: province.scans_today()[0] == str(before + 2))
    assert province.scans_today()[1].endswith("đã cập nhật đầy đủ")


def test_with_the_standby_down_the_pages_read_on_the_primary_and_say_so(province: Province) -> None:
    before = int(province.scans_today()[0])
    province.clusters["standby"].stop()
    try:
        province.upload(1)
        assert province.scans_today() == (str(before + 1), "note data-age: Số liệu trực tiếp từ máy chủ chính")
        assert province.scans_today("en")[1] == "note data-age: Live data from the primary server"
    finally:
        province.clusters["standby"].start()
    wait_for("the standby to be read again", lambda: "dự phòng" in province.scans_today()[1])


def test_a_trace_reads_on_the_standby_and_its_record_is_written_on_the_primary(province: Province) -> None:
    from central.schema import audit_log

    person, contact = uuid.uuid4().hex, uuid.uuid4().hex
    start = time.time() - 3600
    passages = [(person, "in", 0), (contact, "in", 600), (person, "out", 1800), (contact, "out", 2400)]
    events = [
        make_event(seq=100 + n, mono_time=500.0 + n, subject_key=key, direction=way, wall_time=start + offset)
        for n, (key, way, offset) in enumerate(passages)
    ]
    assert province.device.upload(events).status_code == 200
    held = f"SELECT count(*) FROM events WHERE subject_key = '{contact}'"  # a hex key made here
    wait_for("the standby to hold the passages", lambda: province.on_standby(held) == 2)
    add_account(province.server, "tracer", "tracer", unit="HN")
    tracer = Staff(province.server)
    tracer.login("tracer")
    answer = tracer.form_post("/trace", "/trace", {"subject_key": person, "reason": "F0 case 2026-077"})
    assert answer.status_code == 200, answer.text[:500]
    assert contact in answer.text
    assert 'id="data-age">Số liệu từ máy chủ dự phòng' in answer.text
    with province.server.engine.connect() as conn:  # the primary
        recorded = conn.execute(select(audit_log.c.subject, audit_log.c.reason).where(audit_log.c.action == "trace"))
        assert [tuple(row) for row in recorded] == [(person, "F0 case 2026-077")]
