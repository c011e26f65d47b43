"""A venue's people from people.csv (docs/access-list.md): each row a person by CCCD or subject key, with the
groups they are in and perhaps a name; checked row by row and written all or nothing, in bulk (a venue of
100,000 people imports in seconds).

    cccd,subject_key,name,groups,badge
    001099012345,,Nguyễn Văn An,staff,0004521987

A CCCD becomes the subject key with the centre's secret at once, exactly as a kiosk derives it from the card,
and is neither stored nor told in a message. A name is sealed to the health service's public key (the contact
key declarations' phones are sealed to) under the context of its venue and person, and never sent to a kiosk;
without a contact key it is dropped, and the result says how many were. A badge is the number of the card the
venue's access panel already knows the person by (a kiosk reporting to the panel over OSDP presents them as it);
a file without the column leaves the badges as they were.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from sqlalchemy import Connection, bindparam, delete, func, select, update

from central.admin import venue_id
from central.audit import record
from central.declarations.settings import contact_public_key
from central.people.csvfile import ImportRefused, Problem, Problems, Row, read_table
from central.people.versions import bump_version
from central.schema import access_groups, access_members, access_people
from central.sealing import seal
from central.subjects import SubjectError, checked_key, key_of_number

COLUMNS = ("cccd", "subject_key", "name", "groups", "badge")
MAX_NAME = 200
MAX_BADGE = 20  # digits: a 64-bit card number printed in decimal
CCCD_HINT = "(a spreadsheet drops leading zeros: format the column as text)"


@dataclass(frozen=True)
class Person:
    line: int
    subject_key: str
    name: str | None
    groups: tuple[int, ...]
    badge: str | None = None


@dataclass(frozen=True)
class PeopleImported:
    """What an import did. `names_kept` False: the centre has no contact key, and the `names_dropped` names the
    file gave were not kept."""

    venue: str
    added: int
    updated: int
    removed: int
    names_kept: bool
    names_sealed: int
    names_dropped: int
    version: int


def name_context(venue: str, subject_key: str) -> bytes:
    """What a person's name is sealed under: it opens for this person at this venue only."""
    return f"access-person:{venue}:{subject_key}".encode()


def import_people(
    conn: Connection,
    venue: str,
    data: bytes,
    *,
    secret: bytes | None,
    actor: str,
    now: datetime,
    replace: bool = False,
    source: str = "people.csv",
) -> PeopleImported:
    """Add the people of the CSV file `data` to `venue`, giving those listed already the file's groups (and name,
    when it gives one); with `replace`, the venue's people become exactly the file's. ImportRefused (nothing
    written) if any row is wrong; with `secret` None, so is a row with a CCCD. Audited as `actor`."""
    venue_number = venue_id(conn, venue)
    table = read_table(data, source, known=COLUMNS, required=("groups",))
    if not {"cccd", "subject_key"} & set(table.columns):
        raise ImportRefused(source, [Problem(1, None, "no column cccd or subject_key: each person is one of them")])
    version = bump_version(conn, venue_number, now)  # first: the venue's groups cannot change while we read them
    groups = conn.execute(
        select(access_groups.c.name, access_groups.c.id).where(access_groups.c.venue_id == venue_number)
    )
    people = read_people(table.rows, source, venue, dict(groups.all()), secret)
    badges = "badge" in table.columns
    if badges:
        _check_badges(conn, venue_number, venue, people, replace, source)
    contact = contact_public_key(conn)
    added, updated, removed = _write(conn, venue_number, _sealed(people, venue, contact), replace, now, badges)
    named = sum(1 for person in people if person.name)
    sealed, dropped = (named, 0) if contact else (0, named)
    detail = {"added": added, "updated": updated, "removed": removed, "replace": replace, "version": version}
    record(
        conn,
        at=now,
        actor=actor,
        action="access-people-import",
        subject=venue,
        reason=f"import {source}",
        detail=detail,
    )
    return PeopleImported(venue, added, updated, removed, contact is not None, sealed, dropped, version)


def read_people(
    rows: list[Row], source: str, venue: str, groups: Mapping[str, int], secret: bytes | None
) -> list[Person]:
    """The people of the rows, with their groups' ids; ImportRefused listing every problem."""
    problems = Problems(source)
    people: list[Person] = []
    lines: dict[str, int] = {}
    badge_lines: dict[str, int] = {}
    for row in rows:
        person = _person(row, problems, venue, groups, secret)
        if person is None:
            continue
        if person.subject_key in lines:
            problems.add(row.line, None, f"the same person as line {lines[person.subject_key]}")
            continue
        if person.badge is not None and person.badge in badge_lines:
            problems.add(row.line, "badge", f"the same badge as line {badge_lines[person.badge]}")
            continue
        lines[person.subject_key] = row.line
        if person.badge is not None:
            badge_lines[person.badge] = row.line
        people.append(person)
    problems.check()
    return people


def _person(row: Row, problems: Problems, venue: str, groups: Mapping[str, int], secret: bytes | None) -> Person | None:
    before = len(problems.found)
    key = _key(row, problems, secret)
    name = " ".join(unicodedata.normalize("NFC", row["name"]).split()) or None
    if name is not None and len(name) > MAX_NAME:
        problems.add(row.line, "name", f"longer than {MAX_NAME} characters")
    names = row["groups"].split()
    unknown = [group for group in dict.fromkeys(names) if group not in groups]
    if not names:
        problems.add(row.line, "groups", f"empty: name the person's groups at {venue}, separated by spaces")
    elif unknown:
        shown = ", ".join(group[:40] for group in unknown[:5])
        problems.add(row.line, "groups", f"no group {shown} at {venue} (import-groups adds groups)")
    badge = row["badge"] or None
    if badge is not None and not (badge.isascii() and badge.isdigit() and len(badge) <= MAX_BADGE):
        problems.add(row.line, "badge", f"not a badge number: digits only, at most {MAX_BADGE} {CCCD_HINT}")
    if key is None or len(problems.found) > before:
        return None
    return Person(row.line, key, name, tuple(sorted({groups[group] for group in names})), badge)


