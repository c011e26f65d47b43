"""`kiosk-central device diagnose DEVICE` and `device diagnostics DEVICE`: a technician asks a kiosk for its
doctor's report and last log lines, and reads the answer once the kiosk's next pull has brought it
(docs/updates.md, "Remote diagnostics")."""

from __future__ import annotations

import json

import click

from central.cli.common import transaction
from central.timeutil import utcnow


@click.command("diagnose")
@click.argument("device_id")
@click.option("--logs", "log_lines", type=click.IntRange(0, 500), default=100, show_default=True)
@click.option("--reason", default="", help="Why (kept in the audit log).")
@click.pass_context
def device_diagnose(ctx: click.Context, device_id: str, log_lines: int, reason: str) -> None:
    """Ask DEVICE, at its next config pull, for its doctor's report and its last log lines."""
    from central.audit import cli_actor
    from central.diagnostics.store import ask

    with transaction(ctx) as conn:
        request_id = ask(conn, device_id, log_lines, actor=cli_actor(), now=utcnow(), reason=reason)
    click.echo(f"asked {device_id} ({request_id}); the answer comes with its next config pull (5 min by default):")
    click.echo(f"  kiosk-central device diagnostics {device_id}")


@click.command("diagnostics")
@click.argument("device_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def device_diagnostics(ctx: click.Context, device_id: str, as_json: bool) -> None:
    """DEVICE's answer to the last request: the doctor's findings and the log lines."""
    from central.diagnostics.store import latest

    with transaction(ctx) as conn:
        found = latest(conn, device_id)
    if as_json:
        click.echo(json.dumps(found))
        return
    if found is None:
        click.echo(f"nothing asked of {device_id} yet: kiosk-central device diagnose {device_id}")
        return
    answer = found["answer"]
    if answer is None:
        click.echo(f"asked at {found['requested_at']}; no answer yet (the kiosk answers at its next config pull)")
        return
    click.echo(f"answered at {found['answered_at']} by kiosk {answer.get('version', '?')}")
    for check in answer.get("doctor", {}).get("checks", []):
        click.echo(f"  {check.get('status', '?'):<5} {check.get('name', '?')}: {check.get('detail', '')}")
    for line in answer.get("logs", []):
        click.echo(f"  | {line}")
