#!/usr/bin/env bash
# Compares three paths to the same three nginx backends, in network namespaces this script
# creates (client, balancer, three backends; 192.0.2.0/24 and 198.51.100.0/24) and deletes:
#   direct     client -> one backend, routed through the balancer namespace (no balancing)
#   nftables   client -> 192.0.2.10:80, vigil's nftables data plane (kernel DNAT, rr)
#   userspace  client -> 192.0.2.10:8081, vigil's userspace balancer (bench/userspace/lbserve, rr)
# Needs root, wrk, nginx, iproute2, go. See README.md.
#
# Each path runs twice: keep-alive, and a new connection per request (Connection: close).
# Knobs (environment): DURATION (10s), CONNS (64), THREADS (2), ROUNDS (1).
set -euo pipefail

DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d /tmp/vigil-nftbench.XXXXXX)
P=vnb$$
C=$P-c LB=$P-lb
NS=("$C" "$LB" "$P-b1" "$P-b2" "$P-b3")
PIDS=()

cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	for ns in "${NS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

[[ $(id -u) == 0 ]] || { echo "run.sh: needs root (network namespaces, nftables)" >&2; exit 1; }
for tool in wrk nginx ip go; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool not installed" >&2; exit 1; }
done

for ns in "${NS[@]}"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n "$LB" link add vc type veth peer name eth0 netns "$C"
ip -n "$LB" addr add 192.0.2.1/24 dev vc
ip -n "$LB" addr add 192.0.2.10/32 dev lo
ip -n "$LB" link set vc up
ip -n "$C" addr add 192.0.2.2/24 dev eth0
ip -n "$C" link set eth0 up
ip -n "$C" route add 198.51.100.0/24 via 192.0.2.1
ip -n "$LB" link add br0 type bridge
ip -n "$LB" addr add 198.51.100.1/24 dev br0
ip -n "$LB" link set br0 up
ip netns exec "$LB" sysctl -qw net.ipv4.ip_forward=1
BACKENDS=()
for i in 1 2 3; do
	ns=$P-b$i addr=198.51.100.1$i
	ip -n "$LB" link add vb$i type veth peer name eth0 netns "$ns"
	ip -n "$LB" link set vb$i master br0 up
	ip -n "$ns" addr add $addr/24 dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via 198.51.100.1
	mkdir -p "$WORK/nginx$i"
	cat >"$WORK/nginx$i/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $WORK/nginx$i/nginx.pid;
error_log $WORK/nginx$i/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $WORK/nginx$i;
	keepalive_requests 1000000;
	server {
		listen $addr:8080;
		location / { return 200 "ok"; }
	}
}
NGINX
	ip netns exec "$ns" nginx -p "$WORK/nginx$i" -c "$WORK/nginx$i/nginx.conf" &
	PIDS+=($!)
	BACKENDS+=("$addr:8080")
done
LIST=$(IFS=,; echo "${BACKENDS[*]}")

(cd "$ROOT" && go build -o "$WORK/nftserve" ./bench/nftables/nftserve && go build -o "$WORK/lbserve" ./bench/userspace/lbserve)
ip netns exec "$LB" "$WORK/nftserve" -listen 192.0.2.10:80 -backends "$LIST" -algo rr 2>"$WORK/nftserve.log" &
PIDS+=($!)
ip netns exec "$LB" "$WORK/lbserve" -listen 192.0.2.10:8081 -backends "$LIST" -algo rr 2>"$WORK/lbserve.log" &
LBSERVE_PID=$!
PIDS+=($LBSERVE_PID)

# wait_http URL: until the client namespace gets an answer from URL (10 s at most).
wait_http() {
	local deadline=$((SECONDS + 10))
	until ip netns exec "$C" wrk -t1 -c1 -d1s "$1" 2>/dev/null | grep -q "Requests/sec"; do
		((SECONDS < deadline)) || { echo "run.sh: no answer from $1" >&2; cat "$WORK"/*.log >&2; exit 1; }
		sleep 0.2
	done
}
wait_http "http://${BACKENDS[0]}/"
wait_http "http://192.0.2.10:80/"
wait_http "http://192.0.2.10:8081/"

TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
softirq() { awk '/^cpu / {print $7 + $8}' /proc/stat; } # irq + softirq ticks, all CPUs

# run NAME URL PID [WRK ARGS]: one wrk run from the client namespace; prints a table row.
run() {
	local name=$1 url=$2 pid=$3 out rps p99 before after sb sa cpu sirq
	shift 3
	ip netns exec "$C" wrk -t"$THREADS" -c"$CONNS" -d1s "$@" "$url" >/dev/null # warm-up
	before=$([[ $pid == - ]] && echo 0 || cpu_ticks "$pid")
	sb=$(softirq)
	out=$(ip netns exec "$C" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" "$url")
	sa=$(softirq)
	after=$([[ $pid == - ]] && echo 0 || cpu_ticks "$pid")
	echo "$out" >"$WORK/wrk-$name.txt"
	if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
		echo "run.sh: $name: wrk saw errors:" >&2
		grep "Non-2xx\|Socket errors" <<<"$out" >&2
	fi
	rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	cpu=$(awk -v a="$after" -v b="$before" -v t="$TICK" 'BEGIN {printf "%.2f", (a - b) / t}')
	sirq=$(awk -v a="$sa" -v b="$sb" -v t="$TICK" 'BEGIN {printf "%.2f", (a - b) / t}')
	printf '| %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p99" "$([[ $pid == - ]] && echo - || echo "$cpu")" "$sirq"
}

echo "wrk -t$THREADS -c$CONNS -d$DURATION, 3 nginx backends (1 worker each), $(nproc) CPUs, kernel $(uname -r), load average $(cut -d" " -f1-3 /proc/loadavg)"
echo
echo "| path | requests/s | p99 latency | balancer process CPU s | machine irq+softirq CPU s |"
echo "|---|---|---|---|---|"
for ((r = 0; r < ROUNDS; r++)); do
	run "direct, keep-alive" "http://${BACKENDS[0]}/" -
	run "nftables, keep-alive" "http://192.0.2.10:80/" -
	run "userspace, keep-alive" "http://192.0.2.10:8081/" "$LBSERVE_PID"
	# A new connection per request: the balancer's per-connection work (the nat chains,
	# conntrack setup; the userspace accept and dial) dominates.
	run "direct, new connection per request" "http://${BACKENDS[0]}/" - -H "Connection: close"
	run "nftables, new connection per request" "http://192.0.2.10:80/" - -H "Connection: close"
	run "userspace, new connection per request" "http://192.0.2.10:8081/" "$LBSERVE_PID" -H "Connection: close"
done
