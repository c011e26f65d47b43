"""The dashboard's daily rollup: filled by ingest exactly once, per local day, and rebuilt to the same numbers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from central_fixtures import CentralServer, DeviceClient, FakeClock, enrolled_device, make_event
from sqlalchemy import select

from central.rollup import rebuild
from central.schema import venue_days

# 16:30 UTC on the 25th is 23:30 in Hanoi; 17:30 UTC is 00:30 on the 26th there.
NOW = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


@pytest.fixture
def server(db_url: str) -> Iterator[CentralServer]:
    with CentralServer(db_url, clock=FakeClock(NOW)) as central:
        yield central


@pytest.fixture
def device(server: CentralServer) -> Iterator[DeviceClient]:
    with enrolled_device(server) as client:
        yield client


def days(server: CentralServer) -> dict[date, tuple[int, int, bool]]:
    with server.engine.connect() as conn:
        rows = conn.execute(select(venue_days).order_by(venue_days.c.day))
        return {row.day: (row.scans, row.accepted, row.heard) for row in rows}


def test_scans_are_counted_once_into_the_local_day(server: CentralServer, device: DeviceClient):
    before_midnight = (NOW - timedelta(minutes=90)).timestamp()
    after_midnight = (NOW - timedelta(minutes=30)).timestamp()
    batch = [
        make_event(seq=1, wall_time=before_midnight),
        make_event(seq=2, wall_time=before_midnight, decision="DENY", reason="status-red"),
        make_event(seq=3, wall_time=after_midnight),
    ]
    clock = {"wall": NOW.timestamp(), "mono": 10_000.0, "boot_id": "boot-1", "synced": True}
    assert device.upload(batch, clock=clock).status_code == 200
    assert device.upload(batch, clock=clock).status_code == 200  # re-sent: held already, not counted again
    assert days(server) == {date(2026, 11, 25): (2, 1, False), date(2026, 11, 26): (1, 1, True)}
    with server.engine.begin() as conn:
        assert rebuild(conn) == 3
    assert days(server) == {date(2026, 11, 25): (2, 1, False), date(2026, 11, 26): (1, 1, True)}


def test_a_heartbeat_marks_the_venue_heard_that_day(server: CentralServer, device: DeviceClient):
    body = {"backlog": 0, "fps": 15.0, "clock_synced": True, "version": "0.1.0", "uptime_s": 5}
    assert device.heartbeat(body).status_code == 204
    assert days(server) == {date(2026, 11, 26): (0, 0, True)}
