"""`kiosk update ...`: the installer's commands, run as root by systemd (docs/updates.md), and a status line.

kiosk update install    the path unit saw <state_dir>/updates/ready: verify again, provision, switch
kiosk update check      the probation timer: roll back a release that did not prove healthy in time
kiosk update rollback   the kiosk unit's OnFailure=: the release on probation cannot start; go back
kiosk update status     where the update stands (as the heartbeat reports it)
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import click

from kiosk import __version__
from kiosk.update.install import PROBATION_S, PROVISION, RESTART, Installer, Releases
from kiosk.update.manifest import ReleaseError, load_public_key
from kiosk.update.state import load_state


def _installer(config: Any, root: str, provision: str | None, restart: str | None, probation_s: float) -> Installer:
    try:
        key = load_public_key(Path(config.updates.public_key).read_bytes())
    except (OSError, ReleaseError) as exc:
        click.echo(f"update: the release key {config.updates.public_key} cannot be used: {exc}", err=True)
        sys.exit(1)
    return Installer(
        config.state_dir,
        key,
        Releases(Path(root)),
        time.time,
        provision=shlex.split(provision) if provision else PROVISION,
        restart=shlex.split(restart) if restart else RESTART,
        probation_s=probation_s,
    )


def add_commands(cli: click.Group, get_config: Any, config_help: str) -> None:
    @cli.group()
    def update() -> None:
        """Signed updates: install, probation, rollback (run by systemd as root; docs/updates.md)."""

    options = [
        click.option("--config", "config_flag", help=config_help),
        click.option("--releases", "root", default="/opt/kiosk", show_default=True, help="The release layout."),
        click.option(
            "--provision",
            help="The install command ({tree}, {version}); default the release's own "
            "scripts/provision-pi.sh --source {tree} --version {version}.",
        ),
        click.option("--restart", help="The command that restarts the kiosk (default: systemctl restart kiosk)."),
        click.option("--probation-min", default=PROBATION_S / 60, show_default=True, type=click.FloatRange(1, 1440)),
    ]

    def with_options(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command

    @update.command("install")
    @with_options
    def install(
        config_flag: str | None, root: str, provision: str | None, restart: str | None, probation_min: float
    ) -> None:
        """Install the release the kiosk has verified and spooled."""
        config = get_config(config_flag)
        click.echo(_installer(config, root, provision, restart, probation_min * 60).install_ready())

    @update.command("check")
    @with_options
    def check(
        config_flag: str | None, root: str, provision: str | None, restart: str | None, probation_min: float
    ) -> None:
        """Roll back a release on probation past its deadline."""
        config = get_config(config_flag)
        click.echo(_installer(config, root, provision, restart, probation_min * 60).check())

    @update.command("rollback")
    @with_options
    @click.option("--reason", default="the new release failed to start", show_default=True)
    def rollback(
        config_flag: str | None,
        root: str,
        provision: str | None,
        restart: str | None,
        probation_min: float,
        reason: str,
    ) -> None:
        """Go back to the previous release, if the current one is on probation."""
        config = get_config(config_flag)
        click.echo(_installer(config, root, provision, restart, probation_min * 60).rollback(reason))

    @update.command("status")
    @click.option("--config", "config_flag", help=config_help)
    @click.option("--json", "as_json", is_flag=True)
    def status(config_flag: str | None, as_json: bool) -> None:
        """Where the update stands: running version, state, target, error."""
        config = get_config(config_flag)
        report = load_state(config.state_dir).heartbeat(__version__)
        if as_json:
            click.echo(json.dumps(report))
        else:
            target = f" -> {report['target']}" if report["target"] else ""
            error = f": {report['error']}" if report["error"] else ""
            click.echo(f"{report['running']}{target}: {report['state']}{error}")
