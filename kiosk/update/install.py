"""The installer's half of a signed update (docs/updates.md), run as root by systemd, never by the kiosk itself.

`install_ready` wakes when the kiosk has spooled a bundle: it verifies the release again with the key in
/etc/kiosk (root's copy: the unprivileged kiosk's word is not enough), unpacks it with tarfile's "data" filter
(no absolute paths, no links or paths out of the tree, no device files), and runs the release's own
`scripts/provision-pi.sh --source <tree> --version <version>`, which builds the release beside the running one,
switches /opt/kiosk/current to it (previous: the old one) and restarts the kiosk. The new release is then on
probation: unless the kiosk running it marks the update "ok" before the deadline, `check` (a timer) rolls back;
`rollback` is also what the kiosk unit's OnFailure= runs when the new release cannot even start. Rolling back
points current at previous again, as `provision-pi.sh --rollback` does, restarts the kiosk, and remembers the
version as bad so that it is never installed again here.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kiosk.update.manifest import ReleaseError, check_bundle, newer, verify
from kiosk.update.state import READY, SPOOL, UpdateState, load_state, save_state

log = logging.getLogger(__name__)

PROBATION_S = 15 * 60.0
# A kiosk that failed into its start limit must be reset before it can be started again.
RESTART = ("sh", "-c", "systemctl reset-failed kiosk.service; systemctl restart kiosk.service")
PROVISION = ("bash", "{tree}/scripts/provision-pi.sh", "--source", "{tree}", "--version", "{version}")


@dataclass(frozen=True)
class Releases:
    """The release layout provision-pi.sh makes: <root>/releases/<version>, <root>/current, <root>/previous."""

    root: Path = Path("/opt/kiosk")

    def version_of(self, link: str) -> str | None:
        try:
            return (self.root / link).readlink().name
        except OSError:
            return None

    def swap(self) -> tuple[str, str]:
        """current <-> previous, each link replaced by a rename (never missing); (now current, now previous)."""
        current, previous = self.version_of("current"), self.version_of("previous")
        if previous is None or not (self.root / "releases" / previous).is_dir():
            raise ReleaseError("no previous release to go back to")
        for link, version in (("current", previous), ("previous", current)):
            if version is None:
                continue
            tmp = self.root / f".{link}.tmp"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(Path("releases") / version)
            tmp.replace(self.root / link)
        return previous, current or ""


@dataclass
class Installer:
    state_dir: Path
    key: Ed25519PublicKey
    releases: Releases
    wall: Callable[[], float]
    provision: Sequence[str] = PROVISION
    restart: Sequence[str] = RESTART
    probation_s: float = PROBATION_S
    timeout_s: float = 1800.0

    def install_ready(self) -> str:
        """Install the spooled release; a line saying what happened (for the journal)."""
        spool = self.state_dir / SPOOL
        try:
            version = (spool / READY).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return "nothing to install"
        state = load_state(self.state_dir)
        try:
            tree_parent, tree = self._verified_tree(spool / version, version)
        except (ReleaseError, OSError, tarfile.TarError) as exc:
            return self._fail(state, version, f"not installed: {exc}", spool)
        try:
            done = self._run(self.provision, tree=tree, version=version)
        finally:
            shutil.rmtree(tree_parent, ignore_errors=True)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
            return self._fail(state, version, f"provision-pi.sh failed ({done.returncode}): {tail[0][:200]}", spool)
        deadline = self.wall() + self.probation_s
        save_state(
            self.state_dir, state.moved("probation", at=self.wall(), target=version, error=None, deadline=deadline)
        )
        _clear(spool)
        return f"{version} installed and switched to; on probation for {self.probation_s / 60:.0f} min"

    def check(self) -> str:
        """The probation timer: roll back a release that has not proved healthy by its deadline."""
        state = load_state(self.state_dir)
        if state.state != "probation" or state.deadline is None or self.wall() < state.deadline:
            return f"nothing to do ({state.state})"
        return self.rollback(f"{state.target} did not prove healthy within {self.probation_s / 60:.0f} min")

    def rollback(self, reason: str) -> str:
        """Back to the previous release (a release on probation only: a crash of a proven release is systemd's
        to restart, not a reason to go back)."""
        state = load_state(self.state_dir)
        if state.state != "probation":
            return f"no release on probation ({state.state}): nothing rolled back"
        bad = state.target or ""
        try:
            now_current, _ = self.releases.swap()
        except ReleaseError as exc:
            save_state(self.state_dir, state.moved("failed", at=self.wall(), error=f"{reason}; {exc}"))
            return f"cannot roll back: {exc}"
        save_state(
            self.state_dir,
            state.moved("rolled-back", at=self.wall(), error=reason, deadline=None, bad=state.marked_bad(bad)),
        )
        self._run(self.restart)
        return f"rolled back to {now_current}: {reason}"

    def _verified_tree(self, folder: Path, version: str) -> tuple[Path, Path]:
        document = json.loads((folder / "release.json").read_text(encoding="utf-8"))
        manifest = verify(document, self.key)
        if manifest.version != version:
            raise ReleaseError(f"the spool names {version!r}, the signed manifest {manifest.version!r}")
        running = self.releases.version_of("current")
        if running is not None and not newer(version, running):
            raise ReleaseError(f"{version} is not newer than {running}, which is current")
        bundle = (folder / manifest.bundle).read_bytes()
        check_bundle(manifest, bundle)
        parent = Path(tempfile.mkdtemp(prefix=f"kiosk-{version}-", dir=self.state_dir))
        with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as archive:
            archive.extractall(parent, filter="data")
        tops = [p for p in parent.iterdir()]
        tree = tops[0] if len(tops) == 1 and tops[0].is_dir() else parent
        if not (tree / "scripts" / "provision-pi.sh").is_file():
            shutil.rmtree(parent, ignore_errors=True)
            raise ReleaseError("the bundle has no scripts/provision-pi.sh: not a kiosk release tree")
        return parent, tree

    def _fail(self, state: UpdateState, version: str, why: str, spool: Path) -> str:
        log.error("update %s: %s", version, why)
        save_state(
            self.state_dir,
            state.moved("failed", at=self.wall(), target=version, error=why, bad=state.marked_bad(version)),
        )
        _clear(spool)
        return why

    def _run(self, command: Sequence[str], **names: object) -> subprocess.CompletedProcess[str]:
        argv = [part.format(**{k: str(v) for k, v in names.items()}) for part in command]
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return subprocess.CompletedProcess(argv, 127, "", f"{type(exc).__name__}: {exc}")


def _clear(spool: Path) -> None:
    shutil.rmtree(spool, ignore_errors=True)
