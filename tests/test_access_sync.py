"""A real kiosk in access mode and a real centre on loopback (issue 15, item 1): the venue's people and groups are
imported at the centre from CSV, the kiosk's sync pulls them with the lists it already pulls, and the gate decides
offline from the last good copy; a change at the centre reaches the gate at the next pull, an unchanged list costs
a 304, and a list that would not load leaves the last good copy in force.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CCCD_AN, write_images
from sqlalchemy import update
from test_loop import scene

from central.people import import_groups, import_people, remove_person
from central.schema import venues
from central.timeutil import utcnow
from kiosk.app import Kiosk, assemble
from kiosk.camera.files import ImageFolderSource
from kiosk.config import KioskConfig
from kiosk.demo.central import LocalCentral
from kiosk.store import EventStore
from kiosk.sync.configsync import ACCESS_ETAG_FILE, ACCESS_FILE
from kiosk.sync.enrol import enrol_device

SECRET = bytes(range(32))
STRANGER = "079196004821|025917345|Nguyễn Thị Thu Hà|12031996|Nữ|TP HCM|01012021"
GROUPS = 'name,windows,valid_from,valid_until,gates\nbao-ve,"T2-CN 00:00-24:00",,,\n'
PEOPLE = f"cccd,subject_key,name,groups\n{CCCD_AN.split('|')[0]},,,bao-ve\n"


@pytest.fixture
def central(tmp_path: Path) -> Iterator[LocalCentral]:
    with LocalCentral(tmp_path, SECRET) as server:
        yield server


def venue_in_access_mode(central: LocalCentral, strangers: str = "deny") -> str:
    code = central.venue_with_code(("67", "Đắk Nông"), ("NM-1", "Nhà máy Gia Nghĩa"), "factory")
    with central.engine.begin() as conn:
        conn.execute(
            update(venues).where(venues.c.code == "NM-1").values(policy={"mode": "access", "strangers": strangers})
        )
        import_groups(conn, "NM-1", GROUPS.encode(), actor="test", now=utcnow())
        import_people(conn, "NM-1", PEOPLE.encode(), secret=SECRET, actor="test", now=utcnow())
    return code


def gate(tmp_path: Path, central: LocalCentral, code: str) -> tuple[KioskConfig, Path]:
    config = KioskConfig.model_validate({"state_dir": str(tmp_path / "k"), "camera": {"realtime": False}})
    enrol_device(config, central.url, code, None)
    return config, write_images(tmp_path / "frames", scene(CCCD_AN, STRANGER))


def passages(config: KioskConfig, frames: Path, pull: bool = True) -> list[tuple[str, str]]:
    kiosk: Kiosk = assemble(config, source=ImageFolderSource(frames, fps=None))
    try:
        if pull:
            assert kiosk.sync is not None and kiosk.sync.pull_config()  # what the sync thread does every config_s
        kiosk.start()
        kiosk.run(threading.Event(), until_end=True)
    finally:
        kiosk.close()
    rows = EventStore(config.database_path, read_only=True).status().recent
    return [(row["decision"], row["reason"]) for row in reversed(rows)]


def test_the_gate_admits_the_venues_people_from_the_list_it_pulled_and_refuses_strangers(
    tmp_path: Path, central: LocalCentral
) -> None:
    config, frames = gate(tmp_path, central, venue_in_access_mode(central))
    assert passages(config, frames) == [("ACCEPT", "access-ok"), ("DENY", "not-enrolled")]
    etag = (config.state_dir / ACCESS_ETAG_FILE).read_text()
    written = (config.state_dir / ACCESS_FILE).stat().st_mtime_ns
    # Offline (the centre gone), the last good copy decides, with the centre's mode kept too.
    central.__exit__(None, None, None)  # stopped twice is harmless: the fixture stops it again
    (config.state_dir / "events.db").unlink()
    assert passages(config, frames, pull=False) == [("ACCEPT", "access-ok"), ("DENY", "not-enrolled")]
    assert (config.state_dir / ACCESS_FILE).stat().st_mtime_ns == written
    assert (config.state_dir / ACCESS_ETAG_FILE).read_text() == etag


def test_a_change_at_the_centre_reaches_the_gate_at_the_next_pull_and_no_change_costs_a_304(
    tmp_path: Path, central: LocalCentral
) -> None:
    config, frames = gate(tmp_path, central, venue_in_access_mode(central, strangers="visitor"))
    assert passages(config, frames)[1] == ("REVIEW", "visitor")
    written = (config.state_dir / ACCESS_FILE).stat().st_mtime_ns
    (config.state_dir / "events.db").unlink()
    assert passages(config, frames)[0] == ("ACCEPT", "access-ok")
    assert (config.state_dir / ACCESS_FILE).stat().st_mtime_ns == written  # 304: nothing written again
    with central.engine.begin() as conn:
        from central.subjects import key_of_number

        assert remove_person(conn, "NM-1", key_of_number(CCCD_AN.split("|")[0], SECRET), actor="test", now=utcnow())
    (config.state_dir / "events.db").unlink()
    assert passages(config, frames) == [("REVIEW", "visitor"), ("REVIEW", "visitor")]
