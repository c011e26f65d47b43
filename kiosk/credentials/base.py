"""Credential types shared by every parser."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kiosk.errors import KioskError


class Kind(StrEnum):
    """The kinds of code a kiosk meets. The value is what the store and the server record."""

    CCCD = "cccd"  # chip ID card (căn cước công dân) QR
    PC_COVID = "pc-covid"  # PC-Covid personal QR (Decision 1405/QĐ-BTTTT)
    EU_DCC = "eu-dcc"  # EU Digital COVID Certificate, HC1:
    SHC = "shc"  # SMART Health Card, shc:/
    VDS_NC = "vds-nc"  # ICAO visible digital seal for non-constrained environments
    PASS = "pass"  # noqa: S105 (not a password)  # this project's signed health-declaration pass
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Identity:
    """A normalised identity: document type and number. Lives in memory only; stores keep the subject key."""

    doc_type: str  # "VN-ID" (12-digit personal number), "VN-CMND" (old 9-digit ID), "PCCOVID-QID", ...
    number: str

    def normalised(self) -> str:
        return f"{self.doc_type}:{self.number}"


@dataclass(frozen=True, slots=True)
class Credential:
    """What a parser made of a code: its kind and, for identity codes, whose it is."""

    kind: Kind
    identity: Identity | None = None
    name: str | None = None  # in memory only, never stored in clear
    birth_date: str | None = None  # ISO 8601, possibly partial ("1990", "1990-05") or masked
    problem: str | None = None  # stable reason code when the code is of this kind but malformed


class CredentialError(KioskError, ValueError):
    """A code looks like `kind` but is malformed; `reason` is a stable code, `detail` says what (never the text)."""

    def __init__(self, kind: Kind, reason: str, detail: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"{kind.value}: {detail}")
