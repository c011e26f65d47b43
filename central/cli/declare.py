"""`kiosk-central pass-key | contact-key | declaration-settings`: how the centre issues declaration passes."""

from __future__ import annotations

import json
from pathlib import Path

import click

from central.cli.common import fail, transaction
from central.timeutil import utcnow


@click.group("pass-key")
@click.option(
    "--key-file",
    help="The pass-signing key (default: $KIOSK_CENTRAL_PASS_KEY_FILE, else kiosk-central.pass-key beside the secret).",
)
@click.pass_context
def pass_key(ctx: click.Context, key_file: str | None) -> None:
    """The centre's declaration-pass signing key (Ed25519, made on first use, mode 0600: back it up)."""
    from central.passkeys import pass_key_path

    ctx.obj["pass_key"] = pass_key_path(key_file, ctx.obj["secret"])


@pass_key.command("show")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
def pass_key_show(ctx: click.Context, as_json: bool) -> None:
    """The key's file, kid and public key, and whether the trust list carries it yet."""
    from central.passkeys import is_published, load_pass_key

    with transaction(ctx) as conn:
        key = load_pass_key(ctx.obj["pass_key"])
        published = is_published(conn, key)
    info = {"file": str(ctx.obj["pass_key"]), **key.entry(), "kid_hex": key.kid.hex(), "published": published}
    if as_json:
        click.echo(json.dumps(info))
        return
    for name, value in info.items():
        click.echo(f"{name}: {value}")
    if not published:
        click.echo("not in the trust list yet: run kiosk-central pass-key publish before issuing passes")


@pass_key.command("publish")
@click.pass_context
def pass_key_publish(ctx: click.Context) -> None:
    """Put the key in the trust list's pass_keys section; kiosks receive it at their next config sync."""
    from central.passkeys import load_pass_key, publish

    with transaction(ctx) as conn:
        key = load_pass_key(ctx.obj["pass_key"])
        added = publish(conn, key, utcnow())
    kid = key.entry()["kid"]
    click.echo(f"pass key {kid} published" if added else f"pass key {kid} is in the trust list already")


@click.group("contact-key")
def contact_key() -> None:
    """The health service's key that declaration phones are sealed to; without one, phones are not kept."""


@contact_key.command("init")
@click.option("--private-out", required=True, type=click.Path(dir_okay=False), help="New file for the private key.")
@click.option("--replace", is_flag=True, help="Replace the key set now (phones sealed to it need its private key).")
@click.pass_context
def contact_key_init(ctx: click.Context, private_out: str, replace: bool) -> None:
    """Make the key pair: the private key to --private-out (mode 0600, for the health service to keep, not on this
    server), the public key into the settings, to seal the phones of declarations from now on."""
    import base64

    from central.audit import cli_actor, record
    from central.declarations.settings import contact_public_key, set_contact_public_key
    from central.sealing import raw_public, write_private_key

    with transaction(ctx) as conn:
        if contact_public_key(conn) is not None and not replace:
            fail("a contact key is set already; give --replace to change it")
        public = write_private_key(Path(private_out)).public_key()
        set_contact_public_key(conn, public)
        detail = {"public_key": base64.b64encode(raw_public(public)).decode()}
        record(conn, at=utcnow(), actor=cli_actor(), action="contact-key-set", subject=None, reason="", detail=detail)
    click.echo(f"private key written to {private_out}: move it to the health service and keep a copy offline")
    click.echo(f"phones of new declarations are sealed to {detail['public_key']}")


@contact_key.command("open")
@click.option("--private-key", required=True, type=click.Path(exists=True, dir_okay=False), help="The private key.")
@click.option("--declaration", "declaration_id", required=True, help="The declaration's id.")
@click.option("--reason", required=True, help="Why the phone is needed (kept in the audit log).")
@click.pass_context
def contact_key_open(ctx: click.Context, private_key: str, declaration_id: str, reason: str) -> None:
    """Print the phone of a declaration; the look-up is recorded in the audit log."""
    from central.audit import cli_actor
    from central.declarations.issuing import open_contact
    from central.sealing import read_private_key

    with transaction(ctx) as conn:
        key = read_private_key(Path(private_key))
        phone = open_contact(conn, declaration_id, key, actor=cli_actor(), reason=reason, now=utcnow())
    click.echo(phone)


@click.command("declaration-settings")
@click.option("--valid-h", type=click.IntRange(1, 168), help="Hours a pass is valid from its declaration (default 24).")
@click.option("--issuer", help="The centre's name in its passes, e.g. VN-67 (default VN).")
@click.pass_context
def declaration_settings(ctx: click.Context, valid_h: int | None, issuer: str | None) -> None:
    """Show, or change, how declaration passes are issued."""
    from central.declarations.settings import (
        contact_public_key,
        pass_issuer,
        set_pass_issuer,
        set_valid_hours,
        valid_hours,
    )

    with transaction(ctx) as conn:
        if valid_h is not None:
            set_valid_hours(conn, valid_h)
        if issuer is not None:
            set_pass_issuer(conn, issuer)
        hours, name, sealed = valid_hours(conn), pass_issuer(conn), contact_public_key(conn) is not None
    click.echo(f"passes valid {hours} h, issuer {name}")
    click.echo("phones: sealed to the health service" if sealed else "phones: not kept (contact-key init to keep them)")
