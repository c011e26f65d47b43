"""`kiosk doctor`: the technician's on-site check, one line per check with a fix for each problem.

The checks run one after another, each in its own thread with a time limit, so a hung camera or a server that
never answers is reported as "did not finish" and the doctor still ends: within the sum of the limits at worst.
A check that raises is reported as failed; no check can stop the others. The checks of the machine (camera,
decoders, GPIO, audio, disk, database, clock) are in kiosk/ops/doctorchecks.py; the kiosk's own state (enrolment,
device key, subject-key secret, server, lists, backlog) is checked here.
"""

from __future__ import annotations

import json
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from kiosk.config import DEFAULT_CONFIG_PATH, DEFAULT_STATE_DIR
from kiosk.credentials.subject import MIN_SECRET_BYTES
from kiosk.credentials.trust import TrustListError, TrustStore
from kiosk.errors import KioskError
from kiosk.ops.doctorchecks import (
    CheckResult,
    DoctorContext,
    check_audio,
    check_camera,
    check_clock,
    check_database,
    check_decoders,
    check_disk,
    check_gpio,
    combine,
    fail,
    ok,
    skip,
    warn,
)
from kiosk.ops.doctorscanner import check_osdp, check_scanners
from kiosk.policy.statuslist import StatusList, StatusListError
from kiosk.redact import redact_url
from kiosk.store import EventStore
from kiosk.sync.client import CentralClient, Revoked, SyncError
from kiosk.sync.configsync import load_etag
from kiosk.sync.effective import with_central_policy
from kiosk.sync.identity import ENROLMENT_FILE, KEY_FILE, Enrolment, NotEnrolled, load_enrolment, load_key

__all__ = ["CHECKS", "Check", "CheckResult", "DoctorContext", "Report", "run_doctor"]

_HEALTH_TIMEOUT = (3.0, 5.0)  # connect, read: the server answers /healthz at once or something is wrong
_BACKLOG_WARN_S = 86400.0


@dataclass(frozen=True)
class Check:
    """A check as registered: its name, the function, its time limit and what to do if it hangs."""

    name: str
    run: Callable[[DoctorContext], CheckResult]
    timeout_s: float = 10.0
    stuck_fix: str = "run kiosk doctor again; if this check hangs again, reboot"


def kiosk_command(ctx: DoctorContext, args: str) -> str:
    """`kiosk <args>` with the --config and --state-dir this doctor ran with, so the fix can be pasted."""
    flags = ""
    if ctx.config_file is not None and ctx.config_file != DEFAULT_CONFIG_PATH:
        flags += f" --config {ctx.config_file}"
    if ctx.config.state_dir != DEFAULT_STATE_DIR:
        flags += f" --state-dir {ctx.config.state_dir}"
    return f"kiosk {args}{flags}"


def check_config(ctx: DoctorContext) -> CheckResult:
    """The config loaded (it did, or the doctor would have stopped with exit 2): where from and what it sets."""
    config = ctx.config
    where = str(ctx.config_file) if ctx.config_file else "built-in defaults (no config file)"
    outputs = ", ".join(config.feedback.outputs) or "none"
    return ok(f"{where}: policy {config.policy.mode}, outputs {outputs}, state in {config.state_dir}")


def check_enrolment(ctx: DoctorContext) -> CheckResult:
    """enrollment.json: which device, venue and server this kiosk is."""
    if ctx.offline:
        return skip("skipped (--offline)")
    path = ctx.config.state_dir / ENROLMENT_FILE
    try:
        enrolment = load_enrolment(ctx.config.state_dir)
    except NotEnrolled as exc:
        return fail(str(exc), f"mv {path} {path}.broken; {kiosk_command(ctx, 'enroll --server URL --code CODE')}")
    if enrolment is None:
        return warn(
            "not enrolled: events stay on this kiosk and its lists are never updated",
            kiosk_command(ctx, "enroll --server URL --code CODE") + " (code: kiosk-central enroll-code --venue V)",
        )
    return ok(f"device {enrolment.device_id} at venue {enrolment.venue}, server {redact_url(enrolment.server)}")


