"""`kiosk-central trust source add | list | remove` and `kiosk-central trust fetch`: the trust list's DSCs from
their publishers (docs/trust-list.md, "Sources").

A fetch downloads (or reads, offline) and verifies outside any transaction, then replaces the source's entries
in one; a list refused for any reason changes nothing, and the message says what and where. Every change is
audited in its transaction: a source's anchor decides who may sign the passes the gates accept.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from central.cli.common import engine_of, fail, transaction
from central.errors import CentralError
from central.timeutil import utcnow


def _audit(conn: Any, action: str, name: str, detail: dict[str, Any]) -> None:
    from central.audit import cli_actor, record

    record(conn, at=utcnow(), actor=cli_actor(), action=action, subject=name, reason="", detail=detail)


@click.group("source")
def trust_source() -> None:
    """Where the trust list's DSCs come from: the EU gateway, a national list, each verified with its anchor."""


@trust_source.command("add")
@click.argument("name")
@click.option("--url", help="Where the list is published (https://). Without it: `trust fetch NAME --file F` only.")
@click.option(
    "--anchor",
    "anchor_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="PEM: the list-signing ECDSA P-256 public key or its certificate (signed-list); CSCA certificates (dccg).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["signed-list", "dccg"]),
    default="signed-list",
    show_default=True,
    help="signed-list: a signature line, then JSON; dccg: the EU gateway's array of entries.",
)
@click.pass_context
def source_add(ctx: click.Context, name: str, url: str | None, anchor_path: str, fmt: str) -> None:
    """Add the source NAME. Its anchor is stored in the database: a later change to the file changes nothing."""
    from central.trustsources.store import add_source

    try:
        anchor = Path(anchor_path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{anchor_path}: cannot read the anchor: {exc}")
    with transaction(ctx) as conn:
        fingerprint = add_source(conn, name, url, fmt, anchor, utcnow())
        _audit(conn, "trust-source-add", name, {"url": url, "format": fmt, "anchor": fingerprint})
    click.echo(f"source {name} added ({fmt}, anchor {fingerprint}); fetch it with: kiosk-central trust fetch {name}")


@trust_source.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@click.pass_context
def source_list(ctx: click.Context, as_json: bool) -> None:
    """The sources: name, format, anchor fingerprint, URL, the last list imported and how many DSCs it gave."""
    from central.trustsources.anchor import check_anchor
    from central.trustsources.store import sources

    with transaction(ctx) as conn:
        rows = sources(conn)
    listed = [
        {
            "name": r.name,
            "format": r.format,
            "anchor": check_anchor(r.anchor, r.format, f"source {r.name}: anchor"),
            "url": r.url,
            "fetched_at": _when(r.fetched_at),
            "fetched_sha256": r.fetched_sha256,
            "entries": r.entry_count,
        }
        for r in rows
    ]
    if as_json:
        click.echo(json.dumps(listed, indent=1))
        return
    for s in listed:
        fetched = f"fetched {s['fetched_at']}: {s['entries']} DSCs" if s["fetched_at"] else "never fetched"
        click.echo(f"{s['name']}  {s['format']}  anchor {s['anchor']}  {s['url'] or '(files only)'}  {fetched}")


@trust_source.command("remove")
@click.argument("name")
@click.pass_context
def source_remove(ctx: click.Context, name: str) -> None:
    """Forget the source NAME and take its DSCs off the trust list (kiosks drop them at their next pull)."""
    from central.trustsources.store import remove_source

    with transaction(ctx) as conn:
        removed = remove_source(conn, name)
        _audit(conn, "trust-source-remove", name, {"entries_removed": removed})
    click.echo(f"source {name} removed with its {removed} trust entries")


@click.command("fetch")
@click.argument("name", required=False)
@click.option("--file", "file_path", type=click.Path(exists=True, dir_okay=False), help="Read the list from here.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(0.1, 600),
    default=30.0,
    show_default=True,
    help="Seconds to connect, and between two parts of the answer.",
)
@click.option(
    "--max-bytes", type=click.IntRange(1024), default=8 * 2**20, show_default=True, help="A longer list is refused."
)
@click.pass_context
def trust_fetch(ctx: click.Context, name: str | None, file_path: str | None, timeout_s: float, max_bytes: int) -> None:
    """Download, verify and import the list of source NAME (every source without NAME), replacing that source's
    entries; with --file, the list saved from its URL (offline). A refused list changes nothing."""
    from central.trustsources.store import source, sources

    if file_path and not name:
        raise click.UsageError("--file needs the NAME of the source the file is from")
    with transaction(ctx) as conn:
        rows = [source(conn, name)] if name else sources(conn)
    if not rows:
        fail("no trust sources; add one with: kiosk-central trust source add NAME --url URL --anchor anchor.pem")
    failed = []
    for row in rows:
        try:
            _fetch_one(ctx, row, file_path, timeout_s, max_bytes)
        except CentralError as exc:
            click.echo(f"kiosk-central: {exc}", err=True)
            failed.append(row.name)
    if failed:
        fail(f"not fetched: {', '.join(failed)}; their previous entries are kept")


def _fetch_one(ctx: click.Context, row: Any, file_path: str | None, timeout_s: float, max_bytes: int) -> None:
    from central.trustsources.download import download
    from central.trustsources.errors import TrustSourceError
    from central.trustsources.store import replace_entries, verify_list

    where = f"source {row.name}"
    if file_path:
        try:
            data = Path(file_path).read_bytes()
        except OSError as exc:
            raise TrustSourceError(f"{where}: {file_path}: {exc.strerror}") from None
        where = f"{where} ({file_path})"
    elif row.url:
        data = download(row.url, max_bytes=max_bytes, timeout_s=timeout_s)
    else:
        raise TrustSourceError(f"{where} has no URL: fetch it with --file")
    now = utcnow()
    converted = verify_list(row, data, now, where)
    for warning in converted.warnings:
        click.echo(f"kiosk-central: warning: {warning}", err=True)
    with engine_of(ctx).begin() as conn:  # not transaction(): a refusal here must not stop the other sources
        replaced = replace_entries(conn, row, converted, data, now)
        detail = {"dscs": replaced.total, "added": replaced.added, "removed": replaced.removed, "from": file_path}
        _audit(conn, "trust-fetch", row.name, {**detail, "skipped": len(converted.warnings)})
    ignored = f", {converted.ignored} entries of other types ignored" if converted.ignored else ""
    click.echo(
        f"{row.name}: {replaced.total} DSCs ({replaced.added} added, {replaced.removed} removed, "
        f"{len(converted.warnings)} skipped{ignored})"
    )


def _when(value: datetime | None) -> str | None:
    from central.timeutil import aware

    moment = aware(value)
    return moment.isoformat() if moment else None
