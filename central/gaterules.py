"""A venue's gate rules, set at the centre: the kiosk settings a venue may choose for all its gates.

They are kept flat in `venues.policy` (JSON), which the config document sends to the venue's kiosks as "policy"
(central/lists.py); a kiosk lays the policy's rules over its config file's [policy], and `relay_hold_s` and
`language` over its [feedback]. A rule not set is the kiosk's own. Changing a rule changes the document's version,
so each kiosk takes it at its next config pull (the relay time and the language, which shape its outputs, at its
next start).

Every value is checked before anything is written, with the kiosk's own choices and bounds: the centre imports no
kiosk config (the floor plan, docs/architecture.md), so they are written out again here, and
tests/test_gate_rules.py holds the two copies equal. A kiosk ignores a policy it cannot use as a whole, so one bad
value would silently cost a venue all its rules. Every change is audited in the same transaction, with the values
before and after.

Two rules are lists, not kiosk settings: `visit_hosts` and `visit_purposes`, the choices the guard picks from when a
stranger is sent to the visitor desk (docs/access-list.md). They travel in the same policy, as JSON lists; RULES
names the nine settings, VISIT_LISTS the two lists, NAMES all of them. On the command line a list is one value,
its entries separated by ";" (SEPARATOR); on the rules page, one entry a line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, null, select, update

from central import audit
from central.errors import CentralError, NotFound
from central.schema import venues

ACTION = "venue-rules-set"  # the audit log's action code


def _no_truth_value(value: object) -> object:
    """A number, not `true` (which pydantic would read as 1): a kiosk's config takes no bool for a number."""
    if isinstance(value, bool):
        raise ValueError("a number, not true or false")
    return value


def _different(entries: list[str]) -> list[str]:
    """A guard picks from the list: an entry twice is a typo, not a choice."""
    if len(set(entries)) != len(entries):
        raise ValueError("an entry is listed twice")
    return entries


# After the bounds, so that they are the JSON schema's minimum and maximum (before them, pydantic writes ge, le).
FINITE = Field(allow_inf_nan=False)  # JSON has no infinity: a venue's policy is JSON
NOT_BOOL = BeforeValidator(_no_truth_value)
MAX_ENTRIES = 50
MAX_ENTRY = 80  # characters: what a kiosk's screen shows on a line, and what a visit keeps (central/models.py)
# An entry of a visit list: no control character (C0, DEL, C1), which a kiosk's screen cannot show.
Entry = Annotated[str, Field(min_length=1, max_length=MAX_ENTRY, pattern=r"^[^\x00-\x1f\x7f-\x9f]+$")]
Entries = Annotated[list[Entry], Field(min_length=1, max_length=MAX_ENTRIES), AfterValidator(_different)]


class GateRules(BaseModel):
    """The rules a venue may set, each optional (None: the kiosk's own); the bounds of kiosk.config."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["log-only", "identity", "certificate", "pass", "access"] | None = Field(
        None, description="What the gate checks (config/kiosk.example.toml); access: enrolled people only."
    )
    strangers: Literal["deny", "review", "visitor"] | None = Field(
        None, description="Access mode, a person not enrolled: refused, sent to the guard, or to the visitor desk."
    )
    anti_passback_s: Annotated[float, Field(ge=0, le=86400), FINITE, NOT_BOOL] | None = Field(
        None, description="No second passage the same way within this; 0: off."
    )
    trust_list_max_h: Annotated[float, Field(ge=0), FINITE, NOT_BOOL] | None = Field(
        None, description="Refuse signed credentials once the trust list is this old."
    )
    vaccination_wait_days: Annotated[float, Field(ge=0, le=365), FINITE, NOT_BOOL] | None = Field(
        None, description="Days after the last dose before it counts."
    )
    test_max_age_h: Annotated[float, Field(gt=0, le=720), FINITE, NOT_BOOL] | None = Field(
        None, description="Hours a negative test counts after the sample."
    )
    recovery_max_days: Annotated[float, Field(gt=0, le=3650), FINITE, NOT_BOOL] | None = Field(
        None, description="Days a recovery counts, when undated."
    )
    relay_hold_s: Annotated[float, Field(ge=1, le=10), FINITE, NOT_BOOL] | None = Field(
        None, description="Seconds the gate stays open after ACCEPT."
    )
    language: Literal["vi", "en"] | None = Field(None, description="Of the kiosk's spoken and shown messages.")
    visit_hosts: Entries | None = Field(
        None, description="Access mode, the visitor desk: whom a visitor may come to see (the guard picks one)."
    )
    visit_purposes: Entries | None = Field(
        None, description="Access mode, the visitor desk: why a visitor comes (the guard picks one)."
    )


NAMES: tuple[str, ...] = tuple(GateRules.model_fields)
VISIT_LISTS = ("visit_hosts", "visit_purposes")
RULES: tuple[str, ...] = tuple(name for name in NAMES if name not in VISIT_LISTS)  # the kiosk's own settings
SEPARATOR = ";"  # between a visit list's entries on the command line
LIST_TAKES = (
    f"1 to {MAX_ENTRIES} different entries (on the command line separated by {SEPARATOR}), each 1 to {MAX_ENTRY} "
    "characters, no control characters"
)
# What each rule takes, for a refusal on the command line or the API (the pages say it from their catalogue).
TAKES = {
    "mode": "one of log-only, identity, certificate, pass, access",
    "strangers": "one of deny, review, visitor",
    "anti_passback_s": "seconds from 0 to 86400 (0: off)",
    "trust_list_max_h": "hours, 0 or more (0: never refuse)",
    "vaccination_wait_days": "days from 0 to 365",
    "test_max_age_h": "hours, more than 0 and at most 720",
    "recovery_max_days": "days, more than 0 and at most 3650",
    "relay_hold_s": "seconds from 1 to 10",
    "language": "vi or en",
    "visit_hosts": LIST_TAKES,
    "visit_purposes": LIST_TAKES,
}


class RulesError(CentralError):
    """Rules that cannot be set; `problems` names each field with what it takes, in the order of NAMES."""

    status = 422

    def __init__(self, problems: Mapping[str, str]) -> None:
        order = {name: n for n, name in enumerate(NAMES)}
        self.problems = dict(sorted(problems.items(), key=lambda item: order.get(item[0], len(order))))
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in self.problems.items()))


@dataclass(frozen=True)
class RulesChange:
    """A venue's rules before and after a change (each only the rules set)."""

    venue: str
    before: dict[str, Any]
    after: dict[str, Any]

    @property
    def changes(self) -> dict[str, tuple[Any, Any]]:
        """Each rule that changed: (before, after), None for the kiosk's own."""
        names = [name for name in NAMES if self.before.get(name) != self.after.get(name)]
        return {name: (self.before.get(name), self.after.get(name)) for name in names}


