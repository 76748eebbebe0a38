#!/usr/bin/env bash
# Kernel lab for sweep: two network namespaces joined by one veth pair.
#
#   NAME-scan  veth0 192.0.2.1/30   routes: 198.18.0.0/15 and UNREACH via 192.0.2.2
#   NAME-tgt   veth1 192.0.2.2/30   live hosts: `local ADDR/32 dev lo` routes,
#                                   rest of 198.18.0.0/15: blackhole (silent),
#                                   UNREACH: `unreachable` route, plus an nftables
#                                   prerouting reject (ICMP host-unreachable)
#
# With --onlink the scanner sits on the targets' Ethernet segment instead (no
# gateway), as on an office LAN:
#
#   NAME-scan  veth0 198.19.255.254/15, 2001:2:0:1::ffff/64, 192.0.2.1/30
#                    (UNREACH still routed via 192.0.2.2)
#   NAME-tgt   veth1 192.0.2.2/30 and route 198.18.0.0/15 dev veth1; live IPv4
#                    hosts are `local` routes, so the kernel answers ARP for them;
#                    live IPv6 hosts of --prefix6 are addresses on veth1 (nodad),
#                    so it answers neighbour solicitations for them
#
# Nothing is connected to the root namespace, and no default route exists,
# so no probe can leave the lab.
#
# usage: lab.sh up|down|cut|uncut [--name NAME] [--prefix CIDR] [--alive FRACTION]
#                       [--seed N] [--unreach CIDR] [--truth FILE] [--tune-host]
#                       [--onlink [--prefix6 2001:2:0:1::/116]]
#                       [--police N [--police-burst B]] [--reply-loss PERCENT]
#                       [--request-loss PERCENT] [--frame-loss PERCENT]
#
# --police N: a policer on the way in, N echo requests a second to the whole lab
# (nftables `limit rate over N/second burst B packets drop`, B 5 by default), as
# firewalls' ICMP-flood protections do; --reply-loss P: P % of the echo replies
# dropped on the way out; --request-loss P: P % of the echo requests dropped on the
# way in; --frame-loss P: P % of every frame arriving on the targets' end of the link
# dropped (ARP included: a lossy LAN). `cut` takes a lab that is up off the air: every
# echo request is dropped from then on (a path that dies mid-scan); `uncut` undoes it.
set -euo pipefail

NAME=sweeplab
PREFIX=198.18.0.0/16
ALIVE=0.25
SEED=1
UNREACH=203.0.113.0/24
TRUTH=
TUNE_HOST=0
ONLINK=0
PREFIX6=2001:2:0:1::/116
POLICE=
POLICE_BURST=5
REPLY_LOSS=
REQUEST_LOSS=
FRAME_LOSS=

LAB_NET=198.18.0.0/15 # everything the scanner routes into the lab
SCAN_ADDR=192.0.2.1
TGT_ADDR=192.0.2.2
ONLINK_SCAN_ADDR=198.19.255.254/15 # on the segment, outside every --prefix host range used
ONLINK_SCAN_ADDR6=2001:2:0:1::ffff/64

die() {
	echo "lab.sh: $*" >&2
	exit 1
}

usage() {
	# The header comment is the help text.
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
	exit 2
}

ip2int() {
	local a b c d
	IFS=. read -r a b c d <<<"$1"
	echo $(((a << 24) | (b << 16) | (c << 8) | d))
}

# cidr_bounds CIDR: sets FIRST and LAST (integers); dies on malformed input.
# Globals rather than stdout so that `die` is not swallowed by a subshell.
cidr_bounds() {
	local re='^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/([0-9]{1,2})$'
	[[ $1 =~ $re ]] || die "bad CIDR '$1' (want a.b.c.d/len)"
	local i
	for i in 1 2 3 4; do
		((BASH_REMATCH[i] <= 255)) || die "bad CIDR '$1'"
	done
	local len=${BASH_REMATCH[5]}
	((len <= 32)) || die "bad CIDR '$1'"
	local addr mask
	addr=$(ip2int "${1%/*}")
	mask=$(((0xffffffff << (32 - len)) & 0xffffffff))
	((addr & ~mask & 0xffffffff)) && die "CIDR '$1' has host bits set"
	FIRST=$addr
	LAST=$((addr | (~mask & 0xffffffff)))
}

