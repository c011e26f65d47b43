"""Hostile input: every parser a stranger's QR text reaches, and the decode path, fed mutated real codes.

Structure-aware mutation of valid codes (the DCC test vectors, the SMART Health Card examples, the ICAO VDS-NC
seals, a signed declaration pass, CCCD and PC-Covid texts) and of signed certificates whose CBOR is no JSON data
(byte-string keys, nested tags, huge integers, NaN, deep nesting, cycles: tests/dccmaker.py, issue 12): text
edits, and edits inside each layer (base45 -> zlib -> COSE/CBOR; shc digits -> JWS -> DEFLATE -> JSON; JSON
values; pipe-separated fields), so most inputs get past the first check. What `kiosk verify` prints of each
code, as JSON and as text, must encode as strict JSON and UTF-8 (the verify-output target). The decode path
gets QR images of hostile texts, corrupted and odd-shaped frames, and mutated PNG/JPEG bytes as the centre's
tracing page receives them. The centre's request bodies get mutated
uploads (plain and gzip). Then, where atheris installs (x86_64), libFuzzer's coverage-guided search runs on
`read_credential` in a child process, seeded with the same codes.

Per target: inputs, crashes (anything raised but the target's own typed error; the input is saved to
--crash-dir), hangs (an input over 50 ms wall in each of three tries: one slow try on a loaded machine is a
pause, not the input's cost; 1 s for the centre's tracing page, which reads a still picture with every decoder
and no time budget while a person waits), per-input wall p50/p99/max and CPU time. The baseline, measured in the
same run: the same calls on the valid, unmutated codes.

    .venv/bin/python bench/fuzz.py [--inputs 100000] [--seed 1] [--atheris 20000] [--crash-dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import gc
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import ROOT, add_repo_to_path, emit, machine

add_repo_to_path()

import cbor2  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import segno  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402

from central.api import _upload_body  # noqa: E402
from central.errors import CentralError  # noqa: E402
from central.subjects import SubjectError, text_in_image  # noqa: E402
from kiosk.clock import FakeClock  # noqa: E402
from kiosk.credentials import read_credential  # noqa: E402
from kiosk.credentials.accesspass import AccessClaims, issue_access_pass  # noqa: E402
from kiosk.credentials.base import CredentialError  # noqa: E402
from kiosk.credentials.base45 import b45decode, b45encode  # noqa: E402
from kiosk.credentials.context import VerifyContext  # noqa: E402
from kiosk.credentials.cose import key_id  # noqa: E402
from kiosk.credentials.passes import PassClaims, issue_pass  # noqa: E402
from kiosk.credentials.reader import PARSERS  # noqa: E402
from kiosk.credentials.subject import SubjectKeyer  # noqa: E402
from kiosk.credentials.trust import TrustStore, signer_from_certificate  # noqa: E402
from kiosk.credentials.verifier import Verifier  # noqa: E402
from kiosk.decode import DecoderChain  # noqa: E402
from kiosk.decode.opencv import OpenCVDecoder  # noqa: E402
from kiosk.decode.zbar import ZbarDecoder  # noqa: E402
from kiosk.decode.zxing import ZxingDecoder  # noqa: E402
from kiosk.ops.verifyreport import SubjectKeying, report_text, verification_report  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from dccmaker import hostile_payloads, make_hc1, make_signer  # noqa: E402

DATA = ROOT / "tests" / "data"
HANG_S = 0.050
NOW = datetime(2021, 9, 1, tzinfo=UTC)
HOSTILE = [
    "'; DROP TABLE events; --",
    "$(reboot)`id`;|&>/tmp/x",
    "%s%n{0}{__class__}",
    "\x1b[2J\x1b]0;owned\x07",
    "\r\nFAKE LOG LINE\n",
    '<speak><prosody rate="x-fast">open</prosody></speak>',
    "[[pbas 0]]\x00\u202e\ufeff",
]
NESTED = ["[" * 1500, '{"a":' * 1000, "\x81" * 1500, "\x9f" * 1000]  # deeper than the recursion limit
SEEDS_CCCD_PCCOVID = [
    "001090012345|123456789|Nguyễn Văn An|01021990|Nam|Số 12 Phố Huế, Phường Hàng Bài, Hà Nội|15082021",
    "079201000001||Trần Thị Bình|31121985|Nữ|Phường 1, Quận 3, TP Hồ Chí Minh|01012022",
    "001090012345|NGUYEN VAN AN|1990-02-01|1|Q0123456789ABCDE|<1<0912345678<",
    "0010900*****|NGUYEN VAN AN|19**-**-**|0|Q0123456789ABCDE",
]


# ---------------------------------------------------------------- seeds: real codes and the keys to verify them


@dataclass
class Seeds:
    texts: dict[str, list[str]]
    shc_chunks: list[str]
    ctx: VerifyContext
    hostile: list[str]  # signed HC1 codes whose CBOR is no JSON data: seeds to mutate, not the valid baseline

    def valid(self, family: str) -> list[str]:
        return [t for t in self.texts[family] if t not in self.hostile]


def seeds() -> Seeds:
    trust = TrustStore()
    hc1 = []
    for path in sorted((DATA / "dcc").glob("**/*.json")):
        vector = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(vector.get("PREFIX"), str) and vector["PREFIX"].startswith("HC1:"):
            hc1.append(vector["PREFIX"])
            cert = vector.get("TESTCTX", {}).get("CERTIFICATE")
            if cert:
                with contextlib.suppress(ValueError):  # some vectors carry a deliberately broken certificate
                    trust.add_dcc_certificate(base64.b64decode(cert), {}, path.name)
    shc_dir = DATA / "shc"
    jwks = json.loads((shc_dir / "issuer" / ".well-known" / "jwks.json").read_text())
    trust.shc_issuers.update(TrustStore.from_json({"shc_issuers": [{"iss": _SHC_ISS, "jwks": jwks}]}).shc_issuers)
    shc = [(shc_dir / f"example-0{n}-f-qr-code-numeric-value-0.txt").read_text().strip() for n in (0, 1, 3)]
    chunks = [(shc_dir / f"example-02-f-qr-code-numeric-value-{p}.txt").read_text().strip() for p in range(3)]
    pem = (DATA / "vdsnc" / "AUS_CSCA.pem").read_bytes()
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    trust.cscas.append(signer_from_certificate(der, "AUS_CSCA.pem", "AU"))
    vds = [p.read_text() for p in sorted((DATA / "vdsnc").glob("*.json"))]
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"fuzz pass key").digest())
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = key_id(raw)
    b64 = base64.b64encode
    pass_trust = TrustStore.from_json({"pass_keys": [{"kid": b64(kid).decode(), "public_key": b64(raw).decode()}]})
    trust.pass_keys.update(pass_trust.pass_keys)
    claims = PassClaims("0123456789abcdef0123456789abcdef", NOW, "green", NOW + timedelta(hours=24), b"d-1", "VN-67")
    badge = AccessClaims(claims.subject_key, NOW, NOW + timedelta(days=30), bytes(range(16)), "VN-67", "badge", "F-1")
    ticket = dataclasses.replace(badge, type="ticket", subject_key=bytes(range(16)).hex(), single_use=True)
    passes = [issue_pass(claims, key, kid), issue_access_pass(badge, key, kid), issue_access_pass(ticket, key, kid)]
    signer = make_signer("ES256")  # trusted, so that a hostile payload gets past the signature to the fields
    trust.add_dcc_certificate(signer.der, {"country": "VN"}, "fuzz-hostile")
    hostile = [make_hc1(signer, payload=payload) for payload in hostile_payloads().values()]
    texts = {"hc1": hc1 + hostile, "shc": shc + chunks, "vdsnc": vds, "pass": passes, "pipe": SEEDS_CCCD_PCCOVID}
    return Seeds(texts, chunks, VerifyContext(trust, NOW), hostile)


_SHC_ISS = "https://spec.smarthealth.cards/examples/issuer"


# ---------------------------------------------------------------- mutation: text, then inside each layer

_ODD = '\x00\t\n\r\x1b\x7f\x85\xa0\u2028\u202e\ufeff\ufffd\U0001f600|<*:/.{}[]",0-9eE%$HC1:HD1:AC1:shc:/'


def mutate_text(rng: random.Random, text: str, pool: list[str]) -> str:
    """A few random edits: replace, insert, delete, duplicate, truncate, splice another code in."""
    chars = list(text)
    for _ in range(rng.choice((1, 1, 2, 3, 8))):
        at = rng.randrange(len(chars) + 1)
        op = rng.randrange(7)
        if op == 0 and chars and at < len(chars):
            chars[at] = rng.choice(_ODD + text[:64]) if rng.random() < 0.7 else chr(rng.randrange(0x20, 0x3000))
        elif op == 1:
            chars.insert(at, rng.choice(_ODD))
        elif op == 2:
            del chars[at : at + rng.choice((1, 1, 4, 64))]
        elif op == 3:
            end = min(len(chars), at + rng.randrange(1, 200))
            chars[at:at] = chars[at:end] * rng.choice((1, 2, 20))
        elif op == 4:
            chars = chars[:at]
        elif op == 5:
            other = rng.choice(pool)
            start = rng.randrange(len(other) + 1)
            chars[at:at] = list(other[start : start + rng.randrange(1, 300)])
        else:
            chars[at:at] = list(rng.choice(HOSTILE + NESTED))
    return "".join(chars)[:8000]


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4))):
        at = rng.randrange(len(out) + 1)
        op = rng.randrange(5)
        if op == 0 and at < len(out):
            out[at] ^= 1 << rng.randrange(8)
        elif op == 1 and at < len(out):
            out[at] = rng.choice((0x00, 0xFF, 0x7F, 0x80, 0x9F, 0xBF, 0xFB, 0x1B, 0x1F, rng.randrange(256)))
        elif op == 2:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        elif op == 3:
            del out[at : at + rng.randrange(1, 9)]
        else:
            out = out[:at]
    return bytes(out)


def json_value(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["none", "bool", "int", "float", "str", "list", "dict", "deep"] if depth < 3 else ["int", "str"]
    kind = rng.choice(kinds)
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice((0, -1, 1, 2**31, 2**63, -(2**64), 10**400, rng.randrange(-1000, 1000)))
    if kind == "float":
        return rng.choice((0.5, -0.0, 1e308, 1e-308, float("nan"), float("inf"), 1.7e9))
    if kind == "str":
        return rng.choice(("", "x" * rng.randrange(1, 500), *HOSTILE, "2021-13-45", "9999-12-31T23:59:60Z", "ES256"))
    if kind == "deep":  # nesting beyond the interpreter's recursion limit fits in a QR code
        value: Any = 0
        for _ in range(rng.choice((50, 400, 900))):
            value = [value]
        return value
    if kind == "list":
        return [json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {str(json_value(rng, 3)): json_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def mutate_tree(rng: random.Random, tree: Any) -> Any:
    """`tree` (JSON or CBOR data) with one value somewhere replaced, removed or retyped."""
    if isinstance(tree, cbor2.CBORTag):
        return cbor2.CBORTag(tree.tag, mutate_tree(rng, tree.value))
    if isinstance(tree, dict) and tree and rng.random() < 0.8:
        key = rng.choice(list(tree))
        out = dict(tree)
        if rng.random() < 0.15:
            del out[key]
        else:
            out[key] = mutate_tree(rng, tree[key]) if rng.random() < 0.6 else json_value(rng)
        return out
    if isinstance(tree, list) and tree and rng.random() < 0.8:
        at = rng.randrange(len(tree))
        return [*tree[:at], mutate_tree(rng, tree[at]) if rng.random() < 0.6 else json_value(rng), *tree[at + 1 :]]
    if isinstance(tree, bytes) and rng.random() < 0.7:
        try:  # COSE wraps CBOR in byte strings: protected header and payload
            return cbor2.dumps(mutate_tree(rng, cbor2.loads(tree)))
        except Exception:
            return mutate_bytes(rng, tree)
    return json_value(rng)


def mutate_layered(rng: random.Random, family: str, text: str) -> str | None:
    """An edit below the text: inside the CBOR of HC1/HD1/AC1, the JWS of shc:/, the JSON of a seal."""
    try:
        if family in ("hc1", "pass"):
            prefix, body = text[:4], b45decode(text[4:])
            packed = family == "hc1"
            raw = zlib.decompress(body) if packed else body
            raw = cbor2.dumps(mutate_tree(rng, cbor2.loads(raw))) if rng.random() < 0.7 else mutate_bytes(rng, raw)
            return prefix + b45encode(zlib.compress(raw) if packed else raw)
        if family == "shc" and text.startswith("shc:/") and text.count("/") == 1:
            jws = "".join(chr(int(text[i : i + 2]) + 45) for i in range(5, len(text) - 1, 2))
            parts = jws.split(".")
            at = rng.randrange(len(parts))
            part = base64.urlsafe_b64decode(parts[at] + "=" * (-len(parts[at]) % 4))
            if at == 1:
                part = zlib.decompress(part, -15)
            if at < 2 and rng.random() < 0.7:
                part = json.dumps(mutate_tree(rng, json.loads(part))).encode()
            else:
                part = mutate_bytes(rng, part)
            if at == 1:
                packer = zlib.compressobj(wbits=-15)
                part = packer.compress(part) + packer.flush()
            parts[at] = base64.urlsafe_b64encode(part).rstrip(b"=").decode()
            return "shc:/" + "".join(f"{ord(c) - 45:02d}" for c in ".".join(parts))
        if family == "vdsnc":
            return json.dumps(mutate_tree(rng, json.loads(text)))
        if family == "pipe":
            fields = text.split("|")
            at = rng.randrange(len(fields))
            fields[at] = rng.choice((*HOSTILE, "", "*" * 12, "0" * 12, "99999999", "2021-02-30", fields[at] * 50))
            if rng.random() < 0.2:
                fields.insert(at, rng.choice(fields))
            return "|".join(fields)
    except Exception:
        return None  # the seed did not survive an earlier edit's shape; a text edit instead
    return None


def hostile_text(rng: random.Random, corpus: dict[str, list[str]]) -> tuple[str, str]:
    family = rng.choice(list(corpus))
    text = rng.choice(corpus[family])
    pool = [t for texts in corpus.values() for t in texts]
    layered = mutate_layered(rng, family, text) if rng.random() < 0.6 else None
    return family, layered if layered is not None else mutate_text(rng, text, pool)


# ---------------------------------------------------------------- images: hostile texts as QR codes, bad frames


def qr_frame(text: str, rng: random.Random) -> np.ndarray:
    data = text.encode("utf-8", "surrogatepass")[:700]
    # a mask given: segno's search for the best one takes a tenth of a second for a code this size
    qr = segno.make_qr(data, error=rng.choice("lmqh"), mode="byte", mask=rng.randrange(8))
    modules = np.array(qr.matrix, dtype=np.uint8)
    image = np.kron(np.pad((1 - modules) * 255, 4, constant_values=255), np.ones((3, 3), dtype=np.uint8))
    frame = np.full((max(240, image.shape[0] + 8), max(320, image.shape[1] + 8)), rng.randrange(256), np.uint8)
    y, x = rng.randrange(frame.shape[0] - image.shape[0]), rng.randrange(frame.shape[1] - image.shape[1])
    frame[y : y + image.shape[0], x : x + image.shape[1]] = image.astype(np.uint8)
    return frame


def corrupt_frame(rng: random.Random, frame: np.ndarray) -> np.ndarray:
    op = rng.randrange(8)
    if op == 0:  # sensor noise
        return np.clip(frame + np.random.default_rng(rng.randrange(2**32)).normal(0, 60, frame.shape), 0, 255).astype(
            np.uint8
        )
    if op == 1:  # blocks of a damaged transfer
        out = frame.copy()
        for _ in range(rng.randrange(1, 20)):
            y, x = rng.randrange(out.shape[0]), rng.randrange(out.shape[1])
            out[y : y + rng.randrange(1, 60), x : x + rng.randrange(1, 60)] = rng.randrange(256)
        return out
    if op == 2:  # odd shapes, down to one pixel
        h, w = rng.choice((1, 2, 7, 31, 33)), rng.choice((1, 3, 8, 640, 1921))
        return np.random.default_rng(rng.randrange(2**32)).integers(0, 256, (h, w), dtype=np.uint8)
    if op == 3:  # a strided view, as a region of interest hands over
        return frame[:: rng.choice((2, 3)), :: rng.choice((1, 2))]
    if op == 4:  # flat frames and patterns that look like finder patterns everywhere
        tile = np.kron(np.indices((8, 8)).sum(axis=0) % 2 * 255, np.ones((rng.randrange(1, 9),) * 2)).astype(np.uint8)
        return np.tile(tile, (4, 5)) if rng.random() < 0.5 else np.full(frame.shape, rng.choice((0, 255)), np.uint8)
    if op == 5:  # inverted, mirrored
        return np.ascontiguousarray(255 - frame[:, ::-1])
    if op == 6:  # a tiny code
        return cv2.resize(frame, None, fx=0.15, fy=0.15, interpolation=cv2.INTER_AREA)
    return frame


def image_bytes(rng: random.Random, frame: np.ndarray) -> bytes:
    ext = rng.choice((".png", ".jpg", ".webp", ".bmp"))
    encoded = bytes(cv2.imencode(ext, frame)[1])
    return mutate_bytes(rng, encoded) if rng.random() < 0.8 else encoded


# ---------------------------------------------------------------- targets


@dataclass
class Target:
    name: str
    call: Callable[[Any], object]
    allowed: tuple[type[BaseException], ...]  # the target's own typed error
    make: Callable[[random.Random], Any]
    valid: list[Any]  # unmutated inputs: the baseline
    weight: float
    hang_s: float = HANG_S
    notes: dict[str, int] = field(default_factory=dict)  # what else the target counted


@dataclass
class Tally:
    inputs: int = 0
    crashes: int = 0
    hangs: int = 0
    slow_first_try: int = 0
    refused: int = 0  # ended in the typed error: the input was told to be bad
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    found: list[dict[str, str]] = field(default_factory=list)


def targets(s: Seeds) -> list[Target]:
    ctx = s.ctx
    corpus = s.texts

    def texts_of(family: str) -> Callable[[random.Random], str]:
        def make(rng: random.Random) -> str:
            pool = [t for texts in corpus.values() for t in texts]
            layered = mutate_layered(rng, family, rng.choice(corpus[family])) if rng.random() < 0.6 else None
            return layered if layered is not None else mutate_text(rng, rng.choice(corpus[family]), pool)

        return make

    parsers = {p.__name__: p for p in PARSERS}

    def parse_with(name: str) -> Callable[[str], object]:
        parse = parsers[name]
        return lambda text: parse(text, ctx)

    verifier = Verifier(ctx.trust, FakeClock(wall=NOW.timestamp()))

    def verifier_make(rng: random.Random) -> str:
        text = rng.choice(s.shc_chunks)
        return mutate_text(rng, text, s.shc_chunks) if rng.random() < 0.7 else text

    chain = DecoderChain([ZxingDecoder(), ZbarDecoder(), OpenCVDecoder()])
    hinted = [(0, 0, 10_000, 10_000)]

    decoded = {"codes_read": 0}

    def decode_and_read(frame: np.ndarray) -> object:
        for code in chain.decode(frame, near=hinted).codes:
            decoded["codes_read"] += 1
            read_credential(code.text, ctx)
        return None

    frames = [qr_frame(t, random.Random(0)) for t in (corpus["hc1"][0], corpus["pipe"][0], corpus["pass"][0])]
    upload = json.dumps({"device_time": {"wall": 1.7e9, "mono": 5.0, "boot_id": "b", "synced": True}, "events": [
        {"event_id": "0190f0a0-0000-7000-8000-000000000001", "boot_id": "b", "seq": 1, "wall_time": 1.7e9,
         "mono_time": 5.0, "clock_synced": True, "direction": "in", "kind": "cccd", "subject_key": "0" * 32,
         "decision": "ACCEPT", "reason": "ok", "decoder": "zxing", "latency_ms": 12.5}]})  # fmt: skip

    def upload_make(rng: random.Random) -> tuple[bytes, str]:
        body = upload.encode()
        if rng.random() < 0.6:
            with contextlib.suppress(RecursionError):
                body = json.dumps(mutate_tree(rng, json.loads(body))).encode()
        else:
            body = mutate_bytes(rng, body)
        if rng.random() < 0.3:
            packed = zlib.compressobj(wbits=31)
            body = packed.compress(body) + packed.flush()
            return (mutate_bytes(rng, body) if rng.random() < 0.5 else body), "gzip"
        return body, rng.choice(("", "identity", "GZIP"))

    families = {"hc1": "parse_hc1", "shc": "parse_shc", "vdsnc": "parse_vdsnc", "pass": "parse_pass"}
    out = [
        Target(f"parse-{f}", parse_with(p), (CredentialError,), texts_of(f), s.valid(f), 0.12)
        for f, p in families.items()
    ]
    pipe = (parse_with("parse_pccovid"), parse_with("parse_cccd"))
    out += [
        Target("parse-pipe", lambda t: [parse(t) for parse in pipe], (CredentialError,), texts_of("pipe"),
               corpus["pipe"], 0.12),
        Target("read-credential", lambda t: read_credential(t, ctx), (), lambda r: hostile_text(r, corpus)[1],
               [t for f in corpus for t in s.valid(f)], 0.30),
        verify_output_target(s),
        Target("verifier-shc-chunks", lambda t: verifier.read(t, NOW), (), verifier_make, s.shc_chunks, 0.08),
        Target("decode-qr", decode_and_read, (), lambda r: qr_frame(hostile_text(r, corpus)[1], r), frames, 0.025,
               notes=decoded),
        Target("decode-frames", decode_and_read, (), lambda r: corrupt_frame(r, r.choice(frames)), frames, 0.025),
        Target("central-image", text_in_image, (SubjectError,), lambda r: image_bytes(r, r.choice(frames)),
               [bytes(cv2.imencode(".png", f)[1]) for f in frames], 0.01, hang_s=1.0),
        Target("central-upload", lambda b: _upload_body(*b), (CentralError,), upload_make,
               [(upload.encode(), "")], 0.08),
    ]  # fmt: skip
    return out


def verify_output_target(s: Seeds) -> Target:
    """What `kiosk verify` prints, as strict JSON and as sentences, written as UTF-8: issue 12's crash was there."""
    keying = SubjectKeying(SubjectKeyer(hashlib.sha256(b"fuzz subject-key secret").digest()), "kiosk-secret")
    pool = [t for texts in s.texts.values() for t in texts]

    def verify_output(text: str) -> object:
        report = verification_report(read_credential(text, s.ctx), keying, None, NOW)
        return json.dumps(report, ensure_ascii=False, allow_nan=False).encode() + report_text(report).encode()

    def make(rng: random.Random) -> str:
        if rng.random() < 0.5:  # half the time a hostile certificate: as it is, or edited in its CBOR or text
            text = rng.choice(s.hostile)
            if rng.random() < 0.3:
                return text
            return mutate_layered(rng, "hc1", text) or mutate_text(rng, text, pool)
        return hostile_text(rng, s.texts)[1]

    return Target("verify-output", verify_output, (), make, [t for f in s.texts for t in s.valid(f)], 0.08)


