"""scripts/provision-pi.sh against a fake OS root: idempotence, config kept, releases, rollback, read-only root.

The fake root is what `--root DIR` provisions: a directory with etc/passwd, etc/group, a dpkg status and, in its
usr/bin, stand-ins for apt-get, apt-cache, dpkg-query, groupadd, useradd, usermod, python3 (venv) and raspi-config
that do to the fake root what the real ones would do to a real one, minimally, and record their calls. A `chroot`
on the host's PATH runs them as the real chroot would: absolute paths and PATH lookups resolved inside the root.
Every user and group is given the test's own uid and gid, so the script's real chown and chmod work unprivileged.
The real script, the real pyproject.toml, constraints.txt, example config and systemd units are used.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "provision-pi.sh"

# What the fake OS has installed at the start, and what its apt sources offer. Raspberry Pi OS's own packages
# (python3-picamera2, python3-libcamera, python3-lgpio) are not offered, as on plain Debian.
PREINSTALLED = ["python3", "python3-venv", "ca-certificates", "alsa-utils", "systemd-timesyncd", "python3-gpiozero"]
DEBIAN = [
    *PREINSTALLED,
    "libzbar0",
    "espeak-ng",
    "fonts-dejavu-core",
    "python3-numpy",
    "python3-opencv",
    "python3-pil",
    "python3-pygame",
]
PI_ONLY = ["python3-picamera2", "python3-libcamera", "python3-lgpio"]
# What the venv's python reports for the OS's packages: Debian 12's versions.
OS_PYTHON = """numpy 1.24.2 /usr/lib/python3/dist-packages/numpy/__init__.py
cv2 4.6.0 /usr/lib/python3/dist-packages/cv2.cpython-311-aarch64-linux-gnu.so
PIL 9.4.0 /usr/lib/python3/dist-packages/PIL/__init__.py
gpiozero 1.6.2 /usr/lib/python3/dist-packages/gpiozero/__init__.py"""

FAKE_COMMANDS = r"""
import json, os, re, sys
from pathlib import Path

ROOT = Path(os.environ["FAKE_ROOT"])
LOG = Path(os.environ["FAKE_LOG"])
name, args = Path(sys.argv[0]).name, sys.argv[1:]
with LOG.open("a") as log:
    log.write(json.dumps([name, *args]) + "\n")
AVAILABLE = json.loads((ROOT / "var/lib/apt/fake-available").read_text())
STATUS = ROOT / "var/lib/dpkg/fake-installed"
IDS = f"{os.getuid()}:{os.getgid()}"


def inside(path):
    return ROOT / path.lstrip("/")


def lines(path):
    return inside(path).read_text().splitlines()


def write_lines(path, rows):
    inside(path).write_text("".join(row + "\n" for row in rows))


def add_member(group, user):
    rows = []
    for row in lines("/etc/group"):
        f = row.split(":")
        if f[0] == group:
            f[3] = ",".join([m for m in f[3].split(",") if m] + [user])
        rows.append(":".join(f))
    write_lines("/etc/group", rows)


def option(flag):
    return args[args.index(flag) + 1] if flag in args else None


def dpkg_query():
    installed = set(STATUS.read_text().split())
    wanted = [a for a in args if not a.startswith("-")]
    for pkg in wanted:
        if pkg in installed:
            print(f"{pkg} ii ")
    return 0 if set(wanted) <= installed else 1


def apt_get():
    if args[0] == "update":
        (ROOT / "var/lib/apt/lists").mkdir(parents=True, exist_ok=True)
        (ROOT / "var/lib/apt/lists/updated").write_text("yes\n")
        return 0
    pkgs = [a for a in args[1:] if not a.startswith("-")]
    unknown = [p for p in pkgs if p not in AVAILABLE]
    if unknown:
        print(f"E: Unable to locate package {unknown[0]}", file=sys.stderr)
        return 100
    STATUS.write_text("\n".join(sorted(set(STATUS.read_text().split()) | set(pkgs))) + "\n")
    return 0


