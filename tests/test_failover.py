"""The centre survives its primary's death (issue 18): two kiosks keep uploading while a pg_auto_failover
formation on loopback loses its primary; the monitor promotes the standby, the uploads drain, and the new
primary holds every event exactly once.

Two deaths, on one formation: the primary's postmaster alone (SIGKILL; its keeper lives and brings the node back,
after the monitor has promoted the standby or before), then the primary's whole machine, as far as one host can
say it (SIGKILL to its keeper, pg_autoctl, and its postmaster: the standby must be promoted).

The centre (a real uvicorn on loopback) connects with the multi-host URL and `target_session_attrs=read-write`;
what a kiosk may see meanwhile is a 503 with Retry-After (central/api.py), never a 500, and never a batch
answered as held that the new primary does not hold. Skipped only where pg_autoctl cannot run (tests/pg_ha.py).
The URL's translation and the 503 for a database nobody answers for are checked without a formation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from central_fixtures import SECRET, CentralServer, enrolled_device
from pg_ha import Formation, Uploader, available, free_port, held_once

from central.api import create_app
from central.db import resolve_url

needs_pg_autoctl = pytest.mark.skipif(available() is not None, reason=f"no pg_auto_failover: {available()}")

BEFORE = 5  # batches each kiosk has stored before the kill
AFTER = 5  # and after it, before the uploads stop
LIMIT_S = 40.0  # for a failover, for the first upload after it


@pytest.fixture(scope="module")
def formation() -> Iterator[Formation]:
    with Formation(start_timeout_s=40) as made:
        yield made


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        time.sleep(0.05)


@needs_pg_autoctl
@pytest.mark.parametrize("death", ["postmaster", "machine"])
def test_uploads_survive_the_primary_dying(formation: Formation, death: str) -> None:
    """`postmaster`: SIGKILL to the primary's postmaster; with the monitor's quick settings it fails over before
    the keeper has restarted it, or the keeper wins and the node stays primary: either way, no event is lost.
    `machine`: the keeper dies too, and the standby must be promoted."""
    old, standby = formation.settle(LIMIT_S)
    with CentralServer(resolve_url(formation.url)) as server:
        kiosks = [Uploader(enrolled_device(server, name=f"gate-{death}-{n}"), boot=f"{death}-{n}") for n in (1, 2)]
        try:
            for kiosk in kiosks:
                kiosk.start()
            wait_for(lambda: all(len(k.held_at) >= BEFORE for k in kiosks), 20, "uploads before the kill")
            killed_at = time.monotonic()
            if death == "machine":
                formation.kill(old)
                formation.wait_states({standby.port: ("wait_primary", "primary")}, LIMIT_S)
            else:
                formation.kill_postmaster(old)
            recovered = lambda: all(k.first_held_after(killed_at) is not None for k in kiosks)  # noqa: E731
            wait_for(recovered, LIMIT_S, "an upload after the kill")
            held = [len(k.held_at) + AFTER for k in kiosks]
            wait_for(lambda: all(len(k.held_at) >= h for k, h in zip(kiosks, held, strict=True)), 20, "the drain")
        finally:
            for kiosk in kiosks:
                kiosk.finish()
                kiosk.device.close()
        if death == "machine":
            assert formation.primary() is standby
        lost, duplicated = held_once(server.engine, set().union(*(k.sent for k in kiosks)))
    statuses = [dict(k.statuses) for k in kiosks]
    assert [k.bad for k in kiosks] == [[], []], statuses
    assert (lost, duplicated) == (0, 0), statuses
    # the kiosks did see the primary go, and were told to retry
    assert any(set(s) - {"200"} for s in statuses), statuses


@needs_pg_autoctl
def test_with_the_monitor_down_the_province_goes_on(formation: Formation) -> None:
    """The monitor is not on the data path: killed (its machine gone), the primary and its standby go on, the
    kiosks' uploads are held; run again, it takes up the formation where it was (no failover meanwhile)."""
    formation.revive()  # the node whose machine the test before killed
    primary, standby = formation.settle(LIMIT_S)
    assert formation.monitor is not None
    with CentralServer(resolve_url(formation.url)) as server:
        kiosk = Uploader(enrolled_device(server, name="gate-monitor"), boot="monitor")
        try:
            kiosk.start()
            wait_for(lambda: len(kiosk.held_at) >= BEFORE, 20, "uploads before the monitor's death")
            formation.kill(formation.monitor)
            killed_at, held = time.monotonic(), len(kiosk.held_at)
            wait_for(lambda: len(kiosk.held_at) >= held + AFTER, 20, "uploads with the monitor down")
            formation.restart(formation.monitor)
            assert formation.settle(LIMIT_S) == (primary, standby)
        finally:
            kiosk.finish()
            kiosk.device.close()
        lost, duplicated = held_once(server.engine, kiosk.sent)
    assert kiosk.first_held_after(killed_at) is not None
    assert (lost, duplicated) == (0, 0) and kiosk.bad == [], dict(kiosk.statuses)
    assert set(kiosk.statuses) == {"200"}, "nothing for the kiosk to see: no failover, no 503"