# ---------------------------------------------------------------- running


def timed_call(target: Target, value: Any) -> tuple[BaseException | None, float, float]:
    """What `value` raised (None if nothing), wall and CPU seconds; garbage collection outside the timing."""
    gc.disable()
    try:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            target.call(value)
            raised: BaseException | None = None
        except Exception as exc:
            raised = exc
        return raised, time.perf_counter() - wall, time.thread_time() - cpu
    finally:
        gc.enable()


def run_target(target: Target, count: int, rng: random.Random, crash_dir: Path) -> Tally:
    tally = Tally()
    for i in range(count):
        value = target.make(rng)
        raised, wall, cpu = timed_call(target, value)
        tally.inputs += 1
        if raised is not None and not isinstance(raised, target.allowed):
            tally.crashes += 1
            tally.found.append(save_crash(crash_dir, target.name, value, raised))
        elif raised is not None:
            tally.refused += 1
        if wall > target.hang_s:  # again twice: a loaded machine's pause is not the input's cost
            tally.slow_first_try += 1
            wall = min(wall, *(timed_call(target, value)[1] for _ in range(2)))
            if wall > target.hang_s:
                tally.hangs += 1
                tally.found.append(save_crash(crash_dir, target.name + "-hang", value, None))
        tally.wall_ms.append(wall * 1000)
        tally.cpu_ms.append(cpu * 1000)
        if i % 2000 == 1999:
            gc.collect()
    return tally