def venv(target):
    base = inside(target)
    (base / "bin").mkdir(parents=True)
    (base / "lib/python3.11/site-packages").mkdir(parents=True)
    (base / "pyvenv.cfg").write_text("include-system-site-packages = true\n")
    for tool in ("python", "pip"):
        (base / "bin" / tool).symlink_to(Path(sys.argv[0]).resolve())


def pip(venv_dir):
    site = venv_dir / "lib/python3.11/site-packages"
    if "--no-deps" in args:
        source = inside(args[-1])
        version = re.search(r'^version = "(.+)"', (source / "pyproject.toml").read_text(), re.M)[1]
        (site / f"kiosk-{version}.dist-info").mkdir()
        (venv_dir / "bin/kiosk").symlink_to(Path(sys.argv[0]).resolve())
        return 0
    # Dependencies: kept where the test can read them.
    (site / "fake-requirements.txt").write_text(inside(option("-r")).read_text())
    (site / "fake-constraints.txt").write_text(inside(option("-c")).read_text())
    return 0


def main():
    if name == "dpkg-query":
        return dpkg_query()
    if name == "apt-get":
        return apt_get()
    if name == "apt-cache":
        return 0 if args[-1] in AVAILABLE else 100
    if name == "groupadd":
        write_lines("/etc/group", lines("/etc/group") + [f"{args[-1]}:x:{os.getgid()}:"])
        return 0
    if name == "useradd":
        user = args[-1]
        entry = f"{user}:x:{IDS}::{option('--home-dir')}:{option('--shell')}"
        write_lines("/etc/passwd", lines("/etc/passwd") + [entry])
        write_lines("/etc/group", lines("/etc/group") + [f"{user}:x:{os.getgid()}:"])
        for group in option("--groups").split(","):
            add_member(group, user)
        return 0
    if name == "usermod":
        add_member(option("--groups"), args[-1])
        return 0
    if name == "python3" and args[:2] == ["-m", "venv"]:
        venv(args[-1])
        return 0
    if name == "python" and args[0] == "-c":
        print(Path(os.environ["FAKE_OS_PYTHON"]).read_text())
        return 0
    if name == "pip":
        return pip(Path(sys.argv[0]).parent.parent)
    if name == "kiosk" and args == ["--version"]:
        print("kiosk, version (fake)")
        return 0
    if name == "raspi-config" and args == ["nonint", "enable_overlayfs"]:
        cmdline = inside("/boot/firmware/cmdline.txt")
        cmdline.write_text("overlayroot=tmpfs " + cmdline.read_text())
        return 0
    print(f"fake {name}: unexpected {args}", file=sys.stderr)
    return 2


sys.exit(main())
"""

# The host's chroot, as far as the script uses it: `chroot ROOT /usr/bin/env -i VAR=... COMMAND ARGS`.
FAKE_CHROOT = r"""
import os, sys
from pathlib import Path

root, argv = sys.argv[1], sys.argv[2:]
env = {"FAKE_ROOT": root, "FAKE_LOG": os.environ["FAKE_LOG"], "FAKE_OS_PYTHON": os.environ["FAKE_OS_PYTHON"]}
if argv[0] == "/usr/bin/env":
    argv = argv[1:]
    if argv[0] == "-i":
        argv = argv[1:]
    while "=" in argv[0]:
        key, _, value = argv.pop(0).partition("=")
        env[key] = value
command = argv[0]
if command.startswith("/"):
    found = Path(root + command)
else:
    dirs = env.get("PATH", "/usr/bin:/bin").split(":")
    found = next((Path(root + d) / command for d in dirs if (Path(root + d) / command).exists()), None)
if found is None or not found.exists():
    print(f"chroot: failed to run command '{command}': No such file or directory", file=sys.stderr)
    sys.exit(127)
