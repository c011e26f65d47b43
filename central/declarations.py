"""Electronic health declarations: the answers, the status they give, and the signed pass the centre issues.

A person declares identity, contact phone, symptoms, exposure and recent travel; `submit` stores the
declaration and returns an `HD1:` pass (docs/pass-format.md) that kiosks verify offline. What is kept:

- the subject key, never the ID number: the keyed hash a kiosk derives from the same person's CCCD card or
  PC-Covid code (`SubjectKeyer` over the same `Identity` the kiosk's parsers build);
- the answers the status was judged from (symptoms, exposure, travel, language), without identity or phone;
- the phone only sealed to the health service's public key (central/sealing.py), or not at all when no such key
  is configured. The name is not asked for.

Status rule (`STATUS_RULES`, the worst answer wins): red for fever, shortness of breath, or contact with a
confirmed case in the last 14 days; yellow for any other symptom or a stay in a lockdown area; green otherwise.
Travel is free text and judged by no one but a person reading it. See docs/declarations.md.
"""

from __future__ import annotations

import base64
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import Connection, delete, select

from central.audit import record
from central.errors import CentralError, NotFound
from central.schema import declarations, status_entries, trust_entries
from central.sealing import open_sealed, public_key_from_raw, raw_public, seal
from central.settings import get_setting, set_setting
from central.timeutil import aware
from kiosk.credentials import SubjectKeyer
from kiosk.credentials.base import Identity
from kiosk.credentials.fields import identity_for_number
from kiosk.credentials.passes import PassClaims, issue_pass
from kiosk.ids import uuid7

Status = Literal["green", "yellow", "red"]
Symptom = Literal["fever", "cough", "shortness_of_breath", "sore_throat", "loss_of_taste_smell", "fatigue", "none"]
SYMPTOMS: tuple[str, ...] = get_args(Symptom)
Language = Literal["vi", "en"]

# What each answer says; the worst of a declaration's answers is its status (green when none is listed).
STATUS_RULES: dict[str, Status] = {
    "fever": "red",
    "shortness_of_breath": "red",
    "contact_confirmed": "red",  # contact with a confirmed case in the last 14 days
    "cough": "yellow",
    "sore_throat": "yellow",
    "loss_of_taste_smell": "yellow",
    "fatigue": "yellow",
    "lockdown_area": "yellow",  # been in a lockdown area in the last 14 days
}
_SEVERITY: tuple[Status, ...] = ("green", "yellow", "red")

VALID_H_KEY, DEFAULT_VALID_H, MAX_VALID_H = "declaration_valid_h", 24, 168
ISSUER_KEY, DEFAULT_ISSUER = "pass_issuer", "VN"
CONTACT_KEY = "contact_public_key"
MAX_TRAVEL = 200

_SEPARATORS = re.compile(r"[\s.\-()/]")
_PASSPORT = re.compile(r"[0-9A-Z]{5,20}")  # as a PC-Covid code accepts a document number
# Vietnamese mobile numbers since the 2018 renumbering: 03x Viettel, 05x Vietnamobile/Gmobile/Reddi, 07x Mobifone,
# 08x Vinaphone/Mobifone/iTel, 09x all; written 0xx..., 84xx... or +84xx...
_MOBILE = re.compile(r"(?:\+84|0084|84|0)((?:3[2-9]|5[25689]|7[06-9]|8[1-9]|9[0-9])[0-9]{7})")

# Field messages in both languages, by error code; the form shows them beside the fields.
MESSAGES: dict[str, tuple[str, str]] = {
    "required": ("Vui lòng trả lời mục này.", "Please answer this question."),
    "identity_type": ("Chọn loại giấy tờ: CCCD, CMND hoặc hộ chiếu.", "Choose a document: CCCD, CMND or passport."),
    "cccd": ("Số CCCD gồm đúng 12 chữ số.", "A CCCD number has exactly 12 digits."),
    "cmnd": ("Số CMND gồm 9 chữ số (hoặc 12 chữ số).", "A CMND number has 9 digits (or 12)."),
    "passport": ("Số hộ chiếu gồm 5 đến 20 chữ cái hoặc chữ số.", "A passport number has 5 to 20 letters or digits."),
    "phone": (
        "Nhập số di động Việt Nam: 10 chữ số, bắt đầu bằng 03, 05, 07, 08 hoặc 09.",
        "Enter a Vietnamese mobile number: 10 digits starting 03, 05, 07, 08 or 09 (or +84 and 9 digits).",
    ),
    "symptoms_empty": (
        "Chọn các triệu chứng bạn có, hoặc «Không có triệu chứng».",
        "Choose the symptoms you have, or “No symptoms”.",
    ),
    "symptoms_none": (
        "Không thể vừa chọn «Không có triệu chứng» vừa chọn triệu chứng khác.",
        "“No symptoms” cannot be chosen together with a symptom.",
    ),
    "yes_no": ("Vui lòng chọn Có hoặc Không.", "Please answer yes or no."),
    "too_long": (f"Tối đa {MAX_TRAVEL} ký tự.", f"At most {MAX_TRAVEL} characters."),
    "not_text": ("Chỉ nhập chữ, số và dấu câu.", "Use letters, digits and punctuation only."),
    "choice": ("Vui lòng chọn một mục trong danh sách.", "Please choose one of the options."),
    "unknown_field": ("Mục này không có trong tờ khai.", "This is not a question of the form."),
    "invalid": ("Giá trị không hợp lệ.", "This answer is not valid."),
}
_PYDANTIC_CODES = {
    "missing": "required",
    "literal_error": "choice",
    "bool_parsing": "yes_no",
    "bool_type": "yes_no",
    "extra_forbidden": "unknown_field",
}


