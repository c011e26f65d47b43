"""`kiosk-central webhooks add | list | remove | deliver` and `kiosk-central feed-client add | list | revoke`:
passages out of the centre (docs/feeds.md). Adding and removing are audited: they decide where events go."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from central.cli.common import engine_of, transaction
from central.timeutil import utcnow


def _scope_options(command: Any) -> Any:
    command = click.option("--venue", "venue_code", help="One venue (its code).")(command)
    return click.option("--unit", "unit_code", help="A unit (its code) and every unit below it.")(command)


def _audit(conn: Any, action: str, subject: str, detail: dict[str, Any]) -> None:
    from central.audit import cli_actor, record

    record(conn, at=utcnow(), actor=cli_actor(), action=action, subject=subject, reason="", detail=detail)


@click.group()
def webhooks() -> None:
    """Signed webhooks: the events of a unit's area or a venue, POSTed to a receiver (docs/feeds.md)."""


@webhooks.command("add")
@click.argument("name")
@click.argument("url")
@_scope_options
@click.option("--fields", help="Comma-separated event fields to send (default: all; event_id always).")
@click.pass_context
def webhooks_add(
    ctx: click.Context, name: str, url: str, unit_code: str | None, venue_code: str | None, fields: str | None
) -> None:
    """Send the events stored from now on in --unit's area or at --venue to URL; prints the signing secret once."""
    from central.feed.scope import parse_scope
    from central.webhooks.endpoints import add_endpoint

    chosen = [f.strip() for f in fields.split(",") if f.strip()] if fields is not None else None
    with transaction(ctx) as conn:
        scope = parse_scope(conn, unit_code, venue_code)
        _, secret = add_endpoint(conn, name, url, scope, chosen, utcnow())
        _audit(conn, "webhook-add", name, {"url": url, "unit": unit_code, "venue": venue_code, "fields": chosen})
    click.echo(f"webhook {name} added: events stored from now on go to {url}")
    click.echo(f"signing secret (shown once; the receiver checks X-Kiosk-Signature with it): {secret}")


@webhooks.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def webhooks_list(ctx: click.Context, as_json: bool) -> None:
    """Every endpoint with its backlog and delivery state, failing ones first."""
    from central.webhooks.endpoints import endpoint_states

    with transaction(ctx) as conn:
        found = endpoint_states(conn)
    for e in found:
        if as_json:
            shown = {k: _plain(v) for k, v in e.items() if k not in ("unit_id", "venue_id")}
            click.echo(json.dumps(shown, ensure_ascii=False))
            continue
        state = f"failing ({e['failures']} in a row): {e['last_error']}" if e["failures"] else "ok"
        click.echo(f"{e['name']}  {e['scope']}  {e['url']}  backlog {e['backlog']}  {state}")
        success, due = _plain(e["last_success_at"]) or "-", _plain(e["next_attempt_at"]) or "-"
        click.echo(f"    last success {success}  next try {due}")
    if not found and not as_json:
        click.echo("no webhook endpoints; add one: kiosk-central webhooks add NAME URL --unit CODE")


@webhooks.command("remove")
@click.argument("name")
@click.pass_context
def webhooks_remove(ctx: click.Context, name: str) -> None:
    """Stop sending to NAME; what it had still to receive is dropped."""
    from central.webhooks.endpoints import remove_endpoint

    with transaction(ctx) as conn:
        dropped = remove_endpoint(conn, name)
        _audit(conn, "webhook-remove", name, {"undelivered": dropped})
    click.echo(f"webhook {name} removed ({dropped} undelivered events dropped)")


@webhooks.command("deliver")
@click.option("--once", is_flag=True, help="Send what is due now, then exit (else: a round every 2 s, for ever).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.1, 300), default=10.0, show_default=True)
@click.pass_context
def webhooks_deliver(ctx: click.Context, once: bool, timeout_s: float) -> None:
    """Send the outbox (the server does this itself; this is for tests and for a separate sender)."""
    from central.webhooks.delivery import Delivery, DeliveryWorker

    delivery = Delivery(engine_of(ctx), timeout_s=timeout_s)
    if not once:
        worker = DeliveryWorker(delivery)
        worker.start()
        try:
            worker.join()
        except KeyboardInterrupt:
            worker.stop()
        return
    outcomes = delivery.run_once()
    sent = sum(o.events for o in outcomes if o.ok)
    failed = [o for o in outcomes if not o.ok]
    click.echo(f"{sent} events delivered in {len(outcomes) - len(failed)} batches; {len(failed)} attempts failed")
    for outcome in failed:
        click.echo(f"  {outcome.endpoint}: {outcome.error}")


@click.group("feed-client")
def feed_client() -> None:
    """Pull consumers of GET /api/v1/events, each with a token and a scope (docs/feeds.md)."""


@feed_client.command("add")
@click.argument("name")
@_scope_options
@click.pass_context
def feed_client_add(ctx: click.Context, name: str, unit_code: str | None, venue_code: str | None) -> None:
    """A client reading the events of --unit's area or of --venue; prints its token once."""
    from central.feed.clients import add_client
    from central.feed.scope import parse_scope

    with transaction(ctx) as conn:
        token = add_client(conn, name, parse_scope(conn, unit_code, venue_code), utcnow())
        _audit(conn, "feed-client-add", name, {"unit": unit_code, "venue": venue_code})
    click.echo(f"feed client {name} added; its token (shown once, send as Authorization: Bearer):")
    click.echo(token)


@feed_client.command("list")
@click.pass_context
def feed_client_list(ctx: click.Context) -> None:
    """Every client, revoked ones too (never their tokens: only hashes are kept)."""
    from central.feed.clients import list_clients

    with transaction(ctx) as conn:
        found = list_clients(conn)
    for c in found:
        state = f"revoked {_plain(c['revoked_at'])}" if c["revoked_at"] else "active"
        click.echo(f"{c['name']}  {c['scope']}  {state}  last used {_plain(c['last_used_at']) or '-'}")
    if not found:
        click.echo("no feed clients; add one: kiosk-central feed-client add NAME --unit CODE")


@feed_client.command("revoke")
@click.argument("name")
@click.pass_context
def feed_client_revoke(ctx: click.Context, name: str) -> None:
    """Refuse NAME's token from now on."""
    from central.feed.clients import revoke_client

    with transaction(ctx) as conn:
        revoke_client(conn, name, utcnow())
        _audit(conn, "feed-client-revoke", name, {})
    click.echo(f"feed client {name} revoked")


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
