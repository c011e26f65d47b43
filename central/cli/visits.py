"""`kiosk-central visits inside | list`: who is inside a venue now or at a time of today (the roll call), and the
visits of a day (central/visits.py). Both list people, so both are audited."""

from __future__ import annotations

import json
from datetime import datetime

import click

from central.cli.common import fail, transaction
from central.errors import CentralError
from central.timeutil import utcnow


@click.group()
def visits() -> None:
    """Visitors let in at a venue's gates, and who is inside (docs/access-list.md)."""


@visits.command("inside")
@click.argument("venue_code", metavar="VENUE")
@click.option("--at", "at_text", help="HH:MM today (local time) or an ISO 8601 time (default: now).")
@click.option("--reason", default="", help="Why (kept in the audit log): an evacuation, a drill...")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: {venue, at, day, counts, people}.")
@click.pass_context
def inside_command(ctx: click.Context, venue_code: str, at_text: str | None, reason: str, as_json: bool) -> None:
    """Who is inside VENUE: everyone whose latest passage of the day is in, visitors first (audited)."""
    from central.audit import cli_actor
    from central.visits import audited_inside, roll_call_time

    now = utcnow()
    try:
        at = roll_call_time(at_text, now)
    except CentralError as exc:
        fail(f"--at {exc}")
    with transaction(ctx) as conn:
        found = audited_inside(conn, venue_code, at, actor=cli_actor(), reason=reason, now=now)
    if as_json:
        click.echo(json.dumps(found.as_json(), ensure_ascii=False))
        return
    counts = found.counts
    click.echo(f"{found.venue.code} {found.venue.name} at {_local(found.at, day=True)}: {counts['inside']} inside")
    click.echo(f"  {counts['visitor']} visitors, {counts['enrolled']} enrolled, {counts['other']} other")
    for person in found.people:
        since = _local(person.since)
        if person.visit is not None:
            tail = f"****{person.visit.id_tail}" if person.visit.id_tail else "-"
            line = f"visitor   {person.visit.host} / {person.visit.purpose}  ID {tail}"
        elif person.kind == "enrolled":
            line = f"enrolled  {', '.join(person.groups)}"
        else:
            line = "other"
        click.echo(f"  {since}  {person.subject_key}  {line}")


@visits.command("list")
@click.argument("venue_code", metavar="VENUE")
@click.option("--day", "day_text", help="The local day, YYYY-MM-DD (default: today).")
@click.option("--reason", default="", help="Why (kept in the audit log).")
@click.option("--json", "as_json", is_flag=True, help='One JSON object: {"venue", "day", "visits": [...]}.')
@click.pass_context
def list_command(ctx: click.Context, venue_code: str, day_text: str | None, reason: str, as_json: bool) -> None:
    """The visits opened at VENUE on a day, with when each closed (its visitor went out; audited)."""
    from central.audit import cli_actor
    from central.visits import audited_visits, local_date

    now = utcnow()
    try:
        day = local_date(day_text, now)
    except CentralError as exc:
        fail(f"--day {exc}")
    with transaction(ctx) as conn:
        found = audited_visits(conn, venue_code, day, actor=cli_actor(), reason=reason, now=now)
    if as_json:
        document = {"venue": venue_code, "day": day.isoformat(), "visits": [v.as_json() for v in found]}
        click.echo(json.dumps(document, ensure_ascii=False))
        return
    click.echo(f"{venue_code} on {day.isoformat()}: {len(found)} visits, {sum(not v.closed_at for v in found)} open")
    for visit in found:
        closed = _local(visit.closed_at, day=True) if visit.closed_at else "open"
        tail = f"****{visit.id_tail}" if visit.id_tail else "-"
        click.echo(f"  {_local(visit.opened_at)}  {closed:<16}  {visit.host} / {visit.purpose}  ID {tail}")


def _local(moment: datetime, *, day: bool = False) -> str:
    """A time in the centre's zone: HH:MM, or with its day."""
    from central.localtime import local_zone

    return moment.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M" if day else "%H:%M")
