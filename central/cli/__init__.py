"""`kiosk-central`: serve the API and administer units, venues, devices, events and lists.

The database comes from --db or $KIOSK_CENTRAL_DB (sqlite:///file.db or postgresql://user:pass@host/db).
Exit codes: 0 done, 1 refused (the message says why), 2 usage.
"""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import Any

import click

from central import __version__
from central.cli.accounts import account
from central.cli.bulk import enroll_sheet, unit_import, venue_import
from central.cli.common import engine_of, fail, transaction
from central.cli.declare import contact_key, declaration_settings, pass_key
from central.cli.diagnostics import device_diagnose, device_diagnostics
from central.cli.national import national
from central.cli.passes import access_pass
from central.cli.people import people
from central.cli.places import unit, venue
from central.cli.releases import release
from central.cli.rules import venue_rules
from central.cli.trace import dwell, trace_command
from central.cli.trust_sources import trust_fetch, trust_source
from central.cli.visits import visits
from central.cli.webhooks import feed_client, webhooks
from central.db import resolve_url
from central.errors import CentralError
from central.ratelimit import ADDRESS_ENV, ADDRESS_LIMIT, DEVICE_ENV, DEVICE_LIMIT, parse_limit
from central.secret import existing_secret, secret_path
from central.timeutil import utcnow


def main() -> None:
    cli(prog_name="kiosk-central")


@click.group()
@click.version_option(__version__, prog_name="kiosk-central")
@click.option("--db", "db_url", help="Database URL (default: $KIOSK_CENTRAL_DB, else sqlite:///kiosk-central.db).")
@click.option(
    "--secret-file",
    help="Subject-key secret (default: $KIOSK_CENTRAL_SECRET_FILE, else kiosk-central.secret in the state "
    "directory: $KIOSK_CENTRAL_STATE_DIR, else beside a SQLite database, else /var/lib/kiosk-central).",
)
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, secret_file: str | None) -> None:
    """The central server of the gate kiosks."""
    url = resolve_url(db_url)
    ctx.obj = {"url": url, "secret": secret_path(secret_file, url)}


def _limit(_: click.Context, parameter: click.Parameter, value: str | None) -> str | None:
    """A request limit option, checked here so that a typo stops `serve` at once, not each worker."""
    if value is not None:
        try:
            parse_limit(value, f"--{parameter.name}".replace("_", "-"))
        except ValueError as exc:
            raise click.BadParameter(str(exc).split(": ", 1)[1]) from None
    return value


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Processes (PostgreSQL only).")
@click.option(
    "--retention-days",
    type=click.IntRange(1, 3650),
    help="Remove events received, and declarations expired, longer ago than this (default: keep; PRIVACY.md).",
)
@click.option(
    "--audit-retention-days",
    type=click.IntRange(1, 36500),
    help="Remove audit-log entries older than this; at least --retention-days (default: keep).",
)
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate: serve HTTPS.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM private key of --tls-cert.")
@click.option(
    "--device-limit",
    callback=_limit,
    help="Requests per device: RATE/s,BURST or RATE/min,BURST, or off "
    f"(default: ${DEVICE_ENV}, else {DEVICE_LIMIT}). Per process: --workers N allows N times as many.",
)
@click.option(
    "--address-limit",
    callback=_limit,
    help=f"Enrolment and authentication requests per client address (default: ${ADDRESS_ENV}, else {ADDRESS_LIMIT}).",
)
@click.option(
    "--read-db",
    metavar="URL",
    help="Where the dashboard and tracing read, e.g. the formation's hosts with target_session_attrs=prefer-standby "
    "(default: $KIOSK_CENTRAL_READ_DB, else the --db database).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    workers: int,
    retention_days: int | None,
    audit_retention_days: int | None,
    tls_cert: str | None,
    tls_key: str | None,
    device_limit: str | None,
    address_limit: str | None,
    read_db: str | None,
) -> None:
    """Serve the API until interrupted (HTTPS with --tls-cert and --tls-key, or behind a TLS proxy)."""
    from central.server import Listen, run

    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("give both --tls-cert and --tls-key, or neither")
    if audit_retention_days and audit_retention_days < (retention_days or 36500):
        raise click.UsageError("--audit-retention-days needs --retention-days, and at least as many days")
    engine_of(ctx)  # migrate once, before any worker starts
    listen = Listen(host, port, workers, tls_cert, tls_key, device_limit, address_limit, read_db)
    run(ctx.obj["url"], ctx.obj["secret"], listen, retention_days, audit_retention_days)