def check_device_key(ctx: DoctorContext) -> CheckResult:
    """device.key: present once enrolled, 32 bytes, private to the kiosk's user (checked offline too)."""
    path = ctx.config.state_dir / KEY_FILE
    if not path.exists():
        if (ctx.config.state_dir / ENROLMENT_FILE).exists():
            return fail(
                f"{path}: missing, yet the kiosk is enrolled", kiosk_command(ctx, "enroll --server URL --code CODE")
            )
        return skip("no device key yet (kiosk enroll makes it)")
    private = private_file(path, ctx.config.state_dir, "the device's private key")
    if private.status != "ok":
        return private
    if path.stat().st_size != 32:
        return fail(f"{path}: not a 32-byte Ed25519 key", f"mv {path} {path}.broken and enrol again")
    return private


def check_subject_key(ctx: DoctorContext) -> CheckResult:
    """The subject-key secret: private to the kiosk's user, and usable (hex, long enough); checked offline too."""
    path = ctx.config.secret_path
    if not path.exists():
        return skip(f"{path}: no subject-key secret yet (enrolment brings it, or the kiosk makes one at start)")
    private = private_file(path, ctx.config.state_dir, "the secret that turns ID numbers into subject keys")
    if private.status != "ok":
        return private
    try:
        text = path.read_text(encoding="ascii").strip()
        length = len(bytes.fromhex(text))
    except (UnicodeDecodeError, ValueError):
        length = 0
    if length < MIN_SECRET_BYTES:
        return fail(
            f"{path}: not {2 * MIN_SECRET_BYTES} or more hex digits: the kiosk will not start",
            f"mv {path} {path}.broken; {kiosk_command(ctx, 'enroll --server URL --code CODE')} (brings the secret)",
        )
    return private


def private_file(path: Path, state_dir: Path, what: str) -> CheckResult:
    """`path` readable by its owner only, and owned by the kiosk's user. That user is the owner of the state
    directory (systemd's StateDirectory= gives it to the service's User=), so the doctor may run as root."""
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    problems, fixes = [], []
    owner = state_dir.stat().st_uid if state_dir.is_dir() else info.st_uid
    if info.st_uid != owner:
        problems.append(f"owned by {_user_name(info.st_uid)}, not by {_user_name(owner)} who owns {state_dir}")
        fixes.append(f"sudo chown {_user_name(owner)}: {path}")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        problems.append(f"mode {mode:04o}: group or others can read {what}")
        fixes.append(f"chmod 600 {path}")
    if problems:
        return fail(f"{path}: {'; '.join(problems)}", "; ".join(fixes))
    return ok(f"{path}: mode {mode:04o}, owner {_user_name(info.st_uid)}")


def _user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def check_server(ctx: DoctorContext) -> CheckResult:
    """GET /healthz, then a challenge signed with the device key: reachable, and this device still accepted."""
    if ctx.offline:
        return skip("skipped (--offline)")
    try:
        enrolment = load_enrolment(ctx.config.state_dir)
    except NotEnrolled:
        return skip("enrollment.json unreadable (see enrolment)")
    if enrolment is None:
        return skip("not enrolled (see enrolment)")
    if not ctx.config.sync.enabled:
        return skip(f"sync.enabled = false: {redact_url(enrolment.server)} is not used")
    bundle = str(ctx.config.sync.ca_bundle) if ctx.config.sync.ca_bundle else enrolment.ca_bundle
    if bundle and not Path(bundle).is_file():
        return fail(f"CA bundle {bundle}: no such file", "set sync.ca_bundle to the CA file that signed the server's")
    reached = _reach(enrolment.server, bundle)
    if reached.status != "ok":
        return reached
    parts = [reached, _authenticate(ctx, enrolment, bundle)]
    if enrolment.server.startswith("https://"):
        parts.append(ok(f"TLS checked with {f'CA bundle {bundle}' if bundle else 'the system CA certificates'}"))
    return combine(parts)


def _reach(server: str, bundle: str | None) -> CheckResult:
    url = redact_url(server)
    started = time.monotonic()
    network = "check the network (`ip route`, DNS with `getent hosts`), the firewall, and the server in enrollment.json"
    try:
        answer = requests.get(f"{server.rstrip('/')}/healthz", timeout=_HEALTH_TIMEOUT, verify=bundle or True)
    except requests.exceptions.SSLError as exc:
        return fail(
            f"{url}: TLS refused: {exc}",
            "set sync.ca_bundle to the CA that signed the server's certificate; a wrong clock also fails TLS",
        )
    except requests.RequestException as exc:
        return fail(f"{url}: not reachable ({type(exc).__name__})", network)
    if answer.status_code != 200:
        return fail(f"{url}/healthz: HTTP {answer.status_code}", f"the server is up but unwell: its log; {network}")
    return ok(f"{url} reachable ({(time.monotonic() - started) * 1000:.0f} ms)")