env["PATH"] = os.environ["PATH"]
os.execve(str(found), [str(found), *argv[1:]], env)
"""


def executable(path: Path, body: str) -> None:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[Fake]:
    yield Fake(tmp_path)


class Fake:
    """A fake OS root, a copy of the kiosk's deployment files as the source, and the host's fake chroot."""

    def __init__(self, base: Path) -> None:
        self.root = base / "root"
        self.source = base / "source"
        self.log = base / "calls.jsonl"
        self.host_bin = base / "host-bin"
        self._make_root(base)
        self._make_source()
        self.host_bin.mkdir()
        executable(self.host_bin / "chroot", FAKE_CHROOT)

    def _make_root(self, base: Path) -> None:
        root, uid, gid = self.root, os.getuid(), os.getgid()
        for d in ("etc", "usr/bin", "usr/sbin", "usr/lib", "var/lib/dpkg", "var/lib/apt", "var/tmp", "boot/firmware"):
            (root / d).mkdir(parents=True)
        (root / "etc/os-release").write_text('PRETTY_NAME="Fake Debian GNU/Linux 12 (bookworm)"\n')
        (root / "etc/passwd").write_text(f"root:x:{uid}:{gid}:root:/root:/bin/bash\n")
        (root / "etc/group").write_text(f"root:x:{gid}:\naudio:x:{gid}:\nvideo:x:{gid}:\n")
        (root / "var/lib/dpkg/fake-installed").write_text("\n".join(PREINSTALLED) + "\n")
        self.offer(DEBIAN)
        commands = root / "usr/lib/fake-commands"
        executable(commands, FAKE_COMMANDS)
        for name in ("apt-get", "apt-cache", "dpkg-query", "python3"):
            (root / "usr/bin" / name).symlink_to(commands)
        for name in ("groupadd", "useradd", "usermod"):
            (root / "usr/sbin" / name).symlink_to(commands)
        (base / "os-python.txt").write_text(OS_PYTHON)
        self.os_python = base / "os-python.txt"

    def _make_source(self) -> None:
        for name in ("pyproject.toml", "constraints.txt", "config/kiosk.example.toml"):
            (self.source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / name, self.source / name)
        (self.source / "kiosk").mkdir()
        (self.source / "kiosk/__init__.py").write_text("")
        units = sorted((REPO / "systemd").glob("*.service"))
        (self.source / "systemd").mkdir()
        for unit in units:
            shutil.copy(unit, self.source / "systemd")
        if not units:  # the units are written elsewhere; until then, one with the same [Install]
            (self.source / "systemd/kiosk.service").write_text(
                "[Service]\nExecStart=/opt/kiosk/current/bin/kiosk run\n[Install]\nWantedBy=multi-user.target\n"
            )

    def offer(self, packages: list[str]) -> None:
        (self.root / "var/lib/apt/fake-available").write_text(json.dumps(packages))

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """provision-pi.sh --root <fake root> --source <fake source> ARGS; its commands' calls logged anew."""
        self.log.write_text("")
        env = {
            "PATH": f"{self.host_bin}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "FAKE_LOG": str(self.log),
            "FAKE_OS_PYTHON": str(self.os_python),
            "TMPDIR": str(self.root.parent),
            "LANG": "C.UTF-8",
        }
        cmd = ["bash", str(SCRIPT), "--root", str(self.root), "--source", str(self.source), *args]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def called(self, name: str) -> list[list[str]]:
        return [c[1:] for c in self.calls() if c[0] == name]

    def current(self) -> str:
        return os.readlink(self.root / "opt/kiosk/current")

    def previous(self) -> str:
        return os.readlink(self.root / "opt/kiosk/previous")

    def releases(self) -> list[str]:
        return sorted(p.name for p in (self.root / "opt/kiosk/releases").iterdir())

    def snapshot(self) -> dict[str, str]:
        """Every path below the root: type, mode, owner, and content hash or link target."""
        state = {}
        for path in sorted(self.root.rglob("*")):
            st = path.lstat()
            if path.is_symlink():
                what = "-> " + os.readlink(path)
            elif path.is_dir():
                what = "dir"
            else:
                what = hashlib.sha256(path.read_bytes()).hexdigest()
            state[str(path.relative_to(self.root))] = f"{st.st_mode:o} {st.st_uid}:{st.st_gid} {what}"
        return state


