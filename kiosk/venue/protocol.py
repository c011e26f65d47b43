"""The gates' own protocol on the venue's network: JSON bodies, each signed by its sender's device key.

    X-Kiosk-Device: <device id>
    X-Kiosk-Signature: base64(Ed25519(key, b"kiosk-peer-v1\\n" + path + b"\\n" + body))

A body is read only if its device is one of the venue's gates the centre listed (`peers`), the signature holds,
it names this venue, and its `sent_at` is within MAX_SKEW_S of this gate's clock (an old message replayed later
is refused). Answers are signed the same way, so a stranger on the network can neither inject passages nor
answer a claim.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

CONTEXT = b"kiosk-peer-v1\n"
MAX_SKEW_S = 300.0
MAX_BODY = 1 << 20  # a day of a busy gate's passages fits many times over
DEVICE_HEADER, SIGNATURE_HEADER = "X-Kiosk-Device", "X-Kiosk-Signature"


class PeerError(ValueError):
    """A message that is not read: who sent it or what is wrong with it, never its content."""


@dataclass(frozen=True)
class Peer:
    device_id: str
    public_key: Ed25519PublicKey


def peers_from_json(items: object) -> dict[str, Peer]:
    """The centre's list of the venue's other gates (the config document's `peers`); unusable entries skipped."""
    peers: dict[str, Peer] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("device_id"), str):
            continue
        try:
            raw = base64.b64decode(str(item.get("public_key", "")), validate=True)
            peers[item["device_id"]] = Peer(item["device_id"], Ed25519PublicKey.from_public_bytes(raw))
        except (binascii.Error, ValueError):
            continue
    return peers


def sign(key: Ed25519PrivateKey, path: str, body: bytes) -> str:
    return base64.b64encode(key.sign(CONTEXT + path.encode() + b"\n" + body)).decode()


def body_of(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def read_signed(
    peers: dict[str, Peer], device: str, signature: str, path: str, body: bytes, venue: str, now: float
) -> tuple[str, dict[str, Any]]:
    """The sender and the body of a signed message, or PeerError saying why it is not read."""
    peer = peers.get(device)
    if peer is None:
        raise PeerError(f"{device[:64]!r} is not one of this venue's gates")
    if len(body) > MAX_BODY:
        raise PeerError(f"from {peer.device_id}: the body is too large")
    try:
        peer.public_key.verify(base64.b64decode(signature, validate=True), CONTEXT + path.encode() + b"\n" + body)
    except (InvalidSignature, binascii.Error, ValueError):
        raise PeerError(f"from {peer.device_id}: the signature does not hold") from None
    try:
        document = json.loads(body)
    except ValueError:
        raise PeerError(f"from {peer.device_id}: the body is not JSON") from None
    if not isinstance(document, dict) or document.get("venue") != venue:
        raise PeerError(f"from {peer.device_id}: not for this venue")
    sent_at = document.get("sent_at")
    if not isinstance(sent_at, int | float) or isinstance(sent_at, bool) or abs(now - sent_at) > MAX_SKEW_S:
        raise PeerError(f"from {peer.device_id}: sent too long ago or with a wrong clock")
    return peer.device_id, document