# inside OUTER_FIRST OUTER_LAST INNER_FIRST INNER_LAST
inside() { (($3 >= $1 && $4 <= $2)); }

# Per-namespace sysctl without depending on procps: /proc/sys/net follows
# the netns of the process that opens it.
ns_sysctl() {
	local ns=$1 key=$2 val=$3
	ip netns exec "$ns" sh -c "echo '$val' > /proc/sys/${key//.//}" ||
		die "cannot set $key=$val in $ns"
}

lab_down() {
	local ns
	for ns in "$SCAN_NS" "$TGT_NS"; do
		if [[ -e /run/netns/$ns ]]; then
			ip netns del "$ns"
		fi
	done
	rm -rf "/tmp/$NAME"
}

lab_up() {
	cidr_bounds "$PREFIX"
	local pfx_first=$FIRST pfx_last=$LAST
	cidr_bounds "$UNREACH"
	local un_first=$FIRST un_last=$LAST
	cidr_bounds "$LAB_NET"
	local lab_first=$FIRST lab_last=$LAST
	# Safety: the lab only ever routes benchmark (RFC 2544) and documentation
	# addresses, and the link net must not overlap either block.
	inside "$lab_first" "$lab_last" "$pfx_first" "$pfx_last" ||
		die "--prefix $PREFIX must lie inside $LAB_NET"
	cidr_bounds 203.0.113.0/24
	local t3_first=$FIRST t3_last=$LAST
	cidr_bounds 198.51.100.0/24
	local t2_first=$FIRST t2_last=$LAST
	inside "$t3_first" "$t3_last" "$un_first" "$un_last" ||
		inside "$t2_first" "$t2_last" "$un_first" "$un_last" ||
		die "--unreach $UNREACH must lie inside 203.0.113.0/24 or 198.51.100.0/24"
	[[ $ALIVE =~ ^(0|1|0?\.[0-9]+|1\.0*)$ ]] || die "--alive wants a fraction in [0,1], got '$ALIVE'"
	[[ $SEED =~ ^[0-9]+$ ]] || die "--seed wants a non-negative integer, got '$SEED'"

	lab_down
	# A half-built lab is worse than none: undo everything on any failure.
	trap 'lab_down >/dev/null 2>&1' EXIT
	mkdir -p "/tmp/$NAME"
	[[ -n $TRUTH ]] || TRUTH=/tmp/$NAME/lab-truth.csv
	mkdir -p "$(dirname "$TRUTH")"

	ip netns add "$SCAN_NS"
	ip netns add "$TGT_NS"
	# Both ends are born inside their namespaces: never in the root one.
	ip -n "$SCAN_NS" link add veth0 type veth peer name veth1 netns "$TGT_NS"

	ip -n "$SCAN_NS" link set lo up
	ip -n "$SCAN_NS" addr add "$SCAN_ADDR/30" dev veth0
	ip -n "$SCAN_NS" link set veth0 up
	if ((ONLINK)); then
		ns_sysctl "$SCAN_NS" net.ipv6.conf.all.disable_ipv6 0
		ns_sysctl "$SCAN_NS" net.ipv6.conf.veth0.disable_ipv6 0
		ns_sysctl "$SCAN_NS" net.ipv6.conf.veth0.accept_ra 0
		ip -n "$SCAN_NS" addr add "$ONLINK_SCAN_ADDR" dev veth0
		ip -n "$SCAN_NS" addr add "$ONLINK_SCAN_ADDR6" dev veth0 nodad
	else
		ip -n "$SCAN_NS" route add "$LAB_NET" via "$TGT_ADDR"
	fi
	ip -n "$SCAN_NS" route add "$UNREACH" via "$TGT_ADDR"
	# Lets sweep fall back to unprivileged ICMP sockets if it wants to.
	ns_sysctl "$SCAN_NS" net.ipv4.ping_group_range "0 2147483647"

	ip -n "$TGT_NS" link set lo up
	ip -n "$TGT_NS" addr add "$TGT_ADDR/30" dev veth1
	ip -n "$TGT_NS" link set veth1 up
	# Forwarding is what makes `unreachable` routes answer; the ICMP limits
	# below are per-namespace, so the host is unaffected.
	ns_sysctl "$TGT_NS" net.ipv4.ip_forward 1
	ns_sysctl "$TGT_NS" net.ipv4.icmp_ratelimit 0
	ns_sysctl "$TGT_NS" net.ipv4.icmp_msgs_per_sec 10000000
	ns_sysctl "$TGT_NS" net.ipv4.icmp_msgs_burst 10000000

	# One awk pass writes the truth CSV and the route batch. A minstd LCG
	# instead of rand() keeps the choice identical across awk flavours.
	local all=0
	[[ $ALIVE =~ ^1(\.0*)?$ ]] && all=1
	local alive_count
	alive_count=$(
		awk -v pf="$pfx_first" -v pl="$pfx_last" -v uf="$un_first" -v ul="$un_last" \
			-v frac="$ALIVE" -v all="$all" -v seed="$SEED" -v truth="$TRUTH" \
			-v batch="/tmp/$NAME/routes.batch" -v tgt="$TGT_ADDR" '
			function ip(n) {
				return sprintf("%d.%d.%d.%d", int(n / 16777216), int(n / 65536) % 256,
					int(n / 256) % 256, n % 256)
			}
			function rnd() { x = (x * 48271) % 2147483647; return x / 2147483647 }
			function hosts(first, last) {
				# network/broadcast are not hosts unless the block is a /31 or /32
				if (last - first >= 3) { first++; last-- }
				lo = first; hi = last
			}
			function prefix_rows(  n) {
				hosts(pf, pl)
				for (n = lo; n <= hi; n++) {
					if (all || rnd() < frac) {
						print ip(n) ",up,echo-reply," ip(n) > truth
						if (!all) print "route add local " ip(n) "/32 dev lo table local" > batch
						up++
					} else {
						print ip(n) ",down,," > truth
					}
				}
			}
			function unreach_rows(  n) {
				hosts(uf, ul)
				for (n = lo; n <= hi; n++) print ip(n) ",unreachable,host-unreachable," tgt > truth
			}
			BEGIN {
				x = seed % 2147483647; if (x == 0) x = 1
				for (i = 0; i < 8; i++) rnd()
				print "addr,expect,detail,responder" > truth
				printf "" > batch
				up = 0
				if (pf < uf) { prefix_rows(); unreach_rows() } else { unreach_rows(); prefix_rows() }
				close(truth); close(batch)
				print up
			}'
	)

	if ((all)); then
		ip -n "$TGT_NS" route add local "$PREFIX" dev lo table local
	else
		ip -n "$TGT_NS" -batch "/tmp/$NAME/routes.batch"
	fi
	rm -f "/tmp/$NAME/routes.batch"
	if ((ONLINK)); then
		# Replies to the scanner go back out on the segment; the rest of the lab net
		# is simply absent (nobody answers ARP for it), not a blackhole.
		ip -n "$TGT_NS" route add "$LAB_NET" dev veth1
		onlink_v6
	else
		ip -n "$TGT_NS" route add blackhole "$LAB_NET"
	fi
	ip -n "$TGT_NS" route add unreachable "$UNREACH"
	# The kernel answers `unreachable` routes through ip_error(), which has a
	# host-wide limiter (net.ipv4.route.error_cost/burst: 5 then 1/s per
	# source) that no namespace can lift. An nftables reject sends the same
	# ICMP host-unreachable through the per-namespace limits set above.
	ip netns exec "$TGT_NS" nft -f - <<EOF
table ip sweeplab {
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		ip daddr $UNREACH reject with icmp type host-unreachable
	}
}
EOF
	if [[ -n $POLICE ]]; then
		ip netns exec "$TGT_NS" nft -f - <<EOF
