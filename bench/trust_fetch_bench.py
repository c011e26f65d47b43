"""Trust sources: the time to verify and import a signed list of N DSCs (central/trustsources/), on SQLite.

A list of --dscs test DSCs (EC P-256, self-signed, as tests/dccmaker.py makes them) is signed by an anchor key as
a national list is (signature line, then JSON). Measured, each the best of --repeat rounds into a fresh database:

- `signature_s`: the anchor's ECDSA check over the list's bytes alone;
- `verify_s`: `verify_list`: signature, then every entry (kid, thumbprint, certificate parsed, validity), then the
  whole list loaded as a kiosk loads it;
- `import_s`: `replace_entries`: the source's rows replaced in one transaction;
- baseline in the same run, `baseline_import_s`: the existing `trust import` path (`import_trust`) of the same
  certificates as a project-format trust list (docs/trust-list.md), which checks the list the kiosk's way too.

    .venv/bin/python bench/trust_fetch_bench.py [--dscs 2000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import add_repo_to_path, emit, machine

add_repo_to_path()

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from central.db import connect  # noqa: E402
from central.lists import import_trust  # noqa: E402
from central.trustsources.anchor import list_key  # noqa: E402
from central.trustsources.signedlist import verify  # noqa: E402
from central.trustsources.store import add_source, replace_entries, source, verify_list  # noqa: E402


def make_dscs(n: int) -> list[bytes]:
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, "DSC")])
    start = datetime.now(UTC) - timedelta(days=1)
    ders = []
    for _ in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=730))
            .sign(key, hashes.SHA256())
        )
        ders.append(cert.public_bytes(Encoding.DER))
    return ders


def signed_list(anchor: ec.EllipticCurvePrivateKey, ders: list[bytes]) -> bytes:
    entries = [
        {
            "certificateType": "DSC",
            "country": "VN",
            "kid": base64.b64encode(hashlib.sha256(der).digest()[:8]).decode(),
            "rawData": base64.b64encode(der).decode(),
            "thumbprint": hashlib.sha256(der).hexdigest(),
        }
        for der in ders
    ]
    body = json.dumps({"certificates": entries}).encode()
    return base64.b64encode(anchor.sign(body, ec.ECDSA(hashes.SHA256()))) + b"\n" + body


def project_list(ders: list[bytes]) -> dict[str, Any]:
    return {
        "certificates": [
            {
                "kid": base64.b64encode(hashlib.sha256(der).digest()[:8]).decode(),
                "country": "VN",
                "certificate": base64.b64encode(der).decode(),
            }
            for der in ders
        ]
    }


def one_round(folder: Path, i: int, anchor_pem: str, data: bytes, document: dict[str, Any]) -> dict[str, float]:
    now = datetime.now(UTC)
    engine = connect(f"sqlite:///{folder / f'fetch-{i}.db'}")
    with engine.begin() as conn:
        add_source(conn, "VN", None, "signed-list", anchor_pem, now)
        row = source(conn, "VN")
    started = time.perf_counter()
    verify(data, list_key(anchor_pem, "bench"), "bench")
    signature_s = time.perf_counter() - started
    started = time.perf_counter()
    converted = verify_list(row, data, now, "source VN")
    verify_s = time.perf_counter() - started
    started = time.perf_counter()
    with engine.begin() as conn:
        replace_entries(conn, row, converted, data, now)
    import_s = time.perf_counter() - started
    assert len(converted.entries) == len(document["certificates"])
    engine.dispose()
    baseline = connect(f"sqlite:///{folder / f'import-{i}.db'}")
    started = time.perf_counter()
    with baseline.begin() as conn:
        import_trust(conn, document, now)
    baseline_s = time.perf_counter() - started
    baseline.dispose()
    return {"signature_s": signature_s, "verify_s": verify_s, "import_s": import_s, "baseline_import_s": baseline_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--dscs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    anchor = ec.generate_private_key(ec.SECP256R1())
    anchor_pem = anchor.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    ders = make_dscs(args.dscs)
    data, document = signed_list(anchor, ders), project_list(ders)
    with tempfile.TemporaryDirectory() as tmp:
        rounds = [one_round(Path(tmp), i, anchor_pem, data, document) for i in range(args.repeat)]
    fastest = {key: round(min(r[key] for r in rounds), 4) for key in rounds[0]}
    total = fastest["verify_s"] + fastest["import_s"]
    emit(
        {
            "benchmark": "trust_fetch",
            "database": "sqlite",
            "dscs": args.dscs,
            "list_bytes": len(data),
            "repeat": args.repeat,
            **fastest,
            "verify_and_import_s": round(total, 4),
            "vs_baseline": round(total / fastest["baseline_import_s"], 2),
            "machine": machine(),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
