"""`kiosk-central national publish | subscribe | status | trace | dashboard | maintain`: the national tier.

On a province: `national publish` (its --db is the province's database). On the national centre: `national
subscribe --province 67 --conninfo '...'`, `national status`, `national trace` and `national dashboard` (their --db
is the national database; each province's copy is a database beside it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import click
from sqlalchemy import Connection

from central.cli.common import engine_of, fail, transaction
from central.errors import CentralError
from central.timeutil import utcnow


@click.group()
def national() -> None:
    """The national tier: provinces publish, the national centre subscribes and traces across them."""


@national.command("publish")
@click.option("--grant", "grant_to", metavar="ROLE", help="Give ROLE (the national centre's login) SELECT on them.")
@click.option("--show-sql", is_flag=True, help="Print the statements without running them.")
@click.pass_context
def national_publish(ctx: click.Context, grant_to: str | None, show_sql: bool) -> None:
    """On a province: publish its events (subject keys, ACCEPTed passages), venues and units."""
    from central.national.publication import publication_sql, publish

    if show_sql:
        click.echo(";\n".join(publication_sql()) + ";")
        return
    with transaction(ctx) as conn:
        statements = publish(conn, grant_to)
    for statement in statements:
        click.echo(statement)


@national.command("subscribe")
@click.option("--province", required=True, help="The province's two-digit administrative code, e.g. 67.")
@click.option("--conninfo", required=True, help="libpq connection string to the province's database.")
@click.pass_context
def national_subscribe(ctx: click.Context, province: str, conninfo: str) -> None:
    """On the national centre: copy a province into a database of its own and subscribe it to the province."""
    from central.db import connect
    from central.national.subscription import checked_province, create_copy, register, subscribe
    from central.partitions import ensure_partitions

    try:
        province = checked_province(province)
        url = create_copy(engine_of(ctx), province)
        copy = connect(url)  # migrated: the copy has the province's schema
        try:
            ensure_partitions(copy, utcnow().date())
            name = subscribe(copy, province, conninfo)
        finally:
            copy.dispose()
        with transaction(ctx) as conn:
            register(conn, province, str(copy.url.database))
    except CentralError as exc:
        fail(str(exc))
    click.echo(f"province {province}: database {copy.url.database}, subscription {name}")


@national.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@click.pass_context
def national_status(ctx: click.Context, as_json: bool) -> None:
    """On the national centre: each province's copy, its subscription and how many events it holds."""
    from central.national.subscription import copy_state

    with copies_of(ctx) as copies:
        states = [copy_state(conn, province) for province, conn in copies.items()]
    if as_json:
        click.echo(json.dumps([state.as_json() for state in states]))
        return
    for state in states:
        worker = "streaming" if state.worker_running else "not connected"
        click.echo(f"{state.province}  {state.database}  {worker}  {state.events} events")