table ip sweeppolice {
	chain pre {
		type filter hook prerouting priority -10; policy accept;
		icmp type echo-request limit rate over $POLICE/second burst $POLICE_BURST packets drop
	}
}
EOF
	fi
	if [[ -n $REQUEST_LOSS ]]; then
		ip netns exec "$TGT_NS" nft -f - <<EOF
table ip sweepreqloss {
	chain pre {
		type filter hook prerouting priority -20; policy accept;
		icmp type echo-request numgen random mod 100 < $REQUEST_LOSS drop
	}
}
EOF
	fi
	if [[ -n $FRAME_LOSS ]]; then
		# netdev ingress sees every frame before ARP or IP does.
		ip netns exec "$TGT_NS" nft -f - <<EOF
table netdev sweepframeloss {
	chain in {
		type filter hook ingress device veth1 priority 0; policy accept;
		numgen random mod 100 < $FRAME_LOSS drop
	}
}
EOF
	fi
	if [[ -n $REPLY_LOSS ]]; then
		ip netns exec "$TGT_NS" nft -f - <<EOF
table ip sweeploss {
	chain out {
		type filter hook output priority 0; policy accept;
		icmp type echo-reply numgen random mod 100 < $REPLY_LOSS drop
	}
}
EOF
	fi

	if ((TUNE_HOST)); then
		tune_host
	fi
	trap - EXIT

	echo "lab $NAME up: scanner netns $SCAN_NS, target netns $TGT_NS$( ((ONLINK)) && echo ' (on-link)')"
	echo "  prefix $PREFIX: $alive_count hosts alive (alive=$ALIVE seed=$SEED); unreachable block $UNREACH"
	if ((ONLINK)); then
		echo "  prefix $PREFIX6: $ALIVE6_COUNT hosts alive, on the scanner's segment"
	fi
	echo "  truth: $TRUTH"
	echo "  scan with: ip netns exec $SCAN_NS sweep $PREFIX $UNREACH"
}

