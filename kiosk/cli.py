"""The `kiosk` command: a thin click layer over the library. Exit codes: 0 ran, 1 failed, 2 usage or config."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from kiosk import __version__
from kiosk.config import KioskConfig, load_config, resolve_config_path
from kiosk.config.errors import ConfigError
from kiosk.errors import KioskError
from kiosk.logs import setup_logging
from kiosk.ops.notify import Notifier
from kiosk.redact import redact_url

if TYPE_CHECKING:
    pass

log = logging.getLogger("kiosk")

CONFIG_HELP = "Config file (default: $KIOSK_CONFIG, else /etc/kiosk/kiosk.toml)."
STATE_HELP = "State directory (default: $KIOSK_STATE_DIR, else the config's state_dir)."


def main() -> None:
    cli(prog_name="kiosk")


@click.group()
@click.version_option(__version__, prog_name="kiosk")
def cli() -> None:
    """QR gate kiosk: read the code a person shows, decide offline, record the passage, signal the result."""


def get_config(config_flag: str | None, state_dir: str | None = None, source: str | None = None) -> KioskConfig:
    """Load the config, apply command-line and environment overrides; exit 2 with every problem if invalid."""
    path, named = resolve_config_path(config_flag)
    try:
        config = load_config(path, required=named)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"config error: {problem}", err=True)
        sys.exit(2)
    updates: dict[str, object] = {}
    state = state_dir or os.environ.get("KIOSK_STATE_DIR")
    if state:
        updates["state_dir"] = Path(state)
    if source:
        updates["camera"] = config.camera.model_copy(update={"source": source})
    return config.model_copy(update=updates) if updates else config


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT, so the loop ends cleanly and closes camera, relay and database."""
    stop = threading.Event()
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@cli.command()
@click.option("--config", "config_flag", help=CONFIG_HELP)
@click.option("--source", help="Override camera.source: picamera2, N, /dev/videoN, rtsp://..., a video or folder.")
@click.option("--state-dir", help=STATE_HELP)
@click.option("--until-end", is_flag=True, help="Stop when a file source is exhausted (after the last commit).")
def run(config_flag: str | None, source: str | None, state_dir: str | None, until_end: bool) -> None:
    """Run the gate: camera, decode, decide, record, signal; until SIGTERM."""
    from kiosk.app import assemble

    config = get_config(config_flag, state_dir, source)
    setup_logging(config.log.level)
    path, named = resolve_config_path(config_flag)
    if not named and not path.exists():
        log.warning("no %s: running on built-in defaults (see config/kiosk.example.toml)", path)
    notifier = Notifier()
    try:
        kiosk = assemble(config, notifier=notifier)
    except KioskError as exc:
        notifier.close()
        fail(str(exc))
    try:
        with stop_on_signals() as stop:
            kiosk.start()
            log.info("running: %s, state in %s", kiosk.grabber.source.name, config.state_dir)
            notifier.ready(f"camera and database up; {kiosk.grabber.source.name}")
            kiosk.run(stop, until_end=until_end)
    except KioskError as exc:
        fail(str(exc))
    finally:
        notifier.stopping()
        kiosk.close()
        notifier.close()
    log.info("stopped: %s", json.dumps(kiosk.metrics.snapshot()))


def _add_update_commands() -> None:
    from kiosk.update.commands import add_commands

    add_commands(cli, get_config, CONFIG_HELP)


_add_update_commands()


@cli.command("check-config")
@click.option("--config", "config_flag", help=CONFIG_HELP)
def check_config(config_flag: str | None) -> None:
    """Validate the config file without starting anything (for systemd ExecStartPre)."""
    path, named = resolve_config_path(config_flag)
    config = get_config(config_flag)
    where = str(path) if named or path.exists() else "built-in defaults (no config file)"
    lists = _check_lists(config)
    camera = config.camera
    click.echo(
        f"config ok: {where}\n"
        f"  device {config.device.id} at venue {config.device.venue} ({config.device.direction})\n"
        f"  camera {redact_url(camera.source)} {camera.width}x{camera.height} @ {camera.fps:g} fps\n"
        f"  decoders {', '.join(config.decode.decoders)}; policy {config.policy.mode}\n"
        f"  outputs {', '.join(config.feedback.outputs) or 'none'}; state in {config.state_dir}\n"
        f"  {lists}"
    )