@national.command("trace")
@click.option("--subject-key", help="The subject key (32 hex): the same in every province.")
@click.option("--identity", help="Or an ID number, turned into its key with the national subject-key secret.")
@click.option("--from", "start", help="ISO 8601 start of the window (default: 14 days before --to).")
@click.option("--to", "end", help="ISO 8601 end of the window (default: now).")
@click.option("--second-degree", is_flag=True, help="Also whom the closest contacts met (within each province).")
@click.option("--reason", default="", help="Why this trace is made (kept in the national audit log).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
def national_trace_command(
    ctx: click.Context,
    subject_key: str | None,
    identity: str | None,
    start: str | None,
    end: str | None,
    second_degree: bool,
    reason: str,
    as_json: bool,
) -> None:
    """On the national centre: where a person was in every province and whom they met (audited)."""
    from central.audit import cli_actor
    from central.national.tracing import audited_national_trace
    from central.secret import existing_secret
    from central.subjects import subject_key_from
    from central.tracing import window

    if (subject_key is None) == (identity is None):
        raise click.UsageError("give exactly one of --subject-key, --identity")
    try:
        secret = existing_secret(ctx.obj["secret"]) if identity is not None else b""
        key = subject_key_from(subject_key=subject_key, identity_number=identity, secret=secret)
        since, until = window(start, end, now=utcnow(), names=("--from", "--to"))
        with copies_of(ctx) as copies, transaction(ctx) as conn:
            result = audited_national_trace(
                conn, copies, key, since, until, actor=cli_actor(), reason=reason, second_degree=second_degree
            )
    except CentralError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
        return
    click.echo(f"{result.subject_key}: {len(result.visits)} visits, {len(result.contacts)} contacts")
    for province, visit in result.visits:
        click.echo(f"  {province}  {visit.entered.isoformat(timespec='minutes')}  {visit.venue}  {visit.venue_name}")
    for province, contact in result.contacts:
        click.echo(f"  {contact.overlap_minutes:>9.1f}  {contact.subject_key}  {province}  {contact.venue}")


@national.command("dashboard")
@click.option("--unit", help="A province's unit as PROVINCE:CODE (e.g. 67:660); default: the whole country.")
@click.option("--csv", "as_csv", is_flag=True, help="The report upward, as the dashboard's CSV (UTF-8 with BOM).")
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True, help="The CSV's language.")
@click.pass_context
def national_dashboard(ctx: click.Context, unit: str | None, as_csv: bool, lang: str) -> None:
    """On the national centre: deployment progress of the country or of a province's unit, from the copies."""
    from central.national.dashboard import national_report
    from central.progress import as_csv as report_csv

    try:
        with copies_of(ctx) as copies:
            report = national_report(copies, unit, utcnow())
    except CentralError as exc:
        fail(str(exc))
    if as_csv:
        click.echo(report_csv(report, lang), nl=False)
        return
    totals = report.totals
    click.echo(f"{report.unit.name if report.unit else 'whole country'}: {totals.registered} venues registered, "
               f"{totals.deployed} deployed, {totals.online} online, {totals.devices_offline} devices offline, "
               f"{totals.scans_today} scans today")  # fmt: skip
    for row in report.children:
        figures = row.figures
        click.echo(
            f"  {row.unit.code:<12} {figures.registered:>7} {figures.deployed:>7} {figures.online:>7}  {row.unit.name}"
        )


@national.command("maintain")
@click.option(
    "--retention-days",
    type=click.IntRange(1, 3650),
    help="Drop the copies' events received more than this many days ago (default: keep them).",
)
@click.pass_context
def national_maintain(ctx: click.Context, retention_days: int | None) -> None:
    """On the national centre: each copy's day partitions made a week ahead, and its old events dropped, as
    `serve` does for a province (run daily: systemd/kiosk-national-maintain.timer)."""
    from central.national.upkeep import maintain

    try:
        with copies_of(ctx) as copies:
            engines = {province: conn.engine for province, conn in copies.items()}
            done = maintain(engines, utcnow(), retention_days)
    except CentralError as exc:
        fail(str(exc))
    for province, (made, dropped) in sorted(done.items()):
        click.echo(f"{province}: {len(made)} partitions made, {dropped} dropped or rows removed")


@contextmanager
def copies_of(ctx: click.Context) -> Iterator[dict[str, Connection]]:
    """A connection to each province's copy the national database knows of (closed on leaving)."""
    from central.db import connect
    from central.national.subscription import copy_url, provinces

    with transaction(ctx) as conn:
        known = provinces(conn)
    if not known:
        fail("no province copies here yet: kiosk-central national subscribe --province NN --conninfo '...'")
    national_url = engine_of(ctx).url.render_as_string(hide_password=False)
    with ExitStack() as stack:
        copies: dict[str, Connection] = {}
        for province in known:
            engine = connect(copy_url(national_url, province))
            stack.callback(engine.dispose)
            copies[province] = stack.enter_context(engine.connect())
        yield copies
