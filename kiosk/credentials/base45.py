"""Base45 (RFC 9285): how HC1 certificates and declaration passes fit the QR alphanumeric mode."""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}


def b45encode(data: bytes) -> str:
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        out += [ALPHABET[n % 45], ALPHABET[n // 45 % 45], ALPHABET[n // 2025]]
    if len(data) % 2:
        out += [ALPHABET[data[-1] % 45], ALPHABET[data[-1] // 45]]
    return "".join(out)


def b45decode(text: str) -> bytes:
    """The bytes `text` encodes; ValueError for a character outside the alphabet or an impossible group."""
    try:
        values = [_VALUE[c] for c in text]
    except KeyError:
        raise ValueError("not base45: character outside the alphabet") from None
    if len(values) % 3 == 1:
        raise ValueError("not base45: a lone trailing character")
    out = bytearray()
    for i in range(0, len(values) - 2, 3):
        n = values[i] + values[i + 1] * 45 + values[i + 2] * 2025
        if n > 0xFFFF:
            raise ValueError("not base45: a group above 65535")
        out += n.to_bytes(2, "big")
    if len(values) % 3 == 2:
        n = values[-2] + values[-1] * 45
        if n > 0xFF:
            raise ValueError("not base45: a final pair above 255")
        out.append(n)
    return bytes(out)
