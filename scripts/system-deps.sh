#!/bin/sh
# Install the Debian / Raspberry Pi OS packages that the kiosk needs, only those that are missing.
# Used by `make demo` and `make test`; safe to run again (it does nothing when all are present).
#   libzbar0     the zbar library behind the pyzbar fallback decoder
#   espeak-ng    speech synthesis for the voice prompts
#   python3-venv to create .venv (Debian splits ensurepip out of python3)
#   alsa-utils   aplay, which plays the prompts
#   fonts-dejavu-core  a font with Vietnamese glyphs for the result screen
#   gcc linux-libc-dev python3-dev  to build evdev (the keyboard-wedge scanner) from its source
set -eu

missing=""
for pkg in libzbar0 espeak-ng python3-venv alsa-utils fonts-dejavu-core gcc linux-libc-dev python3-dev "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
else
    echo "system-deps: missing packages:$missing; run as root or install sudo" >&2
    exit 1
fi
echo "system-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update -qq
# shellcheck disable=SC2086  # word splitting of the package list is intended
$as_root apt-get install -y -qq --no-install-recommends $missing
