#!/bin/bash
# Add the writable data partition a read-only root needs (label kiosk-data, ext4) to a built fleet image, after
# its boot and root partitions. /var/lib/kiosk is mounted from it (fstab written by provision-pi.sh
# --read-only-root, or KIOSK_READ_ONLY_ROOT=1 in the pi-gen config).
#
#   image/add-data-partition.sh deploy/image_...-kiosk.img [SIZE]     SIZE for truncate(1), default 1G
#
# The image must be uncompressed (xz -d first). Raspberry Pi OS grows its root partition to fill the card at
# first boot only when root is the last partition: with this one after it, root keeps the image's size (it is
# read-only anyway) and the data partition keeps SIZE. Needs sfdisk (fdisk package) and mkfs.ext4; no root
# rights and no loop device: the file system is made in place at the partition's offset.
set -eu

IMG=${1:?usage: image/add-data-partition.sh IMAGE.img [SIZE]}
SIZE=${2:-1G}
die() { echo "add-data-partition: $*" >&2; exit 1; }

command -v sfdisk >/dev/null || die "needs sfdisk (apt-get install fdisk)"
command -v mkfs.ext4 >/dev/null || die "needs mkfs.ext4 (apt-get install e2fsprogs)"
case $IMG in *.xz|*.zip|*.gz) die "$IMG is compressed: decompress it first" ;; esac
parts=$(sfdisk --dump "$IMG" | grep -c 'start=') || true
[ "$parts" = 2 ] || die "$IMG has $parts partitions; expected 2 (boot, root) from pi-gen"

# After the last partition's end, aligned to 1 MiB (2048 sectors of 512 bytes).
end=$(sfdisk --dump "$IMG" | sed -n 's/.*start= *\([0-9]*\), size= *\([0-9]*\).*/\1 \2/p' \
    | awk '{e = $1 + $2; if (e > m) m = e} END {print m}')
first=$(((end + 2047) / 2048 * 2048))
truncate -s "+$SIZE" "$IMG"
echo "start=$first, type=83" | sfdisk --quiet --append "$IMG"
read -r start sectors < <(sfdisk --dump "$IMG" | sed -n 's/.*start= *\([0-9]*\), size= *\([0-9]*\).*/\1 \2/p' | tail -1)
mkfs.ext4 -q -F -L kiosk-data -E "offset=$((start * 512))" "$IMG" "$((sectors / 2))k"
echo "add-data-partition: partition 3 of $IMG: $((sectors / 2048)) MiB ext4, label kiosk-data"
