"""Signed updates (docs/updates.md): the kiosk takes an offered release only when it verifies with its own key and
is newer; the installer verifies it again and installs it with the release's own provision-pi.sh; a release that
does not prove healthy is rolled back; a tampered, older or unsigned one is never installed.

The installer runs the real provision-pi.sh against the fake OS root of tests/test_provision.py (its stand-ins
for apt, useradd and the venv's python), so the switch of /opt/kiosk/current and the rollback are the script's.
The centre's side is a stand-in here (the bundle by its url); tests/test_releases_centre.py covers the centre.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_provision import REPO, Fake, fake  # noqa: F401  (the fixture)

from kiosk.sync.client import Refused
from kiosk.sync.updates import Updates
from kiosk.update.install import Installer, Releases
from kiosk.update.manifest import ReleaseError, check_bundle, manifest_for, sign, verify
from kiosk.update.state import load_state

KEY = Ed25519PrivateKey.generate()
NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Centre:
    """What the kiosk's CentralClient.bundle does, from bundles held here by url."""

    def __init__(self) -> None:
        self.bundles: dict[str, bytes] = {}

    def bundle(self, url: str, limit: int) -> bytes:
        data = self.bundles[url]
        if len(data) > limit:
            raise Refused(f"the bundle is larger than its manifest says ({limit} bytes)")
        return data