class DeclarationForm(BaseModel):
    """The answers of one declaration, validated and normalised. The ID number and phone never reach a repr."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    identity_type: Literal["cccd", "cmnd", "passport"] = Field(description="chip ID card, old ID card, passport")
    identity_number: str = Field(repr=False, description="digits only (passport: upper-case letters and digits)")
    phone: str = Field(repr=False, description="a Vietnamese mobile number, normalised to +84 and 9 digits")
    symptoms: tuple[Symptom, ...] = Field(description="the symptoms in SYMPTOMS order, or ('none',)")
    contact_confirmed: bool = Field(description="contact with a confirmed case in the last 14 days")
    lockdown_area: bool = Field(description="been in a lockdown area in the last 14 days")
    travel: str = Field("", description=f"recent travel, free text, at most {MAX_TRAVEL} characters")
    language: Language = "vi"

    @field_validator("identity_number", mode="before")
    @classmethod
    def _number(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str) or "identity_type" not in info.data:
            return value  # a wrong type is reported by pydantic; a wrong document type on its own field
        kind = info.data["identity_type"]
        number = _SEPARATORS.sub("", unicodedata.normalize("NFKC", value)).upper()
        if identity_of(kind, number) is None:
            raise PydanticCustomError(kind, MESSAGES[kind][1])
        return number

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: object) -> object:
        cleaned = _SEPARATORS.sub("", unicodedata.normalize("NFKC", value)) if isinstance(value, str) else ""
        match = _MOBILE.fullmatch(cleaned)
        if match is None:
            raise PydanticCustomError("phone", MESSAGES["phone"][1])
        return "+84" + match.group(1)

    @field_validator("symptoms", mode="before")
    @classmethod
    def _one_symptom(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value  # a form may post one checkbox as a plain value

    @field_validator("symptoms")
    @classmethod
    def _symptoms(cls, value: tuple[Symptom, ...]) -> tuple[Symptom, ...]:
        if not value:
            raise PydanticCustomError("symptoms_empty", MESSAGES["symptoms_empty"][1])
        if "none" in value and len(set(value)) > 1:
            raise PydanticCustomError("symptoms_none", MESSAGES["symptoms_none"][1])
        return tuple(s for s in get_args(Symptom) if s in value)

    @field_validator("travel", mode="before")
    @classmethod
    def _travel(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = " ".join(unicodedata.normalize("NFC", value).split())
        if any(unicodedata.category(c)[0] == "C" for c in text):
            raise PydanticCustomError("not_text", MESSAGES["not_text"][1])
        if len(text) > MAX_TRAVEL:
            raise PydanticCustomError("too_long", MESSAGES["too_long"][1])
        return text

    def identity(self) -> Identity:
        """The identity as the kiosk's parsers build it, so that both derive the same subject key."""
        identity = identity_of(self.identity_type, self.identity_number)
        assert identity is not None  # checked when the form was validated
        return identity

    def flags(self) -> list[str]:
        """The answers that can count against the person: symptom codes, and the exposures answered yes."""
        exposure = [name for name in ("contact_confirmed", "lockdown_area") if getattr(self, name)]
        return [s for s in self.symptoms if s != "none"] + exposure


def identity_of(kind: str, number: str) -> Identity | None:
    """The `Identity` of a document number of `kind`, as the kiosk derives it; None if the number is not one.

    A CCCD number gives `VN-ID` (as the CCCD parser does); a CMND number `VN-CMND`, or `VN-ID` for the 12-digit
    CMND of 2012-2016, whose number is the personal ID number; a passport number is keyed as a PC-Covid code
    keys a document number: an ID number if it looks like one, otherwise `DOC:<upper case>`.
    """
    known = identity_for_number(number)
    if kind == "cccd":
        return Identity(*known) if known is not None and known[0] == "VN-ID" else None
    if known is not None:  # a CMND, or a passport number that a PC-Covid code would take for an ID number
        return Identity(*known)
    return Identity("DOC", number) if kind == "passport" and _PASSPORT.fullmatch(number) else None