def _authenticate(ctx: DoctorContext, enrolment: Enrolment, bundle: str | None) -> CheckResult:
    state = ctx.config.state_dir
    enrol = kiosk_command(ctx, f"enroll --server {redact_url(enrolment.server)} --code CODE")
    try:
        client = CentralClient(enrolment.server, enrolment.device_id, load_key(state), ca_bundle=bundle)
        client.config(load_etag(state))  # authenticates; asks only whether the lists changed
    except Revoked as exc:
        return fail(
            f"device {enrolment.device_id} revoked or unknown to the server ({exc})",
            f"ask the administrator whether it was revoked on purpose; to rejoin, with a new code: {enrol}",
        )
    except NotEnrolled as exc:
        return fail(str(exc), enrol)
    except SyncError as exc:
        return fail(f"authentication failed: {exc}", "the server's log says why; then kiosk doctor again")
    return ok(f"authenticated as device {enrolment.device_id}")


def check_trust_list(ctx: DoctorContext) -> CheckResult:
    """The trust list loads, and its age against policy.trust_list_warn_h and trust_list_max_h."""
    config = with_central_policy(ctx.config)  # the centre may set the limits
    path, policy = config.trust_list_path, config.policy
    refresh = f"{kiosk_command(ctx, 'sync --once')} (see the server check)"
    if not path.exists():
        return warn(f"{path}: no trust list yet: signed credentials cannot be verified", refresh)
    try:
        trust = TrustStore.load(path)
    except TrustListError as exc:
        return fail(str(exc), f"mv {path} {path}.broken; {refresh}")
    age = trust.age(datetime.fromtimestamp(ctx.clock.wall(), UTC))
    if age is None:
        return warn(f"{path}: has no issued_at: its age is unknown", refresh)
    if age < -300:
        return warn(f"{path}: issued in the future: this kiosk's clock is behind", "see the clock check")
    signers = sum(len(keys) for keys in trust.dcc.values())
    detail = f"{path}: issued {age / 3600:.0f} h ago, {signers} DCC signers, {len(trust.pass_keys)} pass keys"
    if policy.trust_list_max_h and age > policy.trust_list_max_h * 3600:
        return fail(
            f"{detail}: over policy.trust_list_max_h ({policy.trust_list_max_h:g} h), so signed "
            "credentials are refused",
            refresh,
        )
    if policy.trust_list_warn_h and age > policy.trust_list_warn_h * 3600:
        return warn(f"{detail}: over policy.trust_list_warn_h ({policy.trust_list_warn_h:g} h)", refresh)
    return ok(detail)


def check_status_list(ctx: DoctorContext) -> CheckResult:
    """The status list is there, loads, and which version it is."""
    path = ctx.config.status_list_path
    refresh = f"{kiosk_command(ctx, 'sync --once')} (see the server check)"
    if not path.exists():
        return warn(f"{path}: no status list yet: flagged people are not recognised", refresh)
    try:
        status = StatusList.load(path)
        version = json.loads(path.read_text(encoding="utf-8")).get("version")
    except StatusListError as exc:
        return fail(str(exc), f"mv {path} {path}.broken; {refresh}")
    issued = status.issued_at.isoformat(timespec="seconds") if status.issued_at else "unknown"
    return ok(f"{path}: version {version}, {len(status.entries)} entries, issued {issued}")


def check_backlog(ctx: DoctorContext) -> CheckResult:
    """Events not yet sent and the age of the oldest: sync keeping up or not."""
    path = ctx.config.database_path
    if not path.exists():
        return ok("no events recorded yet")
    try:
        store = EventStore(path, read_only=True)
        try:
            status = store.status(0)
            age = store.oldest_unsent_age(ctx.clock)
        finally:
            store.close()
    except KioskError as exc:
        return fail(f"cannot read the events: {exc}", "see the database check")
    detail = f"{status.events} events, {status.unsent} not sent yet"
    detail += f", the oldest {age / 3600:.1f} h old" if age is not None else ""
    detail += f", {status.quarantined} quarantined (refused by the server)" if status.quarantined else ""
    if age is not None and age > _BACKLOG_WARN_S:
        enrolled = (ctx.config.state_dir / ENROLMENT_FILE).exists()
        fix = (
            f"see the server check; {kiosk_command(ctx, 'sync --once')}; `journalctl -u kiosk` for sync errors"
            if enrolled
            else kiosk_command(ctx, "enroll --server URL --code CODE")
        )
        return warn(f"{detail}: sync is not keeping up", fix)
    return ok(detail)


