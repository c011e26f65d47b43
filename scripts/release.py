#!/usr/bin/env python3
"""The release manager's tool, on the offline machine that holds the release key (docs/updates.md).

    scripts/release.py keygen --private-out /media/usb/release.key --public-out release-key.pub
    scripts/release.py bundle --version 0.2.0 --out dist/            # git archive of HEAD: kiosk-0.2.0.tar.gz
    scripts/release.py sign --key /media/usb/release.key dist/kiosk-0.2.0.tar.gz --version 0.2.0

`sign` writes kiosk-<version>.release.json beside the bundle; both go to the centre (`kiosk-central release
add`). The private key file is written 0600 and never leaves the offline machine; the public one is baked into
the image (/etc/kiosk/release-key.pub, `provision-pi.sh --release-key`) and given to the centre.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import (  # noqa: E402
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from kiosk.update.manifest import ReleaseError, manifest_for, sign  # noqa: E402


def keygen(private_out: Path, public_out: Path) -> None:
    key = Ed25519PrivateKey.generate()
    fd = os.open(private_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public_out.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    print(f"private key: {private_out} (0600, keep it offline); public key: {public_out}")


def bundle(version: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    target = out.resolve() / f"kiosk-{version}.tar.gz"
    git = shutil.which("git") or "git"
    subprocess.run(
        [git, "-C", str(ROOT), "archive", "--format=tar.gz", f"--prefix=kiosk-{version}/", "-o", str(target), "HEAD"],
        check=True,
    )
    print(target)
    return target


def sign_bundle(key_file: Path, path: Path, version: str) -> Path:
    key = load_pem_private_key(key_file.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ReleaseError(f"{key_file}: not an Ed25519 private key")
    document = sign(manifest_for(version, path.name, path.read_bytes(), datetime.now(UTC)), key)
    target = path.with_name(f"kiosk-{version}.release.json")
    target.write_text(json.dumps(document, indent=2) + "\n")
    print(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("keygen")
    gen.add_argument("--private-out", type=Path, required=True)
    gen.add_argument("--public-out", type=Path, required=True)
    pack = commands.add_parser("bundle")
    pack.add_argument("--version", required=True)
    pack.add_argument("--out", type=Path, default=Path("dist"))
    signer = commands.add_parser("sign")
    signer.add_argument("--key", type=Path, required=True)
    signer.add_argument("bundle", type=Path)
    signer.add_argument("--version", required=True)
    args = parser.parse_args()
    try:
        if args.command == "keygen":
            keygen(args.private_out, args.public_out)
        elif args.command == "bundle":
            bundle(args.version, args.out)
        else:
            sign_bundle(args.key, args.bundle, args.version)
    except (OSError, ValueError, subprocess.CalledProcessError) as exc:
        sys.exit(f"release: {exc}")


if __name__ == "__main__":
    main()