def save_crash(crash_dir: Path, name: str, value: Any, raised: BaseException | None) -> dict[str, str]:
    crash_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(value, np.ndarray):
        ext, blob = "npy", _npy(value)
    elif isinstance(value, tuple):
        ext, blob = "bin", value[0]
    else:
        ext, blob = ("bin", value) if isinstance(value, bytes) else ("txt", value.encode("utf-8", "surrogatepass"))
    digest = hashlib.sha256(blob).hexdigest()[:16]
    path = crash_dir / f"{name}-{digest}.{ext}"
    path.write_bytes(blob)
    what = "hang" if raised is None else "".join(traceback.format_exception_only(raised)).strip()[:300]
    if raised is not None:
        path.with_suffix(".trace").write_text("".join(traceback.format_exception(raised)))
    return {"file": str(path), "error": what}


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def summary(tally: Tally, hang_s: float = HANG_S) -> dict[str, Any]:
    wall, cpu = np.asarray(tally.wall_ms or [0.0]), np.asarray(tally.cpu_ms or [0.0])
    return {
        "inputs": tally.inputs,
        "crashes": tally.crashes,
        "hangs": tally.hangs,
        "hang_ms": hang_s * 1000,
        "slow_first_try": tally.slow_first_try,
        "refused": tally.refused,
        "wall_ms": {k: round(float(np.percentile(wall, q)), 3) for k, q in (("p50", 50), ("p99", 99))}
        | {"max": round(float(wall.max()), 3)},
        "cpu_ms": {k: round(float(np.percentile(cpu, q)), 3) for k, q in (("p50", 50), ("p99", 99))}
        | {"max": round(float(cpu.max()), 3)},
        "found": tally.found[:20],
    }