def test_second_run_changes_nothing(fake: Fake) -> None:
    first = fake.run()
    assert "changed   packages: installed libzbar0 espeak-ng fonts-dejavu-core" in first.stdout
    assert fake.called("apt-get")[0] == ["update", "-qq"]
    assert ["--system", "gpio"] in fake.called("groupadd")
    assert ["--system", "render"] in fake.called("groupadd")
    assert len(fake.called("useradd")) == 1
    assert fake.current() == "releases/0.1.0"
    assert (fake.root / "etc/udev/rules.d/60-kiosk-gpio.rules").exists()  # no OS rule gives gpiochip to gpio
    assert "python3-picamera2" in first.stderr  # warned about, not fatal
    before = fake.snapshot()

    second = fake.run()

    assert fake.snapshot() == before
    assert "nothing to change" in second.stdout
    assert "changed" not in second.stdout
    assert {c[0] for c in fake.calls()} <= {"chroot", "dpkg-query", "apt-cache"}  # looks, never acts
    assert fake.current() == "releases/0.1.0"


def test_user_groups_and_directories(fake: Fake) -> None:
    fake.run()
    passwd = (fake.root / "etc/passwd").read_text()
    assert "kiosk:x:" in passwd and ":/var/lib/kiosk:/usr/sbin/nologin" in passwd
    for group in ("gpio", "video", "audio", "render"):
        line = next(g for g in (fake.root / "etc/group").read_text().splitlines() if g.startswith(group + ":"))
        assert "kiosk" in line.split(":")[3].split(","), line
    modes = {d: oct((fake.root / d).stat().st_mode & 0o7777) for d in ("etc/kiosk", "var/lib/kiosk", "opt/kiosk")}
    assert modes == {"etc/kiosk": "0o750", "var/lib/kiosk": "0o750", "opt/kiosk": "0o755"}
    assert oct((fake.root / "etc/kiosk/kiosk.toml").stat().st_mode & 0o777) == "0o640"


def test_a_missing_group_membership_is_added_on_the_next_run(fake: Fake) -> None:
    fake.run()
    group = fake.root / "etc/group"
    group.write_text(group.read_text().replace(f"render:x:{os.getgid()}:kiosk", f"render:x:{os.getgid()}:"))

    again = fake.run()

    assert fake.called("usermod") == [["--append", "--groups", "render", "kiosk"]]
    assert "changed   user kiosk added to render" in again.stdout


def test_config_is_never_overwritten(fake: Fake) -> None:
    mine = '# the technician\'s\n[device]\nid = "gate-7"\n'
    (fake.root / "etc/kiosk").mkdir(parents=True)
    (fake.root / "etc/kiosk/kiosk.toml").write_text(mine)

    fake.run()
    fake.run("--version", "0.2.0")

    assert (fake.root / "etc/kiosk/kiosk.toml").read_text() == mine


def test_config_from_the_example_when_absent(fake: Fake) -> None:
    fake.run()
    assert (fake.root / "etc/kiosk/kiosk.toml").read_bytes() == (REPO / "config/kiosk.example.toml").read_bytes()


def test_the_venv_takes_numpy_opencv_and_pillow_from_the_os(fake: Fake) -> None:
    fake.run()
    venv = fake.root / "opt/kiosk/releases/0.1.0"
    assert ["-m", "venv", "--system-site-packages", "/opt/kiosk/releases/0.1.0"] in fake.called("python3")
    pip = fake.called("pip")
    assert "--no-deps" in pip[0]
    site = venv / "lib/python3.11/site-packages"
    wanted = {line.split(">")[0].split("=")[0] for line in (site / "fake-requirements.txt").read_text().split()}
    constraints = (site / "fake-constraints.txt").read_text().splitlines()
    assert not wanted & {"numpy", "opencv-python-headless", "pillow"}
    # Debian's gpiozero (1.6.2) is older than the kiosk's gpiozero>=2.0: pure Python, so the pinned one.
    assert {"gpiozero", "zxing-cpp", "pydantic", "cryptography"} <= wanted
    assert "numpy==1.24.2" in constraints and "pillow==9.4.0" in constraints
    assert not any(c.startswith(("numpy==2", "opencv-python-headless==", "pillow==1")) for c in constraints)
    assert "gpiozero==2.0.1.post3" in constraints
    assert "os-python: numpy 1.24.2 /usr/lib/python3/dist-packages" in (venv / ".kiosk-release").read_text()