def checked(values: Mapping[str, object]) -> dict[str, Any]:
    """`values` as they are stored (whole numbers as integers), or RulesError naming every field that is wrong."""
    unknown = {name: _unknown(name) for name in values if name not in NAMES}
    try:
        rules = GateRules.model_validate({k: v for k, v in values.items() if k in NAMES})
    except ValidationError as exc:
        wrong = {str(error["loc"][0]) for error in exc.errors()}
        raise RulesError({name: TAKES[name] for name in wrong} | unknown) from None
    if unknown:
        raise RulesError(unknown)
    return {name: _plain(value) for name, value in rules.model_dump(include=set(values), exclude_none=True).items()}


def entries(text: str, separator: str = SEPARATOR) -> list[str]:
    """A visit list as a person types it: entries separated by `separator` (";" on the command line, a new line
    on the page), each with its spaces and tabs (a spreadsheet's cells pasted) made single spaces, empty ones
    dropped."""
    return [" ".join(entry.split()) for entry in text.split(separator) if entry.strip()]


def from_text(values: Mapping[str, str], separator: str = SEPARATOR) -> dict[str, object]:
    """Values typed as text (the command line): each visit list split into its entries; the others as they are
    (the model reads "5" as 5)."""
    return {name: entries(value, separator) if name in VISIT_LISTS else value for name, value in values.items()}


def shown(value: object) -> str:
    """A rule's value as a line of text: a visit list's entries joined by SEPARATOR."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return f"{SEPARATOR} ".join(str(entry) for entry in value)
    return str(value)


def rules_of(conn: Connection, venue: str) -> dict[str, Any]:
    """The rules venue `venue` has set, in the order of NAMES (NotFound if there is no such venue)."""
    return _rules(_policy(conn, venue))


def change_rules(
    conn: Connection,
    venue: str,
    *,
    values: Mapping[str, object] | None = None,
    unset: Iterable[str] = (),
    actor: str,
    reason: str,
    now: datetime,
    address: str | None = None,
) -> RulesChange:
    """Set the rules in `values` and return those in `unset` (or None in `values`) to the kiosk's own, leaving
    the others as they are; audited as `actor` with the values before and after. Nothing is written if anything
    is wrong (RulesError, naming each field), or if nothing changes."""
    given = {name: value for name, value in (values or {}).items() if value is not None}
    dropped = [*unset, *(name for name, value in (values or {}).items() if value is None)]
    problems = {name: _unknown(name) for name in dropped if name not in NAMES}
    problems |= {name: "both set and unset" for name in dropped if name in given}
    if problems:
        raise RulesError(problems)
    wanted = checked(given)
    policy = _policy(conn, venue)
    merged = {name: value for name, value in (policy | wanted).items() if name not in dropped}
    done = RulesChange(venue, _rules(policy), _rules(merged))
    if changes := done.changes:
        conn.execute(update(venues).where(venues.c.code == venue).values(policy=merged or null()))
        detail = {"before": {k: b for k, (b, _) in changes.items()}, "after": {k: a for k, (_, a) in changes.items()}}
        audit.record(
            conn, at=now, actor=actor, action=ACTION, subject=venue, reason=reason, detail=detail, address=address
        )
    return done


def replace_rules(
    conn: Connection,
    venue: str,
    rules: Mapping[str, object],
    *,
    actor: str,
    reason: str,
    now: datetime,
    address: str | None = None,
) -> RulesChange:
    """Make the venue's rules exactly `rules`: any other goes back to the kiosk's own (a form, a PUT)."""
    given = {name: value for name, value in rules.items() if value is not None}
    others = [name for name in NAMES if name not in given]
    return change_rules(conn, venue, values=given, unset=others, actor=actor, reason=reason, now=now, address=address)


def _policy(conn: Connection, venue: str) -> dict[str, Any]:
    row = conn.execute(select(venues.c.policy).where(venues.c.code == venue)).first()
    if row is None:
        raise NotFound(f"no venue {venue}; add it first: kiosk-central venue add {venue} NAME --unit U --category C")
    return dict(row.policy) if isinstance(row.policy, dict) else {}


def _rules(policy: Mapping[str, Any]) -> dict[str, Any]:
    """The gate rules of a venue's policy, in the order of NAMES (a key put there by hand is not one)."""
    return {name: policy[name] for name in NAMES if name in policy}


def _unknown(name: str) -> str:
    return f"no rule {name[:64]}; the rules are {', '.join(NAMES)}"


def _plain(value: Any) -> Any:
    """5.0 as 5: what a person typed, and what the kiosk's TOML would say."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
