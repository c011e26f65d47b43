#!/bin/bash
# Provision a gate: Raspberry Pi OS Lite (Bookworm, 64-bit), or Debian 12 arm64/amd64 for testing.
# Idempotent: run it again and it only does what is missing; the summary says what changed and what was in place.
#
#   sudo scripts/provision-pi.sh [options]
#     --source PATH      kiosk source tree or built wheel (default: the repo this script is in)
#     --version V        release name (default: the version in pyproject.toml, or the wheel's)
#     --root DIR         provision the OS tree at DIR instead of / (an image or chroot, see below)
#     --no-enable        install the units but do not enable them (images enable them their own way)
#     --read-only-root   overlay root filesystem (raspi-config), state on the data partition below
#     --data-device SPEC the writable partition for /var/lib/kiosk (default LABEL=kiosk-data)
#     --release-key FILE the release key's public half (PEM): /etc/kiosk/release-key.pub, for signed updates
#     --dry-run          say what would change, change nothing
#     --rollback         point /opt/kiosk/current back at the previous release and restart the service
#
# What it does (docs/deploy.md has the why):
#   packages  the missing ones of REQUIRED_PKGS (apt-get update only when something is missing); the
#             Raspberry-Pi-OS-only OPTIONAL_PKGS when the apt sources have them, else a warning.
#   user      system user kiosk (no login, home /var/lib/kiosk) in groups gpio video audio render; missing
#             groups are created (plain Debian has no gpio group: a udev rule is added giving it /dev/gpiochip*).
#   dirs      /etc/kiosk root:kiosk 0750, /var/lib/kiosk kiosk:kiosk 0750, /opt/kiosk/releases/<version>.
#   release   a venv with --system-site-packages, so numpy, OpenCV, Pillow, picamera2 and libcamera are the OS's
#             (picamera2 is built against the OS's numpy 1.x). The kiosk is installed with --no-deps, then its
#             other dependencies, pinned by constraints.txt; numpy/opencv/pillow never come from PyPI, gpiozero
#             only when the OS's is older than the kiosk needs. A finished release is never rebuilt: deploy a
#             changed tree under a new --version.
#   switch    /opt/kiosk/current -> releases/<version>, swapped atomically; /opt/kiosk/previous -> the one
#             before; any other release is removed (two are kept).
#   config    /etc/kiosk/kiosk.toml from config/kiosk.example.toml, only when absent: never overwritten.
#   key       /etc/kiosk/release-key.pub from --release-key (root 0644): the key signed updates must verify with.
#   units     systemd/*.service etc. from the source (not kiosk-central*: that runs on the central server)
#             into /etc/systemd/system, and enabled; a running kiosk is restarted when its release changed.
#   time      NTPSynchronized checked when systemd runs; a warning, never a failure.
#
# --root DIR: files are written below DIR; commands that must run as the target system (apt-get, dpkg-query,
# useradd, groupadd, usermod, python3, the venv's pip) run through `chroot DIR` with a clean environment, so DIR
# must be a complete root the host can execute (a foreign architecture needs qemu-user-static and binfmt_misc).
# /proc and /dev are mounted into DIR while it runs if they are not already. Without --root the script works on /
# (on a Pi, or inside a chroot as scripts/arm64-check.sh and the pi-gen stage run it).
set -eu

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=/
SOURCE=$(dirname "$SCRIPT_DIR")
VERSION=""
ENABLE=1
DRY_RUN=0
READ_ONLY=0
DATA_DEVICE="LABEL=kiosk-data"
RELEASE_KEY=""
ACTION=provision

REQUIRED_PKGS="python3 python3-venv ca-certificates libzbar0 espeak-ng alsa-utils fonts-dejavu-core
    python3-numpy python3-opencv python3-pil python3-gpiozero python3-pygame"
# Only Raspberry Pi OS's archive has these on Bookworm; Debian's does not.
OPTIONAL_PKGS="python3-picamera2 python3-libcamera python3-lgpio"
TIME_SYNC_PKGS="systemd-timesyncd chrony ntpsec openntpd ntp"
KIOSK_GROUPS="gpio video audio render"
# Compiled Python packages the venv takes from the OS, never from PyPI (pip names).
OS_PYTHON="numpy opencv-python-headless opencv-python pillow"
STATE_DIR=/var/lib/kiosk
OPT=/opt/kiosk
MAIN_UNIT=kiosk.service
UDEV_RULE=/etc/udev/rules.d/60-kiosk-gpio.rules
DROPIN=/etc/systemd/system/kiosk.service.d/10-kiosk-data.conf
ROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive

CHANGES=()
IN_PLACE=()
WARNINGS=()
MOUNTED=()
BUILD_DIR=""
RELEASE_SWITCHED=0
PREV_AFTER=""
UNITS_CHANGED=0

log() { printf 'provision-pi: %s\n' "$*"; }
die() { printf 'provision-pi: error: %s\n' "$*" >&2; exit 1; }
changed() { CHANGES+=("$*"); log "$([ "$DRY_RUN" = 1 ] && echo 'would: ' || echo '')$*"; }
in_place() { IN_PLACE+=("$*"); }
warn() { WARNINGS+=("$*"); printf 'provision-pi: warning: %s\n' "$*" >&2; }
# A path inside the target root.
r() { printf '%s%s' "${ROOT%/}" "$1"; }
# A change: skipped in --dry-run.
run() { [ "$DRY_RUN" = 1 ] || "$@"; }

# A command as the target system would run it.
in_root() {
    if [ "$ROOT" = / ]; then
        "$@"
    else
        local keep=() v
        for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY PIP_INDEX_URL; do
            [ -n "${!v:-}" ] && keep+=("$v=${!v}")
        done
        "$CHROOT" "$ROOT" /usr/bin/env -i PATH="$ROOT_PATH" HOME=/root LANG=C.UTF-8 \
            DEBIAN_FRONTEND=noninteractive "${keep[@]}" "$@"
    fi
}

usage() { sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'; exit "${1:-0}"; }

parse_args() {
    while [ $# -gt 0 ]; do
        case $1 in
            --root) ROOT=${2:?--root needs a directory}; shift ;;
            --source) SOURCE=${2:?--source needs a path}; shift ;;
            --version) VERSION=${2:?--version needs a value}; shift ;;
            --data-device) DATA_DEVICE=${2:?--data-device needs LABEL=..., UUID=... or /dev/...}; shift ;;
            --release-key) RELEASE_KEY=${2:?--release-key needs a PEM file}; shift ;;
            --no-enable) ENABLE=0 ;;
            --read-only-root) READ_ONLY=1 ;;
            --dry-run) DRY_RUN=1 ;;
            --rollback) ACTION=rollback ;;
            -h|--help) usage 0 ;;
            *) printf 'provision-pi: unknown option %s\n' "$1" >&2; usage 2 >&2 ;;
        esac
        shift
    done
    [ -d "$ROOT" ] || die "--root $ROOT is not a directory"
    ROOT=$(cd "$ROOT" && pwd)
    if [ "$ROOT" != / ]; then
        if [ ! -d "$ROOT/etc" ] || [ ! -d "$ROOT/usr" ]; then die "--root $ROOT is not an OS tree (no etc/, usr/)"; fi
        CHROOT=$(command -v chroot) || die "--root needs chroot"
    fi
    if [ "$ROOT" = / ] && [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
        die "run as root (sudo $0 ...), or with --dry-run to only look"
    fi
}

lock() {
    command -v flock >/dev/null 2>&1 || return 0
    local dir
    dir=$(r /run/lock)
    [ -d "$dir" ] && [ -w "$dir" ] || dir=${TMPDIR:-/tmp}
    exec 9> "$dir/kiosk-provision.lock"
    flock -n 9 || die "another provision-pi.sh is running (lock $dir/kiosk-provision.lock)"
}

# With --root, apt and pip inside the root need /proc and /dev; mount them unless they are there already.
mount_root_fs() {
    [ "$ROOT" = / ] && return 0
    [ "$DRY_RUN" = 1 ] && return 0
    local m
    for m in proc dev; do
        [ -d "$ROOT/$m" ] || continue
        mountpoint -q "$ROOT/$m" 2>/dev/null && continue
        if [ "$m" = proc ]; then mount -t proc proc "$ROOT/proc"; else mount --bind /dev "$ROOT/dev"; fi
        MOUNTED=("$ROOT/$m" "${MOUNTED[@]}")
    done
}

cleanup() {
    local m
    [ -n "$BUILD_DIR" ] && rm -rf "$(r "$BUILD_DIR")"
    for m in "${MOUNTED[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
}

# Changes made now to an overlay root would vanish at the next boot.
refuse_overlay() {
    [ "$ROOT" = / ] || return 0
    grep -qw 'overlayroot=tmpfs' /proc/cmdline 2>/dev/null || return 0
    [ "$(findmnt -n -o FSTYPE / 2>/dev/null)" = overlay ] || return 0
    die "/ is a read-only overlay: changes would be lost at reboot. Either run this through
    sudo overlayroot-chroot bash $0 ...   (writes to the real root), or
    sudo raspi-config nonint disable_overlayfs && sudo reboot, run this again with --read-only-root, and reboot."
}

