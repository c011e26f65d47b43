"""`kiosk-central unit | venue`: the administrative units (a tree of any depth) and the venues with gates."""

from __future__ import annotations

import json
from typing import Any

import click

from central.categories import CATEGORIES
from central.cli.common import transaction
from central.timeutil import utcnow


@click.group()
def unit() -> None:
    """Administrative units: a tree of any depth (province > commune, or with districts)."""


@unit.command("add")
@click.argument("code")
@click.argument("name")
@click.option("--parent", help="Code of the unit above this one.")
@click.pass_context
def unit_add(ctx: click.Context, code: str, name: str, parent: str | None) -> None:
    from central.admin import add_unit

    with transaction(ctx) as conn:
        add_unit(conn, code, name, parent, utcnow())
    click.echo(f"unit {code} added")


@unit.command("list")
@click.option("--under", "under", help="Only this unit and the units below it.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of {code, name, parent, depth, venues}.")
@click.pass_context
def unit_list(ctx: click.Context, under: str | None, as_json: bool) -> None:
    """The unit tree, indented by depth, with the venues registered directly in each unit."""
    from central.admin import list_units

    with transaction(ctx) as conn:
        rows = list_units(conn, under)
    if as_json:
        return _json(rows)
    if not rows:
        click.echo("no units yet: kiosk-central unit add CODE NAME")
    for row in rows:
        venues = f"{row['venues']} venue" + ("" if row["venues"] == 1 else "s")
        click.echo(f"{'  ' * row['depth']}{row['code']}  {row['name']}  ({venues})")


@click.group()
def venue() -> None:
    """Venues: the places with gates."""


@venue.command("add")
@click.argument("code")
@click.argument("name")
@click.option("--unit", "unit_code", required=True, help="Code of the administrative unit.")
@click.option("--category", required=True, type=click.Choice(list(CATEGORIES)), help="Kind of venue (2278/BTTTT).")
@click.pass_context
def venue_add(ctx: click.Context, code: str, name: str, unit_code: str, category: str) -> None:
    from central.admin import add_venue

    with transaction(ctx) as conn:
        add_venue(conn, code, name, unit_code, category, utcnow())
    click.echo(f"venue {code} added")


@venue.command("list")
@click.option("--unit", "unit_code", help="Only venues in this unit and the units below it.")
@click.option("--category", type=click.Choice(list(CATEGORIES)), help="Only venues of this kind.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of {code, name, unit, category, kiosks}.")
@click.pass_context
def venue_list(ctx: click.Context, unit_code: str | None, category: str | None, as_json: bool) -> None:
    """Venues by code, with their unit, kind and the kiosks enrolled there (revoked ones not counted)."""
    from central.admin import list_venues

    with transaction(ctx) as conn:
        rows = list_venues(conn, unit_code, category)
    if as_json:
        return _json(rows)
    if not rows:
        click.echo("no venues" + (" here" if unit_code or category else " yet: kiosk-central venue add ..."))
    for row in rows:
        kiosks = f"{row['kiosks']} kiosk" + ("" if row["kiosks"] == 1 else "s")
        click.echo(f"{row['code']}  {row['name']}  unit {row['unit']}  {row['category']}  {kiosks}")


def _json(rows: list[dict[str, Any]]) -> None:
    click.echo(json.dumps(rows, ensure_ascii=False))
