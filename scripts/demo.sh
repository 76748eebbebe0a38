#!/usr/bin/env bash
# Demo: build sweep, scan a kernel lab (/16, 25% alive, plus an unreachable
# /24), show the summary and the CSV, compare with the lab's ground truth; then
# the same /16 with the scanner on its Ethernet segment (ARP at layer 2, a MAC
# per host), at --rate max. Tears the labs down. Needs root; installs
# iproute2/nftables if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=sweeplab
PREFIX=198.18.0.0/16
UNREACH=203.0.113.0/24
OUT=/tmp/sweep-demo.csv
TRUTH=/tmp/sweep-demo-truth.csv

[[ $(id -u) -eq 0 ]] || { echo "demo.sh: run as root (the lab uses network namespaces)" >&2; exit 1; }

missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
if ((${#missing[@]})); then
	echo "== installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "== cargo build --release"
cargo build --release
BIN=${CARGO_TARGET_DIR:-target}/release/sweep

trap 'bash scripts/lab.sh down --name "$NAME" >/dev/null 2>&1 || true' EXIT
echo "== lab up"
bash scripts/lab.sh up --name "$NAME" --prefix "$PREFIX" --alive 0.25 --unreach "$UNREACH" --truth "$TRUTH"

echo "== ip netns exec $NAME-scan $BIN $PREFIX $UNREACH -o $OUT"
set +e
ip netns exec "$NAME-scan" "$BIN" "$PREFIX" "$UNREACH" -o "$OUT"
rc=$?
set -e
echo "== exit code $rc"
[[ -f $OUT ]] || { echo "demo.sh: no CSV written" >&2; exit 1; }

echo "== head $OUT"
head -n 8 "$OUT"

# compare OUT TRUTH: the up sets, or exit 1.
compare() {
	echo "== compared with the truth ($2)"
	# tr: sweep writes CRLF line ends.
	local found want fp missed
	found=$(tr -d '\r' <"$1" | awk -F, 'NR > 1 && $2 == "up" { print $1 }' | sort)
	want=$(awk -F, 'NR > 1 && $2 == "up" && $1 ~ /^198\./ { print $1 }' "$2" | sort)
	fp=$(comm -23 <(echo "$found") <(echo "$want") | grep -c . || true)
	missed=$(comm -13 <(echo "$found") <(echo "$want") | grep -c . || true)
	echo "up: sweep $(echo "$found" | grep -c . || true), truth $(echo "$want" | grep -c . || true); false positives $fp, missed $missed"
	if ((fp == 0 && missed == 0)); then
		echo "== match"
	else
		echo "== MISMATCH" >&2
		exit 1
	fi
}
compare "$OUT" "$TRUTH"
bash scripts/lab.sh down --name "$NAME" >/dev/null

echo "== on-link lab up (the scanner on the targets' segment)"
bash scripts/lab.sh up --name "$NAME" --onlink --prefix "$PREFIX" --alive 0.25 --truth "$TRUTH"
echo "== ip netns exec $NAME-scan $BIN $PREFIX --rate max -o $OUT"
ip netns exec "$NAME-scan" "$BIN" "$PREFIX" --rate max -o "$OUT" || true
echo "== head $OUT"
head -n 4 "$OUT"
compare "$OUT" "$TRUTH"