def _check_lists(config: KioskConfig) -> str:
    """A line about the trust and status lists; exit 2 if a file that exists cannot be used."""
    from kiosk.credentials.trust import TrustListError, TrustStore
    from kiosk.policy.statuslist import StatusList, StatusListError

    try:
        trust = TrustStore.load(config.trust_list_path) if config.trust_list_path.exists() else None
        status = StatusList.load(config.status_list_path)
    except (TrustListError, StatusListError) as exc:
        click.echo(f"config error: {exc}", err=True)
        sys.exit(2)
    keys = (
        "no trust list yet" if trust is None else f"trust list: {sum(len(v) for v in trust.dcc.values())} DCC signers"
    )
    return f"{keys}; status list: {len(status.entries)} entries"


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image or video, one per line.")
@click.option("--decoders", default="zxing,pyzbar,opencv", show_default=True, help="Decoder chain, in order.")
def scan(paths: tuple[str, ...], as_json: bool, decoders: str) -> None:
    """Decode QR codes in images, folders of images and video files."""
    from kiosk.builders import HardwareError, build_chain
    from kiosk.config import DecodeConfig
    from kiosk.decode.scan import scan_paths

    try:
        chain = build_chain(DecodeConfig.model_validate({"decoders": [d.strip() for d in decoders.split(",")]}))
    except ValueError as exc:
        raise click.BadParameter(str(exc).splitlines()[-1], param_hint="--decoders") from None
    except HardwareError as exc:
        fail(str(exc))
    for result in scan_paths(list(paths), chain):
        if as_json:
            click.echo(json.dumps(result.as_json(), ensure_ascii=False))
        else:
            texts = "; ".join(repr(c["text"]) for c in result.codes) or result.error or "no code"
            click.echo(f"{result.file}: {texts} ({result.ms:.1f} ms)")


def _add_verify_command() -> None:
    from kiosk.ops.verifycmd import add_command

    add_command(cli, get_config, CONFIG_HELP, STATE_HELP)


_add_verify_command()


@cli.command()
@click.option("--config", "config_flag", help=CONFIG_HELP)
@click.option("--state-dir", help=STATE_HELP)
@click.option("--json", "as_json", is_flag=True, help='One JSON object: {"ok": ..., "checks": [...]}, for fleets.')
@click.option("--offline", is_flag=True, help="No enrolment or server checks (the device key is still checked).")
def doctor(config_flag: str | None, state_dir: str | None, as_json: bool, offline: bool) -> None:
    """Check this kiosk on site, with a fix for each problem. Exit 0 nothing failed (warnings allowed), 1 failed."""
    from kiosk.ops.doctor import DoctorContext, render_line, run_doctor

    config = get_config(config_flag, state_dir)
    setup_logging("ERROR")  # the findings are the output; the libraries' warnings would only repeat them
    path, named = resolve_config_path(config_flag)
    context = DoctorContext(config, path if named or path.exists() else None, offline=offline)
    report = run_doctor(context, on_result=None if as_json else lambda result: click.echo(render_line(result)))
    click.echo(json.dumps(report.as_json(), ensure_ascii=False) if as_json else report.summary())
    sys.exit(0 if report.ok else 1)


