"""Issue 17's show: a province rolled out and updated without SSH to a single box.

A real centre on loopback imports a 3-level tree of 5,000 venues from CSV and makes a district's enrolment
sheet; three kiosks enrol with codes from it (the QR text alone). Each kiosk is a provisioned fake OS root
(tests/test_provision.py: the real provision-pi.sh) with its state directory, its own release key, its
CentralClient and its updater. Release 0.2.0 goes to one commune's kiosk, then to all; 0.3.0 never proves
healthy and is rolled back on every kiosk; 0.4.0's bundle is tampered with at the centre and refused by every
kiosk. The centre's `release list` sees each of these through the heartbeats.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from central_fixtures import SECRET
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from test_bulk_setup import province
from test_provision import Fake
from test_updates import KEY, NOW, bundle_of

from central.bulk.sheet import make_sheet
from central.bulk.units import import_units
from central.bulk.venues import import_venues
from central.releases import rollout
from central.releases.report import release_report
from central.releases.store import add_release, bundle_path, default_key_path, releases_dir
from central.timeutil import utcnow
from kiosk.cli import enrolment_target
from kiosk.config import KioskConfig
from kiosk.demo.central import LocalCentral
from kiosk.sync.client import CentralClient
from kiosk.sync.enrol import enrol_device
from kiosk.sync.identity import load_enrolment, load_key
from kiosk.sync.updates import Updates
from kiosk.update.install import Installer, Releases
from kiosk.update.manifest import manifest_for, sign
from kiosk.update.state import load_state


class Clock:
    now = 2_000_000.0

    def __call__(self) -> float:
        return self.now


def kiosk_box(tmp_path: Path, central: LocalCentral, entry: Any, clock: Clock) -> SimpleNamespace:
    base = tmp_path / entry.venue
    base.mkdir()
    fake = Fake(base)
    fake.run()  # the box as flashed: release 0.1.0
    state = base / "state"
    server, code = enrolment_target(None, None, entry.text)  # the sheet's QR text, scanned
    enrol_device(KioskConfig.model_validate({"state_dir": str(state)}), server, code, None)
    enrolment = load_enrolment(state)
    assert enrolment is not None
    client = CentralClient(central.url, enrolment.device_id, load_key(state))
    provision = ("bash", "{tree}/scripts/provision-pi.sh", "--root", str(fake.root), "--source", "{tree}")
    installer = Installer(
        state,
        KEY.public_key(),
        Releases(fake.root / "opt/kiosk"),
        clock,
        provision=(*provision, "--version", "{version}"),
        restart=("true",),
        probation_s=900,
    )
    return SimpleNamespace(venue=entry.venue, fake=fake, state=state, client=client, installer=installer)


def running(box: SimpleNamespace) -> str:
    return box.installer.releases.version_of("current") or "?"


def sync(box: SimpleNamespace, clock: Clock, *, healthy: bool = True) -> None:
    """One round of what the kiosk's sync thread and the root installer do: pull, stage, install, prove itself
    (or not), report."""
    answer = box.client.config(None)
    assert answer is not None
    updates = Updates(box.state, box.client, KEY.public_key(), running(box), clock)
    updates.remember(answer[0])
    if updates.retry() is not None:
        box.installer.install_ready()  # kiosk-update.path -> kiosk-update.service
        if healthy:  # the new release runs: its loop feeds the watchdog, it keeps itself
            Updates(box.state, box.client, KEY.public_key(), running(box), clock).confirm(200, 120)
    box.client.heartbeat({"backlog": 0, "update": load_state(box.state).heartbeat(running(box))})


def release(central: LocalCentral, source: Path, version: str) -> None:
    data = bundle_of(source, version)
    path = source.parent / f"kiosk-{version}.tar.gz"
    path.write_bytes(data)
    document = sign(manifest_for(version, path.name, data, NOW), KEY)
    url = str(central.engine.url)
    with central.engine.begin() as conn:
        add_release(conn, document, path, KEY.public_key(), releases_dir(url), now=utcnow(), actor="cli:test")


def roll(central: LocalCentral, version: str, percent: int | None = None, units: tuple[str, ...] = ()) -> None:
    with central.engine.begin() as conn:
        rollout.start(conn, version, percent, units, utcnow())


@pytest.mark.slow
def test_a_province_is_set_up_enrolled_and_updated_from_the_centre(tmp_path: Path, monkeypatch: Any) -> None:
    clock = Clock()
    (tmp_path / "central").mkdir()
    with LocalCentral(tmp_path / "central", SECRET) as central:
        units_text, venues_text = province()
        with central.engine.begin() as conn:
            assert import_units(conn, units_text.encode(), actor="cli:it", now=utcnow()).added == 111
            assert import_venues(conn, venues_text.encode(), actor="cli:it", now=utcnow()).added == 5000
        with central.engine.begin() as conn:
            sheet = make_sheet(conn, "660", server=central.url, valid_days=14, now=utcnow(), actor="cli:it")
        assert len(sheet.entries) == 500  # a code for each venue of the district
        picked = [next(e for e in sheet.entries if e.venue.startswith(f"V{c}-")) for c in ("24611", "24612", "24613")]
        key_file = default_key_path(str(central.engine.url))
        key_file.write_bytes(KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))

        first = Fake(tmp_path / "fake-env")  # for the fake commands' environment (PATH with its chroot)
        monkeypatch.setenv("PATH", f"{first.host_bin}:{os.environ['PATH']}")
        boxes = []
        for entry in picked:
            box = kiosk_box(tmp_path, central, entry, clock)
            monkeypatch.setenv("FAKE_LOG", str(box.fake.log))
            monkeypatch.setenv("FAKE_OS_PYTHON", str(box.fake.os_python))
            boxes.append(box)
        source = boxes[0].fake.source

        def every(healthy: bool = True) -> list[str]:
            found = []
            for box in boxes:
                monkeypatch.setenv("FAKE_LOG", str(box.fake.log))
                sync(box, clock, healthy=healthy)
                found.append(running(box))
            return found

        release(central, source, "0.2.0")
        roll(central, "0.2.0", units=("24611",))  # one commune first
        assert every() == ["0.2.0", "0.1.0", "0.1.0"]
        roll(central, "0.2.0", percent=100)  # then everyone
        assert every() == ["0.2.0", "0.2.0", "0.2.0"]

        release(central, source, "0.3.0")
        roll(central, "0.3.0", percent=100)
        assert every(healthy=False) == ["0.3.0", "0.3.0", "0.3.0"]  # installed, on probation, never proving itself
        clock.now += 901
        for box in boxes:
            assert "rolled back to 0.2.0" in box.installer.check()  # kiosk-update-check.timer
        assert every() == ["0.2.0", "0.2.0", "0.2.0"]  # reported, and not taken again
        with central.engine.begin() as conn:
            assert {row["version"]: row["kiosks"] for row in release_report(conn)}["0.3.0"]["rolled-back"] == 3

        release(central, source, "0.4.0")
        held = bundle_path(releases_dir(str(central.engine.url)), "kiosk-0.4.0.tar.gz")
        data = bytearray(held.read_bytes())
        data[100] ^= 0xFF  # the centre's copy is tampered with after it was added
        held.write_bytes(bytes(data))
        roll(central, "0.4.0", percent=100)
        assert every() == ["0.2.0", "0.2.0", "0.2.0"]
        assert all("SHA-256" in (load_state(box.state).error or "") for box in boxes)

        with central.engine.begin() as conn:
            report = {row["version"]: row["kiosks"] for row in release_report(conn)}
        assert report["0.2.0"]["running"] == 3
        assert report["0.4.0"]["refused"] == 3