class FormInvalid(CentralError):
    """The form's answers, refused: `codes` maps each field to an error code of MESSAGES."""

    status = 422

    def __init__(self, codes: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in self.render(codes, "en").items()))
        self.codes = codes

    def messages(self, language: str) -> dict[str, str]:
        """Field -> message in `language` ("vi" or "en"; anything else gives Vietnamese)."""
        return self.render(self.codes, language)

    @staticmethod
    def render(codes: Mapping[str, str], language: str) -> dict[str, str]:
        index = 1 if language == "en" else 0
        return {field: MESSAGES[code][index] for field, code in codes.items()}


def validate_form(data: Mapping[str, Any]) -> DeclarationForm:
    """The form's answers as a `DeclarationForm`; FormInvalid with one error code per wrong field."""
    try:
        return DeclarationForm.model_validate(dict(data))
    except ValidationError as exc:
        codes: dict[str, str] = {}
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "form"
            codes.setdefault(field, _code(field, error["type"]))
        raise FormInvalid(codes) from None


def _code(field: str, kind: str) -> str:
    if kind in MESSAGES:
        return kind
    code = _PYDANTIC_CODES.get(kind, "invalid")
    return "identity_type" if field == "identity_type" and code == "choice" else code


def status_for(answers: Iterable[str]) -> Status:
    """The worst status the answers give under STATUS_RULES; green if none of them counts."""
    return max((STATUS_RULES.get(a, "green") for a in answers), key=_SEVERITY.index, default="green")


@dataclass(frozen=True)
class Issued:
    """A stored declaration and its pass. `contact_stored` False: no contact key was set, the phone was dropped."""

    declaration_id: str
    subject_key: str
    status: Status
    declared_at: datetime
    expires_at: datetime
    pass_text: str
    contact_stored: bool


def submit(
    conn: Connection,
    form: DeclarationForm,
    *,
    secret: bytes,
    pass_key: Ed25519PrivateKey,
    kid: bytes,
    now: datetime,
    valid_h: int,
    issuer: str = DEFAULT_ISSUER,
) -> Issued:
    """Store the declaration and issue its pass, valid `valid_h` hours from `now` (whole seconds, as in the pass).

    CentralError if the pass key is not in the trust list yet: kiosks could not verify the pass."""
    if not 1 <= valid_h <= MAX_VALID_H:
        raise CentralError(f"a pass is valid 1 to {MAX_VALID_H} hours, not {valid_h}")
    if not _kid_published(conn, kid):
        raise CentralError("the pass key is not in the trust list; run: kiosk-central pass-key publish")
    ident = uuid7(int(now.timestamp() * 1000))
    declared = now.replace(microsecond=0)
    expires = declared + timedelta(hours=valid_h)
    subject_key = SubjectKeyer(secret).key(form.identity())
    # The health service's word outranks the answers: someone on the status list gets at least that colour.
    status = max(status_for(form.flags()), listed_status(conn, subject_key, now), key=_SEVERITY.index)
    contact = contact_public_key(conn)
    sealed = None if contact is None else seal(form.phone.encode(), contact, contact_context(str(ident)))
    text = issue_pass(PassClaims(subject_key, declared, status, expires, ident.bytes, issuer), pass_key, kid)
    conn.execute(
        declarations.insert().values(
            id=str(ident),
            subject_key=subject_key,
            declared_at=declared,
            expires_at=expires,
            status=status,
            answers=stored_answers(form),
            contact_sealed=sealed,
        )
    )
    return Issued(str(ident), subject_key, status, declared, expires, text, sealed is not None)


def listed_status(conn: Connection, subject_key: str, now: datetime) -> Status:
    """The person's colour on the status list now (green when not listed, cleared or expired)."""
    row = conn.execute(
        select(status_entries.c.status, status_entries.c.until).where(
            status_entries.c.subject_key == subject_key, ~status_entries.c.cleared
        )
    ).first()
    if row is None or row.status not in ("red", "yellow"):
        return "green"
    until = aware(row.until)
    return "green" if until is not None and until <= now else row.status


def stored_answers(form: DeclarationForm) -> dict[str, Any]:
    """What is kept of the answers: what the status was judged from, no identity and no phone."""
    return {
        "symptoms": list(form.symptoms),
        "contact_confirmed": form.contact_confirmed,
        "lockdown_area": form.lockdown_area,
        "travel": form.travel,
        "language": form.language,
    }


