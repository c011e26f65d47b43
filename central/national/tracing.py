"""Tracing across provinces: `central.tracing.trace`, unchanged, on each province's copy, merged.

A venue belongs to one province and a contact is someone at the same venue at the same time, so the union of
the provinces' traces is the national trace: a traveller's visits in every province, and in each province whom
they met there. Every row is qualified by its province, since venue and unit codes are the province's own.
The trace is recorded in the national centre's audit log, in the caller's transaction.

Second degree stays within a province here: a contact met in province A is followed in A only (docs/scale.md,
what is left). The default dwell per category is each copy's (the defaults, unless set on the copy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from central.audit import record
from central.national.dashboard import national_code
from central.timeutil import utcnow
from central.tracing import Contact, TraceResult, Visit, trace


@dataclass(frozen=True)
class NationalTrace:
    subject_key: str
    start: datetime
    end: datetime
    by_province: dict[str, TraceResult]

    @property
    def visits(self) -> list[tuple[str, Visit]]:
        """Every visit, in time order, with its province."""
        found = [(p, v) for p, result in self.by_province.items() for v in result.visits]
        return sorted(found, key=lambda pv: (pv[1].entered, pv[0]))

    @property
    def contacts(self) -> list[tuple[str, Contact]]:
        """Every contact with its province, most overlap first."""
        found = [(p, c) for p, result in self.by_province.items() for c in result.contacts]
        return sorted(found, key=lambda pc: (-pc[1].overlap_minutes, pc[1].degree, pc[1].subject_key, pc[0]))

    def combined(self) -> TraceResult:
        """One trace as a province's page shows it, each venue named nationally ("67:V1")."""
        first = next(iter(self.by_province.values()), None)
        return TraceResult(
            self.subject_key,
            self.start,
            self.end,
            [replace(v, venue=national_code(p, v.venue)) for p, v in self.visits],
            [replace(c, venue=national_code(p, c.venue)) for p, c in self.contacts],
            first.default_dwell_min if first else None,
            first.second_degree if first else False,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "subject_key": self.subject_key,
            "from": self.start.isoformat(timespec="seconds"),
            "to": self.end.isoformat(timespec="seconds"),
            "provinces": sorted(self.by_province),
            "visits": [{"province": p, **v.as_json()} for p, v in self.visits],
            "contacts": [{"province": p, **c.as_json()} for p, c in self.contacts],
        }


def national_trace(
    copies: Mapping[str, Connection],
    subject_key: str,
    start: datetime,
    end: datetime,
    *,
    default_dwell_min: int | None = None,
    second_degree: bool = False,
    now: datetime | None = None,
) -> NationalTrace:
    """The visits of `subject_key` in every province of `copies` (province code: a connection to its copy)."""
    now = now or utcnow()
    found = {
        province: trace(
            conn, subject_key, start, end, default_dwell_min=default_dwell_min, second_degree=second_degree, now=now
        )
        for province, conn in sorted(copies.items())
    }
    first = next(iter(found.values()), None)
    key = first.subject_key if first else subject_key.strip().lower()
    return NationalTrace(key, first.start if first else start, first.end if first else end, found)


def audited_national_trace(
    national: Connection,
    copies: Mapping[str, Connection],
    subject_key: str,
    start: datetime,
    end: datetime,
    *,
    actor: str,
    reason: str,
    default_dwell_min: int | None = None,
    second_degree: bool = False,
    now: datetime | None = None,
    address: str | None = None,
    detail: dict[str, Any] | None = None,
) -> NationalTrace:
    """`national_trace`, recorded in the national centre's audit log (`national`): no trace without its record.
    `detail` adds to what is recorded (the page's output, say)."""
    now = now or utcnow()
    result = national_trace(
        copies, subject_key, start, end, default_dwell_min=default_dwell_min, second_degree=second_degree, now=now
    )
    summary = {"from": result.start.isoformat(), "to": result.end.isoformat(), "second_degree": second_degree}
    summary |= {"provinces": sorted(copies), "visits": len(result.visits), "contacts": len(result.contacts)}
    summary |= {"default_dwell_min": default_dwell_min, **(detail or {})}
    record(
        national,
        at=now,
        actor=actor,
        action="national-trace",
        subject=result.subject_key,
        reason=reason,
        detail=summary,
        address=address,
    )
    return result