def test_gpiozero_from_the_os_when_new_enough(fake: Fake) -> None:
    fake.os_python.write_text(OS_PYTHON.replace("gpiozero 1.6.2", "gpiozero 2.0.1"))
    fake.run()
    site = fake.root / "opt/kiosk/releases/0.1.0/lib/python3.11/site-packages"
    assert "gpiozero" not in (site / "fake-requirements.txt").read_text()
    assert "gpiozero==2.0.1" in (site / "fake-constraints.txt").read_text().splitlines()


def test_pi_only_packages_installed_when_the_sources_have_them(fake: Fake) -> None:
    fake.offer(DEBIAN + PI_ONLY)
    done = fake.run()
    install = next(c for c in fake.called("apt-get") if c[0] == "install")
    assert set(PI_ONLY) <= set(install)
    assert "python3-picamera2" not in done.stderr


def test_new_versions_prune_and_rollback(fake: Fake) -> None:
    fake.run()
    fake.run("--version", "0.2.0")
    assert (fake.current(), fake.previous()) == ("releases/0.2.0", "releases/0.1.0")
    same = fake.run("--version", "0.2.0")
    assert "nothing to change" in same.stdout
    fake.run("--version", "0.3.0")
    assert fake.releases() == ["0.2.0", "0.3.0"]  # 0.1.0 pruned: two are kept

    back = fake.run("--rollback")

    assert (fake.current(), fake.previous()) == ("releases/0.2.0", "releases/0.3.0")
    assert "no running systemd" in back.stdout
    fake.run("--rollback")
    assert (fake.current(), fake.previous()) == ("releases/0.3.0", "releases/0.2.0")


def test_rollback_without_a_previous_release_fails_clearly(fake: Fake) -> None:
    fake.run()
    done = fake.run("--rollback", check=False)
    assert done.returncode == 1
    assert "no previous release" in done.stderr
    assert fake.current() == "releases/0.1.0"


def test_units_installed_and_enabled_as_links(fake: Fake) -> None:
    fake.run()
    unit = fake.root / "etc/systemd/system/kiosk.service"
    assert unit.read_bytes() == (fake.source / "systemd/kiosk.service").read_bytes()
    link = fake.root / "etc/systemd/system/multi-user.target.wants/kiosk.service"
    assert os.readlink(link) == "/etc/systemd/system/kiosk.service"
    assert not (fake.root / "etc/systemd/system/kiosk-central.service").exists()  # the central server's own


def test_no_enable_installs_but_does_not_enable(fake: Fake) -> None:
    fake.run("--no-enable")
    assert (fake.root / "etc/systemd/system/kiosk.service").exists()
    assert not (fake.root / "etc/systemd/system/multi-user.target.wants").exists()


def test_dry_run_changes_nothing(fake: Fake) -> None:
    before = fake.snapshot()
    done = fake.run("--dry-run")
    assert fake.snapshot() == before
    assert "would     packages: installed libzbar0" in done.stdout
    assert "would     release 0.1.0" in done.stdout
    assert {c[0] for c in fake.calls()} <= {"chroot", "dpkg-query", "apt-cache"}


def test_read_only_root(fake: Fake) -> None:
    (fake.root / "usr/bin/raspi-config").symlink_to(fake.root / "usr/lib/fake-commands")
    (fake.root / "boot/firmware/cmdline.txt").write_text("console=tty1 root=PARTUUID=1234-02 rootwait\n")
    (fake.root / "etc/fstab").write_text("proc /proc proc defaults 0 0\n")

    fake.run("--read-only-root")
    before = fake.snapshot()
    again = fake.run("--read-only-root")

    assert fake.snapshot() == before
    assert "nothing to change" in again.stdout
    assert "LABEL=kiosk-data /var/lib/kiosk ext4 defaults,noatime 0 2" in (fake.root / "etc/fstab").read_text()
    dropin = (fake.root / "etc/systemd/system/kiosk.service.d/10-kiosk-data.conf").read_text()
    assert "RequiresMountsFor=/var/lib/kiosk" in dropin
    assert (fake.root / "boot/firmware/cmdline.txt").read_text().startswith("overlayroot=tmpfs ")


