#!/usr/bin/env bash
# Builds the repository's Dockerfile with podman as localhost/sweep:test on a machine
# that reaches no container registry (only Debian's packages and crates):
#
#   1. the base image: a Debian minbase made with debootstrap (libcap2-bin included, so
#      the Dockerfile's setcap step needs no network), imported as
#      localhost/sweep-base:bookworm; the rootfs tarball is cached in $SWEEP_IMAGE_CACHE
#      (default /var/cache/sweep-image) so later builds skip debootstrap;
#   2. the binary: `cargo build --release --locked` on the host, stripped;
#   3. the image: `podman build --network none` of the Dockerfile itself, with
#      BASE=that base and SWEEP_FROM=prebuilt, so the runtime stage (file capability
#      cap_net_raw+p, user 10001, entrypoint) is the one users get.
#
# usage: scripts/image.sh [--tag NAME] [--binary PATH]
#   --tag NAME     the image's name (default localhost/sweep:test)
#   --binary PATH  carry this sweep binary instead of building one (tests/image.rs
#                  passes the one its test run built)
# As root; needs podman, runc and debootstrap (apt-get install podman runc debootstrap).
#
# This machine's podman needs `--runtime runc --cgroup-manager cgroupfs` (crun refuses
# the hybrid cgroup layout) and explicit ulimits (the defaults are refused).
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=localhost/sweep:test
BINARY=
while [[ $# -gt 0 ]]; do
	case $1 in
	--tag) TAG=${2:?--tag needs a name}; shift 2 ;;
	--binary) BINARY=${2:?--binary needs a path}; shift 2 ;;
	*) echo "usage: scripts/image.sh [--tag NAME] [--binary PATH]" >&2; exit 2 ;;
	esac
done

SUITE=bookworm
MIRROR=${SWEEP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE=localhost/sweep-base:$SUITE
CACHE=${SWEEP_IMAGE_CACHE:-/var/cache/sweep-image}
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)

die() {
	echo "image.sh: $*" >&2
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "run as root (debootstrap and podman's runc need it)"
for tool in podman runc debootstrap; do
	command -v "$tool" >/dev/null || die "$tool is missing (apt-get install podman runc debootstrap)"
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if ! "${PODMAN[@]}" image exists "$BASE"; then
	tarball=$CACHE/$SUITE-minbase.tar
	if [[ ! -s $tarball ]]; then
		echo "== debootstrap --variant=minbase $SUITE (once; cached in $CACHE)"
		mkdir -p "$CACHE"
		debootstrap --variant=minbase --include=libcap2-bin "$SUITE" "$WORK/root" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
			{ tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
		rm -rf "$WORK/root/var/cache/apt/archives/"*.deb "$WORK/root/var/lib/apt/lists/"*
		tar -C "$WORK/root" -cf "$tarball.tmp" .
		mv "$tarball.tmp" "$tarball"
		rm -rf "$WORK/root"
	fi
	echo "== podman import $BASE"
	"${PODMAN[@]}" import "$tarball" "$BASE" >/dev/null
fi

if [[ -z $BINARY ]]; then
	echo "== cargo build --release (the binary the image carries)"
	cargo build --release --locked --bin sweep
	BINARY=target/release/sweep
fi
mkdir -p "$WORK/ctx/prebuilt"
cp Dockerfile "$WORK/ctx/"
cp "$BINARY" "$WORK/ctx/prebuilt/sweep"
strip "$WORK/ctx/prebuilt/sweep"

echo "== podman build $TAG"
"${PODMAN[@]}" build --network none --pull=never \
	--ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
	--build-arg BASE="$BASE" --build-arg SWEEP_FROM=prebuilt \
	-t "$TAG" "$WORK/ctx"
"${PODMAN[@]}" image inspect --format '{{.Id}} {{.Config.User}} {{.Config.Entrypoint}}' "$TAG"
