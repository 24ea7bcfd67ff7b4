#!/bin/sh
# VRRP failover benchmark: vigil against Keepalived. Needs root, iproute2 and keepalived.
# TRIALS (default 5) trials per cell; ONLY restricts to cells whose name contains it
# (e.g. ONLY="SIGKILL 0.1").
set -eu
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/vigil" ./cmd/vigil
go build -o "$out/vrrpbench" ./bench/vrrp
"$out/vrrpbench" -vigil "$out/vigil" -trials "${TRIALS:-5}" -only "${ONLY:-}"
