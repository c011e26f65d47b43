#!/bin/bash
# Does the kiosk install and read QR codes on 64-bit ARM? This builds a Debian 12 arm64 root with debootstrap,
# runs it under qemu-user emulation (binfmt_misc), provisions it with scripts/provision-pi.sh exactly as a Pi
# would be, then runs `kiosk scan` on the bundled test images and `kiosk doctor --offline` inside it.
#
#   sudo scripts/arm64-check.sh [DIR]      DIR defaults to /var/tmp/kiosk-arm64 (about 1.5 GB)
#
# Steps, each timed:
#   1. host tools (debootstrap, qemu-user-static, binfmt-support) and the qemu-aarch64 binfmt handler;
#   2. debootstrap --variant=minbase of bookworm arm64 (skipped when DIR already holds a finished one);
#   3. the repo copied to DIR/var/tmp/kiosk-src, then provision-pi.sh --no-enable run *inside* the root
#      (chroot, so the path a technician takes on a Pi: the script sees / and no running systemd);
#   4. provision-pi.sh run a second time, from the host with --root DIR (the image-building path): it must
#      change nothing; a listing of etc, opt, usr and var/lib (path, type, mode, owner, size, mtime) before
#      and after is compared;
#   5. kiosk scan --json on tests/data/qr/qrcode-1, compared with each image's .txt, as the kiosk user;
#   6. kiosk doctor --offline when the command exists, else kiosk check-config and kiosk --version.
# The summary is printed and kept in DIR.summary; the full log is DIR.log. Exit 0 only if every step passed.
#
# Rerunning reuses the debootstrapped root (and its recorded debootstrap time); delete DIR to start over, after
# checking that nothing is still mounted below it (findmnt -R DIR).
set -eu

REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-/var/tmp/kiosk-arm64}
DIR=${DIR%/}
MIRROR=${KIOSK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
STATE="$DIR/.arm64-check"          # markers kept inside the root, outside the compared trees
SUMMARY="$DIR.summary"
LOG="$DIR.log"
SRC_IN_ROOT=/var/tmp/kiosk-src
ROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
MOUNTED=""
FAILED=0

say() { printf '%s\n' "arm64-check: $*" | tee -a "$LOG" >&2; }
record() { printf '%s\n' "$*" >> "$SUMMARY"; say "$*"; }
die() { say "error: $*"; exit 1; }
now() { date +%s; }

# Run a command inside the root with a clean environment: the host's PIP_* or proxy settings must not leak in.
in_root() {
    chroot "$DIR" /usr/bin/env -i PATH="$ROOT_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}

host_tools() {
    local missing="" pair
    for pair in debootstrap:debootstrap qemu-aarch64-static:qemu-user-static update-binfmts:binfmt-support; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
    done
    [ -z "$missing" ] && return 0
    say "installing host packages:$missing"
    apt-get update -qq
    # shellcheck disable=SC2086  # a list of package names
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
}

# qemu-user-static registers qemu-aarch64 with the F (fix-binary) flag: the kernel opens the interpreter at
# registration, so it works inside a chroot without copying qemu into the root.
binfmt_setup() {
    local fmt=/proc/sys/fs/binfmt_misc
    mountpoint -q "$fmt" || mount -t binfmt_misc binfmt_misc "$fmt"
    if [ ! -e "$fmt/qemu-aarch64" ]; then
        update-binfmts --enable qemu-aarch64 2>/dev/null || update-binfmts --import qemu-aarch64
    fi
    grep -q '^enabled' "$fmt/qemu-aarch64" || die "binfmt qemu-aarch64 is registered but disabled"
    grep -q '^flags:.*F' "$fmt/qemu-aarch64" \
        || die "binfmt qemu-aarch64 lacks the F flag; re-register it (update-binfmts --import qemu-aarch64)"
}

debootstrap_root() {
    if [ -f "$STATE/debootstrap.seconds" ]; then
        record "debootstrap: reused $DIR (took $(cat "$STATE/debootstrap.seconds")s when it was made)"
        return 0
    fi
    if [ -e "$DIR" ]; then
        [ -z "$(findmnt -R -n -o TARGET "$DIR" 2>/dev/null)" ] || die "$DIR has mounts; unmount first"
        say "removing the unfinished root $DIR"
        rm -rf --one-file-system "$DIR"
    fi
    local t0
    t0=$(now)
    say "debootstrap $SUITE arm64 (minbase) into $DIR from $MIRROR"
    debootstrap --arch=arm64 --variant=minbase "$SUITE" "$DIR" "$MIRROR" >> "$LOG" 2>&1 \
        || die "debootstrap failed; see $LOG"
    mkdir -p "$STATE"
    echo $(($(now) - t0)) > "$STATE/debootstrap.seconds"
    record "debootstrap: $(cat "$STATE/debootstrap.seconds")s"
}

mount_root() {
    local m
    for m in proc sys dev dev/pts; do
        mountpoint -q "$DIR/$m" && continue
        case $m in
            proc) mount -t proc proc "$DIR/proc" ;;
            *) mount --bind "/$m" "$DIR/$m" ;;
        esac
        MOUNTED="$DIR/$m $MOUNTED"
    done
}

