"""Credential types shared by every parser."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from kiosk.credentials.plain import json_safe, unicode_text
from kiosk.errors import KioskError


class Kind(StrEnum):
    """The kinds of code a kiosk meets. The value is what the store and the server record."""

    CCCD = "cccd"  # chip ID card (căn cước công dân) QR
    PC_COVID = "pc-covid"  # PC-Covid personal QR (Decision 1405/QĐ-BTTTT)
    EU_DCC = "eu-dcc"  # EU Digital COVID Certificate, HC1:
    SHC = "shc"  # SMART Health Card, shc:/
    VDS_NC = "vds-nc"  # ICAO visible digital seal for non-constrained environments
    PASS = "pass"  # noqa: S105 (not a password)  # this project's signed health-declaration pass
    ACCESS_PASS = "access-pass"  # noqa: S105 (not a password)  # the centre's signed badge, visitor pass or ticket
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Identity:
    """A normalised identity: document type and number. Lives in memory only; stores keep the subject key."""

    doc_type: str  # "VN-ID" (12-digit personal number), "VN-CMND" (old 9-digit ID), "PCCOVID-QID", ...
    number: str

    def normalised(self) -> str:
        return f"{self.doc_type}:{self.number}"


@dataclass(frozen=True, slots=True)
class Health:
    """What a signed credential says about the holder's health, for the venue policy to judge."""

    kind: str  # "vaccination", "test", "recovery" or "declaration"
    date: datetime | None = None  # vaccination date, test sample time, first positive test, declaration time
    doses: int | None = None  # vaccination: dose number given (dn)
    doses_required: int | None = None  # vaccination: doses in the series (sd)
    negative: bool | None = None  # test: result was "not detected"
    valid_from: datetime | None = None  # recovery certificate validity (df .. du)
    valid_until: datetime | None = None
    status: str | None = None  # declaration pass: "green", "yellow" or "red"


@dataclass(frozen=True, slots=True)
class Credential:
    """What a parser made of a code: its kind, whose it is, and (signed kinds) what verification found.

    `signature`: "valid", "invalid", "unknown-key" (no trusted key for it) or "none" (an unsigned kind).
    `expiry`: "ok", "expired", "not-yet-valid" or "none" (no validity period). `reasons` holds stable codes of
    any further problem (a signing certificate expired or not allowed for this type, a missing field, ...).
    Whatever a parser hands over, a credential carries JSON data in `details` and texts that can be written
    as UTF-8: both reach `kiosk verify`'s JSON and the technician's terminal.
    """

    kind: Kind
    identity: Identity | None = None
    name: str | None = None  # in memory only, never stored in clear
    birth_date: str | None = None  # ISO 8601, possibly partial ("1990", "1990-05") or masked
    problem: str | None = None  # stable reason code when the code is of this kind but malformed
    subject_key: str | None = None  # carried by the code itself (declaration passes); else derived from identity
    signature: str = "none"
    expiry: str = "none"
    issuer: str | None = None  # country or issuer URL of a signed credential
    expires_at: datetime | None = None
    health: tuple[Health, ...] = ()
    reasons: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)  # shown by `kiosk verify`; never stored
    problem_detail: str | None = field(default=None, compare=False)  # what is malformed, in words; never the text

    def __post_init__(self) -> None:
        # A frozen dataclass sets its own fields with object.__setattr__ (the dataclasses documentation).
        object.__setattr__(self, "details", json_safe(self.details))
        texts = {"name": self.name, "birth_date": self.birth_date, "issuer": self.issuer}
        for name, value in (texts | {"problem_detail": self.problem_detail}).items():
            if value is not None:
                object.__setattr__(self, name, unicode_text(value))

    @property
    def decoded(self) -> bool:
        return self.kind is not Kind.UNKNOWN and self.problem is None

    @property
    def valid(self) -> bool:
        """Decoded, signature valid (or an unsigned kind), within its validity, and no further problem."""
        return (
            self.decoded and self.signature in ("valid", "none") and self.expiry in ("ok", "none") and not self.reasons
        )


class CredentialError(KioskError, ValueError):
    """A code looks like `kind` but is malformed; `reason` is a stable code, `detail` says what (never the text)."""

    def __init__(self, kind: Kind, reason: str, detail: str) -> None:
        self.kind = kind
        self.reason = reason
        self.detail = detail
        super().__init__(f"{kind.value}: {detail}")