# ---------------------------------------------------------------------------------------------------- source

SRC_KIND=""
SRC_TREE=""   # where systemd/, config/ and constraints.txt are looked for

detect_source() {
    [ -e "$SOURCE" ] || die "--source $SOURCE does not exist"
    SOURCE=$(cd "$(dirname "$SOURCE")" && pwd)/$(basename "$SOURCE")
    case $SOURCE in
        *.whl)
            SRC_KIND=wheel; SRC_TREE=$(dirname "$SOURCE")
            [ -n "$VERSION" ] || VERSION=$(basename "$SOURCE" | cut -d- -f2) ;;
        *)
            [ -f "$SOURCE/pyproject.toml" ] || die "--source $SOURCE has no pyproject.toml (a kiosk tree or a .whl)"
            SRC_KIND=tree; SRC_TREE=$SOURCE
            [ -n "$VERSION" ] || VERSION=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$SOURCE/pyproject.toml" | head -1) ;;
    esac
    case $VERSION in
        ""|.*|*[!A-Za-z0-9._+-]*) die "release version '$VERSION' is not usable as a directory name (--version)" ;;
    esac
}

# The kiosk's own requirements (no extras), one per line, e.g. "pydantic>=2.5".
requirements() {
    if [ "$SRC_KIND" = tree ]; then
        awk '/^dependencies *= *\[/ {f = 1; next} f && /^\]/ {exit} f' "$SOURCE/pyproject.toml" \
            | sed -n 's/^[[:space:]]*"\([^"]*\)".*/\1/p'
    else
        python3 - "$SOURCE" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as whl:
    meta = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
    for line in whl.read(meta).decode().splitlines():
        if line.startswith("Requires-Dist:") and "extra ==" not in line:
            print(line.split(":", 1)[1].split(";")[0].strip().replace(" ", ""))
PY
    fi
}

req_name() { printf '%s' "$1" | sed 's/[][<>=!~;, ].*//' | tr 'A-Z_.' 'a-z--'; }
req_min() { printf '%s' "$1" | sed -n 's/.*>=[[:space:]]*\([0-9][0-9A-Za-z.]*\).*/\1/p'; }
# version_ge A B: A >= B (dotted versions).
version_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$2" ]; }

# ---------------------------------------------------------------------------------------------------- packages

installed_pkgs() {
    # shellcheck disable=SC2086,SC2016  # word lists of package names; ${...} is dpkg-query's format
    in_root dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $REQUIRED_PKGS $OPTIONAL_PKGS $TIME_SYNC_PKGS \
        2>/dev/null | awk '$2 == "ii" {print $1}' || true
}

available() { in_root apt-cache show --no-all-versions "$1" >/dev/null 2>&1; }

packages() {
    local have missing="" optional="" unavailable="" p t synced=0
    have=" $(installed_pkgs | tr '\n' ' ') "
    for p in $REQUIRED_PKGS; do case $have in *" $p "*) ;; *) missing="$missing $p" ;; esac; done
    for t in $TIME_SYNC_PKGS; do case $have in *" $t "*) synced=1 ;; esac; done
    [ "$synced" = 1 ] || missing="$missing systemd-timesyncd"
    for p in $OPTIONAL_PKGS; do case $have in *" $p "*) ;; *) optional="$optional $p" ;; esac; done
    if [ -z "$missing$optional" ]; then
        in_place "packages: all present"
        return 0
    fi
    # apt-get update only when something is missing, and only once; the Pi-only packages are looked up in the
    # lists as they are when nothing else is missing, so a second run on plain Debian does not update again.
    if [ -n "$missing" ]; then run in_root apt-get update -qq; fi
    for p in $optional; do
        if available "$p"; then missing="$missing $p"; else unavailable="$unavailable $p"; fi
    done
    if [ -n "$missing" ]; then
        # shellcheck disable=SC2086
        run in_root apt-get install -y -qq --no-install-recommends $missing
        changed "packages: installed$missing"
    else
        in_place "packages: all required present"
    fi
    [ -z "$unavailable" ] || warn "not in this system's apt sources (Raspberry Pi OS only):$unavailable; the picamera2\
 camera source needs python3-picamera2, a Pi 5's GPIO python3-lgpio; USB and RTSP cameras work without them"
}

# ---------------------------------------------------------------------------------------------------- user, groups

has_group() { grep -q "^$1:" "$(r /etc/group)"; }
has_user() { grep -q "^$1:" "$(r /etc/passwd)"; }
in_group() { awk -F: -v g="$1" -v u="$2" '$1 == g {n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == u) f = 1} END {exit !f}' "$(r /etc/group)"; }
uid_of() { awk -F: -v u="$1" '$1 == u {print $3}' "$(r /etc/passwd)"; }
gid_of() { awk -F: -v g="$1" '$1 == g {print $3}' "$(r /etc/group)"; }

