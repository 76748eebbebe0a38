#!/usr/bin/env bash
# An office LAN in network namespaces, for the proxy-ARP and IPv6 /64 benches
# (scripts/bench.sh, scenarios proxylan and lan64):
#
#   NAME-br      bridge br0 (multicast snooping off); every other namespace has
#                one veth port on it, named eth0 there
#   NAME-scan    198.18.0.1/16, 2001:2:0:1::1/64
#   NAME-hK      K = 1..24: 198.18.0.(9+K)/16 and 2001:2:0:1:<random ID>/64;
#                h1-h4 firewalled (IPv4 echo ignored: they answer ARP only),
#                h5 ignores echo to ff02::1 (as Windows does)
#   NAME-srv     198.18.0.100-107/16 on its one MAC, all answering echo
#   NAME-twinA/B both 198.18.0.50/16: an address conflict
#   NAME-rtr     198.18.0.254/24 (it sees the LAN as a /24), forwarding, proxy_arp
#                on eth0, and 198.18.128.0/17 behind it on r1
#   NAME-behind  198.18.128.10-49/17: 40 live hosts behind the router
#
# Nothing is connected to the root namespace; no default route leaves the lab.
#
# --truth FILE writes `addr,expect` rows: every address that is there (`up`; the
# firewalled hosts too: present, ARP only), for the benches' scoring.
#
# usage: lanlab.sh up|down [--name NAME] [--truth FILE]
set -euo pipefail

NAME=sweeplan
HOSTS=24
TRUTH=

die() {
	echo "lanlab.sh: $*" >&2
	exit 1
}

cmd=${1:-}
shift || true
while [[ $# -gt 0 ]]; do
	case $1 in
	--name) NAME=$2; shift 2 ;;
	--truth) TRUTH=$2; shift 2 ;;
	*) die "unknown argument $1" ;;
	esac
done

spaces() {
	echo "$NAME-br $NAME-scan $NAME-srv $NAME-twinA $NAME-twinB $NAME-rtr $NAME-behind"
	for k in $(seq 1 $HOSTS); do echo "$NAME-h$k"; done
}

down() {
	for ns in $(spaces); do ip netns del "$ns" 2>/dev/null || true; done
}

# set NS PATH VALUE: a sysctl inside namespace NS, without procps.
set_sys() { ip netns exec "$1" sh -c "echo $3 > /proc/sys/$2"; }

up() {
	down
	for ns in $(spaces); do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
	local br=$NAME-br k=0
	ip -n "$br" link add br0 type bridge mcast_snooping 0
	ip -n "$br" link set br0 up
	for ns in $(spaces); do
		[[ $ns == "$br" || $ns == "$NAME-behind" ]] && continue
		k=$((k + 1))
		ip -n "$br" link add "p$k" type veth peer name eth0 netns "$ns"
		ip -n "$br" link set "p$k" master br0 up
		ip -n "$ns" link set eth0 up
	done
	ip -n "$NAME-scan" addr add 198.18.0.1/16 dev eth0
	ip -n "$NAME-scan" addr add 2001:2:0:1::1/64 dev eth0 nodad
	for k in $(seq 1 $HOSTS); do
		local h=$NAME-h$k id
		ip -n "$h" addr add "198.18.0.$((9 + k))/16" dev eth0
		id=$(od -An -N8 -tx2 /dev/urandom | awk '{ printf "%x:%x:%x:%x", "0x"$1, "0x"$2, "0x"$3, "0x"$4 }')
		ip -n "$h" addr add "2001:2:0:1:$id/64" dev eth0 nodad
		V6+=("2001:2:0:1:$id")
		[[ $k -le 4 ]] && set_sys "$h" net/ipv4/icmp_echo_ignore_all 1
	done
	set_sys "$NAME-h5" net/ipv6/icmp/echo_ignore_multicast 1
	for a in $(seq 100 107); do ip -n "$NAME-srv" addr add "198.18.0.$a/16" dev eth0; done
	ip -n "$NAME-twinA" addr add 198.18.0.50/16 dev eth0
	ip -n "$NAME-twinB" addr add 198.18.0.50/16 dev eth0
	local r=$NAME-rtr b=$NAME-behind
	ip -n "$r" addr add 198.18.0.254/24 dev eth0
	set_sys "$r" net/ipv4/ip_forward 1
	set_sys "$r" net/ipv4/conf/eth0/proxy_arp 1
	ip -n "$r" link add r1 type veth peer name b0 netns "$b"
	ip -n "$r" addr add 198.18.128.1/17 dev r1
	ip -n "$r" link set r1 up
	ip -n "$b" link set b0 up
	ip -n "$b" route add default via 198.18.128.1 dev b0 onlink
	for a in $(seq 10 49); do ip -n "$b" addr add "198.18.128.$a/17" dev b0; done
	if [[ -n $TRUTH ]]; then
		{
			echo addr,expect
			for k in $(seq 1 $HOSTS); do echo "198.18.0.$((9 + k)),up"; done
			for a in 50 $(seq 100 107) 254; do echo "198.18.0.$a,up"; done
			echo 198.18.128.1,up
			for a in $(seq 10 49); do echo "198.18.128.$a,up"; done
			for a in "${V6[@]}"; do echo "$a,up"; done
		} >"$TRUTH"
	fi
	echo "scanner namespace $NAME-scan, interface eth0"
}
V6=()

case $cmd in
up) up ;;
down) down ;;
*) die "usage: lanlab.sh up|down [--name NAME]" ;;
esac