unmount_root() {
    local m
    for m in $MOUNTED; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
    MOUNTED=""
}

# Services must not start inside the chroot while packages are installed (Debian's policy-rc.d convention).
deny_service_starts() {
    printf '#!/bin/sh\nexit 101\n' > "$DIR/usr/sbin/policy-rc.d"
    chmod 0755 "$DIR/usr/sbin/policy-rc.d"
}

copy_repo() {
    rm -rf "${DIR:?}$SRC_IN_ROOT"
    mkdir -p "$DIR$SRC_IN_ROOT"
    if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        # Tracked and new files (others may not have committed yet), without ignored ones (.venv, caches).
        (cd "$REPO" && git ls-files -z -co --exclude-standard \
            | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
            | tar --null -T - -cf -) | tar -C "$DIR$SRC_IN_ROOT" -xf -
    else
        tar -C "$REPO" --exclude=.venv --exclude=.git --exclude='*.egg-info' --exclude=__pycache__ -cf - . \
            | tar -C "$DIR$SRC_IN_ROOT" -xf -
    fi
}

# What the second run could change: everything below etc, opt, usr and var/lib but apt's caches.
listing() {
    (cd "$DIR" && find etc opt usr var/lib -xdev \
        -path var/lib/apt/lists -prune -o -path var/cache -prune -o \
        -printf '%p %y %m %U %G %s %T@ %l\n') | sort
}

# A host whose network intercepts TLS trusts a CA that Debian's bundle lacks; pip and apt inside the root must
# trust it too, or nothing can be fetched. Certificates in the host's bundle but not among Debian's own go into
# the root's /usr/local/share/ca-certificates (ca-certificates' postinst or update-ca-certificates adds them).
host_ca_trust() {
    local n
    n=$(python3 - "$DIR/usr/local/share/ca-certificates/arm64-check-host" <<'PY'
import pathlib, re, sys
pem = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
def blocks(path):
    return {"".join(b.split()): b for b in pem.findall(path.read_text(errors="replace"))}
known = {}
for crt in pathlib.Path("/usr/share/ca-certificates").rglob("*.crt"):
    known.update(blocks(crt))
bundle = pathlib.Path("/etc/ssl/certs/ca-certificates.crt")
extra = [b for k, b in (blocks(bundle) if bundle.exists() else {}).items() if k not in known]
out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
for i, b in enumerate(extra):
    crt = out / f"host-{i}.crt"
    if not crt.exists() or crt.read_text() != b + "\n":
        crt.write_text(b + "\n")
print(len(extra))
PY
)
    [ "$n" -gt 0 ] || return 0
    [ ! -x "$DIR/usr/sbin/update-ca-certificates" ] || in_root update-ca-certificates >/dev/null 2>&1
    record "host CA certificates trusted in the root: $n (this host's network intercepts TLS)"
}

provision_inside() {
    local t0 rc=0
    t0=$(now)
    say "provisioning inside the root (provision-pi.sh --no-enable); this is slow under emulation"
    in_root /bin/bash "$SRC_IN_ROOT/scripts/provision-pi.sh" --no-enable --source "$SRC_IN_ROOT" \
        > "$STATE/provision-1.log" 2>&1 || rc=$?
    cat "$STATE/provision-1.log" >> "$LOG"
    record "provision (inside, emulated): $(($(now) - t0))s, exit $rc"
    sed -n '/^provision-pi: summary/,$p' "$STATE/provision-1.log" | sed 's/^/    /' >> "$SUMMARY"
    [ "$rc" -eq 0 ] || { tail -30 "$STATE/provision-1.log" >&2; die "provisioning failed; see $LOG"; }
}

provision_again() {
    local t0 rc=0
    listing > "$STATE/before.txt"
    t0=$(now)
    bash "$REPO/scripts/provision-pi.sh" --root "$DIR" --no-enable --source "$DIR$SRC_IN_ROOT" \
        > "$STATE/provision-2.log" 2>&1 || rc=$?
    cat "$STATE/provision-2.log" >> "$LOG"
    listing > "$STATE/after.txt"
    record "provision again (host, --root): $(($(now) - t0))s, exit $rc"
    if [ "$rc" -ne 0 ]; then
        FAILED=1; record "  FAIL: the second run failed"
    elif grep -q '^  changed' "$STATE/provision-2.log"; then
        FAILED=1; record "  FAIL: the second run reported changes:"; grep '^  changed' "$STATE/provision-2.log" >> "$SUMMARY"
    elif ! diff -q "$STATE/before.txt" "$STATE/after.txt" >/dev/null; then
        FAILED=1; record "  FAIL: files changed on the second run:"
        diff "$STATE/before.txt" "$STATE/after.txt" | head -20 >> "$SUMMARY"
    else
        record "  idempotent: nothing changed ($(wc -l < "$STATE/after.txt") paths compared)"
    fi
}