def test_read_only_root_needs_raspi_config(fake: Fake) -> None:
    done = fake.run("--read-only-root", check=False)
    assert done.returncode == 1
    assert "raspi-config" in done.stderr


def test_script_passes_shellcheck() -> None:
    """Every shell script of the project; `make test` installs shellcheck, so a missing one is a failure, not a
    skip (it was skipped on every run, issue 12 item 14)."""
    assert shutil.which("shellcheck"), "shellcheck is not installed: run scripts/system-deps.sh shellcheck"
    shell = sorted((REPO / "scripts").glob("*.sh")) + sorted((REPO / "image").rglob("*.sh"))
    scripts = [FIRSTBOOT, *shell]
    done = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


# The first-boot enrolment of a box flashed from the fleet image (image/pi-gen/stage-kiosk).
FIRSTBOOT = REPO / "image/pi-gen/stage-kiosk/00-install/files/kiosk-enroll-firstboot"
FAKE_KIOSK = """#!/bin/sh
printf '%s\\n' "$@" > "$(dirname "$0")/kiosk-args"
[ -z "${FAIL:-}" ] || { echo "error: the enrolment code is unknown or spent" >&2; exit 1; }
echo "enrolled as device d-17 at venue BV-DN; state in /var/lib/kiosk"
"""


def enrol(tmp_path: Path, text: str, fail: bool = False) -> subprocess.CompletedProcess[str]:
    boot = tmp_path / "boot"
    boot.mkdir(exist_ok=True)
    (boot / "kiosk-enroll.txt").write_text(text)
    kiosk = tmp_path / "kiosk"
    kiosk.write_text(FAKE_KIOSK)
    kiosk.chmod(0o755)
    env = {
        "PATH": os.environ["PATH"],
        "KIOSK": str(kiosk),
        "STATE_DIR": str(tmp_path / "state"),
        "AS_KIOSK": "",
        "KIOSK_USER": pwd.getpwuid(os.getuid()).pw_name,
        "SYSTEMCTL": "true",
        **({"FAIL": "1"} if fail else {}),
    }
    cmd = ["bash", str(FIRSTBOOT), str(boot / "kiosk-enroll.txt")]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=20)


def test_firstboot_enrols_once_and_removes_the_code(tmp_path: Path) -> None:
    done = enrol(tmp_path, "# from the laptop\r\nserver = https://central.example\r\ncode=K7M2Q9XR4TB8\r\n")
    assert done.returncode == 0, done.stderr
    args = (tmp_path / "kiosk-args").read_text().split()
    assert args == ["enroll", "--server", "https://central.example", "--code", "K7M2Q9XR4TB8"]
    assert not (tmp_path / "boot/kiosk-enroll.txt").exists()
    assert "device d-17 at venue BV-DN" in (tmp_path / "boot/kiosk-enrolled.txt").read_text()


def test_firstboot_failure_keeps_the_file_and_says_why(tmp_path: Path) -> None:
    done = enrol(tmp_path, "server=https://central.example\ncode=SPENT\n", fail=True)
    assert done.returncode == 1
    assert (tmp_path / "boot/kiosk-enroll.txt").exists()
    assert "code is unknown or spent" in (tmp_path / "boot/kiosk-enroll.log").read_text()


def test_firstboot_rejects_an_unknown_key(tmp_path: Path) -> None:
    done = enrol(tmp_path, "server=https://central.example\ncode=X\nvenue=BV-DN\n")
    assert done.returncode == 1
    assert "unknown key 'venue'" in done.stderr


def test_a_changed_mode_is_put_back(fake: Fake) -> None:
    fake.run()
    (fake.root / "etc/kiosk").chmod(0o755)
    again = fake.run()
    assert "changed   /etc/kiosk: owner root:kiosk, mode 0750" in again.stdout
    assert oct((fake.root / "etc/kiosk").stat().st_mode & 0o777) == "0o750"
