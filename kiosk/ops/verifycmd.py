"""`kiosk verify`: read and verify one code offline, as a technician or a guard checks a code that a gate refused
(kind, signature, validity, whose it is, what a gate would decide). Registered on the `kiosk` group by
kiosk/cli.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kiosk.isotime import parse_iso

if TYPE_CHECKING:
    from kiosk.credentials.trust import TrustStore


def add_command(cli: click.Group, get_config: Callable[..., Any], config_help: str, state_help: str) -> None:
    @cli.command()
    @click.option("--text", help="The code's text.")
    @click.option("--text-file", type=click.Path(exists=True, dir_okay=False), help="A file holding the code's text.")
    @click.option("--image", type=click.Path(exists=True, dir_okay=False), help="A picture of the code.")
    @click.option(
        "--trust-list", type=click.Path(exists=True, dir_okay=False), help="Trusted keys (docs/trust-list.md)."
    )
    @click.option("--at", "at", help="Verify as at this ISO 8601 time (default: now).")
    @click.option(
        "--mode",
        type=click.Choice(["log-only", "identity", "certificate", "pass"]),
        help="Also decide as a gate in this mode would (default: the mode that checks this kind of code).",
    )
    @click.option("--config", "config_flag", help=config_help + " Its subject-key secret gives the gate's key.")
    @click.option("--state-dir", help=state_help)
    @click.option("--json", "as_json", is_flag=True, help="One JSON object.")
    def verify(
        text: str | None,
        text_file: str | None,
        image: str | None,
        trust_list: str | None,
        at: str | None,
        mode: str | None,
        config_flag: str | None,
        state_dir: str | None,
        as_json: bool,
    ) -> None:
        """Read and verify one code offline: kind, signature, validity, whose it is (the subject key this kiosk's
        gate would record), and what a gate would decide. Exits 0 whatever the verdict."""
        from kiosk.credentials import read_credential
        from kiosk.credentials.context import VerifyContext
        from kiosk.ops.verifyreport import kiosk_keying, report_text, verification_report

        if sum(x is not None for x in (text, text_file, image)) != 1:
            raise click.UsageError("give exactly one of --text, --text-file, --image")
        ctx = VerifyContext(_trust(trust_list), _when(at))
        keying = kiosk_keying(get_config(config_flag, state_dir).secret_path)
        code = text if text is not None else _code_text(text_file, image)
        report = verification_report(read_credential(code, ctx), keying, mode, ctx.now)
        if code == "" and image:
            report["reasons"] = ["no-code-in-image"]
        click.echo(json.dumps(report, ensure_ascii=False, allow_nan=False) if as_json else report_text(report))


def _trust(path: str | None) -> TrustStore:
    from kiosk.credentials.trust import TrustListError, TrustStore

    try:
        return TrustStore.load(Path(path)) if path else TrustStore()
    except TrustListError as exc:
        raise click.BadParameter(str(exc), param_hint="--trust-list") from None


def _when(at: str | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    try:
        return parse_iso(at)
    except ValueError:
        raise click.BadParameter(f"{at!r} is not an ISO 8601 time", param_hint="--at") from None


def _code_text(text_file: str | None, image: str | None) -> str:
    if text_file is not None:
        return Path(text_file).read_text(encoding="utf-8", errors="replace").rstrip("\r\n")
    from kiosk.builders import build_chain
    from kiosk.camera.images import load_grey
    from kiosk.config import DecodeConfig
    from kiosk.decode.reader import FrameReader

    grey = load_grey(Path(str(image)))
    if grey is None:
        raise click.BadParameter("not a readable image", param_hint="--image")
    codes = FrameReader(build_chain(DecodeConfig(decoders=["zxing", "pyzbar", "opencv"]))).read_still(grey).codes
    return codes[0].text if codes else ""
