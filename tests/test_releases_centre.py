"""Signed updates at the centre (docs/updates.md, "At the centre"): `kiosk-central release add` keeps only what a
kiosk would install, a rollout offers the release to a stable share of the kiosks or to a unit's subtree, the
config document carries the offer (and its ETag follows it), the bundle is served to devices, and `release list`
counts what the heartbeats say. SQLite and PostgreSQL (`db_url`)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from central_fixtures import CentralServer, add_unit, add_venue, enrolled_device
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine, select

from central.db import connect
from central.devices import record_heartbeat
from central.releases.offer import update_offer
from central.releases.rollout import in_percent
from central.schema import audit_log, devices, venues
from kiosk.update.manifest import Manifest, load_public_key, manifest_for, sign, verify

CREATED = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
Run = Callable[..., Any]


@dataclass(frozen=True)
class Release:
    version: str
    document: dict[str, Any]
    document_path: Path
    bundle: bytes
    bundle_path: Path


def tarball(version: str) -> bytes:
    """A small release bundle: what `git archive --prefix=kiosk-<version>/` makes, in miniature."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, text in (("VERSION", version), ("README.md", f"kiosk {version}\n" * 20)):
            data = text.encode()
            info = tarfile.TarInfo(f"kiosk-{version}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The centre's state directory, for the commands and the server alike."""
    path = tmp_path / "state"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("KIOSK_CENTRAL_STATE_DIR", str(path))
    return path


@pytest.fixture
def release_key(state: Path) -> Ed25519PrivateKey:
    """The release manager's key; its public half given to the centre where `release add` looks by default."""
    key = Ed25519PrivateKey.generate()
    (state / "release-key.pub").write_bytes(public_pem(key))
    return key


@pytest.fixture
def make_release(tmp_path: Path, release_key: Ed25519PrivateKey) -> Callable[..., Release]:
    def make(version: str, *, key: Ed25519PrivateKey | None = None, manifest: Manifest | None = None) -> Release:
        bundle = tarball(version)
        name = f"kiosk-{version}.tar.gz"
        body = manifest or manifest_for(version, name, bundle, CREATED)
        document = sign(body, key or release_key)
        (tmp_path / "out").mkdir(exist_ok=True)
        document_path = tmp_path / "out" / f"kiosk-{version}.release.json"
        document_path.write_text(json.dumps(document))
        bundle_path = tmp_path / "out" / name
        bundle_path.write_bytes(bundle)
        return Release(version, document, document_path, bundle, bundle_path)

    return make


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    found = connect(db_url)
    yield found
    found.dispose()


@pytest.fixture
def run(db_url: str, state: Path) -> Run:
    """`kiosk-central --db URL ARGS...` in this process; a traceback fails the test."""
    from click.testing import CliRunner

    from central.cli import cli

    def invoke(*args: str, code: int = 0) -> Any:
        result = CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    return invoke


def add(run: Run, release: Release, *more: str, code: int = 0) -> str:
    return str(run("release", "add", str(release.document_path), str(release.bundle_path), *more, code=code).output)


def test_add_keeps_a_release_a_kiosk_would_install_and_refuses_the_rest(
    run: Run,
    engine: Engine,
    state: Path,
    release_key: Ed25519PrivateKey,
    make_release: Callable[..., Release],
    tmp_path: Path,
) -> None:
    good = make_release("0.2.0")
    assert "release 0.2.0 added" in add(run, good)
    kept = state / "releases" / "kiosk-0.2.0.tar.gz"
    assert kept.read_bytes() == good.bundle
    assert [p.name for p in kept.parent.iterdir()] == ["kiosk-0.2.0.tar.gz"]  # no temporary file left
    assert "nothing to do" in add(run, good)  # the same again: a no-op
    with engine.connect() as conn:
        actions = conn.execute(select(audit_log.c.action, audit_log.c.subject)).all()
    assert [tuple(a) for a in actions] == [("release-add", "0.2.0")]

    other = make_release("0.2.0")  # the same version, signed, with another bundle
    other.bundle_path.write_bytes(tarball("0.2.0-other"))
    resigned = sign(manifest_for("0.2.0", "kiosk-0.2.0.tar.gz", other.bundle_path.read_bytes(), CREATED), release_key)
    other.document_path.write_text(json.dumps(resigned))
    assert "held already with another bundle" in add(run, other, code=1)
    assert kept.read_bytes() == good.bundle

    tampered = make_release("0.3.0")
    damaged = bytearray(tampered.bundle)
    damaged[-5] ^= 0xFF
    tampered.bundle_path.write_bytes(bytes(damaged))
    assert "SHA-256 is not the manifest's" in add(run, tampered, code=1)
    tampered.bundle_path.write_bytes(tampered.bundle + b"x")
    assert "bytes, the manifest says" in add(run, tampered, code=1)

    stranger = make_release("0.4.0", key=Ed25519PrivateKey.generate())
    assert "not with the centre's release key" in add(run, stranger, code=1)
    forged = dict(make_release("0.4.0").document, signature=stranger.document["signature"])
    stranger.document_path.write_text(json.dumps(forged))
    assert "signature does not verify" in add(run, stranger, code=1)

    bundle = tarball("banana")
    bad = make_release("0.5.0", manifest=Manifest("banana", "kiosk-banana.tar.gz", _sha(bundle), len(bundle), ""))
    bad.bundle_path.write_bytes(bundle)
    assert "is not a version" in add(run, bad, code=1)

    not_json = tmp_path / "out" / "junk.release.json"
    not_json.write_text("{")
    assert "not JSON" in run("release", "add", str(not_json), str(good.bundle_path), code=1).output
    missing = tmp_path / "nowhere.pub"
    assert "cannot read the release key" in add(run, good, "--release-key", str(missing), code=1)
    elsewhere = tmp_path / "elsewhere.pub"
    elsewhere.write_bytes((state / "release-key.pub").read_bytes())
    assert "release 0.3.0 added" in add(run, make_release("0.3.0"), "--release-key", str(elsewhere))
    assert sorted(p.name for p in kept.parent.iterdir()) == ["kiosk-0.2.0.tar.gz", "kiosk-0.3.0.tar.gz"]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fleet(engine: Engine, count: int, venue: str) -> list[str]:
    """`count` devices at `venue`, with fixed ids (the cohort is then the same on every run)."""
    ids = [f"{venue.lower()}-gate-{n:03d}" for n in range(count)]
    with engine.begin() as conn:
        venue_id = conn.execute(select(venues.c.id).where(venues.c.code == venue)).scalar_one()
        rows = [
            {"id": i, "venue_id": venue_id, "name": i, "public_key": bytes(32), "enrolled_at": CREATED} for i in ids
        ]
        conn.execute(devices.insert(), rows)
    return ids


def offered(engine: Engine, ids: list[str]) -> set[str]:
    """The devices whose config document would carry an update now."""
    found = set()
    with engine.connect() as conn:
        venue_of = {row.id: row.venue_id for row in conn.execute(select(devices.c.id, devices.c.venue_id))}
        for device_id in ids:
            if update_offer(conn, device_id, venue_of[device_id]) is not None:
                found.add(device_id)
    return found


def places(engine: Engine) -> None:
    """P1 > D1 > W1 and P1 > D2, P2; a venue at W1, D2 and P2."""
    add_unit(engine, "P1")
    add_unit(engine, "D1", parent="P1")
    add_unit(engine, "W1", parent="D1")
    add_unit(engine, "D2", parent="P1")
    add_unit(engine, "P2")
    for venue, unit in (("VW1", "W1"), ("VD2", "D2"), ("VP2", "P2")):
        add_venue(engine, venue, unit)


def test_a_rollout_by_percent_offers_a_stable_share_and_by_unit_a_subtree(
    run: Run, engine: Engine, make_release: Callable[..., Release]
) -> None:
    places(engine)
    ids = fleet(engine, 200, "VP2")
    at_w1, at_d2 = fleet(engine, 5, "VW1"), fleet(engine, 5, "VD2")
    add(run, make_release("0.2.0"))
    assert offered(engine, ids) == set()  # added, not rolled out

    run("release", "rollout", "0.2.0", "--percent", "10")
    tenth = offered(engine, ids)
    assert 8 <= len(tenth) <= 34  # about 10 % of 200
    assert tenth == {i for i in ids if in_percent(i, "0.2.0", 10)}
    assert offered(engine, ids) == tenth  # the same devices each time
    run("release", "rollout", "0.2.0", "--percent", "50")
    half = offered(engine, ids)
    assert tenth < half and 75 <= len(half) <= 125
    run("release", "rollout", "0.2.0", "--percent", "100")
    assert offered(engine, ids) == set(ids)

    run("release", "rollout", "0.2.0", "--percent", "0", "--unit", "D1")
    assert offered(engine, ids + at_w1 + at_d2) == set(at_w1)  # W1 is below D1; D2 and P2 are not
    run("release", "rollout", "0.2.0", "--unit", "P1")
    assert offered(engine, ids + at_w1 + at_d2) == set(at_w1 + at_d2)
    run("release", "rollout", "0.2.0", "--unit", "D2", "--percent", "10")
    assert offered(engine, ids + at_w1 + at_d2) == tenth | set(at_d2) | {i for i in at_w1 if in_percent(i, "0.2.0", 10)}

    assert "no such administrative unit" in run("release", "rollout", "0.2.0", "--unit", "XX", code=1).output
    assert "no release '9.9.9' held here" in run("release", "rollout", "9.9.9", "--percent", "5", code=1).output
    assert "say to whom" in run("release", "rollout", "0.2.0", code=1).output
    assert run("release", "rollout", "0.2.0", "--percent", "101", code=2).exit_code == 2


def test_pause_resume_stop_and_one_rollout_at_a_time(
    run: Run, engine: Engine, make_release: Callable[..., Release]
) -> None:
    places(engine)
    ids = fleet(engine, 20, "VP2")
    add(run, make_release("0.2.0"))
    add(run, make_release("0.3.0"))
    run("release", "rollout", "0.2.0", "--percent", "100")
    assert offered(engine, ids) == set(ids)
    started = run("release", "rollout", "0.3.0", "--percent", "100").output
    assert "the rollout of 0.2.0 is stopped" in started
    listed = {e["version"]: e for e in json.loads(run("release", "list", "--json").output)}
    assert (listed["0.2.0"]["rollout"], listed["0.3.0"]["rollout"]) == ("stopped", "active")
    with engine.connect() as conn:
        assert update_offer(conn, ids[0], _venue(conn, ids[0]))["version"] == "0.3.0"  # type: ignore[index]

    run("release", "pause", "0.3.0")
    assert offered(engine, ids) == set()
    assert "is paused, not active: cannot pause it" in run("release", "pause", "0.3.0", code=1).output
    run("release", "resume", "0.3.0")
    assert offered(engine, ids) == set(ids)
    assert "is active, not paused" in run("release", "resume", "0.3.0", code=1).output
    run("release", "stop", "0.3.0")
    assert offered(engine, ids) == set()
    assert "not being rolled out (stopped)" in run("release", "stop", "0.3.0", code=1).output
    assert "is stopped, not paused" in run("release", "resume", "0.3.0", code=1).output
    assert "no release '9.9.9' held here" in run("release", "stop", "9.9.9", code=1).output
    with engine.connect() as conn:
        actions = [a for (a,) in conn.execute(select(audit_log.c.action).order_by(audit_log.c.id))]
    made = ["release-add", "release-add", "release-rollout", "release-rollout"]
    assert actions == [*made, "release-pause", "release-resume", "release-stop"]  # the refused ones left no entry


def _venue(conn: Any, device_id: str) -> int:
    return int(conn.execute(select(devices.c.venue_id).where(devices.c.id == device_id)).scalar_one())


def test_a_version_is_never_offered_to_a_device_running_it_or_a_later_one(
    run: Run, engine: Engine, make_release: Callable[..., Release]
) -> None:
    places(engine)
    ids = fleet(engine, 6, "VP2")
    add(run, make_release("0.2.0"))
    run("release", "rollout", "0.2.0", "--percent", "100")
    said = [
        {"update": {"running": "0.2.0", "state": "ok", "target": None, "error": None}},
        {"update": {"running": "0.10.0", "state": "ok", "target": None, "error": None}},  # PEP 440: later
        {"update": {"running": "0.1.9", "state": "ok", "target": None, "error": None}},
        {"version": "0.2.0"},  # no updater yet: the heartbeat's own version
        {"update": {"running": "not a version", "state": "ok"}},
    ]
    with engine.begin() as conn:
        for device_id, heartbeat in zip(ids, said, strict=False):
            record_heartbeat(conn, device_id, {"backlog": 0, **heartbeat}, CREATED)
    assert offered(engine, ids) == {ids[2], ids[4], ids[5]}  # older, unreadable, never said
    turned_down = {"update": {"running": "0.1.9", "state": "rolled-back", "target": "0.2.0", "error": "unhealthy"}}
    with engine.begin() as conn:
        record_heartbeat(conn, ids[2], {"backlog": 0, **turned_down}, CREATED)
    assert offered(engine, ids) == {ids[4], ids[5]}  # it went back from 0.2.0: not asked again


def test_the_config_document_offers_the_release_and_devices_fetch_the_bundle(
    db_url: str, run: Run, state: Path, release_key: Ed25519PrivateKey, make_release: Callable[..., Release]
) -> None:
    release = make_release("0.2.0")
    add(run, release)
    with CentralServer(db_url) as server:
        add_unit(server.engine, "HN")
        add_unit(server.engine, "SG")
        add_venue(server.engine, "V1", "HN")
        add_venue(server.engine, "V2", "SG")
        gate, other = enrolled_device(server, "V1"), enrolled_device(server, "V2", name="other-gate")
        with gate, other:
            first = gate.config()
            assert first.status_code == 200 and first.json()["update"] is None
            quiet, quiet_other = first.headers["ETag"], other.config().headers["ETag"]
            assert gate.enrolment["config"]["update"] is None

            run("release", "rollout", "0.2.0", "--unit", "HN")
            offer = gate.config(quiet)
            assert offer.status_code == 200, offer.text
            update = offer.json()["update"]
            assert update == {"version": "0.2.0", "release": release.document, "url": "/api/v1/releases/0.2.0/bundle"}
            verify(update["release"], load_public_key(public_pem(release_key)))  # what the kiosk will check
            offering = offer.headers["ETag"]
            assert offering != quiet and offer.json()["version"] == offering.strip('"')
            assert gate.config(offering).status_code == 304
            assert other.config(quiet_other).status_code == 304  # not in the cohort: its document is unchanged

            run("release", "pause", "0.2.0")
            paused = gate.config(offering)
            assert paused.status_code == 200 and paused.json()["update"] is None
            assert paused.headers["ETag"] == quiet  # offered nothing: the version it had before
            run("release", "resume", "0.2.0")
            assert gate.config(quiet).headers["ETag"] == offering

            bundle = gate.get(update["url"])
            assert bundle.status_code == 200 and bundle.content == release.bundle
            assert bundle.headers["Content-Type"] == "application/gzip"
            assert bundle.headers["Content-Length"] == str(len(release.bundle))
            assert bundle.headers["ETag"] == f'"{_sha(release.bundle)}"'
            assert other.get(update["url"]).content == release.bundle  # any enrolled device may fetch it
            ranged = gate.session.get(
                server.url + update["url"], headers={**gate.auth_header(), "Range": "bytes=10-19"}
            )
            assert ranged.status_code == 206 and ranged.content == release.bundle[10:20]
            kept = state / "releases" / "kiosk-0.2.0.tar.gz"
            kept.unlink()
            gone = gate.get(update["url"])
            assert gone.status_code == 503 and "cannot be read at the centre" in gone.json()["detail"]
            assert "nothing to do" in add(run, release)  # the same release again puts its file back
            assert gate.get(update["url"]).content == release.bundle
            stranger = requests.get(server.url + update["url"], timeout=10)
            assert stranger.status_code == 401
            for path in ("9.9.9", "..", "%2e%2e", "..%2F..%2Fetc%2Fpasswd", "0.2.0%00"):
                missing = gate.get(f"/api/v1/releases/{path}/bundle")
                assert missing.status_code in (404, 422), (path, missing.status_code)
                assert "detail" in missing.json()
            assert gate.get("/api/v1/releases/9.9.9/bundle").json() == {"detail": "no release '9.9.9' held here"}

            running = {"running": "0.2.0", "state": "probation", "target": "0.2.0", "error": None}
            assert gate.heartbeat({"backlog": 0, "version": "0.2.0", "update": running}).status_code == 204
            done = gate.config(offering)
            assert done.status_code == 200 and done.json()["update"] is None  # it runs 0.2.0 now
            with server.engine.connect() as conn:
                stored = conn.execute(select(devices.c.last_heartbeat).where(devices.c.id == gate.device_id)).scalar()
            assert stored["update"] == running


def test_release_list_counts_what_the_heartbeats_say(
    run: Run, engine: Engine, make_release: Callable[..., Release]
) -> None:
    places(engine)
    ids = fleet(engine, 7, "VP2")
    add(run, make_release("0.2.0"))
    add(run, make_release("0.3.0"))
    run("release", "rollout", "0.2.0", "--percent", "25", "--unit", "D1")
    said = [
        {"running": "0.2.0", "state": "ok", "target": None, "error": None},
        {"running": "0.1.0", "state": "installing", "target": "0.2.0", "error": None},
        {"running": "0.2.0", "state": "probation", "target": "0.2.0", "error": None},
        {"running": "0.1.0", "state": "rolled-back", "target": "0.2.0", "error": "health check failed"},
        {"running": "0.1.0", "state": "refused", "target": "0.3.0", "error": "signature does not verify"},
        None,  # a kiosk without an updater: its version only
    ]
    with engine.begin() as conn:
        for device_id, update in zip(ids, said, strict=False):
            body = {"backlog": 0, "version": "0.1.0", **({"update": update} if update else {})}
            record_heartbeat(conn, device_id, body, CREATED)
        conn.execute(devices.update().where(devices.c.id == ids[6]).values(revoked_at=CREATED, last_heartbeat={}))
    report = json.loads(run("release", "list", "--json").output)
    assert [e["version"] for e in report] == ["0.3.0", "0.2.0", "0.1.0"]
    by_version = {e["version"]: e for e in report}
    assert by_version["0.2.0"]["kiosks"] == {
        "running": 2,
        "installing": 1,
        "probation": 1,
        "rolled-back": 1,
        "refused": 0,
    }
    assert by_version["0.3.0"]["kiosks"] == {
        "running": 0,
        "installing": 0,
        "probation": 0,
        "rolled-back": 0,
        "refused": 1,
    }
    assert by_version["0.1.0"]["kiosks"]["running"] == 4 and by_version["0.1.0"]["held"] is False
    assert by_version["0.2.0"]["rollout"] == "active"
    assert (by_version["0.2.0"]["percent"], by_version["0.2.0"]["units"]) == (25, ["D1"])
    assert by_version["0.2.0"]["sha256"] == _sha(tarball("0.2.0")) and by_version["0.3.0"]["rollout"] is None
    text = run("release", "list").output
    assert "0.2.0  active 25 % + units D1" in text and "1 rolled-back" in text
    assert "0.1.0  (not held here: reported by kiosks)" in text


def test_the_bundle_route_is_in_the_committed_openapi_document() -> None:
    document = json.loads((Path(__file__).resolve().parent.parent / "central" / "openapi.json").read_text())
    route = document["paths"]["/api/v1/releases/{version}/bundle"]["get"]
    assert "application/gzip" in route["responses"]["200"]["content"]