@cli.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Bring the database schema up to date (serve does this too)."""
    engine_of(ctx)
    click.echo("schema up to date")


@cli.command("enroll-code")
@click.option("--venue", "venue_code", required=True)
@click.pass_context
def enroll_code(ctx: click.Context, venue_code: str) -> None:
    """Make a one-time enrolment code for a kiosk at VENUE (printed as the last line; valid 24 hours)."""
    from central.admin import make_enroll_code

    with transaction(ctx) as conn:
        code = make_enroll_code(conn, venue_code, utcnow())
    click.echo(f"enrolment code for {venue_code}, valid 24 hours, usable once:")
    click.echo(code)


@cli.group()
def device() -> None:
    """Enrolled kiosks."""


@device.command("list")
@click.pass_context
def device_list(ctx: click.Context) -> None:
    from central.devices import list_devices

    with transaction(ctx) as conn:
        rows = list_devices(conn)
    for row in rows:
        state = "revoked" if row.revoked_at else f"last seen {row.last_seen_at or 'never'}"
        click.echo(f"{row.id}  {row.code}  {state}")


@device.command("revoke")
@click.argument("device_id")
@click.pass_context
def device_revoke(ctx: click.Context, device_id: str) -> None:
    from central.admin import revoke_device

    with transaction(ctx) as conn:
        revoke_device(conn, device_id, utcnow())
    click.echo(f"device {device_id} revoked")


@cli.group()
def events() -> None:
    """Events in and out as JSON Lines."""


@events.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option("--venue", "venue_code")
@click.pass_context
def events_export(ctx: click.Context, fmt: str, venue_code: str | None) -> None:
    from central.eventsio import export_events

    with transaction(ctx) as conn:
        for event in export_events(conn, venue_code):
            click.echo(json.dumps(event, ensure_ascii=False))


@events.command("import")
@click.argument("path", type=click.File("r", encoding="utf-8"))
@click.pass_context
def events_import(ctx: click.Context, path: Any) -> None:
    from central.eventsio import import_events

    with transaction(ctx) as conn:
        read, added = import_events(conn, path, utcnow())
    click.echo(f"{read} events read, {added} added, {read - added} held already")


@cli.group()
def status() -> None:
    """The status list kiosks follow: red subjects are refused, yellow ones go to the guard."""


@status.command("set")
@click.option("--subject-key", help="The subject key (32 hex).")
@click.option("--identity", help="Or a 12-digit ID (9-digit old ID) number, turned into its subject key here.")
@click.option("--status", "state", type=click.Choice(["red", "yellow"]), required=True)
@click.option("--until", help="ISO 8601 end of the flag (default: until cleared).")
@click.pass_context
def status_set(
    ctx: click.Context, subject_key: str | None, identity: str | None, state: str, until: str | None
) -> None:
    from central.lists import set_status
    from kiosk.isotime import parse_iso

    key = _subject_key(ctx, subject_key, identity)
    try:
        end = parse_iso(until).astimezone(UTC) if until else None  # SQLite stores the clock time, not the offset
    except ValueError:
        raise click.BadParameter(f"{until!r} is not an ISO 8601 time", param_hint="--until") from None
    with transaction(ctx) as conn:
        set_status(conn, key, state, end, utcnow())
    click.echo(f"{key} {state}" + (f" until {end.isoformat()}" if end else ""))


def _subject_key(ctx: click.Context, subject_key: str | None, identity: str | None) -> str:
    from kiosk.credentials import SubjectKeyer
    from kiosk.credentials.base import Identity
    from kiosk.credentials.fields import identity_for_number

    if (subject_key is None) == (identity is None):
        raise click.UsageError("give exactly one of --subject-key, --identity")
    if subject_key is not None:
        return subject_key.lower()
    known = identity_for_number(str(identity).strip())
    if known is None:
        raise click.BadParameter("not a 12-digit ID or 9-digit old ID number", param_hint="--identity")
    try:
        secret = existing_secret(ctx.obj["secret"])
    except CentralError as exc:
        fail(str(exc))
    return SubjectKeyer(secret).key(Identity(*known))


@status.command("clear")
@click.argument("subject_key")
@click.pass_context
def status_clear(ctx: click.Context, subject_key: str) -> None:
    from central.lists import clear_status

    with transaction(ctx) as conn:
        found = clear_status(conn, subject_key.lower(), utcnow())
    click.echo("cleared" if found else "not on the list")


@status.command("list")
@click.pass_context
def status_list_command(ctx: click.Context) -> None:
    from central.lists import status_list

    with transaction(ctx) as conn:
        click.echo(json.dumps(status_list(conn, utcnow()), indent=1))


@cli.group()
def trust() -> None:
    """The trust list kiosks verify signed credentials with (docs/trust-list.md)."""


@trust.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def trust_import(ctx: click.Context, path: str) -> None:
    from central.lists import import_trust

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"{path}: not JSON: {exc}")
    with transaction(ctx) as conn:
        count = import_trust(conn, data, utcnow())
    click.echo(f"{count} trust entries added")


@trust.command("list")
@click.pass_context
def trust_list_command(ctx: click.Context) -> None:
    from central.lists import trust_list
    from central.timeutil import utcnow

    with transaction(ctx) as conn:
        click.echo(json.dumps(trust_list(conn, utcnow()), indent=1))


@cli.group()
def rollup() -> None:
    """The per-venue daily counts the dashboard reads."""


@rollup.command("rebuild")
@click.pass_context
def rollup_rebuild(ctx: click.Context) -> None:
    """Recount every venue's scans per local day from the events held (after a restore, or a time zone change)."""
    from central.rollup import rebuild

    with transaction(ctx) as conn:
        counted = rebuild(conn)
    click.echo(f"{counted} events counted into the daily rollup")


