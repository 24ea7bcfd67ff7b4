#!/usr/bin/env bash
# Compares vigil's userspace balancer with HAProxy (mode tcp, balance roundrobin) over the same
# four nginx backends on loopback, with the same wrk load. See README.md.
#
# Knobs (environment):
#   DURATION (10s per run), ROUNDS (1; HAProxy and vigil alternate), CONNS (64), THREADS (2),
#   PIN (1: balancer on CPU 1 with one thread, wrk and nginx on CPU 0; 0: no pinning, the
#   balancer uses every CPU), BASE_PORT (18080),
#   LBSERVE_ARGS (extra lbserve flags, e.g. "-cpuprofile /tmp/lb.prof"),
#   VIGIL_VARIANTS (";"-separated NAME=FLAGS: several lbserve, each run after HAProxy in every
#   round, e.g. "splice=;ready=-copy 16384"; default "vigil=$LBSERVE_ARGS"),
#   MODES (keepalive: wrk over kept-alive connections; close: wrk with "Connection: close", a
#   new connection per request; connect: connload, a raw TCP connect, half-close, wait for the
#   backend's close, close; default "keepalive", e.g. "keepalive close connect").
set -euo pipefail

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-1}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
PIN=${PIN:-1}
BASE_PORT=${BASE_PORT:-18080}
MODES=${MODES:-keepalive}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d /tmp/vigil-bench.XXXXXX)
PIDS=()

cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

for tool in wrk haproxy nginx go; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool not installed" >&2; exit 1; }
done

if [[ $PIN == 1 ]]; then
	LOAD_CPU=(taskset -c 0)
	LB_CPU=(taskset -c 1)
	LB_THREADS=1
else
	LOAD_CPU=()
	LB_CPU=()
	LB_THREADS=$(nproc)
fi

# Four nginx backends, one worker each, answering a fixed 2-byte body.
BACKENDS=()
for i in 1 2 3 4; do
	port=$((BASE_PORT + i))
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
		listen 127.0.0.1:$port;
		location / { return 200 "ok"; }
	}
}
NGINX
	"${LOAD_CPU[@]}" nginx -p "$WORK/nginx$i" -c "$WORK/nginx$i/nginx.conf" &
	PIDS+=($!)
	BACKENDS+=("127.0.0.1:$port")
done

HAPROXY_PORT=$((BASE_PORT + 10))
{
	echo "global"
	echo "	maxconn 4096"
	echo "	nbthread $LB_THREADS"
	echo "defaults"
	echo "	mode tcp"
	echo "	timeout connect 2s"
	echo "	timeout client 60s"
	echo "	timeout server 60s"
	echo "frontend fe"
	echo "	bind 127.0.0.1:$HAPROXY_PORT"
	echo "	default_backend be"
	echo "backend be"
	echo "	balance roundrobin"
	n=0
	for b in "${BACKENDS[@]}"; do n=$((n + 1)); echo "	server s$n $b"; done
} >"$WORK/haproxy.cfg"
"${LB_CPU[@]}" haproxy -db -f "$WORK/haproxy.cfg" &
HAPROXY_PID=$!
PIDS+=($HAPROXY_PID)

(cd "$ROOT" && go build -o "$WORK/lbserve" ./bench/userspace/lbserve && go build -o "$WORK/connload" ./bench/userspace/connload)
# VIGIL_VARIANTS: ";"-separated NAME=LBSERVE_FLAGS, one lbserve each on its own port.
VARIANTS=${VIGIL_VARIANTS:-"vigil=${LBSERVE_ARGS:-}"}
IFS=';' read -ra VARIANT_LIST <<<"$VARIANTS"
NAMES=() PORTS=() VPIDS=()
v=0
for item in "${VARIANT_LIST[@]}"; do
	name=${item%%=*} args=${item#*=}
	port=$((BASE_PORT + 11 + v))
	v=$((v + 1))
	# shellcheck disable=SC2086 # args are flags to split
	GOMAXPROCS=${VIGIL_PROCS:-$LB_THREADS} "${LB_CPU[@]}" "$WORK/lbserve" -listen "127.0.0.1:$port" \
		-backends "$(IFS=,; echo "${BACKENDS[*]}")" -algo rr $args 2>"$WORK/lbserve-$name.log" &
	PIDS+=($!)
	NAMES+=("$name") PORTS+=("$port") VPIDS+=($!)
done

wait_port() {
	local deadline=$((SECONDS + 10))
	until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
		((SECONDS < deadline)) || { echo "run.sh: nothing listens on port $1" >&2; exit 1; }
		sleep 0.1
	done
}
for b in "${BACKENDS[@]}"; do wait_port "${b##*:}"; done
wait_port "$HAPROXY_PORT"
for port in "${PORTS[@]}"; do wait_port "$port"; done

TICK=$(getconf CLK_TCK)
# cpu_ticks PID: user and system ticks of the process (all threads), fields 14 and 15 of stat.
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }

# load MODE PORT DURATION [--latency]: one run of the mode's load generator against PORT.
load() {
	local mode=$1 port=$2 d=$3 lat=${4:-}
	case $mode in
	keepalive) "${LOAD_CPU[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$d" $lat "http://127.0.0.1:$port/" ;;
	close) "${LOAD_CPU[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$d" $lat -H "Connection: close" "http://127.0.0.1:$port/" ;;
	connect) "${LOAD_CPU[@]}" "$WORK/connload" -addr "127.0.0.1:$port" -c "$CONNS" -d "$d" ;;
	*) echo "run.sh: unknown mode $mode" >&2; exit 2 ;;
	esac
}

