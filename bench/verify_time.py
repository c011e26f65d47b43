"""Time to read and verify one credential, offline, with a trust list of 10,000 signing keys.

The trust list holds 10,000 DCC signing certificates (9,999 EC P-256 and one RSA-2048), loaded from the JSON
format of docs/trust-list.md. Timed per credential, from the QR text to the verdict: base45, zlib, COSE, CBOR,
the key lookup by kid, the signature, the validity checks. The baseline is the signature check alone with
`cryptography`, on the same message and key, in the same run: what no implementation can go below.

    .venv/bin/python bench/verify_time.py [--keys 10000] [--rounds 1000] [--json]
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from datetime import timedelta
from typing import Any

from common import ROOT, add_repo_to_path, emit, machine, pct, timed_ms

add_repo_to_path()
sys.path.insert(0, str(ROOT / "tests"))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402
from dccmaker import T0, Signer, make_hc1, make_signer  # noqa: E402

from kiosk.credentials.base45 import b45decode  # noqa: E402
from kiosk.credentials.context import VerifyContext  # noqa: E402
from kiosk.credentials.cose import parse_sign1  # noqa: E402
from kiosk.credentials.hc1 import parse_hc1  # noqa: E402
from kiosk.credentials.trust import TrustStore  # noqa: E402


def trust_list(signers: list[Signer], filler: int) -> dict[str, Any]:
    """JSON of `filler` EC certificates plus `signers`, as a central server would distribute it."""
    fillers = (make_signer("ES256") for _ in range(filler))
    entries = [{"country": "XX", "certificate": base64.b64encode(s.der).decode()} for s in fillers]
    entries += [{"country": "VN", "certificate": base64.b64encode(s.der).decode()} for s in signers]
    return {"issued_at": T0.isoformat(), "certificates": entries}


def signature_only(signer: Signer, text: str) -> Any:
    import zlib

    sign1 = parse_sign1(zlib.decompress(b45decode(text[4:])))
    message, signature, key = sign1.to_be_signed(), sign1.signature, signer.key.public_key()
    if signer.alg == "ES256":
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        return lambda: key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO)
    return lambda: key.verify(signature, message, pss, hashes.SHA256())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    signers = {"ES256": make_signer("ES256"), "PS256": make_signer("PS256")}
    data = trust_list(list(signers.values()), args.keys - len(signers))
    started = time.perf_counter()
    trust = TrustStore.from_json(data)
    load_s = time.perf_counter() - started
    ctx = VerifyContext(trust, T0 + timedelta(days=30))
    results: dict[str, Any] = {}
    for alg, signer in signers.items():
        text = make_hc1(signer)
        assert parse_hc1(text, ctx).valid  # type: ignore[union-attr]
        results[alg] = {
            "verify_ms": pct(timed_ms(lambda t=text: parse_hc1(t, ctx), args.rounds)),
            "signature_only_ms": pct(timed_ms(signature_only(signer, text), args.rounds)),
        }
    emit(
        {
            "benchmark": "verify_time",
            "machine": machine(),
            "trust_list_keys": sum(len(v) for v in trust.dcc.values()),
            "trust_list_load_s": round(load_s, 2),
            "results": results,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