@cli.command()
@click.option("--output", type=click.Path(dir_okay=False), help="Write here instead of standard output.")
def openapi(output: str | None) -> None:
    """The API's OpenAPI document (committed as central/openapi.json)."""
    from central.openapi import document

    text = json.dumps(document(), indent=1, ensure_ascii=False) + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


cli.add_command(account)  # central/cli/accounts.py
cli.add_command(people)  # central/cli/people.py: kiosk-central people
cli.add_command(access_pass)  # central/cli/passes.py: kiosk-central access-pass
cli.add_command(visits)  # central/cli/visits.py: kiosk-central visits inside | list
cli.add_command(webhooks)  # central/cli/webhooks.py: kiosk-central webhooks add | list | remove | deliver
cli.add_command(feed_client)  # central/cli/webhooks.py: kiosk-central feed-client add | list | revoke
for command in (unit, venue, pass_key, contact_key, declaration_settings, trace_command, dwell):  # central/cli/*.py
    cli.add_command(command)
venue.add_command(venue_rules)  # central/cli/rules.py: kiosk-central venue rules
unit.add_command(unit_import)  # central/cli/bulk.py: kiosk-central unit import units.csv
venue.add_command(venue_import)  # central/cli/bulk.py: kiosk-central venue import venues.csv
cli.add_command(enroll_sheet)  # central/cli/bulk.py: kiosk-central enroll-sheet --unit U --output sheet.html
trust.add_command(trust_source)  # central/cli/trust_sources.py: kiosk-central trust source add | list | remove
trust.add_command(trust_fetch)  # central/cli/trust_sources.py: kiosk-central trust fetch [NAME] [--file F]
device.add_command(device_diagnose)  # central/cli/diagnostics.py: kiosk-central device diagnose DEVICE
device.add_command(device_diagnostics)  # central/cli/diagnostics.py: kiosk-central device diagnostics DEVICE
cli.add_command(release)  # central/cli/releases.py: kiosk-central release add | rollout | pause | resume | stop | list
cli.add_command(national)  # central/cli/national.py: kiosk-central national publish | subscribe | status | trace