@cli.command()
@click.option("--config", "config_flag", help=CONFIG_HELP)
@click.option("--state-dir", help=STATE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(config_flag: str | None, state_dir: str | None, as_json: bool) -> None:
    """Backlog, recent decisions (no personal data) and clock state."""
    from kiosk.ops.status import gather_status, render_status

    config = get_config(config_flag, state_dir)
    try:
        report = gather_status(config)
    except KioskError as exc:
        fail(str(exc))
    click.echo(json.dumps(report, ensure_ascii=False) if as_json else render_status(report))


@cli.command("feedback-test")
@click.option("--config", "config_flag", help=CONFIG_HELP)
@click.option("--state-dir", help=STATE_HELP)
@click.option("--mock", is_flag=True, help="gpiozero MockFactory instead of real pins; walks [feedback.gpio] always.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report with each pin's timeline.")
def feedback_test(config_flag: str | None, state_dir: str | None, mock: bool, as_json: bool) -> None:
    """Step through every output (lights, buzzer, relay, Wiegand), announcing each, and report what failed."""
    from kiosk.ops.feedbacktest import Walk, announcer, silent

    config = get_config(config_flag, state_dir)
    setup_logging("WARNING")
    factory, voice = _test_rig(config, mock)
    try:
        report = Walk(config, factory, announcer(voice) if voice else silent, all_gpio=mock).run()
    finally:
        if voice is not None:
            voice.close()
        if mock:
            factory.reset()
    if as_json:
        click.echo(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        for output in report.outputs:
            click.echo(f"{output['name']:<10} {output['pin']:<7} ok ({len(output['states'])} changes)")
        for problem in report.problems:
            click.echo(f"{problem['output']:<10} NOT DRIVEN: {problem['error']}")
    sys.exit(1 if report.problems else 0)


def _test_rig(config: KioskConfig, mock: bool) -> tuple[Any, Any]:
    """The pin factory and the voice (None if voice is not configured and not mocked) for feedback-test."""
    from kiosk.builders import HardwareError, build_pin_factory

    if mock:
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        factory: Any = MockFactory(pin_class=MockPWMPin)
    else:
        try:
            factory = build_pin_factory(config.feedback.gpio.pin_factory)
        except HardwareError as exc:
            fail(str(exc))
    voice = None
    if mock or "voice" in config.feedback.outputs:
        from kiosk.hardware.voice import VoiceFeedback
        from kiosk.policy.messages import Messages

        cache = config.feedback.voice.cache_dir or config.state_dir / "voice-cache"
        voice = VoiceFeedback(config.feedback.voice, Messages(config.feedback.language), cache)
    return factory, voice


@cli.command()
@click.option("--server", help="The central server, e.g. https://central.example.")
@click.option("--code", help="The one-time enrolment code (kiosk-central enroll-code, or an enrolment sheet).")
@click.option("--sheet-text", help="Instead of --server and --code: the text of the sheet's QR code, as scanned.")
@click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False), help="CA certificates for the server.")
@click.option("--config", "config_flag", help=CONFIG_HELP)
@click.option("--state-dir", help=STATE_HELP)
def enroll(
    server: str | None,
    code: str | None,
    sheet_text: str | None,
    ca_bundle: str | None,
    config_flag: str | None,
    state_dir: str | None,
) -> None:
    """Register this kiosk with the central server: device key, id, venue, shared secret, first lists."""
    from kiosk.sync.enrol import enrol_device

    server, code = enrolment_target(server, code, sheet_text)
    config = get_config(config_flag, state_dir)
    setup_logging(config.log.level)
    try:
        enrolment = enrol_device(config, server, code, ca_bundle)
    except KioskError as exc:
        fail(str(exc))
    click.echo(f"enrolled as device {enrolment.device_id} at venue {enrolment.venue}; state in {config.state_dir}")


def enrolment_target(server: str | None, code: str | None, sheet_text: str | None) -> tuple[str, str]:
    """The server and code from --server and --code, or from an enrolment sheet's QR text (`KIOSK-ENROL:URL|CODE`,
    made by central/bulk/sheet.py)."""
    if sheet_text is None:
        if not server or not code:
            raise click.UsageError("give --server and --code, or --sheet-text")
        return server, code
    if server or code:
        raise click.UsageError("give --sheet-text alone, or --server and --code")
    text = sheet_text.strip()
    found, _, found_code = text.removeprefix("KIOSK-ENROL:").partition("|")
    if not text.startswith("KIOSK-ENROL:") or not found.startswith(("https://", "http://")) or not found_code.strip():
        raise click.BadParameter("not an enrolment sheet's QR text (KIOSK-ENROL:URL|CODE)", param_hint="--sheet-text")
    return found, found_code.strip()


@cli.command()
@click.option("--once", is_flag=True, required=True, help="Push the backlog now, pull lists, send a heartbeat.")
@click.option("--config", "config_flag", help=CONFIG_HELP)
@click.option("--state-dir", help=STATE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def sync(once: bool, config_flag: str | None, state_dir: str | None, as_json: bool) -> None:
    """Sync with the central server now (the running kiosk does this by itself all the time)."""
    from kiosk.app import sync_once
    from kiosk.sync.enrol import describe_sync

    config = get_config(config_flag, state_dir)
    setup_logging(config.log.level)
    try:
        report = sync_once(config)
    except KioskError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(report))
    else:
        click.echo("\n".join(describe_sync(report)))
    if report["error"]:
        sys.exit(1)


@cli.command()
@click.option("--state-dir", help="Keep the demo's database here (default: a temporary directory).")
@click.option("--speed", default=1.0, show_default=True, type=click.FloatRange(0.1, 20), help="Replay speed.")
@click.option("--no-wait", is_flag=True, help="Stop the central server when the replay ends (default: at Ctrl-C).")
def demo(state_dir: str | None, speed: float, no_wait: bool) -> None:
    """Run the whole loop on bundled media with mock GPIO, print a summary, and leave the local central server
    up for a browser (dashboard, tracing, declarations) until interrupted."""
    from kiosk.demo.runner import run_demo

    def until_interrupted() -> None:
        with stop_on_signals() as stop:
            while not stop.wait(1.0):  # a timeout, so the signal handler gets its turn on every platform
                pass

    setup_logging("WARNING")
    wait = None if no_wait else until_interrupted
    sys.exit(run_demo(Path(state_dir) if state_dir else None, speed=speed, wait=wait))


def fail(message: str) -> NoReturn:
    click.echo(f"kiosk: {message}", err=True)
    sys.exit(1)