@needs_pg_autoctl
def test_the_centre_the_standby_and_the_monitor_speak_tls(formation: Formation) -> None:
    """The formation runs with pg_autoctl --ssl-self-signed and the centre's URL asks for sslmode=require: the
    centre's connection, the standby's replication stream and the keepers' connections to the monitor are
    encrypted (docs/scale.md: a province uses its CA's certificates and verify-full)."""
    from sqlalchemy import create_engine, text

    formation.settle(LIMIT_S)
    engine = create_engine(resolve_url(formation.url))
    try:
        with engine.connect() as conn:
            own = conn.execute(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).scalar()
            streams = (
                conn.execute(text("SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s ON s.pid = r.pid"))
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    assert own is True
    assert streams == [True], "the standby streams from the primary over TLS"
    keepers = formation.sql_on_monitor("SELECT bool_and(s.ssl), count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a "
                                       "USING (pid) WHERE a.usename = 'autoctl_node'")  # fmt: skip
    assert keepers.split("|")[0] == "t", keepers


def test_a_libpq_multi_host_url_is_read_as_sqlalchemy_reads_it() -> None:
    given = "postgres://kiosk@db-a:5432,db-b:5433/kiosk?target_session_attrs=read-write"
    assert resolve_url(given) == (
        "postgresql+psycopg://kiosk@/kiosk?host=db-a:5432&host=db-b:5433&target_session_attrs=read-write"
    )
    assert resolve_url("postgresql://kiosk@db-a/kiosk") == "postgresql+psycopg://kiosk@db-a/kiosk"


def test_a_database_that_does_not_answer_is_a_503_to_retry_not_a_500() -> None:
    """No server on either port (connection refused, no SQLSTATE): what the centre meets between the primary's
    death and the promotion, when the standby still refuses writes."""
    import asyncio
    import concurrent.futures

    import httpx
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    closed = [free_port(), free_port()]  # bound and released: nothing listens there
    url = f"postgresql://kiosk@127.0.0.1:{closed[0]},127.0.0.1:{closed[1]}/kiosk?target_session_attrs=read-write"
    engine = create_engine(resolve_url(url), poolclass=NullPool)

    async def ask() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(engine, SECRET), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://centre") as client:
            upload = client.post("/api/v1/events", content=b"{}", headers={"Authorization": "Bearer " + "x" * 40})
            return [await client.get("/healthz"), await upload]

    # In a thread of its own: a browser test earlier in the run can leave this thread's event loop marked running.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answers = pool.submit(asyncio.run, ask()).result(timeout=60)
    try:
        for answer in answers:
            assert (answer.status_code, answer.headers.get("Retry-After")) == (503, "1"), answer.text
            assert "try again" in answer.json()["detail"]
    finally:
        engine.dispose()
