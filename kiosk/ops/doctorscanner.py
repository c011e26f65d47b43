"""`kiosk doctor`'s look at the code readers: each scanner module is there and this user may open it; the OSDP
reader's key and port are there.

It opens a keyboard scanner without grabbing it and a serial one exclusively, then closes it at once. While the
kiosk runs, a serial scanner is the kiosk's: doctor says it is in use rather than failing it.
"""

from __future__ import annotations

from pathlib import Path

from kiosk.config.readers import ScannerConfig
from kiosk.ops.doctorchecks import CheckResult, DoctorContext, combine, fail, ok, skip, warn


def check_scanners(ctx: DoctorContext) -> CheckResult:
    scanners = ctx.config.scanners
    if not scanners:
        return skip("no [[scanners]] configured")
    return combine([_check(number, scanner) for number, scanner in enumerate(scanners, 1)])


def _check(number: int, scanner: ScannerConfig) -> CheckResult:
    label = f"scanner {number} ({scanner.kind}, {scanner.device})"
    if scanner.kind == "hid":
        return _keyboard(label, scanner.device)
    return _serial(label, scanner.device, scanner.baud)


def _keyboard(label: str, spec: str) -> CheckResult:
    fix = "plug the scanner in; `ls -l /dev/input/by-id/` shows its name; the kiosk user needs the input group"
    try:
        import evdev

        from kiosk.scanner.hid import find_device
    except ImportError as exc:
        return fail(f"{label}: evdev is not installed ({exc})", "pip install 'kiosk[readers]'")
    try:
        path = find_device(spec)
        device = evdev.InputDevice(path)
    except OSError as exc:
        return fail(f"{label}: {exc}", fix)
    try:
        return ok(f"{label}: {device.name} at {path}")
    finally:
        device.close()


def _serial(label: str, port: str, baud: int) -> CheckResult:
    import serial

    fix = "plug the scanner in; `ls -l /dev/serial/by-id/` shows its port; the kiosk user needs the dialout group"
    try:
        opened = serial.Serial(port, baudrate=baud, timeout=0, exclusive=True)
    except serial.SerialException as exc:
        if "lock" in str(exc).lower():
            return warn(f"{label}: in use (by the running kiosk?)", "stop the kiosk to check the port itself")
        return fail(f"{label}: {exc}", fix)
    opened.close()
    return ok(f"{label}: opens at {baud} baud")


def check_osdp(ctx: DoctorContext) -> CheckResult:
    """The OSDP reader's key file (there, 32 hex digits, mode 0600) and its serial port (there); not opened: the
    running kiosk holds it."""
    config = ctx.config
    if "osdp" not in config.feedback.outputs:
        return skip('no "osdp" in feedback.outputs')
    from kiosk.hardware.osdp import OsdpError
    from kiosk.outputs import osdp_settings

    try:
        settings = osdp_settings(config)
    except OsdpError as exc:
        return fail(str(exc), "docs/osdp.md: the secure-channel key")
    port = Path(settings.port)
    if not port.exists():
        return fail(f"{port}: no such port", "plug in the RS-485 adapter; `ls -l /dev/serial/by-id/` shows its name")
    mode = "install mode: waiting for the panel's key" if settings.install_mode else "key file read"
    return ok(f"{port} (address {settings.address}, {settings.baud} baud), {mode}")
