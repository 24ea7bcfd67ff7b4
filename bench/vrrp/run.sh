#!/bin/sh
# VRRP failover benchmark: vigil against Keepalived. Needs root, iproute2 and keepalived.
# TRIALS (default 5) trials per cell; ONLY restricts to cells whose name contains it
# (e.g. ONLY="SIGKILL 0.1").
# SOAK=10m runs the soak instead: vigil master and backup at advert_int 0.01 with every CPU
# busy for that long; RT=50 sets vrrp_rt_priority 50 (default off), SPINNERS the busy loops,
# IMPL=keepalived soaks Keepalived instead, IMPL=vigil,keepalived both side by side.
# RTLATENCY=60s measures the machine's own real-time wake-up latency under the same load.
set -eu
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/vigil" ./cmd/vigil
go build -o "$out/vrrpbench" ./bench/vrrp
if [ -n "${RTLATENCY:-}" ]; then
	"$out/vrrpbench" -vigil "$out/vigil" -rtlatency "$RTLATENCY" -spinners "${SPINNERS:-$(nproc)}"
	exit 0
fi
if [ -n "${SOAK:-}" ]; then
	"$out/vrrpbench" -vigil "$out/vigil" -impl "${IMPL:-vigil}" -soak "$SOAK" -rt "${RT:-0}" -spinners "${SPINNERS:-$(nproc)}"
	exit 0
fi
"$out/vrrpbench" -vigil "$out/vigil" -trials "${TRIALS:-5}" -only "${ONLY:-}"
