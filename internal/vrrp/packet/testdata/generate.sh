#!/usr/bin/env bash
# generate.sh captures real Keepalived VRRP advertisements and stores their
# VRRP payloads as golden files (*.golden) in this directory.
#
# It needs root, keepalived, tcpdump, iproute2 and Go. It builds one network
# namespace with a veth pair, runs keepalived (VRRP child only) on one end with
# a minimal configuration per case, captures on the other end with tcpdump,
# stops keepalived with SIGTERM (so the priority-0 "resign" advert is captured
# too), deletes the namespace, and converts the pcap with pcap2golden.go.
#
# Run from anywhere:  sudo bash internal/vrrp/packet/testdata/generate.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ns=vigil-vrrpgen-$$
work=$(mktemp -d)
kpid=""
tpid=""

cleanup() {
	[ -n "$kpid" ] && kill "$kpid" 2>/dev/null || true
	[ -n "$tpid" ] && kill "$tpid" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$ns"
nsx() { ip netns exec "$ns" "$@"; }
# No DAD so the link-local address keepalived uses for IPv6 is usable at once.
nsx sysctl -qw net.ipv6.conf.default.accept_dad=0
nsx sysctl -qw net.ipv6.conf.all.accept_dad=0
nsx ip link set lo up
nsx ip link add va address 02:00:00:00:00:0a type veth peer name vb address 02:00:00:00:00:0b
nsx ip addr add 192.0.2.10/24 dev va
nsx ip addr add 192.0.2.11/24 dev vb
nsx ip -6 addr add 2001:db8::a/64 dev va nodad
nsx ip link set va up
nsx ip link set vb up

# wait_for CMD... polls CMD until it succeeds, for at most 10 s.
wait_for() {
	for _ in $(seq 100); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	echo "timed out waiting for: $*" >&2
	return 1
}

# capture NAME SECONDS CONFIG-BODY: runs keepalived with the given
# vrrp_instance body, captures for SECONDS, stops keepalived, then captures
# one more second for the shutdown advert.
capture() {
	local name=$1 secs=$2 body=$3
	local conf=$work/$name.conf
	cat >"$conf" <<CONF
global_defs {
	router_id vigil_golden
	vrrp_garp_master_delay 0
	vrrp_garp_master_repeat 1
}
vrrp_instance $name {
$body
}
CONF
	ip netns exec "$ns" tcpdump -Z root -i vb -U -n -s 0 -w "$work/$name.pcap" 'ip proto 112 or ip proto 51 or ip6 proto 112' \
		>"$work/$name.tcpdump.log" 2>&1 &
	tpid=$!
	wait_for grep -q "listening on" "$work/$name.tcpdump.log"
	ip netns exec "$ns" keepalived -n -l -D -P -f "$conf" -p "$work/$name.pid" -r "$work/$name.vrrp.pid" \
		>"$work/$name.keepalived.log" 2>&1 &
	kpid=$!
	sleep "$secs"
	kill -TERM "$kpid"
	for _ in $(seq 100); do kill -0 "$kpid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$kpid" 2>/dev/null || true
	wait "$kpid" 2>/dev/null || true
	kpid=""
	sleep 1
	kill -INT "$tpid"
	for _ in $(seq 50); do kill -0 "$tpid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$tpid" 2>/dev/null || true
	wait "$tpid" 2>/dev/null || true
	tpid=""
	go run "$here/pcap2golden.go" -in "$work/$name.pcap" -out "$here/$name.golden" \
		-comment "keepalived $(keepalived -v 2>&1 | head -1 | awk '{print $2}'), config: $(tr '\n\t' '  ' <<<"$body")"
}

capture v2_ipv4_noauth 7 '
	state MASTER
	interface va
	virtual_router_id 51
	priority 150
	advert_int 1
	version 2
	virtual_ipaddress {
		192.0.2.100/24
		192.0.2.101/24
	}'

capture v2_ipv4_pass 12 '
	state MASTER
	interface va
	virtual_router_id 52
	priority 100
	advert_int 2
	version 2
	authentication {
		auth_type PASS
		auth_pass vigil123
	}
	virtual_ipaddress {
		192.0.2.102/24
	}'

capture v2_ipv4_ah 7 '
	state MASTER
	interface va
	virtual_router_id 53
	priority 200
	advert_int 1
	version 2
	authentication {
		auth_type AH
		auth_pass vigilah
	}
	virtual_ipaddress {
		192.0.2.103/24
	}'

capture v3_ipv4 6 '
	state MASTER
	interface va
	virtual_router_id 61
	priority 120
	advert_int 0.5
	version 3
	virtual_ipaddress {
		192.0.2.110/24
		192.0.2.111/24
		192.0.2.112/24
	}'

capture v3_ipv6 7 '
	state MASTER
	interface va
	virtual_router_id 71
	priority 254
	advert_int 1
	version 3
	virtual_ipaddress {
		2001:db8::100/64
		2001:db8::101/64
	}'

echo "golden files written to $here"