def _kid_published(conn: Connection, kid: bytes) -> bool:
    wanted = base64.b64encode(kid).decode("ascii")
    rows = conn.execute(select(trust_entries.c.entry).where(trust_entries.c.section == "pass_keys"))
    return any(isinstance(row.entry, dict) and row.entry.get("kid") == wanted for row in rows)


def contact_context(declaration_id: str) -> bytes:
    """What a declaration's phone is sealed under: it opens for this declaration only."""
    return f"declaration-contact:{declaration_id}".encode()


def open_contact(
    conn: Connection,
    declaration_id: str,
    private_key: X25519PrivateKey,
    *,
    actor: str,
    reason: str,
    now: datetime,
    address: str | None = None,
) -> str:
    """The phone of a declaration, recorded in the audit log in the same transaction.

    NotFound if there is no such declaration or it has no phone; SealError if the key does not open it."""
    row = conn.execute(
        select(declarations.c.subject_key, declarations.c.contact_sealed).where(declarations.c.id == declaration_id)
    ).first()
    if row is None:
        raise NotFound(f"no declaration {declaration_id}")
    if row.contact_sealed is None:
        raise NotFound(f"declaration {declaration_id} has no phone: no contact key was set when it was made")
    phone = open_sealed(bytes(row.contact_sealed), private_key, contact_context(declaration_id)).decode()
    record(
        conn,
        at=now,
        actor=actor,
        action="contact-open",
        subject=row.subject_key,
        reason=reason,
        detail={"declaration": declaration_id},
        address=address,
    )
    return phone


def purge(conn: Connection, expired_before: datetime) -> int:
    """Delete the declarations whose pass expired before `expired_before`; how many."""
    return int(conn.execute(delete(declarations).where(declarations.c.expires_at < expired_before)).rowcount)


# Settings of the declarations (central/settings.py).


def valid_hours(conn: Connection) -> int:
    """How long a pass is valid, in hours (settings "declaration_valid_h", default 24)."""
    value = get_setting(conn, VALID_H_KEY)
    return int(value) if value is not None and value.isdigit() else DEFAULT_VALID_H


def set_valid_hours(conn: Connection, hours: int) -> None:
    if not 1 <= hours <= MAX_VALID_H:
        raise CentralError(f"a pass is valid 1 to {MAX_VALID_H} hours, not {hours}")
    set_setting(conn, VALID_H_KEY, str(hours))


def pass_issuer(conn: Connection) -> str:
    """The centre's name in its passes, e.g. VN-67 (settings "pass_issuer", default VN)."""
    return get_setting(conn, ISSUER_KEY) or DEFAULT_ISSUER


def set_pass_issuer(conn: Connection, name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,32}", name):
        raise CentralError(f"an issuer name is 1 to 32 letters, digits, '.', '_' or '-', not {name!r}")
    set_setting(conn, ISSUER_KEY, name)


def contact_public_key(conn: Connection) -> X25519PublicKey | None:
    """The health service's key that phones are sealed to (settings "contact_public_key"), None if not set."""
    value = get_setting(conn, CONTACT_KEY)
    if value is None:
        return None
    try:
        return public_key_from_raw(base64.b64decode(value, validate=True))
    except ValueError:  # binascii.Error is one
        raise CentralError(f"settings {CONTACT_KEY} is not base64; run: contact-key init --replace") from None


def set_contact_public_key(conn: Connection, key: X25519PublicKey) -> None:
    set_setting(conn, CONTACT_KEY, base64.b64encode(raw_public(key)).decode("ascii"))


# The pass as a QR code: always a full QR code (never Micro QR, which kiosks do not read), level M or better, and
# the quiet zone of 4 modules the standard asks for; dark on a white background, so a dark-mode page reads too.


def qr_svg(text: str, *, scale: int = 6) -> str:
    """The pass as inline SVG for a phone screen: `scale` CSS pixels a module (a version 9 code at 6 is 366 px
    wide), and a viewBox, so that a page's `max-width: 100%; height: auto` shrinks it on a narrow screen."""
    qr = segno.make_qr(text, error="m")
    svg = str(qr.svg_inline(scale=1, border=4, dark="#000", light="#fff", omitsize=True, svgclass="pass-qr"))
    size = qr.symbol_size(scale=scale, border=4)[0]
    return svg.replace("<svg ", f'<svg width="{size}" height="{size}" shape-rendering="crispEdges" ', 1)


def qr_png(text: str, *, scale: int = 10, dpi: int = 300) -> bytes:
    """The pass as a PNG for printing: at 10 pixels a module and 300 dpi, a version 9 code is 5 cm wide."""
    out = io.BytesIO()
    segno.make_qr(text, error="m").save(out, kind="png", scale=scale, border=4, dpi=dpi)
    return out.getvalue()
