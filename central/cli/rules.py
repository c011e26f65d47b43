"""`kiosk-central venue rules VENUE [--set RULE=VALUE]... [--unset RULE]...`: a venue's gate rules, shown or
changed (central/gaterules.py). Attached to the `venue` group of central/cli/places.py by the package."""

from __future__ import annotations

import json
from typing import Any

import click

from central.cli.common import transaction
from central.timeutil import utcnow

OWN = "(kiosk's own)"


def _assignment(_: click.Context, __: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        name, equals, setting = value.partition("=")
        if not equals or not name.strip():
            raise click.BadParameter(f"{value!r}: give RULE=VALUE, for example mode=access", param_hint="--set")
        pairs[name.strip()] = setting.strip()
    return pairs


@click.command("rules")
@click.argument("venue_code", metavar="VENUE")
@click.option(
    "--set", "values", multiple=True, metavar="RULE=VALUE", callback=_assignment, help="Set a rule (repeatable)."
)
@click.option("--unset", multiple=True, metavar="RULE", help="Back to each kiosk's own setting (repeatable).")
@click.option("--reason", default="", help="Why, for the audit log.")
@click.option("--json", "as_json", is_flag=True, help="Show the rules as one JSON object {venue, rules}.")
@click.pass_context
def venue_rules(
    ctx: click.Context, venue_code: str, values: dict[str, str], unset: tuple[str, ...], reason: str, as_json: bool
) -> None:
    """Show or change VENUE's gate rules; a rule not set is each kiosk's own config. The venue's kiosks take a
    change at their next config pull (every 5 minutes by default).

    \b
    mode                   log-only, identity, certificate, pass, access (enrolled people only)
    strangers              access mode, a person not enrolled: deny, review, visitor
    anti_passback_s        0 to 86400 seconds (0: off)
    trust_list_max_h       0 or more hours (0: never refuse)
    vaccination_wait_days  0 to 365
    test_max_age_h         more than 0, at most 720
    recovery_max_days      more than 0, at most 3650
    relay_hold_s           1 to 10 seconds the gate stays open
    language               vi or en
    visit_hosts            the visitor desk's hosts, separated by ; ("Phòng Nhân sự;Kho")
    visit_purposes         the visitor desk's purposes, separated by ; (each 1 to 80 characters, 50 at most)
    """
    from central.audit import cli_actor
    from central.gaterules import NAMES, change_rules, from_text, rules_of

    with transaction(ctx) as conn:
        if not values and not unset:
            return _show(venue_code, rules_of(conn, venue_code), NAMES, as_json)
        done = change_rules(
            conn, venue_code, values=from_text(values), unset=unset, actor=cli_actor(), reason=reason, now=utcnow()
        )
    if as_json:
        return _show(venue_code, done.after, NAMES, as_json)
    if not done.changes:
        click.echo(f"venue {venue_code}: rules unchanged")
        return None
    click.echo(f"venue {venue_code}: rules changed; its kiosks take them at their next config pull")
    for name, (before, after) in done.changes.items():
        click.echo(f"  {name}: {_value(before)} -> {_value(after)}")
    return None


def _value(value: Any) -> str:
    from central.gaterules import shown

    return OWN if value is None else shown(value)


def _show(venue: str, rules: dict[str, Any], names: tuple[str, ...], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"venue": venue, "rules": rules}, ensure_ascii=False))
        return
    click.echo(f"venue {venue}: gate rules (its kiosks take a change at their next config pull)")
    width = max(len(name) for name in names)
    for name in names:
        click.echo(f"  {name.ljust(width)}  {_value(rules.get(name))}")
