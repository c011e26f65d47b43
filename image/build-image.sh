#!/bin/bash
# Build the kiosk fleet image with pi-gen, on the technician's build machine (Debian/Ubuntu, x86-64 or arm64).
#
#   git clone --branch bookworm-arm64 https://github.com/RPi-Distro/pi-gen ~/pi-gen     (once)
#   image/build-image.sh ~/pi-gen            # writes ~/pi-gen/config the first time: edit it, run again
#   image/build-image.sh ~/pi-gen --docker   # the same in pi-gen's Docker container
#
# It copies image/pi-gen/stage-kiosk and this kiosk tree (tracked and new files, not .venv or tests) into the
# pi-gen checkout, marks stage2's image as not wanted, and runs pi-gen's build.sh (as root, via sudo) or
# build-docker.sh. The image lands in ~/pi-gen/deploy/.
set -eu

REPO=$(cd "$(dirname "$0")/.." && pwd)
PIGEN=${1:?usage: image/build-image.sh PI_GEN_DIR [--docker]}
MODE=${2:-}
PIGEN=$(cd "$PIGEN" && pwd)
die() { echo "build-image: $*" >&2; exit 1; }

[ -x "$PIGEN/build.sh" ] || die "$PIGEN is not a pi-gen checkout (no build.sh)"
git -C "$PIGEN" rev-parse --abbrev-ref HEAD 2>/dev/null | grep -q arm64 \
    || echo "build-image: warning: $PIGEN is not on an arm64 branch (bookworm-arm64 builds 64-bit images)" >&2
if [ ! -f "$PIGEN/config" ]; then
    cp "$REPO/image/pi-gen/config.example" "$PIGEN/config"
    die "wrote $PIGEN/config from image/pi-gen/config.example: set the password and SSH key in it, then run again"
fi
grep -q 'stage-kiosk' "$PIGEN/config" || die "$PIGEN/config has no STAGE_LIST naming stage-kiosk"
grep -q 'change-me-before-building\|replace-with-the-technicians-key' "$PIGEN/config" \
    && die "$PIGEN/config still has the example's password or SSH key"

STAGE="$PIGEN/stage-kiosk"
rm -rf "$STAGE"
cp -a "$REPO/image/pi-gen/stage-kiosk" "$STAGE"
mkdir -p "$STAGE/00-install/files/kiosk-src"
if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$REPO" && git ls-files -z -co --exclude-standard -- . ':!tests' \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf -) | tar -C "$STAGE/00-install/files/kiosk-src" -xf -
else
    tar -C "$REPO" --exclude=./.venv --exclude=./.git --exclude=./tests -cf - . \
        | tar -C "$STAGE/00-install/files/kiosk-src" -xf -
fi
touch "$PIGEN/stage2/SKIP_IMAGES"
echo "build-image: kiosk $(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO/pyproject.toml") staged in $STAGE"

cd "$PIGEN"
if [ "$MODE" = --docker ]; then
    ./build-docker.sh
elif [ "$(id -u)" = 0 ]; then
    ./build.sh
else
    sudo ./build.sh
fi
ls -l "$PIGEN/deploy"
