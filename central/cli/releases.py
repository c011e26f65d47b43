"""`kiosk-central release add | rollout | pause | resume | stop | list`: signed kiosk releases and their rollout
(docs/updates.md, "At the centre"). Every change is audited: it decides what software the gates run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from central.cli.common import transaction
from central.timeutil import utcnow


def _audit(conn: Any, action: str, version: str, detail: dict[str, Any]) -> None:
    from central.audit import cli_actor, record

    record(conn, at=utcnow(), actor=cli_actor(), action=action, subject=version, reason="", detail=detail)


@click.group("release")
def release() -> None:
    """Signed kiosk releases: add them, roll them out to a share of the kiosks, watch how it goes."""


@release.command("add")
@click.argument("release_json", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--release-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The release key's public half, PEM (default: release-key.pub in the state directory).",
)
@click.pass_context
def release_add(ctx: click.Context, release_json: Path, bundle: Path, release_key: Path | None) -> None:
    """Check RELEASE_JSON's signature and BUNDLE's size and SHA-256, then keep the release (not yet offered)."""
    from central.audit import cli_actor
    from central.releases.store import add_release, default_key_path, read_document, read_key, releases_dir

    url = ctx.obj["url"]
    with transaction(ctx) as conn:
        key = read_key(release_key or default_key_path(url))
        document = read_document(release_json)
        added = add_release(conn, document, bundle, key, releases_dir(url), now=utcnow(), actor=cli_actor())
        if added.new:
            manifest = added.manifest
            _audit(conn, "release-add", manifest.version, {"sha256": manifest.sha256, "size": manifest.size})
    manifest = added.manifest
    if not added.new:
        click.echo(f"release {manifest.version} is held already, with this bundle: nothing to do")
        return
    click.echo(f"release {manifest.version} added: {manifest.bundle}, {manifest.size} bytes, SHA-256 {manifest.sha256}")
    click.echo(f"offer it: kiosk-central release rollout {manifest.version} --percent 10")


@release.command("rollout")
@click.argument("version")
@click.option("--percent", type=click.IntRange(0, 100), help="This share of the kiosks (the same ones each time).")
@click.option("--unit", "unit_codes", multiple=True, help="The kiosks of this unit and every unit below it.")
@click.pass_context
def release_rollout(ctx: click.Context, version: str, percent: int | None, unit_codes: tuple[str, ...]) -> None:
    """Offer VERSION to --percent of the kiosks and to those of each --unit; stops any other rollout."""
    from central.releases.rollout import start

    with transaction(ctx) as conn:
        stopped, detail = start(conn, version, percent, unit_codes, utcnow())
        _audit(conn, "release-rollout", version, detail)
    if stopped is not None:
        click.echo(f"the rollout of {stopped} is stopped: one rollout at a time")
    units = f" and the kiosks of {', '.join(detail['units'])}" if detail["units"] else ""
    click.echo(f"release {version} offered to {detail['percent']} % of the kiosks{units}")


@release.command("pause")
@click.argument("version")
@click.pass_context
def release_pause(ctx: click.Context, version: str) -> None:
    """Offer VERSION to no more kiosks for now; those that have it keep it."""
    from central.releases.rollout import pause

    with transaction(ctx) as conn:
        pause(conn, version, utcnow())
        _audit(conn, "release-pause", version, {})
    click.echo(f"the rollout of {version} is paused (resume it: kiosk-central release resume {version})")


@release.command("resume")
@click.argument("version")
@click.pass_context
def release_resume(ctx: click.Context, version: str) -> None:
    """Offer a paused VERSION again, to the same kiosks."""
    from central.releases.rollout import resume

    with transaction(ctx) as conn:
        resume(conn, version, utcnow())
        _audit(conn, "release-resume", version, {})
    click.echo(f"the rollout of {version} is going again")


@release.command("stop")
@click.argument("version")
@click.pass_context
def release_stop(ctx: click.Context, version: str) -> None:
    """End the rollout of VERSION: offered no more (kiosks that installed it keep it)."""
    from central.releases.rollout import stop

    with transaction(ctx) as conn:
        stop(conn, version, utcnow())
        _audit(conn, "release-stop", version, {})
    click.echo(f"the rollout of {version} is stopped")


@release.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document: a list, newest version first.")
@click.pass_context
def release_list(ctx: click.Context, as_json: bool) -> None:
    """Releases, their rollout, and per version the kiosks running it, installing, on probation, rolled back from
    it, refusing it (by their last heartbeats)."""
    from central.releases.report import STATES, release_report

    with transaction(ctx) as conn:
        report = release_report(conn)
    if as_json:
        click.echo(json.dumps(report, indent=1, ensure_ascii=False))
        return
    for entry in report:
        kiosks = ", ".join(f"{entry['kiosks'][state]} {state}" for state in STATES)
        if not entry["held"]:
            click.echo(f"{entry['version']}  (not held here: reported by kiosks)  kiosks: {kiosks}")
            continue
        click.echo(f"{entry['version']}  {_rollout(entry)}  added {entry['added_at']} by {entry['added_by']}")
        click.echo(f"    kiosks: {kiosks}")
    if not report:
        click.echo("no releases; add one: kiosk-central release add kiosk-X.release.json kiosk-X.tar.gz")


def _rollout(entry: dict[str, Any]) -> str:
    if entry["rollout"] is None:
        return "not rolled out"
    units = f" + units {','.join(entry['units'])}" if entry["units"] else ""
    return f"{entry['rollout']} {entry['percent']} %{units}"
