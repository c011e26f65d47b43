"""The kiosk's half of a signed update (docs/updates.md): take the centre's offer, verify it with the release key
baked into the image, fetch the bundle, check it, and leave it in the spool for the installer (root), which
verifies it again before it installs anything.

Runs in the sync thread after a config pull. Nothing here is trusted because the centre sent it: the signature
must verify with this kiosk's own copy of the key, the version must be newer than the one running and not one
that failed here before, and the bundle must be the manifest's byte for byte.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kiosk.sync.client import CentralClient, Refused, Retryable
from kiosk.update.manifest import Manifest, ReleaseError, check_bundle, newer, verify
from kiosk.update.state import READY, SPOOL, UpdateState, load_state, save_state

log = logging.getLogger(__name__)
OFFER_FILE = "update-offer.json"  # the last offer, so that a fetch that failed is tried again after a 304 or a restart


class Updates:
    """Acts on the `update` field of the config document."""

    def __init__(
        self,
        state_dir: Path,
        client: CentralClient,
        key: Ed25519PublicKey | None,
        running: str,
        wall: Callable[[], float],
    ) -> None:
        self.state_dir = state_dir
        self.client = client
        self.key = key  # None: no release key on this box, so no update is ever taken (said once)
        self.running = running
        self.wall = wall
        self._said_no_key = False

    def remember(self, document: dict[str, Any]) -> None:
        """Keep the config document's offer (or its withdrawal) for `offered` to act on at every pull."""
        offer = document.get("update")
        path = self.state_dir / OFFER_FILE
        if offer is None:
            path.unlink(missing_ok=True)
        elif isinstance(offer, dict):
            _write(path, json.dumps(offer).encode())

    def retry(self) -> str | None:
        """Act on the last offer remembered (each pull: cheap when it is staged, on its way, or refused)."""
        try:
            offer = json.loads((self.state_dir / OFFER_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return self.offered(offer)

    def confirm(self, up_s: float, confirm_s: float) -> bool:
        """Keep the release on probation if it is this one and has run `confirm_s`: its loop fed systemd's
        watchdog all along (a stalled loop is killed within WatchdogSec), and its sync thread is alive to say so.
        Reaching the centre is not asked: a centre that is down must not roll back a good release. True when it
        was confirmed now."""
        state = load_state(self.state_dir)
        if state.state != "probation" or state.target != self.running or up_s < confirm_s:
            return False
        save_state(self.state_dir, state.moved("ok", at=self.wall(), deadline=None, error=None))
        log.info("update %s confirmed: it runs and reaches the centre", self.running)
        return True

    def offered(self, offer: Any) -> str | None:
        """Stage the offered release for the installer if it is good; the version staged, else None."""
        if not isinstance(offer, dict):
            return None
        if self.key is None:
            if not self._said_no_key:
                log.warning("the centre offers an update but this kiosk has no release key: not taken")
                self._said_no_key = True
            return None
        state = load_state(self.state_dir)
        version = str(offer.get("version", ""))[:40]
        if version in state.bad or (state.state in ("installing", "probation") and state.target == version):
            return None  # refused before, or on its way
        try:
            manifest = verify(offer.get("release"), self.key)
            if manifest.version != version:
                raise ReleaseError(f"offered as {version!r} but the signed manifest says {manifest.version!r}")
            if not newer(manifest.version, self.running):
                raise ReleaseError(f"{manifest.version} is not newer than {self.running}, which runs here")
            bundle = self.client.bundle(str(offer.get("url", "")), manifest.size)
            check_bundle(manifest, bundle)
        except (ReleaseError, Refused) as exc:
            self._refuse(state, version, str(exc))
            return None
        except Retryable as exc:
            log.warning("update %s: the bundle could not be fetched (%s); trying again at the next pull", version, exc)
            return None
        self._spool(manifest, offer["release"], bundle)
        save_state(self.state_dir, state.moved("installing", at=self.wall(), target=version, error=None))
        log.info("update %s verified and handed to the installer", version)
        return version

    def _refuse(self, state: UpdateState, version: str, why: str) -> None:
        log.error("update %s refused: %s", version or "?", why)
        bad = state.marked_bad(version) if version else state.bad
        save_state(self.state_dir, state.moved("refused", at=self.wall(), target=version or None, error=why, bad=bad))

    def _spool(self, manifest: Manifest, document: dict[str, Any], bundle: bytes) -> None:
        """The bundle and its signed document under <state_dir>/updates/<version>/, then "ready" naming it: the
        installer's path unit wakes on that last rename, when everything it needs is whole on disk."""
        spool = self.state_dir / SPOOL
        folder = spool / manifest.version
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / manifest.bundle, bundle)
        _write(folder / "release.json", json.dumps(document).encode())
        _write(spool / READY, manifest.version.encode())


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