def baseline(target: Target, rounds: int) -> dict[str, float]:
    """The same call on the valid codes, unmutated: what a real code costs."""
    walls = [timed_call(target, value)[1] * 1000 for _ in range(rounds) for value in target.valid]
    return {"p50": round(float(np.percentile(walls, 50)), 3), "max": round(max(walls), 3), "n": len(walls)}


# ---------------------------------------------------------------- atheris (libFuzzer), in a child process


def atheris_child(runs: int, seed: int, crash_dir: Path, stats_path: Path) -> None:
    """libFuzzer on read_credential, coverage from the credential parsers, seeded with the valid codes."""
    import atheris

    for module in [m for name, m in sys.modules.items() if name.startswith("kiosk.credentials")]:
        for function in _functions_of(module):
            atheris.instrument_func(function)  # in place; instrument_all() would take a minute over every module
    reader = read_credential

    s = seeds()
    corpus_dir = Path(tempfile.mkdtemp(prefix="fuzz-corpus-"))
    for i, text in enumerate(t for texts in s.texts.values() for t in texts):
        (corpus_dir / f"seed-{i}").write_bytes(text.encode())
    tally = Tally()

    def one(data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        wall, cpu = time.perf_counter(), time.thread_time()
        reader(text, s.ctx)  # anything raised is a crash: libFuzzer saves the input and stops
        tally.inputs += 1
        tally.wall_ms.append((time.perf_counter() - wall) * 1000)
        tally.cpu_ms.append((time.thread_time() - cpu) * 1000)
        tally.hangs += tally.wall_ms[-1] > HANG_S * 1000 and tally.cpu_ms[-1] > HANG_S * 1000
        if tally.inputs % 500 == 0 or tally.inputs >= runs:
            stats_path.write_text(json.dumps(summary(tally)))

    crash_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.argv[0], f"-runs={runs}", f"-seed={seed}", "-max_len=4400", "-timeout=10", "-rss_limit_mb=2048",
            f"-artifact_prefix={crash_dir}/atheris-", str(corpus_dir)]  # fmt: skip
    atheris.Setup(argv, one)
    atheris.Fuzz()


