"""`kiosk-central unit import | venue import | enroll-sheet`: a province's roll-out in three commands
(docs/rollout.md, section 1).

Two import commands, not one: units.csv and venues.csv are different tables, often kept by different people (the
statistics office's list of units; the district's list of venues), and a venue names a unit that must exist, so
the units go first. Each sits beside `add` and `list` in its group (`unit import`, `venue import`). Each file is
checked whole before anything is written (exit 1 with every problem's line and column), is safe to run again,
and never deletes what it leaves out.
"""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.exc import IntegrityError

from central.cli.common import fail, transaction
from central.timeutil import utcnow

FILE = click.Path(exists=True, dir_okay=False)
RACED = "another change added the same codes meanwhile; nothing imported: run the import again (safe to re-run)"


@click.command("import")
@click.argument("path", metavar="FILE", type=FILE)
@click.pass_context
def unit_import(ctx: click.Context, path: str) -> None:
    """Add or update the units of FILE (code,name,parent); units not in FILE stay as they are."""
    from central.audit import cli_actor
    from central.bulk.units import import_units

    data = _read(path)
    try:
        with transaction(ctx) as conn:
            done = import_units(conn, data, actor=cli_actor(), now=utcnow(), source=Path(path).name)
    except IntegrityError:
        fail(RACED)
    click.echo(f"{Path(path).name}: {done.added} units added, {done.updated} updated, {done.unchanged} unchanged")


@click.command("import")
@click.argument("path", metavar="FILE", type=FILE)
@click.pass_context
def venue_import(ctx: click.Context, path: str) -> None:
    """Add or update the venues of FILE (code,name,unit,category[,address]); venues not in FILE stay as they are."""
    from central.audit import cli_actor
    from central.bulk.venues import import_venues

    data = _read(path)
    try:
        with transaction(ctx) as conn:
            done = import_venues(conn, data, actor=cli_actor(), now=utcnow(), source=Path(path).name)
    except IntegrityError:
        fail(RACED)
    click.echo(f"{Path(path).name}: {done.added} venues added, {done.updated} updated, {done.unchanged} unchanged")


@click.command("enroll-sheet")
@click.option("--unit", "unit_code", required=True, help="The unit (a district): its venues and those below it.")
@click.option("--server", required=True, help="The centre's address as kiosks reach it, e.g. https://central.example.")
@click.option("--valid-days", default=14, show_default=True, type=click.IntRange(1, 90), help="Days the codes last.")
@click.option("--all", "every_venue", is_flag=True, help="Every venue, also those with an active kiosk already.")
@click.option("--output", required=True, type=click.Path(dir_okay=False, writable=True), help="The HTML file.")
@click.pass_context
def enroll_sheet(
    ctx: click.Context, unit_code: str, server: str, valid_days: int, every_venue: bool, output: str
) -> None:
    """A printable page (A4, works offline) with a one-time enrolment code and its QR code for each venue of UNIT
    that has no active kiosk yet; only the codes' hashes are kept."""
    from central.audit import cli_actor
    from central.bulk.render import render_sheet
    from central.bulk.sheet import make_sheet

    target = Path(output)
    part = target.with_name(target.name + ".part")
    try:
        with transaction(ctx) as conn:
            sheet = make_sheet(
                conn,
                unit_code,
                server=server,
                valid_days=valid_days,
                now=utcnow(),
                actor=cli_actor(),
                every_venue=every_venue,
            )
            try:  # written before the commit: no codes without their sheet
                part.write_text(render_sheet(sheet), encoding="utf-8")
            except OSError as exc:
                fail(f"--output {output}: cannot write: {exc.strerror}; no codes were made")
    except BaseException:  # refused, not committed: no sheet of codes that were not kept
        part.unlink(missing_ok=True)
        raise
    try:  # moved into place after it: no sheet whose codes were not kept
        part.replace(target)
    except OSError as exc:
        fail(f"--output {output}: cannot write: {exc.strerror}; the sheet is in {part}")
    click.echo(f"{output}: {len(sheet.entries)} enrolment codes for the venues of {unit_code}, valid {valid_days} days")


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror}")
