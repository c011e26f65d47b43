"""`kiosk-central access-pass`: issue staff badges, visitor passes and tickets, revoke them, find double uses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import click

from central.cli.common import fail, transaction
from central.timeutil import utcnow


@click.group("access-pass")
def access_pass() -> None:
    """Signed passes for venues in access mode (docs/pass-format.md, AC1:), verified offline by the kiosks."""


@access_pass.command("issue")
@click.argument("venue")
@click.option("--type", "kind", type=click.Choice(["badge", "visitor", "ticket"]), required=True)
@click.option("--cccd", help="The holder's ID number: turned into their subject key at once, never kept.")
@click.option("--subject-key", help="The holder's subject key (32 hex digits).")
@click.option("--from", "valid_from", help="Valid from (ISO 8601 with its offset; default: now).")
@click.option("--days", type=click.FloatRange(min=0.01, max=400), default=1.0, show_default=True, help="Valid for.")
@click.option("--single-use", is_flag=True, help="Lets in once, across all the venue's gates.")
@click.option("--png", type=click.Path(dir_okay=False, writable=True), help="Also write the QR code as a PNG.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
def issue_command(
    ctx: click.Context,
    venue: str,
    kind: str,
    cccd: str | None,
    subject_key: str | None,
    valid_from: str | None,
    days: float,
    single_use: bool,
    png: str | None,
    as_json: bool,
) -> None:
    """Issue one pass for VENUE and print its QR text (and id, to revoke it)."""
    from central.accesspasses import issue
    from central.audit import cli_actor
    from central.declarations.settings import pass_issuer
    from central.errors import CentralError
    from central.passkeys import load_pass_key, pass_key_path
    from central.secret import existing_secret
    from central.subjects import subject_key_from

    if cccd is not None and subject_key is not None:
        fail("give --cccd or --subject-key, not both")
    start = _when(valid_from) if valid_from else utcnow().replace(microsecond=0)
    holder = None
    try:
        if cccd is not None or subject_key is not None:
            secret = existing_secret(ctx.obj["secret"]) if cccd is not None else b""
            holder = subject_key_from(identity_number=cccd, subject_key=subject_key, secret=secret)
        key = load_pass_key(pass_key_path(None, ctx.obj["secret"]))
    except CentralError as exc:
        fail(str(exc))
    with transaction(ctx) as conn:
        issued = issue(
            conn,
            venue=venue,
            kind=kind,
            holder=holder,
            valid_from=start,
            valid_until=start + timedelta(days=days),
            single_use=single_use,
            key=key,
            issuer=pass_issuer(conn),
            now=utcnow(),
            actor=cli_actor(),
        )
    if png:
        import segno

        segno.make(issued.text, error="m").save(png, scale=8, border=4)
    answer = {"pass_id": issued.pass_id, "valid_until": issued.valid_until.isoformat(), "text": issued.text}
    if as_json:
        click.echo(json.dumps(answer))
        return
    click.echo(f"{kind} {issued.pass_id}, valid until {answer['valid_until']}")
    click.echo(issued.text)


@access_pass.command("revoke")
@click.argument("pass_id")
@click.option("--reason", required=True, help="Why (kept in the audit log).")
@click.pass_context
def revoke_command(ctx: click.Context, pass_id: str, reason: str) -> None:
    """Refuse the pass at every gate from the kiosks' next list pull."""
    from central.accesspasses import revoke
    from central.audit import cli_actor

    with transaction(ctx) as conn:
        revoke(conn, pass_id, now=utcnow(), actor=cli_actor(), reason=reason)
    click.echo(f"pass {pass_id} revoked: kiosks refuse it from their next list pull")


@access_pass.command("double-uses")
@click.option("--venue", help="One venue's passes only.")
@click.option("--since", help="Entries since (ISO 8601; default: 7 days ago).")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@click.pass_context
def double_uses_command(ctx: click.Context, venue: str | None, since: str | None, as_json: bool) -> None:
    """Single-use passes let in more than once (by gates that could not reach each other or the centre)."""
    from central.accesspasses import describe, double_uses

    start = _when(since) if since else utcnow() - timedelta(days=7)
    with transaction(ctx) as conn:
        found = [describe(use) for use in double_uses(conn, start, venue)]
    if as_json:
        click.echo(json.dumps(found))
        return
    if not found:
        click.echo("no single-use pass was used twice")
    for use in found:
        gates = ", ".join(f"{entry['device']} at {entry['time']}" for entry in use["entries"])
        click.echo(f"{use['type']} {use['pass_id']} at {use['venue']}: {len(use['entries'])} entries ({gates})")


def _when(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{text[:40]!r} is not an ISO 8601 time, e.g. 2026-12-07T08:00:00+07:00")
    if moment.tzinfo is None:
        fail(f"{text[:40]!r} has no offset: write it, e.g. +07:00, so that the time is not misread")
    return moment.astimezone(UTC)
