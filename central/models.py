"""The API's request and answer bodies. Strict: a malformed request is refused with 422 and what was wrong."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

MAX_BATCH = 500


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def refuse_nul(value: Any) -> Any:
    """PostgreSQL stores no NUL character in text or jsonb: a request holding one anywhere is refused with 422
    instead of failing at the database with a 500 (found by schemathesis on PostgreSQL)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("text must not contain a NUL character (\\u0000)")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


Finite = Annotated[float, AfterValidator(_finite)]
EventId = Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
Short = Annotated[str, Field(min_length=1, max_length=64)]


class Body(BaseModel):
    # strict: 0 is not false and "5" is not 5; a request that says it wrongly is refused (found by schemathesis)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return refuse_nul(data)


class EnrollRequest(Body):
    code: Annotated[str, Field(min_length=4, max_length=64)]
    public_key: Annotated[str, Field(min_length=40, max_length=64)]
    name: Annotated[str, Field(max_length=128)] | None = None


class ChallengeRequest(Body):
    device_id: Short


class TokenRequest(Body):
    device_id: Short
    nonce: Annotated[str, Field(min_length=8, max_length=64)]
    signature: Annotated[str, Field(min_length=8, max_length=128)]


class DeviceTime(Body):
    wall: Finite
    mono: Finite
    boot_id: Short
    synced: bool


class EventIn(Body):
    event_id: EventId
    boot_id: Short
    seq: Annotated[int, Field(ge=1, le=2**62)]
    wall_time: Finite
    mono_time: Finite
    clock_synced: bool
    direction: Literal["in", "out"]
    kind: Annotated[str, Field(pattern=r"^[a-z-]{1,16}$")]
    subject_key: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")] | None
    decision: Literal["ACCEPT", "DENY", "REVIEW"]
    reason: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,48}$")]
    decoder: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,16}$")]
    latency_ms: Annotated[Finite, Field(ge=0)]
    # What the kiosk keeps that the centre has no use for is allowed and ignored (device_id, venue, sent_at).
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class UploadRequest(Body):
    device_time: DeviceTime
    events: Annotated[list[EventIn], Field(max_length=MAX_BATCH)]


class UploadAnswer(BaseModel):
    held: list[str]
    server_time: str


class VisitIn(Body):
    """A visit the guard opened at a kiosk (docs/access-list.md): the visitor's subject key, whom they visit, why,
    and the last 4 digits of their ID number for the roll call (the rest of it never leaves the kiosk)."""

    visit_id: EventId
    event_id: EventId  # its "visit-opened" event
    subject_key: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    opened_at: Annotated[Finite, Field(ge=0, le=2**32)]  # the kiosk's wall time, seconds since the epoch
    host: Annotated[str, Field(min_length=1, max_length=80)]
    purpose: Annotated[str, Field(min_length=1, max_length=80)]
    id_tail: Annotated[str, Field(pattern=r"^[0-9]{4}$")] | None = None


class ClaimRequest(Body):
    subject_key: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]


class ClaimAnswer(BaseModel):
    first: bool
    device_id: str | None = None  # the gate that has it, when not first
    at: str | None = None


class VenuePassages(BaseModel):
    passages: list[dict[str, Any]]
    cursor: str


class VisitsUpload(Body):
    visits: Annotated[list[VisitIn], Field(max_length=MAX_BATCH)]


class VisitsAnswer(BaseModel):
    held: list[str]


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return refuse_nul(data)

    backlog: Annotated[int, Field(ge=0)]
    oldest_unsent_age_s: Finite | None = None
    quarantined: Annotated[int, Field(ge=0)] = 0
    clock_synced: bool | None = None
    version: Annotated[str, Field(max_length=32)] | None = None