def _check_badges(
    conn: Connection, venue_number: int, venue: str, people: list[Person], replace: bool, source: str
) -> None:
    """ImportRefused if a badge of the file is already another person's at the venue (one not in the file, who
    keeps it: with `replace` nobody outside the file keeps anything)."""
    if replace:
        return
    wanted = {person.badge: person for person in people if person.badge is not None}
    if not wanted:
        return
    held = conn.execute(
        select(access_people.c.badge, access_people.c.subject_key).where(
            access_people.c.venue_id == venue_number, access_people.c.badge.in_(list(wanted))
        )
    )
    listed = {person.subject_key for person in people}
    problems = Problems(source)
    for badge, key in held:
        if key != wanted[badge].subject_key and key not in listed:
            problems.add(wanted[badge].line, "badge", f"already the badge of another person at {venue}")
    problems.check()


def _key(row: Row, problems: Problems, secret: bytes | None) -> str | None:
    """The row's subject key; the CCCD itself appears in no message."""
    cccd, key = row["cccd"], row["subject_key"]
    if bool(cccd) == bool(key):
        problems.add(row.line, None, "give exactly one of cccd and subject_key")
        return None
    try:
        if key:
            return checked_key(key)
        if secret is None:
            problems.add(row.line, "cccd", "the centre has no subject-key secret here: give --secret-file")
            return None
        return key_of_number(cccd, secret)
    except SubjectError as exc:
        column, message = (
            ("subject_key", str(exc)) if key else ("cccd", f"not a 12-digit CCCD or 9-digit CMND {CCCD_HINT}")
        )
        problems.add(row.line, column, message)
        return None


def _sealed(people: list[Person], venue: str, contact: X25519PublicKey | None) -> list[tuple[Person, bytes | None]]:
    """Each person with their name sealed; None where no name is given, or no contact key is set."""
    if contact is None:
        return [(person, None) for person in people]
    return [
        (person, seal(person.name.encode(), contact, name_context(venue, person.subject_key)) if person.name else None)
        for person in people
    ]


def _write(
    conn: Connection,
    venue_number: int,
    people: list[tuple[Person, bytes | None]],
    replace: bool,
    now: datetime,
    badges: bool = False,
) -> tuple[int, int, int]:
    """Write the people and their groups (and, with `badges`, their badges); how many were added, updated and
    removed."""
    held = set(
        conn.execute(select(access_people.c.subject_key).where(access_people.c.venue_id == venue_number)).scalars()
    )
    listed = {person.subject_key for person, _ in people}
    gone = held - listed if replace else set()
    old = [{"key": p.subject_key} for p, _ in people if p.subject_key in held]
    here = access_members.c.venue_id == venue_number
    if replace:
        conn.execute(delete(access_members).where(here))
    elif old:
        conn.execute(delete(access_members).where(here, access_members.c.subject_key == bindparam("key")), old)
    person = (access_people.c.venue_id == venue_number) & (access_people.c.subject_key == bindparam("key"))
    if gone:
        conn.execute(delete(access_people).where(person), [{"key": key} for key in gone])
    if old and badges:  # cleared first, so that two people may swap badges in one file
        conn.execute(update(access_people).where(person).values(badge=None), old)
    if old:
        if badges:
            changed = [{"key": p.subject_key, "new_badge": p.badge} for p, _ in people if p.subject_key in held]
            conn.execute(
                update(access_people).where(person).values(updated_at=now, badge=bindparam("new_badge")), changed
            )
        else:
            conn.execute(update(access_people).where(person).values(updated_at=now), old)
    renamed = [{"key": p.subject_key, "name_sealed": s} for p, s in people if p.subject_key in held and s]
    if renamed:
        conn.execute(update(access_people).where(person), renamed)
    new = [
        {"venue_id": venue_number, "subject_key": p.subject_key, "name_sealed": s, "updated_at": now, "badge": p.badge}
        for p, s in people
        if p.subject_key not in held
    ]
    if new:
        conn.execute(access_people.insert(), new)
    members = [
        {"venue_id": venue_number, "subject_key": p.subject_key, "group_id": group}
        for p, _ in people
        for group in p.groups
    ]
    if members:
        conn.execute(access_members.insert(), members)
    return len(new), len(old), len(gone)


def remove_person(
    conn: Connection, venue: str, subject_key: str, *, actor: str, now: datetime, reason: str = ""
) -> bool:
    """Take the person off the venue's list; False (nothing changed) if they were not on it. Audited."""
    venue_number = venue_id(conn, venue)
    key = checked_key(subject_key)
    person = (access_people.c.venue_id == venue_number) & (access_people.c.subject_key == key)
    if conn.execute(select(access_people.c.subject_key).where(person)).first() is None:
        return False
    version = bump_version(conn, venue_number, now)
    conn.execute(
        delete(access_members).where(access_members.c.venue_id == venue_number, access_members.c.subject_key == key)
    )
    conn.execute(delete(access_people).where(person))
    detail = {"venue": venue, "version": version}
    record(conn, at=now, actor=actor, action="access-person-remove", subject=key, reason=reason, detail=detail)
    return True


def count_people(conn: Connection, venue: str) -> int:
    venue_number = venue_id(conn, venue)
    query = select(func.count()).select_from(access_people).where(access_people.c.venue_id == venue_number)
    return int(conn.execute(query).scalar_one())
