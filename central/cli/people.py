"""`kiosk-central people`: the access lists of venues in access mode (docs/access-list.md), imported from CSV.

An import is checked whole before anything is written: a bad row refuses the file (exit 1, every problem with
its line and column). Each import and removal is in the audit log, as the system user running the command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from central.cli.common import fail, transaction
from central.timeutil import utcnow

FILE = click.Path(exists=True, dir_okay=False)


@click.group()
def people() -> None:
    """Who may pass at a venue's gates, and when: groups with their hours, and the people in them."""


@people.command("import-groups")
@click.argument("venue")
@click.argument("path", metavar="FILE", type=FILE)
@click.pass_context
def import_groups_command(ctx: click.Context, venue: str, path: str) -> None:
    """Add the groups of FILE (name,windows,valid_from,valid_until,gates) to VENUE; a group imported again by name
    is replaced."""
    from central.audit import cli_actor
    from central.people import import_groups

    data = _read(path)
    with transaction(ctx) as conn:
        done = import_groups(conn, venue, data, actor=cli_actor(), now=utcnow(), source=Path(path).name)
    count = len(done.added) + len(done.replaced)
    click.echo(
        f"{venue}: {count} groups: {len(done.added)} added, {len(done.replaced)} replaced (list version {done.version})"
    )
    if done.unknown_gates:
        click.echo(f"no kiosk of {venue} is (yet) any of these gates: {' '.join(done.unknown_gates)}")


@people.command("import-people")
@click.argument("venue")
@click.argument("path", metavar="FILE", type=FILE)
@click.option("--replace", is_flag=True, help="Make VENUE's people exactly the file's (others are removed).")
@click.pass_context
def import_people_command(ctx: click.Context, venue: str, path: str, replace: bool) -> None:
    """Add the people of FILE (cccd,subject_key,name,groups) to VENUE; a person listed already gets the file's
    groups. A CCCD is turned into its subject key here and not kept."""
    from central.audit import cli_actor
    from central.errors import CentralError
    from central.people import import_people
    from central.secret import existing_secret

    data = _read(path)
    try:
        secret: bytes | None = existing_secret(ctx.obj["secret"])
    except CentralError:
        secret = None  # rows with a CCCD are refused, saying so; subject keys need no secret
    with transaction(ctx) as conn:
        done = import_people(
            conn, venue, data, secret=secret, actor=cli_actor(), now=utcnow(), replace=replace, source=Path(path).name
        )
    click.echo(
        f"{venue}: {done.added + done.updated} people: {done.added} added, {done.updated} updated, "
        f"{done.removed} removed (list version {done.version})"
    )
    if done.names_sealed:
        click.echo(f"{done.names_sealed} names sealed to the health service's key")
    if done.names_dropped:
        click.echo(f"names not kept ({done.names_dropped}): no contact key is set (kiosk-central contact-key init)")


@people.command("list")
@click.argument("venue")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: venue, version, people, groups.")
@click.pass_context
def list_command(ctx: click.Context, venue: str, as_json: bool) -> None:
    """VENUE's groups, with their hours, validity, gates and how many people are in each."""
    from central.admin import venue_id
    from central.people import count_people, list_groups, list_version

    with transaction(ctx) as conn:
        groups, total = list_groups(conn, venue), count_people(conn, venue)
        version = list_version(conn, venue_id(conn, venue))
    if as_json:
        click.echo(json.dumps({"venue": venue, "version": version, "people": total, "groups": groups}))
        return
    click.echo(f"{venue}: {total} people in {len(groups)} groups (list version {version})")
    for group in groups:
        gates = " ".join(group["gates"]) if group["gates"] else "every gate"
        people_in = f"{group['people']} " + ("person" if group["people"] == 1 else "people")
        click.echo(f"{group['name']}  {group['windows']}  {_validity(group)}  {gates}  {people_in}")


def _validity(group: dict[str, Any]) -> str:
    start, end = group["valid_from"], group["valid_until"]
    if start and end:
        return f"valid {start} to {end}"
    return f"valid from {start}" if start else f"valid until {end}" if end else "always valid"


@people.command("remove")
@click.argument("venue")
@click.option("--cccd", help="The person's 12-digit CCCD (or 9-digit CMND), turned into the subject key here.")
@click.option("--subject-key", help="Or the person's subject key (32 hex).")
@click.option("--reason", default="", help="Why (kept in the audit log).")
@click.pass_context
def remove_command(ctx: click.Context, venue: str, cccd: str | None, subject_key: str | None, reason: str) -> None:
    """Take a person off VENUE's list."""
    from central.audit import cli_actor
    from central.people import remove_person
    from central.secret import existing_secret
    from central.subjects import key_of_number

    if (cccd is None) == (subject_key is None):
        raise click.UsageError("give exactly one of --cccd, --subject-key")
    with transaction(ctx) as conn:
        key = subject_key if cccd is None else key_of_number(cccd, existing_secret(ctx.obj["secret"]))
        removed = remove_person(conn, venue, str(key), actor=cli_actor(), now=utcnow(), reason=reason)
    click.echo(f"{str(key).lower()} {'removed from' if removed else 'not enrolled at'} {venue}")


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        fail(f"{path}: {exc.strerror}")