CHECKS: tuple[Check, ...] = (
    Check("config", check_config, 5),
    Check("camera", check_camera, 15, "the camera hangs: unplug and replug it, or reboot; check `dmesg | tail`"),
    Check("decoders", check_decoders, 15),
    Check("scanners", check_scanners, 10, "a scanner's driver hangs: unplug and replug it; check `dmesg | tail`"),
    Check("gpio", check_gpio, 10),
    Check("osdp", check_osdp, 5),
    Check("audio", check_audio, 20, "the audio device hangs: reboot; check `dmesg | tail`"),
    Check("disk", check_disk, 5, "the filesystem hangs (a failing SD card?): check `dmesg | tail`"),
    Check("database", check_database, 30, "a long integrity_check: run kiosk doctor again with the kiosk stopped"),
    Check("clock", check_clock, 5),
    Check("enrolment", check_enrolment, 5),
    Check("device-key", check_device_key, 5),
    Check("subject-key", check_subject_key, 5),
    Check("server", check_server, 20, "the server accepts connections but does not answer: its log, and any proxy"),
    Check("trust-list", check_trust_list, 10),
    Check("status-list", check_status_list, 10),
    Check("backlog", check_backlog, 15, "the database is locked or slow: run kiosk doctor again"),
)


def run_check(check: Check, ctx: DoctorContext) -> CheckResult:
    """`check` in a thread of its own, waited for at most its time limit; an exception is a failure."""
    box: list[CheckResult] = []

    def target() -> None:
        try:
            box.append(check.run(ctx))
        except PermissionError as exc:
            box.append(
                fail(f"permission denied: {exc}", "run the doctor as the kiosk's user: sudo -u kiosk kiosk doctor")
            )
        except Exception as exc:  # a check's bug or a library's surprise must not stop the other checks
            box.append(
                fail(f"the check itself failed: {type(exc).__name__}: {exc}", "report it with kiosk doctor --json")
            )

    # NOTE: daemon, and abandoned if it overruns: a thread blocked in a driver cannot be stopped from Python.
    thread = threading.Thread(target=target, name=f"doctor-{check.name}", daemon=True)
    thread.start()
    thread.join(check.timeout_s)
    if not box:
        return CheckResult("fail", f"did not finish within {check.timeout_s:g} s", check.stuck_fix, check.name)
    return replace(box[0], name=check.name)


@dataclass(frozen=True)
class Report:
    results: list[CheckResult]

    @property
    def ok(self) -> bool:
        return not any(r.status == "fail" for r in self.results)

    def as_json(self) -> dict[str, Any]:
        checks = [{"name": r.name, "status": r.status, "detail": r.detail, "fix": r.fix} for r in self.results]
        return {"ok": self.ok, "checks": checks}

    def summary(self) -> str:
        counts = {s: sum(r.status == s for r in self.results) for s in ("fail", "warn", "ok", "skip")}
        words = {"fail": "failed", "warn": "warnings", "ok": "ok", "skip": "skipped"}
        return ", ".join(f"{n} {words[s]}" for s, n in counts.items() if n)

    def render(self) -> str:
        return "\n".join([*(render_line(r) for r in self.results), self.summary()])


_MARKS = {"ok": "✓", "warn": "!", "fail": "✗", "skip": "-"}
_WIDTH = max(len(check.name) for check in CHECKS)


def render_line(result: CheckResult, width: int = _WIDTH) -> str:
    """`✓ name  finding`, and for warn and fail a `fix:` line under the finding."""
    line = f"{_MARKS[result.status]} {result.name:<{width}} {result.detail}"
    if result.fix and result.status in ("warn", "fail"):
        line += f"\n  {'':<{width}} fix: {result.fix}"
    return line


def run_doctor(
    ctx: DoctorContext,
    checks: Sequence[Check] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> Report:
    """Every check (default: CHECKS) in order; `on_result` sees each as it finishes (the command line prints it)."""
    results = []
    for check in CHECKS if checks is None else checks:
        result = run_check(check, ctx)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return Report(results)