def bundle_of(source: Path, version: str, *, broken: bool = False) -> bytes:
    """The release tarball of the fake source tree, as `git archive --prefix=kiosk-<version>/` makes it."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        archive.add(source, arcname=f"kiosk-{version}", filter=lambda info: info)
        script = REPO / "scripts" / "provision-pi.sh"
        if not broken:
            archive.add(script, arcname=f"kiosk-{version}/scripts/provision-pi.sh")
        else:  # a release whose install fails: its provision script exits with an error
            body = b"#!/bin/bash\necho 'provision: the venv could not be built' >&2\nexit 3\n"
            info = tarfile.TarInfo(f"kiosk-{version}/scripts/provision-pi.sh")
            info.size, info.mode = len(body), 0o755
            archive.addfile(info, io.BytesIO(body))
    return out.getvalue()


def offer(centre: Centre, source: Path, version: str, *, key: Ed25519PrivateKey = KEY, **bundle: Any) -> dict[str, Any]:
    data = bundle_of(source, version, **bundle)
    url = f"/api/v1/releases/{version}/bundle"
    centre.bundles[url] = data
    document = sign(manifest_for(version, f"kiosk-{version}.tar.gz", data, NOW), key)
    return {"version": version, "release": document, "url": url}


@pytest.fixture
def gate(fake: Fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:  # noqa: F811
    """A provisioned box (0.1.0 current), its state directory, the installer and the kiosk's updater."""
    fake.run()
    state = tmp_path / "var-lib-kiosk"
    state.mkdir()
    monkeypatch.setenv("PATH", f"{fake.host_bin}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(fake.log))
    monkeypatch.setenv("FAKE_OS_PYTHON", str(fake.os_python))
    clock, centre = Clock(), Centre()
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

    def kiosk(running: str) -> Updates:
        return Updates(state, centre, KEY.public_key(), running, clock)  # type: ignore[arg-type]

    return SimpleNamespace(fake=fake, state=state, clock=clock, centre=centre, installer=installer, kiosk=kiosk)


def test_two_releases_a_broken_one_rolled_back_and_a_tampered_one_refused(gate: Any) -> None:
    box, state, centre, installer = gate.fake, gate.state, gate.centre, gate.installer
    assert box.current() == "releases/0.1.0"

    # Release 0.2.0: verified by the kiosk, installed by the installer, kept once it has run long enough.
    assert gate.kiosk("0.1.0").offered(offer(centre, box.source, "0.2.0")) == "0.2.0"
    assert load_state(state).state == "installing" and (state / "updates" / "ready").read_text() == "0.2.0"
    said = installer.install_ready()
    assert "0.2.0 installed" in said and (box.current(), box.previous()) == ("releases/0.2.0", "releases/0.1.0")
    assert load_state(state).state == "probation" and not (state / "updates").exists()
    assert not gate.kiosk("0.2.0").confirm(up_s=30, confirm_s=120)  # not yet
    assert gate.kiosk("0.2.0").confirm(up_s=121, confirm_s=120)
    assert load_state(state).heartbeat("0.2.0") == {"running": "0.2.0", "state": "ok", "target": "0.2.0", "error": None}

    # Release 0.3.0 is installed but never proves healthy: the probation timer rolls it back, for good.
    assert gate.kiosk("0.2.0").offered(offer(centre, box.source, "0.3.0")) == "0.3.0"
    installer.install_ready()
    assert box.current() == "releases/0.3.0"
    assert installer.check().startswith("nothing to do")  # within its probation
    gate.clock.now += 901
    assert "rolled back to 0.2.0" in installer.check()
    assert (box.current(), box.previous()) == ("releases/0.2.0", "releases/0.3.0")  # as provision --rollback does
    rolled = load_state(state)
    assert (rolled.state, rolled.target, "0.3.0" in rolled.bad) == ("rolled-back", "0.3.0", True)
    assert gate.kiosk("0.2.0").offered(offer(centre, box.source, "0.3.0")) is None  # never again here

    # Release 0.4.0 is tampered with on its way: the kiosk refuses it and nothing reaches the installer.
    tampered = offer(centre, box.source, "0.4.0")
    data = bytearray(centre.bundles[tampered["url"]])
    data[-20] ^= 0xFF
    centre.bundles[tampered["url"]] = bytes(data)
    assert gate.kiosk("0.2.0").offered(tampered) is None
    refused = load_state(state)
    assert (refused.state, refused.target) == ("refused", "0.4.0") and "SHA-256" in (refused.error or "")
    assert installer.install_ready() == "nothing to install" and box.current() == "releases/0.2.0"


def test_a_release_that_fails_to_install_or_to_start_goes_back(gate: Any) -> None:
    box, state, centre, installer = gate.fake, gate.state, gate.centre, gate.installer
    gate.kiosk("0.1.0").offered(offer(centre, box.source, "0.2.0", broken=True))
    said = installer.install_ready()
    assert "provision-pi.sh failed (3): provision: the venv could not be built" in said
    failed = load_state(state)
    assert (failed.state, "0.2.0" in failed.bad, box.current()) == ("failed", True, "releases/0.1.0")

    gate.kiosk("0.1.0").offered(offer(centre, box.source, "0.2.1"))
    installer.install_ready()
    assert installer.rollback("the new release failed to start").startswith("rolled back to 0.1.0")  # OnFailure=
    assert box.current() == "releases/0.1.0" and load_state(state).error == "the new release failed to start"
    assert "no release on probation" in installer.rollback("a crash of a proven release")


def test_unsigned_wrongly_signed_older_and_respooled_releases_are_never_installed(gate: Any) -> None:
    box, state, centre, installer = gate.fake, gate.state, gate.centre, gate.installer
    stranger = offer(centre, box.source, "0.5.0", key=Ed25519PrivateKey.generate())
    assert gate.kiosk("0.1.0").offered(stranger) is None
    assert "not this kiosk's release key" in (load_state(state).error or "")
    forged = offer(centre, box.source, "0.5.1")
    forged["release"]["manifest"]["size"] += 1  # any change to the manifest breaks its signature
    assert gate.kiosk("0.1.0").offered(forged) is None and "does not verify" in (load_state(state).error or "")
    unsigned = offer(centre, box.source, "0.5.2")
    unsigned["release"].pop("signature")
    assert gate.kiosk("0.1.0").offered(unsigned) is None
    older = offer(centre, box.source, "0.0.9")
    assert gate.kiosk("0.1.0").offered(older) is None and "not newer than 0.1.0" in (load_state(state).error or "")

    # What is in the spool is verified again by root: a kiosk account that was broken into cannot install code.
    good = offer(centre, box.source, "0.6.0")
    gate.kiosk("0.1.0").offered(good)
    spooled = state / "updates" / "0.6.0" / "kiosk-0.6.0.tar.gz"
    spooled.write_bytes(bundle_of(box.source, "0.6.0", broken=True))
    assert "not installed" in installer.install_ready() and box.current() == "releases/0.1.0"


def test_the_manifest_says_what_is_wrong() -> None:
    data = b"\x1f\x8b" + b"x" * 100
    document = sign(manifest_for("1.0.0", "kiosk-1.0.0.tar.gz", data, NOW), KEY)
    manifest = verify(document, KEY.public_key())
    check_bundle(manifest, data)
    with pytest.raises(ReleaseError, match="bytes, the manifest says"):
        check_bundle(manifest, data + b"!")
    for change, message in [
        ({"version": "one"}, "is not a version"),
        ({"bundle": "../../etc/passwd"}, "manifest.bundle"),
        ({"sha256": "AB"}, "manifest.sha256"),
        ({"size": 0}, "manifest.size"),
    ]:
        body = json.loads(json.dumps(document["manifest"])) | change
        with pytest.raises(ReleaseError, match=message):
            verify(sign_raw(body), KEY.public_key())
    with pytest.raises(ReleaseError, match="an object with 'manifest'"):
        verify(["not", "a", "release"], KEY.public_key())


def sign_raw(body: dict[str, Any]) -> dict[str, Any]:
    import base64

    from kiosk.credentials.jcs import canonicalize
    from kiosk.update.manifest import key_id

    signature = base64.b64encode(KEY.sign(canonicalize(body))).decode()
    return {"manifest": body, "key_id": key_id(KEY.public_key()), "signature": signature}


def test_the_bundle_is_unpacked_with_no_path_out_of_its_tree(gate: Any) -> None:
    box, state, centre, installer = gate.fake, gate.state, gate.centre, gate.installer
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        info = tarfile.TarInfo("../../escaped")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"hi"))
    data = out.getvalue()
    centre.bundles["/api/v1/releases/0.7.0/bundle"] = data
    document = sign(manifest_for("0.7.0", "kiosk-0.7.0.tar.gz", data, NOW), KEY)
    gate.kiosk("0.1.0").offered({"version": "0.7.0", "release": document, "url": "/api/v1/releases/0.7.0/bundle"})
    said = installer.install_ready()
    assert "not installed" in said and not (state.parent / "escaped").exists()
    assert box.current() == "releases/0.1.0"
    shutil.rmtree(state / "updates", ignore_errors=True)


def test_provisioning_bakes_the_release_key_into_the_box(fake: Fake, tmp_path: Path) -> None:  # noqa: F811
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pub = tmp_path / "release-key.pub"
    pub.write_bytes(KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    bare = fake.run()
    assert "this kiosk takes no updates" in bare.stdout + bare.stderr
    fake.run("--release-key", str(pub))
    baked = fake.root / "etc/kiosk/release-key.pub"
    assert baked.read_bytes() == pub.read_bytes() and oct(baked.stat().st_mode & 0o777) == "0o644"
    again = fake.run("--release-key", str(pub))
    assert "release-key.pub: the release key" not in again.stdout  # in place
    pub.write_text("not a key\n")
    assert "not a PEM public key" in fake.run("--release-key", str(pub), check=False).stderr
