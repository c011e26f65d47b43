"""Subject keys: the same person gets the same key on every kiosk, and the key reveals nothing by itself.

key = HMAC-SHA256(secret, "<document type>:<number>"), first 128 bits in hex. The secret is distributed by the
central server, so keys match across kiosks and the centre can trace; without the secret, a key cannot be
turned back into an ID number by trying all numbers (there are only 10^12 of them, so a plain hash could).
"""

from __future__ import annotations

import hashlib
import hmac

from kiosk.credentials.base import Credential, Identity

KEY_HEX_CHARS = 32
MIN_SECRET_BYTES = 16


class SubjectKeyer:
    """Turns identities into subject keys with one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"subject key secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret

    def key(self, identity: Identity) -> str:
        digest = hmac.new(self._secret, identity.normalised().encode("utf-8"), hashlib.sha256).hexdigest()
        return digest[:KEY_HEX_CHARS]

    def key_of(self, credential: Credential) -> str | None:
        """Whose `credential` is, as the gate records it: the key the code carries (a declaration pass), else
        the key of its identity; None if it names no one."""
        if credential.subject_key is not None:
            return credential.subject_key
        return self.key(credential.identity) if credential.identity is not None else None
