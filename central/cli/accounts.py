"""`kiosk-central account ...`: staff accounts from the command line (the first administrator is made here)."""

from __future__ import annotations

import sys

import click

from central.accounts import ROLES
from central.cli.common import transaction


@click.group()
def account() -> None:
    """Staff accounts for the web pages."""


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password (12 characters or more)", hide_input=True, confirmation_prompt=True))


@account.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--unit", "unit_code", help="The unit they see, with the units below it (unit officer, tracer).")
@click.option("--venue", "venue_code", help="Their venue (venue admin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.pass_context
def account_add(
    ctx: click.Context, username: str, role: str, unit_code: str | None, venue_code: str | None, password_stdin: bool
) -> None:
    """Add a staff account (the password is asked for, twice, once the rest is known to be right)."""
    from central import audit
    from central.accounts import add_account, check_new_account
    from central.timeutil import utcnow

    with transaction(ctx) as conn:
        check_new_account(conn, username, role, unit=unit_code, venue=venue_code)
    password = _password(password_stdin)
    with transaction(ctx) as conn:
        now = utcnow()
        add_account(conn, username, password, role, now, unit=unit_code, venue=venue_code)
        actor = audit.cli_actor()
        audit.record(conn, at=now, actor=actor, action="account-add", subject=username, reason=f"role {role}")
    click.echo(f"account {username.strip().lower()} added ({role})")


@account.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.pass_context
def account_password(ctx: click.Context, username: str, password_stdin: bool) -> None:
    """Set a new password."""
    from central.accounts import require_account, set_password

    with transaction(ctx) as conn:
        require_account(conn, username)
    password = _password(password_stdin)
    with transaction(ctx) as conn:
        set_password(conn, username, password)
    click.echo(f"password of {username} changed")


@account.command("disable")
@click.argument("username")
@click.pass_context
def account_disable(ctx: click.Context, username: str) -> None:
    """Disable an account and end its sessions."""
    from central import audit
    from central.accounts import account_id, disable_account
    from central.timeutil import utcnow
    from central.web.sessions import close_sessions_of

    with transaction(ctx) as conn:
        now = utcnow()
        disable_account(conn, username, now)
        close_sessions_of(conn, account_id(conn, username))
        audit.record(conn, at=now, actor=audit.cli_actor(), action="account-disable", subject=username, reason="cli")
    click.echo(f"account {username} disabled; its sessions ended")


@account.command("list")
@click.pass_context
def account_list(ctx: click.Context) -> None:
    """List the accounts: username, role, area, state."""
    from central.accounts import list_accounts

    with transaction(ctx) as conn:
        for row in list_accounts(conn):
            state = "disabled" if row["disabled_at"] else "active"
            where = row["unit"] or row["venue"] or "all"
            click.echo(f"{row['username']}\t{row['role']}\t{where}\t{state}")
