"""Adding a release: its signed document is verified with the centre's copy of the release key, its bundle is
checked against the manifest, and only then kept: the file under `<state dir>/releases/`, the row in `releases`.

The centre checks what every kiosk will check again with its own key, so that a release no kiosk would install is
refused here, by the person adding it, rather than found out by a fleet of refusals. A version is released once:
adding it again with the same bundle changes nothing, with another bundle is refused.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, select

from central.errors import CentralError, Conflict
from central.releases.tables import releases
from central.statedir import ensure_state_dir, state_dir
from kiosk.update.manifest import MAX_BUNDLE, Manifest, ReleaseError, check_bundle, key_id, load_public_key, verify

KEY_FILE = "release-key.pub"
RELEASES = "releases"
VERSION = re.compile(r"^[0-9A-Za-z.+!_-]{1,64}$")  # what a PEP 440 version is written with, and safe in a URL


@dataclass(frozen=True)
class Added:
    manifest: Manifest
    new: bool  # False: the same release was held already


def releases_dir(db_url: str) -> Path:
    """Where the bundles of the centre whose database is `db_url` are kept (not created here)."""
    return state_dir(db_url) / RELEASES


def default_key_path(db_url: str) -> Path:
    return state_dir(db_url) / KEY_FILE


def read_key(path: Path) -> Ed25519PublicKey:
    """The release key's public half from a PEM file; a CentralError saying what is wrong with it."""
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise CentralError(
            f"{path}: cannot read the release key ({exc.strerror}): put the release key's public half (PEM) there, "
            "or give it with --release-key"
        ) from None
    try:
        return load_public_key(pem)
    except ReleaseError as exc:
        raise CentralError(f"{path}: {exc}") from None


def read_document(path: Path) -> Any:
    """A signed release document (`kiosk-<version>.release.json`) as JSON; a CentralError when it is not."""
    try:
        return json.loads(path.read_bytes())
    except OSError as exc:
        raise CentralError(f"{path}: cannot read the release document ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CentralError(f"{path}: the release document is not JSON: {exc}") from None


def add_release(
    conn: Connection,
    document: Any,
    bundle_path: Path,
    key: Ed25519PublicKey,
    directory: Path,
    *,
    now: datetime,
    actor: str,
) -> Added:
    """Verify and keep a release; the bundle file is in place before the row is written, so a held release always
    has its bundle. Raises CentralError (the reason) for a release no kiosk would install."""
    if isinstance(document, dict) and document.get("key_id") != key_id(key):
        raise CentralError(
            f"release refused: signed with key {str(document.get('key_id'))[:20]!r}, not with the centre's release key"
            f" ({key_id(key)}): check --release-key, or the release was not signed by the release manager"
        )
    try:
        manifest = verify(document, key)
    except ReleaseError as exc:
        raise CentralError(f"release refused: {exc}") from None
    if not VERSION.match(manifest.version):
        raise CentralError(f"release refused: version {manifest.version[:70]!r}: at most 64 of 0-9 A-Z a-z . + ! _ -")
    bundle = _read_bundle(bundle_path, manifest)
    try:
        check_bundle(manifest, bundle)
    except ReleaseError as exc:
        raise CentralError(f"release refused: {bundle_path}: {exc}") from None
    held = conn.execute(select(releases.c.sha256).where(releases.c.version == manifest.version)).first()
    if held is not None:
        if held.sha256 != manifest.sha256:
            raise Conflict(
                f"release {manifest.version} is held already with another bundle (SHA-256 {held.sha256[:16]}…): "
                "a version is released once; sign the new bundle as a new version"
            )
        _keep(directory, manifest.bundle, bundle)  # the same release: put its file back should it have gone
        return Added(manifest, new=False)
    other = conn.execute(select(releases.c.version).where(releases.c.bundle == manifest.bundle)).first()
    if other is not None:
        raise Conflict(f"release refused: the bundle name {manifest.bundle} is release {other.version}'s already")
    _keep(directory, manifest.bundle, bundle)
    conn.execute(
        releases.insert().values(
            version=manifest.version,
            bundle=manifest.bundle,
            sha256=manifest.sha256,
            size=manifest.size,
            manifest=manifest.as_json(),
            document=document,
            added_at=now,
            added_by=actor[:96],
        )
    )
    return Added(manifest, new=True)


def bundle_path(directory: Path, bundle: str) -> Path:
    """The file of a held bundle; CentralError if the name would lead out of `directory` (a row altered by hand)."""
    path = directory / bundle
    if path.parent != directory or bundle in ("", ".", "..") or "/" in bundle or "\\" in bundle:
        raise CentralError(f"bundle name {bundle[:60]!r} is not a plain file name")
    return path


def _read_bundle(path: Path, manifest: Manifest) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_BUNDLE or size != manifest.size:  # not read whole when it cannot be the one
            raise CentralError(f"release refused: {path}: bundle is {size} bytes, the manifest says {manifest.size}")
        return path.read_bytes()
    except OSError as exc:
        raise CentralError(f"{path}: cannot read the bundle ({exc.strerror})") from None


def _keep(directory: Path, name: str, data: bytes) -> None:
    """Write the bundle as `directory/name` whole or not at all: a temporary file, fsync, rename, fsync of the
    directory, so that a power cut never leaves a short bundle under the release's name."""
    ensure_state_dir(directory.parent)
    ensure_state_dir(directory)
    target = bundle_path(directory, name)
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            Path(temporary).replace(target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise CentralError(f"cannot keep the bundle in {directory} ({exc.strerror})") from None
