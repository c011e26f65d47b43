"""A kiosk's update: download, verify, install and switch time for the project's own release tarball.

A real centre on loopback (LocalCentral, SQLite) holds a release made with `git archive` of HEAD (as
`scripts/release.py bundle` makes it), signed with a throwaway release key, rolled out to 100 %. A kiosk enrolled
there pulls its config, fetches and verifies the bundle (`Updates.offered`: signature, SHA-256, spool, with
fsync), then the installer verifies it again, unpacks it and runs the release's own provision-pi.sh, which
switches /opt/kiosk/current, on the fake OS root of tests/test_provision.py (its python stands in for the venv
build: building a venv on a Pi is not measured here). Baselines in the same run: a plain `requests.get` of the
same bundle, and reading it from disk with its SHA-256.

    .venv/bin/python bench/update_bench.py [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from common import ROOT, add_repo_to_path, emit, machine, pct

add_repo_to_path()
sys.path.insert(0, str(ROOT / "tests"))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402
from test_provision import Fake  # noqa: E402

from central.admin import make_enroll_code  # noqa: E402
from central.releases import rollout  # noqa: E402
from central.releases.store import add_release, default_key_path, releases_dir  # noqa: E402
from central.timeutil import utcnow  # noqa: E402
from kiosk.config import KioskConfig  # noqa: E402
from kiosk.demo.central import LocalCentral  # noqa: E402
from kiosk.sync.client import CentralClient  # noqa: E402
from kiosk.sync.enrol import enrol_device  # noqa: E402
from kiosk.sync.identity import load_enrolment, load_key  # noqa: E402
from kiosk.sync.updates import Updates  # noqa: E402
from kiosk.update.install import Installer, Releases  # noqa: E402
from kiosk.update.manifest import manifest_for, sign  # noqa: E402
from kiosk.update.state import load_state, save_state  # noqa: E402

SECRET = b"b" * 32


def git_bundle(version: str, out: Path) -> Path:
    target = out / f"kiosk-{version}.tar.gz"
    git = shutil.which("git") or "git"
    subprocess.run(
        [git, "-C", str(ROOT), "archive", "--format=tar.gz", f"--prefix=kiosk-{version}/", "-o", str(target), "HEAD"],
        check=True,
    )
    return target


def run(rounds: int, work: Path) -> dict[str, Any]:
    key = Ed25519PrivateKey.generate()
    (work / "central").mkdir()
    timings: dict[str, list[float]] = {"download_verify_spool": [], "install_switch": [], "raw_get": [], "disk": []}
    size = 0
    with LocalCentral(work / "central", SECRET) as central:
        central.venue_with_code(("67", "Tỉnh Đắk Nông"), ("BV-DN", "Bệnh viện Đắk Nông"), "hospital")
        url = str(central.engine.url)
        default_key_path(url).write_bytes(
            key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        )
        with central.engine.begin() as conn:
            code = make_enroll_code(conn, "BV-DN", utcnow())
        state = work / "state"
        enrol_device(KioskConfig.model_validate({"state_dir": str(state)}), central.url, code, None)
        enrolment = load_enrolment(state)
        assert enrolment is not None
        client = CentralClient(central.url, enrolment.device_id, load_key(state))
        fake = Fake(work / "box")
        os.environ.update(
            PATH=f"{fake.host_bin}:{os.environ['PATH']}", FAKE_LOG=str(fake.log), FAKE_OS_PYTHON=str(fake.os_python)
        )
        fake.run()
        provision = ("bash", "{tree}/scripts/provision-pi.sh", "--root", str(fake.root), "--source", "{tree}")
        installer = Installer(
            state,
            key.public_key(),
            Releases(fake.root / "opt/kiosk"),
            time.time,
            provision=(*provision, "--version", "{version}"),
            restart=("true",),
        )
        for n in range(rounds):
            version = f"0.2.{n}"
            bundle = git_bundle(version, work)
            data = bundle.read_bytes()
            size = len(data)
            document = sign(manifest_for(version, bundle.name, data, utcnow()), key)
            with central.engine.begin() as conn:
                add_release(conn, document, bundle, key.public_key(), releases_dir(url), now=utcnow(), actor="bench")
                rollout.start(conn, version, 100, (), utcnow())
            answer = client.config(None)
            assert answer is not None
            running = installer.releases.version_of("current") or "0.1.0"
            updates = Updates(state, client, key.public_key(), running, time.time)
            updates.remember(answer[0])
            started = time.perf_counter()
            assert updates.retry() == version
            timings["download_verify_spool"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            said = installer.install_ready()
            timings["install_switch"].append((time.perf_counter() - started) * 1000)
            assert "installed" in said, said
            save_state(state, load_state(state).moved("ok", at=time.time()))
            token = client._bearer()
            started = time.perf_counter()
            raw = requests.get(
                f"{central.url}/api/v1/releases/{version}/bundle",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            timings["raw_get"].append((time.perf_counter() - started) * 1000)
            assert raw.content == data
            started = time.perf_counter()
            hashlib.sha256(bundle.read_bytes()).hexdigest()
            timings["disk"].append((time.perf_counter() - started) * 1000)
    return {
        "bundle_bytes": size,
        "rounds": rounds,
        "download_verify_spool_ms": pct(timings["download_verify_spool"]),
        "install_and_switch_ms": pct(timings["install_switch"]),
        "baseline_raw_get_ms": pct(timings["raw_get"]),
        "baseline_read_and_hash_ms": pct(timings["disk"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as name:
        result = run(args.rounds, Path(name))
    emit({"benchmark": "update", "machine": machine(), **result}, args.json)


if __name__ == "__main__":
    main()
