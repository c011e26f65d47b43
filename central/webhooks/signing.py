"""The signature of a webhook request: `X-Kiosk-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`,
where <timestamp> is the `X-Kiosk-Timestamp` header (Unix seconds, decimal) and <body> the exact bytes sent.

Signing the timestamp with the body lets a receiver refuse replays older than it tolerates; the `v1=` prefix
leaves room for another scheme (a receiver accepts any of several comma-separated signatures it can check).
"""

from __future__ import annotations

import hashlib
import hmac

SCHEME = "v1"
TOLERANCE_S = 300  # what docs/feeds.md suggests receivers accept


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def headers(secret: str, timestamp: int, body: bytes, idempotency_key: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Kiosk-Timestamp": str(timestamp),
        "X-Kiosk-Signature": signature(secret, timestamp, body),
        "Idempotency-Key": idempotency_key,
    }


def verify(secret: str, timestamp_header: str, signature_header: str, body: bytes, now: float) -> bool:
    """What a receiver does (and the tests): the timestamp is recent and one of the v1 signatures matches."""
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return False
    if abs(now - timestamp) > TOLERANCE_S:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given.strip()) for given in signature_header.split(","))
