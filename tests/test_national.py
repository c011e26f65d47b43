"""The national tier (issue 18 part 2): three province centres publish, a national centre subscribes with
PostgreSQL's logical replication, and traces a traveller across provinces.

Four throwaway clusters on loopback (tests/pgclusters.py), each migrated with the project's migrations; every
province numbers its units and venues from 1 and calls its venue "V1", so ids and codes collide nationally on
purpose. The commands are run as an operator runs them (`kiosk-central national publish | subscribe | status |
trace`). Skipped only when the PostgreSQL 15 server binaries are not installed.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from central_fixtures import SECRET, add_unit, add_venue
from click.testing import CliRunner
from pgclusters import ClusterSet, missing_binaries, wait_for
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.pool import NullPool

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(110),
    pytest.mark.skipif(missing_binaries() is not None, reason=str(missing_binaries())),
]

PROVINCES = ("67", "68", "69")
NATIONAL_ROLE, NATIONAL_PASSWORD = "kiosk_national", "national-test"
WAIT_S = 30.0
BASE = (datetime.now(UTC) - timedelta(days=2)).replace(hour=2, minute=0, second=0, microsecond=0)


def key_of(number: str) -> str:
    """A person's subject key, made with the one national secret every province holds."""
    from kiosk.credentials import Identity, SubjectKeyer

    return SubjectKeyer(SECRET).key(Identity("VN-ID", number))


TRAVELLER = key_of("067099012345")
MET_IN_67, MET_IN_68, LATE_IN_68 = key_of("067088000001"), key_of("068077000002"), key_of("068066000003")
LATER_IN_67, SAME_TIME_IN_69, FLAGGED = key_of("067055000004"), key_of("069044000005"), key_of("067033000006")


@dataclass
class Country:
    clusters: ClusterSet
    provinces: dict[str, Engine] = field(default_factory=dict)
    copies: dict[str, Engine] = field(default_factory=dict)

    @property
    def national_url(self) -> str:
        return self.clusters["national"].url("national")