groups_and_user() {
    local g missing_in=""
    for g in $KIOSK_GROUPS; do
        if has_group "$g"; then continue; fi
        run in_root groupadd --system "$g"
        if [ "$g" = gpio ]; then
            changed "group gpio created (Raspberry Pi OS has it; its udev rules give it /dev/gpiochip*)"
        else
            changed "group $g created"
        fi
    done
    if ! has_user kiosk; then
        run in_root useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
            --shell /usr/sbin/nologin --comment "QR gate kiosk" --groups "${KIOSK_GROUPS// /,}" kiosk
        changed "user kiosk created (groups $KIOSK_GROUPS)"
        return 0
    fi
    for g in $KIOSK_GROUPS; do
        in_group "$g" kiosk && continue
        run in_root usermod --append --groups "$g" kiosk
        missing_in="$missing_in $g"
    done
    if [ -n "$missing_in" ]; then changed "user kiosk added to$missing_in"; else in_place "user kiosk"; fi
}

# Raspberry Pi OS gives /dev/gpiochip* to group gpio (raspberrypi-sys-mods' 99-com.rules); plain Debian leaves it
# root-only, so the kiosk user could not drive the relay. Ours is added only where no rule does it.
gpio_udev_rule() {
    if [ ! -e "$(r "$UDEV_RULE")" ] && grep -qs 'SUBSYSTEM=="gpio".*GROUP="gpio"' \
        "$(r /etc/udev/rules.d)"/*.rules "$(r /lib/udev/rules.d)"/*.rules "$(r /usr/lib/udev/rules.d)"/*.rules; then
        in_place "udev: the OS gives /dev/gpiochip* to group gpio"
        return 0
    fi
    ensure_file "$UDEV_RULE" 0644 root root '# kiosk: the GPIO lines for group gpio, as Raspberry Pi OS does in 99-com.rules
SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"
SUBSYSTEM=="*gpiomem*", GROUP="gpio", MODE="0660"'
}

# ---------------------------------------------------------------------------------------------------- files

# ensure_owner_mode PATH USER GROUP MODE [quiet]: quiet when PATH was just made, its "created" line says enough.
ensure_owner_mode() {
    local path=$1 uid gid have
    uid=$(uid_of "$2"); gid=$(gid_of "$3")
    if [ -z "$uid" ] || [ -z "$gid" ] || [ ! -e "$(r "$path")" ]; then
        [ "$DRY_RUN" = 1 ] || die "cannot set $path to $2:$3: no such user, group or file"
        return 0
    fi
    have=$(stat -c '%u:%g:%a' "$(r "$path")")
    [ "$have" = "$uid:$gid:${4#0}" ] && return 0
    run chown "$uid:$gid" "$(r "$path")"
    run chmod "$4" "$(r "$path")"
    [ "${5:-}" = quiet ] || changed "$path: owner $2:$3, mode $4"
}

ensure_dir() {
    local n=${#CHANGES[@]} quiet=""
    if [ ! -d "$(r "$1")" ]; then
        run mkdir -p "$(r "$1")"
        changed "$1: created ($2:$3 $4)"
        [ "$DRY_RUN" = 1 ] && return 0
        quiet=quiet
    fi
    ensure_owner_mode "$@" "$quiet"
    [ "${#CHANGES[@]}" != "$n" ] || in_place "$1"
}

# ensure_file PATH MODE USER GROUP CONTENT: written only when the content differs.
ensure_file() {
    local path=$1 tmp n=${#CHANGES[@]}
    if [ -f "$(r "$path")" ] && [ "$(cat "$(r "$path")")" = "$5" ]; then
        ensure_owner_mode "$path" "$3" "$4" "$2"
        [ "${#CHANGES[@]}" != "$n" ] || in_place "$path"
        return 0
    fi
    changed "$path: written ($3:$4 $2)"
    [ "$DRY_RUN" = 1 ] && return 0
    mkdir -p "$(dirname "$(r "$path")")"
    tmp=$(mktemp "$(r "$path").XXXXXX")
    printf '%s\n' "$5" > "$tmp"
    mv -f "$tmp" "$(r "$path")"
    ensure_owner_mode "$path" "$3" "$4" "$2" quiet
}

directories() {
    ensure_dir /etc/kiosk root kiosk 0750
    ensure_dir "$STATE_DIR" kiosk kiosk 0750
    ensure_dir "$OPT" root root 0755
    ensure_dir "$OPT/releases" root root 0755
}

config() {
    local cfg=/etc/kiosk/kiosk.toml example="$SRC_TREE/config/kiosk.example.toml" quiet=""
    if [ -e "$(r "$cfg")" ]; then
        in_place "$cfg (kept: never overwritten)"
    elif [ -f "$example" ]; then
        run install -m 0640 "$example" "$(r "$cfg")"
        changed "$cfg: created from config/kiosk.example.toml (root:kiosk 0640)"
        quiet=quiet
    else
        warn "no $cfg and no config/kiosk.example.toml beside the source: write $cfg before starting the kiosk"
        return 0
    fi
    ensure_owner_mode "$cfg" root kiosk 0640 "$quiet"
}

# The public half of the release key (docs/updates.md): a kiosk takes only updates signed with its private half.
release_key() {
    local dest=/etc/kiosk/release-key.pub
    if [ -n "$RELEASE_KEY" ]; then
        [ -f "$RELEASE_KEY" ] || die "--release-key $RELEASE_KEY: no such file"
        grep -q "BEGIN PUBLIC KEY" "$RELEASE_KEY" || die "--release-key $RELEASE_KEY: not a PEM public key"
        if cmp -s "$RELEASE_KEY" "$(r "$dest")"; then
            in_place "$dest"
        else
            run install -m 0644 "$RELEASE_KEY" "$(r "$dest")"
            changed "$dest: the release key (signed updates verify with it)"
        fi
    elif [ -f "$(r "$dest")" ]; then
        in_place "$dest"
    else
        warn "no $dest (--release-key): this kiosk takes no updates from the centre"
    fi
}

# ---------------------------------------------------------------------------------------------------- release

# The Python packages the venv sees, one "module version file" per line.
PROBE='import importlib, importlib.metadata as md
for mod, dist in (("numpy", "numpy"), ("cv2", None), ("PIL", "pillow"), ("gpiozero", "gpiozero")):
    try:
        m = importlib.import_module(mod)
        print(mod, md.version(dist) if dist else m.__version__, m.__file__)
    except Exception as exc:
        print(mod, "-", type(exc).__name__)'

probe_field() { awk -v m="$2" '$1 == m {print $'"$3"'}' <<< "$1"; }

# The OS's version of a pip-named package, from the probe.
os_version() {
    case $2 in
        numpy) probe_field "$1" numpy 2 ;;
        pillow) probe_field "$1" PIL 2 ;;
        gpiozero) probe_field "$1" gpiozero 2 ;;
        opencv-python*) probe_field "$1" cv2 2 ;;
    esac
}

# pip_plan PROBE: writes the requirements pip is to install and their constraints into $BUILD_DIR.
pip_plan() {
    local probe=$1 req name min have from_os skip="" constraints requirements
    constraints=$(r "$BUILD_DIR/constraints.txt")
    requirements=$(r "$BUILD_DIR/requirements.txt")
    : > "$constraints"
    : > "$requirements"
    while IFS= read -r req; do
        name=$(req_name "$req"); min=$(req_min "$req"); have=$(os_version "$probe" "$name")
        from_os=0
        case " $OS_PYTHON " in *" $name "*) from_os=1 ;; esac
        # gpiozero is pure Python: the OS's when new enough (Raspberry Pi OS), else the pinned one from PyPI.
        if [ "$name" = gpiozero ] && [ -n "$have" ] && [ "$have" != - ] && version_ge "$have" "${min:-0}"; then
            from_os=1
        fi
        if [ "$from_os" = 1 ]; then
            skip="$skip $name"
            if [ -z "$have" ] || [ "$have" = - ]; then die "the OS's $name is missing or broken in the venv ($req)"; fi
            [ -z "$min" ] || version_ge "$have" "$min" || warn "the OS's $name $have is older than the kiosk's\
 $req; it is used anyway: numpy, OpenCV and Pillow always come from the OS (docs/deploy.md)"
            [ "$name" = opencv-python-headless ] || echo "$name==$have" >> "$constraints"
        else
            echo "$req" >> "$requirements"
        fi
    done < <(requirements)
    if [ -f "$SRC_TREE/constraints.txt" ]; then
        grep -v -i -E "^($(echo "$skip" | sed 's/^ //; s/ /|/g'))==" "$SRC_TREE/constraints.txt" >> "$constraints" || true
    else
        warn "no constraints.txt beside the source: dependency versions are not pinned"
    fi
}

copy_source() {
    BUILD_DIR=/var/tmp/kiosk-build.$$
    mkdir -p "$(r "$BUILD_DIR")"
    if [ "$SRC_KIND" = wheel ]; then
        cp "$SOURCE" "$(r "$BUILD_DIR")/"
        PIP_TARGET="$BUILD_DIR/$(basename "$SOURCE")"
    else
        # A copy, so that building does not write build/ and *.egg-info into the technician's tree.
        PIP_TARGET="$BUILD_DIR/src"
        mkdir -p "$(r "$PIP_TARGET")"
        tar -C "$SOURCE" --exclude=./.venv --exclude=./.git --exclude='*.egg-info' --exclude=./build \
            --exclude=__pycache__ --exclude=.mypy_cache --exclude=.pytest_cache --exclude=.ruff_cache \
            --exclude=.hypothesis --exclude=./bench/out --exclude=./tests -cf - . \
            | tar -C "$(r "$PIP_TARGET")" --no-same-owner -xf -
    fi
}

build_release() {
    local rel=$1 probe leaked="" line m site
    [ "$DRY_RUN" = 1 ] && { changed "release $VERSION: build in $rel"; return 0; }
    rm -rf "$(r "$rel")"
    copy_source
    log "building release $VERSION in $rel"
    in_root python3 -m venv --system-site-packages "$rel"
    in_root "$rel/bin/pip" install --quiet --no-input --no-cache-dir --disable-pip-version-check --no-deps "$PIP_TARGET"
    probe=$(in_root "$rel/bin/python" -c "$PROBE")
    pip_plan "$probe"
    in_root "$rel/bin/pip" install --quiet --no-input --no-cache-dir --disable-pip-version-check \
        -c "$BUILD_DIR/constraints.txt" -r "$BUILD_DIR/requirements.txt"
    # The guard the whole venv design rests on: numpy, OpenCV and Pillow must still be the OS's.
    for site in "$(r "$rel")"/lib/python3*/site-packages; do
        for m in numpy cv2 PIL opencv_python_headless pillow; do
            compgen -G "$site/$m*" >/dev/null && leaked="$leaked $m"
        done
    done
    [ -z "$leaked" ] || die "pip installed$leaked into $rel; they must come from the OS (see docs/deploy.md)"
    probe=$(in_root "$rel/bin/python" -c "$PROBE")
    case $(probe_field "$probe" numpy 3) in
        "$rel"/*|"") die "numpy in $rel is not the OS's: $(probe_field "$probe" numpy 3)" ;;
    esac
    in_root "$rel/bin/kiosk" --version >/dev/null || die "$rel/bin/kiosk --version failed"
    if [ "$SRC_KIND" != wheel ]; then  # what kiosk.service's Documentation= points at
        mkdir -p "$(r "$rel")/share/kiosk"
        for doc in README.md docs; do
            [ ! -e "$SOURCE/$doc" ] || cp -r "$SOURCE/$doc" "$(r "$rel")/share/kiosk/"
        done
    fi
    printf 'version=%s\nsource=%s\nbuilt=%s\n%s\n' "$VERSION" "$SOURCE" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        "$(while read -r line; do echo "os-python: $line"; done <<< "$probe")" > "$(r "$rel")/.kiosk-release"
    changed "release $VERSION built in $rel (numpy $(probe_field "$probe" numpy 2) from $(dirname \
        "$(dirname "$(probe_field "$probe" numpy 3)")"))"
}

release() {
    local rel="$OPT/releases/$VERSION"
    if [ -f "$(r "$rel")/.kiosk-release" ]; then
        in_place "release $VERSION"
    else
        build_release "$rel"
    fi
}

# swap_link NAME TARGET: /opt/kiosk/NAME -> TARGET, atomically (rename(2) of a new link over the old).
swap_link() {
    run ln -sfn "$2" "$(r "$OPT/.$1.new")"
    run mv -T "$(r "$OPT/.$1.new")" "$(r "$OPT/$1")"
}

switch_current() {
    local want="releases/$VERSION" cur
    cur=$(readlink "$(r "$OPT/current")" 2>/dev/null || true)
    PREV_AFTER=$(readlink "$(r "$OPT/previous")" 2>/dev/null || true)
    if [ "$cur" = "$want" ]; then
        in_place "current -> $want"
        return 0
    fi
    [ -z "$cur" ] || swap_link previous "$cur"
    swap_link current "$want"
    RELEASE_SWITCHED=1
    PREV_AFTER=$cur
    changed "current -> $want${cur:+ (previous -> $cur)}"
}

prune_releases() {
    local cur="releases/$VERSION" prev=$PREV_AFTER d name
    for d in "$(r "$OPT/releases")"/*; do
        [ -d "$d" ] || continue
        name=releases/$(basename "$d")
        [ "$name" = "$cur" ] || [ "$name" = "$prev" ] && continue
        run rm -rf "$d"
        changed "release $(basename "$d") removed (two are kept: current and previous)"
    done
}

# ---------------------------------------------------------------------------------------------------- systemd

booted() { [ "$ROOT" = / ] && [ -d /run/systemd/system ]; }

unit_files() {
    local f
    for f in "$SRC_TREE"/systemd/*.service "$SRC_TREE"/systemd/*.timer "$SRC_TREE"/systemd/*.socket \
        "$SRC_TREE"/systemd/*.path; do
        [ -f "$f" ] || continue
        case $(basename "$f") in kiosk-central*) continue ;; esac
        echo "$f"
    done
}

install_units() {
    local f name dest found=0
    while IFS= read -r f; do
        found=1; name=$(basename "$f"); dest=/etc/systemd/system/$name
        if cmp -s "$f" "$(r "$dest")"; then in_place "$dest"; continue; fi
        run install -D -m 0644 "$f" "$(r "$dest")"
        UNITS_CHANGED=1
        changed "$dest: installed"
    done < <(unit_files)
    [ "$found" = 1 ] || warn "no unit files in $SRC_TREE/systemd/: nothing installed; the kiosk will not start at boot"
    if [ "$UNITS_CHANGED" = 1 ] && booted; then run systemctl daemon-reload; fi
}

# The [Install] targets of a unit: "multi-user.target.wants" lines.
wants_dirs() {
    awk -F= '/^\[/ {s = $0} s == "[Install]" && $1 ~ /^(WantedBy|RequiredBy)$/ {
        n = split($2, t, " "); for (i = 1; i <= n; i++) print t[i] ($1 == "WantedBy" ? ".wants" : ".requires")}' "$1"
}

enable_units() {
    local f name d link
    if [ "$ENABLE" = 0 ]; then in_place "units not enabled (--no-enable)"; return 0; fi
    while IFS= read -r f; do
        name=$(basename "$f")
        if booted; then
            if systemctl is-enabled --quiet "$name" 2>/dev/null; then in_place "$name enabled"; continue; fi
            run systemctl enable --quiet "$name"
            changed "$name enabled"
            continue
        fi
        # No running systemd (image, chroot): the links `systemctl enable` would make.
        while IFS= read -r d; do
            link=/etc/systemd/system/$d/$name
            if [ "$(readlink "$(r "$link")" 2>/dev/null)" = "/etc/systemd/system/$name" ]; then
                in_place "$name enabled ($d)"; continue
            fi
            run mkdir -p "$(r "/etc/systemd/system/$d")"
            run ln -sfn "/etc/systemd/system/$name" "$(r "$link")"
            changed "$name enabled ($d)"
        done < <(wants_dirs "$f")
    done < <(unit_files)
}

# A running kiosk picks up a new release or unit only when restarted; a stopped one is left stopped.
restart_if_running() {
    booted || return 0
    [ "$RELEASE_SWITCHED$UNITS_CHANGED" != 00 ] || return 0
    systemctl is-active --quiet "$MAIN_UNIT" 2>/dev/null || return 0
    run systemctl restart "$MAIN_UNIT"
    changed "$MAIN_UNIT restarted"
}

# ---------------------------------------------------------------------------------------------------- read-only root

cmdline_file() {
    local f
    for f in /boot/firmware/cmdline.txt /boot/cmdline.txt; do
        [ -f "$(r "$f")" ] && { echo "$f"; return 0; }
    done
}

# The state directory lives on its own ext4 partition, mounted read-write while / is an overlay.
data_partition() {
    local fstab line n
    fstab=$(r /etc/fstab)
    line=$(awk '$2 == "/var/lib/kiosk" {print $1}' "$fstab" 2>/dev/null || true)
    if [ -z "$line" ]; then
        [ "$DRY_RUN" = 1 ] || printf '%s %s ext4 defaults,noatime 0 2\n' "$DATA_DEVICE" "$STATE_DIR" >> "$fstab"
        changed "/etc/fstab: $DATA_DEVICE on $STATE_DIR"
    elif [ "$line" != "$DATA_DEVICE" ]; then
        warn "/etc/fstab mounts $line on $STATE_DIR, not $DATA_DEVICE: left as it is"
    else
        in_place "/etc/fstab: $DATA_DEVICE on $STATE_DIR"
    fi
    # The kiosk must never write its events into the overlay's RAM: it waits for the partition, or fails.
    n=${#CHANGES[@]}
    ensure_file "$DROPIN" 0644 root root "[Unit]
# kiosk provisioning (--read-only-root): the state directory is the data partition, not the overlay's RAM
RequiresMountsFor=$STATE_DIR"
    [ "${#CHANGES[@]}" = "$n" ] || UNITS_CHANGED=1
    [ "$ROOT" = / ] || { in_place "data partition: mounted at boot (image)"; return 0; }
    mount_data_now
}

mount_data_now() {
    local dev tmp
    if mountpoint -q "$STATE_DIR"; then in_place "$STATE_DIR mounted"; return 0; fi
    dev=$(findfs "$DATA_DEVICE" 2>/dev/null) \
        || die "no partition $DATA_DEVICE: create it first (docs/deploy.md, read-only root), or pass --data-device"
    changed "$STATE_DIR: $dev mounted (existing state copied onto it if it was empty)"
    [ "$DRY_RUN" = 1 ] && return 0
    tmp=$(mktemp -d)
    mount "$dev" "$tmp"
    if [ -z "$(find "$tmp" -mindepth 1 -maxdepth 1 ! -name lost+found)" ]; then cp -a "$STATE_DIR/." "$tmp/"; fi
    umount "$tmp"; rmdir "$tmp"
    mount "$STATE_DIR"
    ensure_owner_mode "$STATE_DIR" kiosk kiosk 0750
}

overlay_root() {
    local cmdline
    [ -x "$(r /usr/bin/raspi-config)" ] || die "--read-only-root needs Raspberry Pi OS's raspi-config"
    cmdline=$(cmdline_file) || die "--read-only-root: no /boot/firmware/cmdline.txt"
    if grep -qw 'overlayroot=tmpfs' "$(r "$cmdline")"; then
        in_place "overlay root enabled ($cmdline)"
        return 0
    fi
    # raspi-config installs overlayroot and adds overlayroot=tmpfs to cmdline.txt; it takes effect at next boot.
    run in_root raspi-config nonint enable_overlayfs
    changed "overlay root enabled: / is read-only from the next boot (disable: raspi-config nonint disable_overlayfs)"
}

# ---------------------------------------------------------------------------------------------------- time, summary

time_sync() {
    if ! booted || ! command -v timedatectl >/dev/null 2>&1; then
        in_place "time sync: not checked (no running systemd here)"
        return 0
    fi
    if [ "$(timedatectl show -p NTPSynchronized --value 2>/dev/null)" = yes ]; then
        in_place "time sync: clock synchronised"
    else
        warn "the clock is not NTP-synchronised yet (timedatectl): check the network and NTP servers; the kiosk\
 still records events, and the central server corrects their times"
    fi
}

summary() {
    local s
    printf 'provision-pi: summary (%s, release %s, root %s%s)\n' "$1" "$VERSION" "$ROOT" \
        "$([ "$DRY_RUN" = 1 ] && echo ', dry run: nothing was changed')"
    for s in "${CHANGES[@]}"; do printf '  %-9s %s\n' "$([ "$DRY_RUN" = 1 ] && echo would || echo changed)" "$s"; done
    for s in "${IN_PLACE[@]}"; do printf '  %-9s %s\n' ok "$s"; done
    for s in "${WARNINGS[@]}"; do printf '  %-9s %s\n' warning "$s"; done
    [ "${#CHANGES[@]}" -gt 0 ] || echo "  nothing to change"
}

rollback() {
    local cur prev
    cur=$(readlink "$(r "$OPT/current")" 2>/dev/null || true)
    prev=$(readlink "$(r "$OPT/previous")" 2>/dev/null || true)
    [ -n "$prev" ] || die "no previous release to roll back to (no $OPT/previous)"
    [ -f "$(r "$OPT/$prev")/.kiosk-release" ] || die "the previous release $OPT/$prev is missing or unfinished"
    VERSION=${prev#releases/}
    swap_link current "$prev"
    [ -z "$cur" ] || swap_link previous "$cur"
    changed "current -> $prev (previous -> ${cur:-nothing}; run --rollback again to go forward)"
    if booted && systemctl is-enabled --quiet "$MAIN_UNIT" 2>/dev/null; then
        run systemctl restart "$MAIN_UNIT"
        changed "$MAIN_UNIT restarted"
    elif ! booted; then
        in_place "no running systemd: the kiosk starts on $prev at next boot"
    fi
    summary rollback
}

main() {
    parse_args "$@"
    [ "$DRY_RUN" = 1 ] || lock
    refuse_overlay
    trap cleanup EXIT
    if [ "$ACTION" = rollback ]; then rollback; return 0; fi
    detect_source
    mount_root_fs
    packages
    groups_and_user
    gpio_udev_rule
    [ "$READ_ONLY" = 0 ] || data_partition
    directories
    config
    release_key
    release
    switch_current
    prune_releases
    install_units
    enable_units
    restart_if_running
    [ "$READ_ONLY" = 0 ] || overlay_root
    time_sync
    summary provision
}

main "$@"