# The IPv6 half of an on-link lab: live addresses of PREFIX6 on veth1, rows
# appended to the truth (same LCG, seeded apart from the IPv4 draw).
onlink_v6() {
	local re='^2001:2:0:1::/(11[2-9]|12[0-8])$'
	[[ $PREFIX6 =~ $re ]] || die "--prefix6 must be 2001:2:0:1::/112 to /128, got '$PREFIX6'"
	local len=${PREFIX6#*/}
	ns_sysctl "$TGT_NS" net.ipv6.conf.all.disable_ipv6 0
	ns_sysctl "$TGT_NS" net.ipv6.conf.veth1.disable_ipv6 0
	ns_sysctl "$TGT_NS" net.ipv6.conf.veth1.accept_dad 0
	ns_sysctl "$TGT_NS" net.ipv6.conf.veth1.accept_ra 0
	ns_sysctl "$TGT_NS" net.ipv6.icmp.ratelimit 0
	ALIVE6_COUNT=$(
		awk -v n=$((1 << (128 - len))) -v frac="$ALIVE" -v seed="$SEED" -v truth="$TRUTH" \
			-v batch="/tmp/$NAME/addrs6.batch" '
			function rnd() { x = (x * 48271) % 2147483647; return x / 2147483647 }
			BEGIN {
				x = (seed * 7919 + 17) % 2147483647; if (x == 0) x = 1
				for (i = 0; i < 8; i++) rnd()
				printf "" > batch
				up = 0
				# ::0 is the subnet-router anycast address: not a host.
				for (k = 1; k < n; k++) {
					a = sprintf("2001:2:0:1::%x", k)
					if (frac >= 1 || rnd() < frac) {
						print a ",up,echo-reply," a >> truth
						print "address add " a "/64 dev veth1 nodad" > batch
						up++
					} else {
						print a ",down,," >> truth
					}
				}
				close(batch)
				print up
			}'
	)
	ip -n "$TGT_NS" -batch "/tmp/$NAME/addrs6.batch"
	rm -f "/tmp/$NAME/addrs6.batch"
}

# Host-wide knobs that no namespace can scope. Only ever raised, and only
# when asked for, so a plain `up` leaves the host untouched.
tune_host() {
	local f=/proc/sys/net/core/netdev_max_backlog
	if (($(cat "$f") < 16384)); then
		echo "lab.sh: raising global net.core.netdev_max_backlog $(cat "$f") -> 16384" >&2
		echo 16384 >"$f"
	fi
}

main() {
	[[ $# -ge 1 ]] || usage
	local cmd=$1
	shift
	while [[ $# -gt 0 ]]; do
		case $1 in
		--name) NAME=${2:?--name needs a value}; shift 2 ;;
		--prefix) PREFIX=${2:?--prefix needs a value}; shift 2 ;;
		--alive) ALIVE=${2:?--alive needs a value}; shift 2 ;;
		--seed) SEED=${2:?--seed needs a value}; shift 2 ;;
		--unreach) UNREACH=${2:?--unreach needs a value}; shift 2 ;;
		--truth) TRUTH=${2:?--truth needs a value}; shift 2 ;;
		--tune-host) TUNE_HOST=1; shift ;;
		--onlink) ONLINK=1; shift ;;
		--prefix6) PREFIX6=${2:?--prefix6 needs a value}; shift 2 ;;
		--police) POLICE=${2:?--police needs a value}; shift 2 ;;
		--reply-loss) REPLY_LOSS=${2:?--reply-loss needs a value}; shift 2 ;;
		--police-burst) POLICE_BURST=${2:?--police-burst needs a value}; shift 2 ;;
		--request-loss) REQUEST_LOSS=${2:?--request-loss needs a value}; shift 2 ;;
		--frame-loss) FRAME_LOSS=${2:?--frame-loss needs a value}; shift 2 ;;
		-h | --help) usage ;;
		*) die "unknown option '$1' (try --help)" ;;
		esac
	done
	[[ $NAME =~ ^[A-Za-z0-9_-]{1,40}$ ]] || die "--name wants [A-Za-z0-9_-]{1,40}, got '$NAME'"
	[[ -z $POLICE || $POLICE =~ ^[1-9][0-9]{0,8}$ ]] || die "--police wants requests a second, got '$POLICE'"
	[[ -z $REPLY_LOSS || $REPLY_LOSS =~ ^[0-9]{1,2}$ ]] || die "--reply-loss wants a percentage 0-99, got '$REPLY_LOSS'"
	[[ $POLICE_BURST =~ ^[1-9][0-9]{0,6}$ ]] || die "--police-burst wants packets, got '$POLICE_BURST'"
	[[ -z $REQUEST_LOSS || $REQUEST_LOSS =~ ^[0-9]{1,2}$ ]] || die "--request-loss wants a percentage 0-99, got '$REQUEST_LOSS'"
	[[ -z $FRAME_LOSS || $FRAME_LOSS =~ ^[0-9]{1,2}$ ]] || die "--frame-loss wants a percentage 0-99, got '$FRAME_LOSS'"
	SCAN_NS=$NAME-scan
	TGT_NS=$NAME-tgt

	[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces need CAP_SYS_ADMIN)"
	command -v ip >/dev/null || die "'ip' not found: install iproute2 (apt-get install -y iproute2)"
	command -v awk >/dev/null || die "'awk' not found"
	if [[ $cmd == up || $cmd == cut || $cmd == uncut ]]; then
		command -v nft >/dev/null || die "'nft' not found: install nftables (apt-get install -y nftables)"
	fi

	case $cmd in
	up) lab_up ;;
	cut)
		[[ -e /run/netns/$TGT_NS ]] || die "no lab $NAME to cut"
		ip netns exec "$TGT_NS" nft -f - <<EOF
table ip sweepcut {
	chain pre {
		type filter hook prerouting priority -30; policy accept;
		icmp type echo-request drop
	}
}
EOF
		echo "lab $NAME cut: every echo request dropped from now on"
		;;
	uncut)
		ip netns exec "$TGT_NS" nft delete table ip sweepcut 2>/dev/null || true
		;;
	down)
		lab_down
		echo "lab $NAME down: removed netns $SCAN_NS and $TGT_NS"
		;;
	*) usage ;;
	esac
}

main "$@"