def cli(*args: str) -> str:
    from central.cli import cli as kiosk_central

    result = CliRunner().invoke(kiosk_central, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def passage(
    key: str, at: datetime, direction: str, decision: str = "ACCEPT", reason: str = "identity-ok"
) -> dict[str, Any]:
    return {"key": key, "at": at, "direction": direction, "decision": decision, "reason": reason}


def put_events(engine: Engine, venue: str, passages: list[dict[str, Any]]) -> None:
    """Passages stored at `venue` as ingest stores them, device fields and all."""
    from central.schema import event_keys, events, venues

    with engine.begin() as conn:
        venue_id = conn.execute(select(venues.c.id).where(venues.c.code == venue)).scalar_one()
        rows = []
        for seq, p in enumerate(passages, 1):
            event_id = str(uuid.uuid4())
            rows.append(
                {
                    "event_id": event_id, "received_day": p["at"].date(), "device_id": "gate-1", "venue_id": venue_id,
                    "boot_id": "boot-1", "seq": seq, "wall_time": p["at"].timestamp(), "mono_time": 100.0 + seq,
                    "time": p["at"], "time_synced": True, "received_at": p["at"], "direction": p["direction"],
                    "kind": "cccd", "subject_key": p["key"], "decision": p["decision"], "reason": p["reason"],
                    "decoder": "zxing", "latency_ms": 4.2,
                }
            )  # fmt: skip
            conn.execute(event_keys.insert().values(event_id=event_id, venue_id=venue_id, received_day=p["at"].date()))
        conn.execute(events.insert(), rows)


def count_events(engine: Engine) -> int:
    from central.schema import events

    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def at(hours: float) -> datetime:
    return BASE + timedelta(hours=hours)


def make_province(clusters: ClusterSet, province: str) -> Engine:
    """A province centre: its database migrated, a login for the national centre, its publication, its tree."""
    from central.db import connect

    cluster = clusters[f"p{province}"]
    admin = create_engine(cluster.url(), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE kiosk"))
        conn.execute(text(f"CREATE ROLE {NATIONAL_ROLE} LOGIN REPLICATION PASSWORD '{NATIONAL_PASSWORD}'"))
    admin.dispose()
    engine = connect(cluster.url("kiosk"))
    add_unit(engine, province, f"Tỉnh {province}")
    add_unit(engine, f"{province}-01", f"Phường 1, tỉnh {province}", province)
    add_venue(engine, "V1", f"{province}-01", "market")
    cli("--db", cluster.url("kiosk"), "national", "publish", "--grant", NATIONAL_ROLE)
    return engine


@pytest.fixture(scope="module")
def country() -> Iterator[Country]:
    with ClusterSet(*(f"p{p}" for p in PROVINCES), "national") as clusters:
        country = Country(clusters)
        try:
            for province in PROVINCES:
                country.provinces[province] = make_province(clusters, province)
            # Before the subscriptions (the first copy carries them): the traveller's day in 67, and whom they met.
            put_events(
                country.provinces["67"],
                "V1",
                [
                    passage(TRAVELLER, at(1), "in"), passage(TRAVELLER, at(2), "out"),
                    passage(MET_IN_67, at(1.5), "in"), passage(MET_IN_67, at(3), "out"),
                    passage(LATER_IN_67, at(4), "in"), passage(LATER_IN_67, at(5), "out"),
                    passage(FLAGGED, at(1.2), "in", "DENY", "status-red"),
                ],
            )  # fmt: skip
            # The same venue id and code in 69, at the same time: no contact of the traveller's.
            put_events(country.provinces["69"], "V1", [passage(SAME_TIME_IN_69, at(1), "in")])
            admin = create_engine(clusters["national"].url(), poolclass=NullPool, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text("CREATE DATABASE national"))
            admin.dispose()
            for province in PROVINCES:
                conninfo = clusters[f"p{province}"].conninfo("kiosk", NATIONAL_ROLE, NATIONAL_PASSWORD)
                cli(
                    "--db",
                    country.national_url,
                    "national",
                    "subscribe",
                    "--province",
                    province,
                    "--conninfo",
                    conninfo,
                )
                copy_url = clusters["national"].url(f"national_p{province}")
                country.copies[province] = create_engine(copy_url, poolclass=NullPool)
            # After them (streamed): the traveller's next day in 68.
            put_events(
                country.provinces["68"],
                "V1",
                [
                    passage(TRAVELLER, at(25), "in"), passage(TRAVELLER, at(26), "out"),
                    passage(MET_IN_68, at(25.5), "in"), passage(MET_IN_68, at(27), "out"),
                ],
            )  # fmt: skip
            for province, expected in (("67", 6), ("68", 4), ("69", 1)):
                copy = country.copies[province]
                wait_for(
                    f"province {province}'s events at the national centre",
                    lambda c=copy, n=expected: count_events(c) == n,
                    WAIT_S,
                )
            yield country
        finally:
            for engine in (*country.provinces.values(), *country.copies.values()):
                engine.dispose()


def national_trace(country: Country, key: str) -> dict[str, Any]:
    window = ("--from", at(-6).isoformat(), "--to", at(40).isoformat())
    out = cli(
        "--db", country.national_url, "national", "trace", "--subject-key", key, *window, "--json", "--reason", "test"
    )
    return json.loads(out)  # type: ignore[no-any-return]


def test_only_subject_keys_and_derived_fields_of_accepted_passages_leave_a_province(country: Country) -> None:
    with country.provinces["67"].connect() as conn:
        published = conn.execute(text("SELECT DISTINCT tablename FROM pg_publication_tables")).scalars().all()
        columns = conn.execute(
            text("SELECT attnames FROM pg_publication_tables WHERE tablename = 'events'")
        ).scalar_one()
    assert sorted(published) == ["devices", "events", "units", "venue_days", "venues"]
    assert not {"device_id", "boot_id", "seq", "wall_time", "mono_time", "decoder", "latency_ms"} & set(columns)
    with country.provinces["67"].connect() as conn:
        device_columns = conn.execute(
            text("SELECT attnames FROM pg_publication_tables WHERE tablename = 'devices'")
        ).scalar_one()
    assert not {"last_heartbeat", "clock_offset_s"} & set(device_columns)
    with country.copies["67"].connect() as conn:
        rows = conn.execute(text("SELECT subject_key, decision, device_id, latency_ms FROM events")).all()
        places = conn.execute(text("SELECT code, policy, address FROM venues")).all()
    assert {row.subject_key for row in rows} == {TRAVELLER, MET_IN_67, LATER_IN_67}  # no DENY "status-red" row
    assert {(row.decision, row.device_id, row.latency_ms) for row in rows} == {("ACCEPT", None, None)}
    assert [tuple(p) for p in places] == [("V1", None, None)]


def test_the_national_centre_traces_a_traveller_across_provinces(country: Country) -> None:
    found = national_trace(country, TRAVELLER)

    visits = [(v["province"], v["venue"], datetime.fromisoformat(v["in"])) for v in found["visits"]]
    assert visits == [("67", "V1", at(1)), ("68", "V1", at(25))]  # both called V1, venue id 1 in each province
    contacts = {(c["province"], c["subject_key"]): c["overlap_minutes"] for c in found["contacts"]}
    assert contacts == {("67", MET_IN_67): 30.0, ("68", MET_IN_68): 30.0}  # not 69's V1, not the later visitor
    with create_engine(country.national_url, poolclass=NullPool).connect() as conn:
        audited = conn.execute(text("SELECT subject FROM audit_log WHERE action = 'national-trace'")).scalars().all()
    assert TRAVELLER in audited


def test_an_id_number_gives_the_same_key_with_the_national_secret(country: Country, tmp_path: Path) -> None:
    secret = tmp_path / "national.secret"
    secret.write_text(SECRET.hex())
    secret.chmod(0o600)
    window = ("--from", at(-6).isoformat(), "--to", at(40).isoformat(), "--json")
    out = cli(
        "--db",
        country.national_url,
        "--secret-file",
        str(secret),
        "national",
        "trace",
        "--identity",
        "067099012345",
        *window,
    )
    found = json.loads(out)
    assert found["subject_key"] == TRAVELLER
    assert [v["province"] for v in found["visits"]] == ["67", "68"]


def test_the_provinces_trees_join_under_the_national_root(country: Country) -> None:
    from central.national.tree import national_tree

    with country.copies["67"].connect() as c67, country.copies["68"].connect() as c68:
        tree = [(p, u.code, depth) for p, u, depth in national_tree({"67": c67, "68": c68})]
    assert tree == [("67", "67", 1), ("67", "67-01", 2), ("68", "68", 1), ("68", "68-01", 2)]


def put_deployment(engine: Engine, *, seen: bool, scans_today: int) -> None:
    """An enrolled kiosk at V1 (heard from now, or never) and today's rollup of V1's passages."""
    from central.localtime import local_day, local_zone
    from central.schema import devices, venue_days, venues

    now = datetime.now(UTC)
    with engine.begin() as conn:
        venue_id = conn.execute(select(venues.c.id).where(venues.c.code == "V1")).scalar_one()
        conn.execute(
            devices.insert().values(
                id=f"gate-{uuid.uuid4().hex[:8]}", venue_id=venue_id, name="Cổng chính", public_key=bytes(32),
                enrolled_at=now - timedelta(days=3), last_seen_at=now if seen else None,
                last_heartbeat={"version": "0.1.0"}, clock_offset_s=0.25,
            )
        )  # fmt: skip
        if scans_today:
            today = local_day(now, local_zone())
            conn.execute(venue_days.insert().values(venue_id=venue_id, day=today, scans=scans_today, heard=True))


def test_the_national_dashboard_adds_up_the_provinces_copies(country: Country) -> None:
    put_deployment(country.provinces["67"], seen=True, scans_today=5)
    put_deployment(country.provinces["68"], seen=False, scans_today=0)

    def deployed() -> str:
        return cli("--db", country.national_url, "national", "dashboard")

    wait_for("the devices at the national centre", lambda: "3 venues registered, 2 deployed" in deployed(), WAIT_S)
    text_report = deployed()
    assert text_report.startswith(
        "whole country: 3 venues registered, 2 deployed, 1 online, 1 devices offline, 5 scans"
    )
    assert [line.split()[0] for line in text_report.splitlines()[1:]] == ["67:67", "68:68", "69:69"]
    with country.copies["67"].connect() as conn:  # what the copy holds of a device: no heartbeat, no clock
        row = conn.execute(text("SELECT last_heartbeat, clock_offset_s, name FROM devices")).one()
    assert tuple(row) == (None, None, "Cổng chính")

    csv = cli("--db", country.national_url, "national", "dashboard", "--unit", "67:67", "--csv", "--lang", "en")
    assert csv.splitlines()[1].startswith("67:67-01,") and ",5," in csv.splitlines()[1]
    from central.cli import cli as kiosk_central

    out = CliRunner().invoke(kiosk_central, ["--db", country.national_url, "national", "dashboard", "--unit", "99:1"])
    assert out.exit_code != 0 and "no copy of province 99" in out.output


def test_the_national_centre_serves_the_dashboard_and_tracing_of_the_whole_tree(country: Country) -> None:
    from central_fixtures import CentralServer
    from web_helpers import Staff, add_account

    with CentralServer(country.national_url) as server:
        add_account(server, "national-admin", "administrator")
        admin = Staff(server)
        assert admin.login("national-admin").status_code == 303
        page = admin.get("/dashboard")
        assert page.status_code == 200, page.text[:300]
        assert re.findall(r'data-unit="([^"]+)"', page.text) == ["67:67", "68:68", "69:69"]
        assert re.search(r'data-figure="registered">3<', page.text) and re.search(
            r'data-figure="deployed">2<', page.text
        )
        assert re.findall(r'data-province="(\d+)"', page.text) == ["67", "68", "69"]
        assert "Đang nhận" in page.text and 'id="data-age"' not in page.text
        province = admin.get("/dashboard?unit=67:67&lang=en")
        assert province.status_code == 200 and 'data-unit="67:67-01"' in province.text
        assert "Tỉnh 67" in province.text and "Receiving" in province.text
        for elsewhere in ("99:1", "67:NOPE", "67", "V1"):
            assert admin.get(f"/dashboard?unit={elsewhere}").status_code == 403, elsewhere
        assert Staff(server).get("/dashboard").status_code == 303  # signed out: to the login page

        window = {"start": at(-6).strftime("%Y-%m-%dT%H:%M"), "end": at(40).strftime("%Y-%m-%dT%H:%M")}
        form = {"subject_key": TRAVELLER, "reason": "F0 across provinces", **window}
        traced = admin.form_post("/trace", "/trace", form)
        assert traced.status_code == 200, traced.text[:500]
        contacts = traced.text.split('id="contacts"')[1]
        assert MET_IN_67 in contacts and MET_IN_68 in contacts
        assert LATER_IN_67 not in contacts and SAME_TIME_IN_69 not in contacts  # another time; another province
        assert "67:V1" in traced.text and "68:V1" in traced.text and "69:V1" not in traced.text
        with server.engine.connect() as conn:
            recorded = conn.execute(
                text("SELECT subject, reason, detail FROM audit_log WHERE action = 'national-trace'")
            ).all()
        assert [(r.subject, r.reason) for r in recorded][-1:] == [(TRAVELLER, "F0 across provinces")]


def test_the_national_pages_fit_a_phone_and_a_desktop(country: Country, browser: Any) -> None:
    from central_fixtures import CentralServer
    from test_browser import visit
    from web_helpers import add_account

    def national_trace_on(page: Any, url: str) -> None:
        page.goto(url + "/trace")
        page.locator("#subject_key").fill(TRAVELLER)
        page.locator("#start").fill(at(-6).strftime("%Y-%m-%dT%H:%M"))
        page.locator("#end").fill(at(40).strftime("%Y-%m-%dT%H:%M"))
        page.get_by_label("Lý do").fill("F0 across provinces")
        page.get_by_role("button", name="Truy vết", exact=True).click()
        page.wait_for_selector("#contacts")

    steps = {
        "country": lambda page, url: page.goto(url + "/dashboard"),
        "national trace": national_trace_on,
        "province, English": lambda page, url: page.goto(url + "/dashboard?unit=67:67&lang=en"),  # sets the cookie
    }
    with CentralServer(country.national_url) as server:
        add_account(server, "national-phone", "administrator")
        for width in (320, 1280):
            assert visit(browser, width, steps, server.url, sign_in_as="national-phone") == {}, width


def test_subscribing_again_changes_nothing(country: Country) -> None:
    conninfo = country.clusters["p69"].conninfo("kiosk", NATIONAL_ROLE, NATIONAL_PASSWORD)
    cli("--db", country.national_url, "national", "subscribe", "--province", "69", "--conninfo", conninfo)
    put_events(country.provinces["69"], "V1", [passage(SAME_TIME_IN_69, at(1.5), "out")])
    wait_for("province 69 after subscribing again", lambda: count_events(country.copies["69"]) == 2, WAIT_S)


def test_a_province_down_for_a_while_catches_up(country: Country) -> None:
    p68, p67 = country.clusters["p68"], country.provinces["67"]
    put_events(country.provinces["68"], "V1", [passage(LATE_IN_68, at(28), "in")])  # committed as it stops
    p68.stop()
    put_events(p67, "V1", [passage(LATER_IN_67, at(6), "in")])  # the others go on meanwhile
    wait_for("province 67 while 68 is down", lambda: count_events(country.copies["67"]) == 7, WAIT_S)
    p68.start()
    # A kiosk's upload held while its province was down: the traveller's contact, stored on the way back.
    put_events(
        country.provinces["68"], "V1", [passage(LATE_IN_68, at(25.75), "in"), passage(LATE_IN_68, at(25.9), "out")]
    )
    wait_for("province 68 to catch up", lambda: count_events(country.copies["68"]) == 7, WAIT_S)

    contacts = {(c["province"], c["subject_key"]) for c in national_trace(country, TRAVELLER)["contacts"]}
    assert ("68", LATE_IN_68) in contacts
    status = json.loads(cli("--db", country.national_url, "national", "status", "--json"))
    assert [(s["province"], s["events"]) for s in status] == [("67", 7), ("68", 7), ("69", 2)]


def test_the_national_centre_down_for_a_while_catches_up_from_the_slots(country: Country) -> None:
    national = country.clusters["national"]
    national.stop()
    put_events(country.provinces["69"], "V1", [passage(SAME_TIME_IN_69, at(2), "in")])
    national.start()
    wait_for("province 69 after the national centre's restart", lambda: count_events(country.copies["69"]) == 3, WAIT_S)


def test_the_copies_upkeep_makes_partitions_ahead_and_drops_what_is_past_retention(country: Country) -> None:
    from central.partitions import partition_name

    copy = country.copies["69"]
    ahead = partition_name((datetime.now(UTC) + timedelta(days=3)).date())
    with copy.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {ahead}"))  # a name made here from a date
    before = count_events(copy)
    put_events(country.provinces["69"], "V1", [passage(SAME_TIME_IN_69, at(-40 * 24), "in")])  # 42 days ago
    wait_for("the old passage at the national centre", lambda: count_events(copy) == before + 1, WAIT_S)

    out = cli("--db", country.national_url, "national", "maintain", "--retention-days", "30")

    assert "69: 1 partitions made" in out, out
    with copy.connect() as conn:
        assert conn.execute(text("SELECT to_regclass(:n)"), {"n": ahead}).scalar() is not None
    assert count_events(copy) == before  # the passage of 42 days ago is gone, the rest kept
    assert count_events(country.provinces["69"]) == before + 1  # the province's own retention is its own
