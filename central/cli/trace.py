"""`kiosk-central trace | dwell`: contact tracing from the command line, and the default dwell per category."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from central.categories import CATEGORIES
from central.cli.common import fail, transaction
from central.errors import CentralError
from central.secret import existing_secret
from central.timeutil import utcnow


@click.command("trace")
@click.option("--subject-key", help="The subject key (32 hex).")
@click.option("--identity", help="Or a 12-digit ID (9-digit old ID) number, turned into its subject key here.")
@click.option("--qr-text", help="Or the text of the person's QR code (CCCD, PC-Covid, certificate, pass).")
@click.option("--qr-image", help="Or a picture of the person's QR code.")
@click.option("--from", "start", help="ISO 8601 start of the window (default: 14 days before --to).")
@click.option("--to", "end", help="ISO 8601 end of the window (default: now). Times without a zone are local.")
@click.option("--default-dwell-min", type=int, help="Minutes of a visit with no exit, at every venue (one trace).")
@click.option("--second-degree", is_flag=True, help="Also whom the closest contacts met.")
@click.option("--reason", default="", help="Why this trace is made (kept in the audit log).")
@click.option("--json", "as_json", is_flag=True, help='One JSON object: {"visits": [...], "contacts": [...]}.')
@click.option("--csv", "as_csv", is_flag=True, help="CSV: one row per visit, then one per contact.")
@click.pass_context
def trace_command(
    ctx: click.Context,
    subject_key: str | None,
    identity: str | None,
    qr_text: str | None,
    qr_image: str | None,
    start: str | None,
    end: str | None,
    default_dwell_min: int | None,
    second_degree: bool,
    reason: str,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Where a person was and whom they met there: visits and contacts ranked by overlap (audited)."""
    from central.audit import cli_actor
    from central.tracing import TraceError, audited_trace, window

    if as_json and as_csv:
        raise click.UsageError("give at most one of --json, --csv")
    key, by = _trace_subject(ctx, subject_key, identity, qr_text, qr_image)
    try:
        since, until = window(start, end, now=utcnow(), names=("--from", "--to"))
    except TraceError as exc:
        fail(str(exc))
    with transaction(ctx) as conn:
        result = audited_trace(
            conn,
            key,
            since,
            until,
            actor=cli_actor(),
            reason=reason,
            default_dwell_min=default_dwell_min,
            second_degree=second_degree,
            detail={"by": by},
        )
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    elif as_csv:
        click.echo(result.as_csv(), nl=False)
    else:
        _print_trace(result.as_json())


def _trace_subject(
    ctx: click.Context, subject_key: str | None, identity: str | None, qr_text: str | None, qr_image: str | None
) -> tuple[str, str]:
    """The subject key to trace, and what it came from (for the audit log; never the number or the text)."""
    from central.subjects import SubjectError, subject_key_from

    given = {"subject-key": subject_key, "identity": identity, "qr-text": qr_text, "qr-image": qr_image}
    named = [flag for flag, value in given.items() if value is not None]
    if len(named) != 1:
        raise click.UsageError("give exactly one of --subject-key, --identity, --qr-text, --qr-image")
    try:
        if subject_key is not None:
            return subject_key_from(subject_key=subject_key, secret=b""), named[0]
        secret = existing_secret(ctx.obj["secret"])
        image = Path(qr_image) if qr_image is not None else None
        return subject_key_from(identity_number=identity, qr_text=qr_text, qr_image=image, secret=secret), named[0]
    except (SubjectError, CentralError) as exc:
        fail(f"--{named[0]}: {exc}")


def _print_trace(result: dict[str, Any]) -> None:
    visits, contacts = result["visits"], result["contacts"]
    click.echo(f"{result['subject_key']} from {result['from']} to {result['to']}: ", nl=False)
    click.echo(f"{len(visits)} visits, {len(contacts)} contacts")
    for visit in visits:
        note = " (exit estimated)" if visit["exit_estimated"] else ""
        note += " (entry estimated)" if visit["entry_estimated"] else ""
        click.echo(f"  {visit['in']}  {visit['out']}  {visit['venue']}  {visit['venue_name']}{note}")
    if contacts:
        click.echo("contacts, most overlap first (minutes):")
    for contact in contacts:
        via = f"  via {contact['via']}" if contact["via"] else ""
        line = f"{contact['overlap_minutes']:>9.1f}  {contact['subject_key']}  {contact['venue']}"
        click.echo(f"  {line}  degree {contact['degree']}{via}")


@click.group()
def dwell() -> None:
    """How long a visit lasts when its exit was not recorded, per venue category (for tracing)."""


@dwell.command("set")
@click.argument("category", type=click.Choice(list(CATEGORIES)))
@click.argument("minutes", type=click.IntRange(1, 24 * 60))
@click.option("--reason", default="", help="Why (kept in the audit log).")
@click.pass_context
def dwell_set(ctx: click.Context, category: str, minutes: int, reason: str) -> None:
    from central.audit import cli_actor, record
    from central.tracevisits import set_dwell

    with transaction(ctx) as conn:
        set_dwell(conn, category, minutes)
        detail = {"minutes": minutes}
        record(conn, at=utcnow(), actor=cli_actor(), action="dwell-set", subject=category, reason=reason, detail=detail)
    click.echo(f"{category}: {minutes} min")


@dwell.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: category to minutes.")
@click.pass_context
def dwell_list(ctx: click.Context, as_json: bool) -> None:
    from central.tracevisits import DEFAULT_DWELL_MIN, dwell_table

    with transaction(ctx) as conn:
        table = dwell_table(conn)
    if as_json:
        click.echo(json.dumps(table))
        return
    for category, minutes in table.items():
        note = "" if minutes == DEFAULT_DWELL_MIN[category] else f" (default {DEFAULT_DWELL_MIN[category]})"
        click.echo(f"{category:<12} {minutes:>5} min{note}")
