#!/bin/bash -e
# pi-gen sub-stage, run on the build machine with ROOTFS_DIR set: put the kiosk into the image the way a
# technician would on one Pi (scripts/provision-pi.sh), then the first-boot enrolment, then enable both.
#
# The kiosk source: files/kiosk-src when image/build-image.sh copied it there (always, for build-docker.sh);
# else the kiosk checkout this stage lives in (STAGE_LIST naming .../image/pi-gen/stage-kiosk in place).
# Set in pi-gen's config with `export`:  KIOSK_VERSION (release name; default pyproject's),
# KIOSK_READ_ONLY_ROOT=1 (overlay root, /var/lib/kiosk on the partition labelled kiosk-data: image/README.md),
# KIOSK_RELEASE_KEY (the release key's public half, PEM, on the build machine: signed updates, docs/updates.md).

if [ -d files/kiosk-src ]; then
	SRC=files/kiosk-src
else
	SRC=$(cd ../../../.. && pwd)
fi
[ -f "${SRC}/scripts/provision-pi.sh" ] || { echo "stage-kiosk: no kiosk source in ${SRC}" >&2; exit 1; }

IN_ROOT=/var/tmp/kiosk-src
rm -rf "${ROOTFS_DIR}${IN_ROOT}"
mkdir -p "${ROOTFS_DIR}${IN_ROOT}"
tar -C "${SRC}" --exclude=./.venv --exclude=./.git --exclude=./tests --exclude=__pycache__ -cf - . \
	| tar -C "${ROOTFS_DIR}${IN_ROOT}" --no-same-owner -xf -

OPTIONS="--no-enable --source ${IN_ROOT}"
[ -z "${KIOSK_VERSION:-}" ] || OPTIONS="${OPTIONS} --version ${KIOSK_VERSION}"
[ "${KIOSK_READ_ONLY_ROOT:-0}" != 1 ] || OPTIONS="${OPTIONS} --read-only-root"
if [ -n "${KIOSK_RELEASE_KEY:-}" ]; then
	install -m 0644 "${KIOSK_RELEASE_KEY}" "${ROOTFS_DIR}${IN_ROOT}/release-key.pub"
	OPTIONS="${OPTIONS} --release-key ${IN_ROOT}/release-key.pub"
fi

on_chroot << CHROOT
bash ${IN_ROOT}/scripts/provision-pi.sh ${OPTIONS}
CHROOT

install -m 0755 files/kiosk-enroll-firstboot "${ROOTFS_DIR}/usr/local/sbin/kiosk-enroll-firstboot"
install -m 0644 files/kiosk-enroll.service "${ROOTFS_DIR}/etc/systemd/system/kiosk-enroll.service"
install -m 0644 files/kiosk-enroll.example.txt "${ROOTFS_DIR}/boot/firmware/kiosk-enroll.example.txt"

# systemctl in the chroot makes the links only: nothing runs at build time.
on_chroot << CHROOT
systemctl enable kiosk.service kiosk-enroll.service kiosk-update.path kiosk-update-check.timer
CHROOT

# Nothing box-specific may be in a fleet image: the device key is made at enrolment, on each box.
if [ -n "$(ls -A "${ROOTFS_DIR}/var/lib/kiosk")" ]; then
	echo "stage-kiosk: ${ROOTFS_DIR}/var/lib/kiosk is not empty; a fleet image must not carry state" >&2
	exit 1
fi
rm -rf "${ROOTFS_DIR}${IN_ROOT}"
