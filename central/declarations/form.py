"""The declaration form: the answers, their checks and messages in both languages, and the status they give.

Status rule (`STATUS_RULES`, the worst answer wins): red for fever, shortness of breath, or contact with a
confirmed case in the last 14 days; yellow for any other symptom or a stay in a lockdown area; green otherwise.
Travel is free text and judged by no one but a person reading it. See docs/declarations.md.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from central.errors import CentralError
from kiosk.credentials.base import Identity
from kiosk.credentials.fields import identity_for_number

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
SEVERITY: tuple[Status, ...] = ("green", "yellow", "red")

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
    return max((STATUS_RULES.get(a, "green") for a in answers), key=SEVERITY.index, default="green")