def _functions_of(module: Any) -> Iterator[Any]:
    import inspect

    for value in vars(module).values():
        if inspect.isfunction(value) and value.__module__ == module.__name__:
            yield value
        elif inspect.isclass(value) and value.__module__ == module.__name__:
            yield from (f for f in vars(value).values() if inspect.isfunction(f))


def run_atheris(runs: int, seed: int, crash_dir: Path) -> dict[str, Any]:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return {"skipped": "atheris is not installed (it has wheels for x86_64 only): mutation fuzzing only"}
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "stats.json"
        command = [sys.executable, __file__, "--atheris-child", str(runs), "--seed", str(seed),
                   "--crash-dir", str(crash_dir), "--stats", str(stats)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False)
        result: dict[str, Any] = json.loads(stats.read_text()) if stats.exists() else {"inputs": 0}
    result["exit_code"] = done.returncode
    if done.returncode != 0:
        result["crashes"] = result.get("crashes", 0) + 1
        result["stderr_tail"] = done.stderr[-2000:]
    result["engine"] = "atheris (libFuzzer), coverage of kiosk.credentials"
    return result


# ---------------------------------------------------------------- main


def split(total: int, ts: list[Target]) -> Iterator[tuple[Target, int]]:
    weights = sum(t.weight for t in ts)
    for t in ts:
        yield t, max(20, int(total * t.weight / weights))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=100_000, help="mutation inputs, over all targets")
    parser.add_argument("--atheris", type=int, default=20_000, help="libFuzzer runs (0: none)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--crash-dir", type=Path, default=ROOT / "bench" / "out" / "fuzz-crashes")
    parser.add_argument("--only", action="append", help="run only these targets (repeatable)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--atheris-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.atheris_child is not None:
        atheris_child(args.atheris_child, args.seed, args.crash_dir, args.stats)
        return
    started = time.perf_counter()
    ts = [t for t in targets(seeds()) if not args.only or t.name in args.only]
    results: dict[str, Any] = {}
    for target, count in split(args.inputs, ts):
        rng = random.Random(f"{args.seed}:{target.name}")
        results[target.name] = summary(run_target(target, count, rng, args.crash_dir), target.hang_s)
        results[target.name] |= dict(target.notes)  # counted over the fuzzed inputs, before the baseline
        results[target.name]["baseline_valid_ms"] = baseline(target, 3)
    if args.atheris and not args.only:
        results["atheris-read-credential"] = run_atheris(args.atheris, args.seed, args.crash_dir)
    totals = {k: sum(r.get(k, 0) for r in results.values()) for k in ("inputs", "crashes", "hangs")}
    emit(
        {
            "bench": "fuzz",
            "seed": args.seed,
            "hang_ms": HANG_S * 1000,
            **totals,
            "seconds": round(time.perf_counter() - started, 1),
            "load_average": os.getloadavg(),
            "targets": results,
            "machine": machine(),
        },
        args.json,
    )
    sys.exit(1 if totals["crashes"] or totals["hangs"] else 0)


if __name__ == "__main__":
    main()