# run MODE NAME PORT PID: one measured run; prints a table row.
run() {
	local mode=$1 name=$2 port=$3 pid=$4 before after out rps p99 cpu usr sys
	load "$mode" "$port" 1s >/dev/null # warm-up
	before=$( [[ $pid == - ]] && echo 0 0 || cpu_ticks "$pid")
	out=$(load "$mode" "$port" "$DURATION" --latency)
	after=$( [[ $pid == - ]] && echo 0 0 || cpu_ticks "$pid")
	echo "$out" >"$WORK/load-$mode-$name.txt"
	if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
		echo "run.sh: $mode $name: wrk saw errors:" >&2
		grep "Non-2xx\|Socket errors" <<<"$out" >&2
	fi
	if [[ $mode == connect ]]; then
		rps=$(awk '/^Connections\/sec/ {print $2}' <<<"$out")
		p99=-
		awk '/^Failed/ && $2 > 0 {print "run.sh: connect " n ": " $2 " connections failed" > "/dev/stderr"}' n="$name" <<<"$out"
	else
		rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
		p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	fi
	read -r usr sys < <(awk -v a="$after" -v b="$before" -v t="$TICK" \
		'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.2f %.2f\n", (x[1] - y[1]) / t, (x[2] - y[2]) / t}')
	cpu=$(awk -v u="$usr" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
	local usreq usrreq
	usreq=$(awk -v c="$cpu" -v r="$rps" -v d="${DURATION%s}" 'BEGIN { if (c > 0) printf "%.2f", c * 1e6 / (r * d); else print "-" }')
	usrreq=$(awk -v c="$usr" -v r="$rps" -v d="${DURATION%s}" 'BEGIN { if (c > 0) printf "%.2f", c * 1e6 / (r * d); else print "-" }')
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$mode" "$name" "$rps" "$p99" "$cpu" "$usreq" "$usrreq"
	# p99 in ms for the medians (wrk prints us, ms or s).
	local p99ms
	p99ms=$(awk -v p="$p99" 'BEGIN {v = p + 0; if (p ~ /us$/) v /= 1000; else if (p ~ /[0-9]s$/) v *= 1000; printf "%.2f", v}')
	echo "$mode $name $rps $cpu $usreq $usrreq $p99ms" >>"$WORK/results"
}

echo "modes: $MODES; -t$THREADS -c$CONNS -d$DURATION, 4 nginx backends, PIN=$PIN (balancer threads: $LB_THREADS), $(nproc) CPUs, load average $(cut -d" " -f1-3 /proc/loadavg)"
echo
echo "| mode | path | requests (connections)/s | p99 latency | balancer CPU s | balancer CPU µs/request | of which user |"
echo "|---|---|---|---|---|---|---|"
for mode in $MODES; do
	[[ $mode == connect ]] || run "$mode" direct-nginx "${BACKENDS[0]##*:}" -
	for ((r = 0; r < ROUNDS; r++)); do
		run "$mode" haproxy "$HAPROXY_PORT" "$HAPROXY_PID"
		for i in "${!NAMES[@]}"; do run "$mode" "${NAMES[$i]}" "${PORTS[$i]}" "${VPIDS[$i]}"; done
	done
done
echo
# Medians over the rounds, and each variant against HAProxy's medians, with the range of the
# per-round ratios (round r of a variant against round r of HAProxy).
# column MODE NAME FIELD: one column of MODE NAME's result lines, in round order.
column() { awk -v m="$1" -v n="$2" -v f="$3" '$1 == m && $2 == n {print $f}' "$WORK/results"; }
# median: the median of the numbers on stdin.
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
# range A B: min-max over rounds of A[r]/B[r] (two files of one number a line).
ratios() { paste "$1" "$2" | awk '$2 > 0 {r = $1 / $2; if (NR == 1 || r < lo) lo = r; if (NR == 1 || r > hi) hi = r} END {printf "%.2f-%.2f", lo, hi}'; }
for mode in $MODES; do
	echo "| $mode: path (median of $ROUNDS) | requests/s | p99 | CPU µs/request | of which user | requests/s vs HAProxy (range) | CPU/request vs HAProxy (range) |"
	echo "|---|---|---|---|---|---|---|"
	column "$mode" haproxy 3 >"$WORK/h-rps"; column "$mode" haproxy 5 >"$WORK/h-us"
	for name in haproxy "${NAMES[@]}"; do
		column "$mode" "$name" 3 >"$WORK/v-rps"; column "$mode" "$name" 5 >"$WORK/v-us"
		rps=$(median <"$WORK/v-rps") us=$(median <"$WORK/v-us") usr=$(column "$mode" "$name" 6 | median) p99=$(column "$mode" "$name" 7 | median)
		[[ $name == haproxy ]] && { hrps=$rps hus=$us; }
		awk -v n="$name" -v r="$rps" -v p="$p99" -v u="$us" -v s="$usr" -v hr="$hrps" -v hu="$hus" \
			-v rr="$(ratios "$WORK/v-rps" "$WORK/h-rps")" -v ur="$(ratios "$WORK/v-us" "$WORK/h-us")" \
			'BEGIN {printf "| %s | %.0f | %.2fms | %.2f | %.2f | %.2fx (%s) | %.2fx (%s) |\n", n, r, p, u, s, r / hr, rr, u / hu, ur}'
	done
	echo
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