scan_check() {
    local t0 rc=0 data="$SRC_IN_ROOT/tests/data/qr/qrcode-1"
    t0=$(now)
    in_root runuser -u kiosk -- /opt/kiosk/current/bin/kiosk scan --json "$data" > "$STATE/scan.jsonl" \
        2> "$STATE/scan.err" || rc=$?
    record "kiosk scan $data: $(($(now) - t0))s, exit $rc"
    python3 - "$STATE/scan.jsonl" "$DIR$data" >> "$SUMMARY" <<'PY' || { FAILED=1; record "  FAIL: scan results"; }
import json, pathlib, sys
results = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
folder = pathlib.Path(sys.argv[2])
expected = {p.stem: p.read_bytes().decode() for p in folder.glob("*.txt")}  # as is: some end lines in CRLF
found = {pathlib.Path(r["file"]).stem: [c["text"] for c in r["codes"]] for r in results}
ok = [k for k, text in expected.items() if text in found.get(k, [])]
missing = sorted(set(expected) - set(ok))
decoders = sorted({c["decoder"] for r in results for c in r["codes"]})
print(f"  decoded {len(ok)}/{len(expected)} images as expected (decoders: {', '.join(decoders) or 'none'})")
for r in results[:3]:
    print(f"    {pathlib.Path(r['file']).name}: {r['codes'][0]['text'] if r['codes'] else '-'} ({r['ms']} ms)")
if missing:
    print(f"  not as expected: {', '.join(missing)}")
sys.exit(0 if ok and not missing else 1)
PY
    [ "$rc" -eq 0 ] || { FAILED=1; sed 's/^/    /' "$STATE/scan.err" | tail -5 >> "$SUMMARY"; }
}

doctor_check() {
    local t0 rc=0 kiosk=/opt/kiosk/current/bin/kiosk
    t0=$(now)
    if in_root "$kiosk" doctor --help >/dev/null 2>&1; then
        in_root runuser -u kiosk -- "$kiosk" doctor --offline > "$STATE/doctor.txt" 2>&1 || rc=$?
        record "kiosk doctor --offline: $(($(now) - t0))s, exit $rc (a failure is expected: no camera here)"
        sed 's/^/    /' "$STATE/doctor.txt" >> "$SUMMARY"
        # What an emulated root without hardware can still pass must pass.
        in_root runuser -u kiosk -- "$kiosk" doctor --offline --json > "$STATE/doctor.json" 2>/dev/null || true
        python3 - "$STATE/doctor.json" >> "$SUMMARY" <<'PY' || { FAILED=1; record "  FAIL: doctor checks"; }
import json, sys
checks = {c["name"]: c["status"] for c in json.load(open(sys.argv[1]))["checks"]}
must = ["config", "decoders", "disk", "database"]
bad = [name for name in must if checks.get(name) != "ok"]
print(f"  must pass here: {', '.join(must)}: {'all ok' if not bad else 'not ok: ' + ', '.join(bad)}")
sys.exit(1 if bad else 0)
PY
    else
        record "kiosk doctor: not in this tree yet; ran check-config and --version instead"
        in_root runuser -u kiosk -- "$kiosk" check-config > "$STATE/doctor.txt" 2>&1 || rc=$?
        in_root "$kiosk" --version >> "$STATE/doctor.txt" 2>&1 || rc=$((rc + $?))
        sed 's/^/    /' "$STATE/doctor.txt" >> "$SUMMARY"
        record "  check-config and --version: exit $rc"
        [ "$rc" -eq 0 ] || FAILED=1
    fi
}

main() {
    [ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot and mounts need it)"
    mkdir -p "$(dirname "$DIR")"
    : > "$LOG"
    local start
    start=$(now)
    printf 'arm64 check, %s, host %s (%s CPUs), %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(uname -m)" \
        "$(nproc)" "$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo 'no git')" > "$SUMMARY"
    host_tools
    binfmt_setup
    debootstrap_root
    trap unmount_root EXIT
    mount_root
    deny_service_starts
    # shellcheck disable=SC2016  # $PRETTY_NAME expands inside the root
    record "root: $(in_root uname -m), $(in_root sh -c '. /etc/os-release; echo "$PRETTY_NAME"')"
    copy_repo
    host_ca_trust
    provision_inside
    scan_check
    doctor_check
    provision_again
    record "total: $(($(now) - start))s; $([ "$FAILED" -eq 0 ] && echo PASSED || echo FAILED)"
    return "$FAILED"
}

main "$@"
