#!/usr/bin/env bash
# Checker benchmark: vigil against HAProxy over the same loopback targets, then vigil alone at
# a larger scale, then the scheduler's own benchmark. See README.md.
#
# Knobs (environment): N (10000 TCP and 10000 HTTP targets for the comparison), BIG (50000 of
# each for vigil alone; 0 skips), BIG_DELAYS (1,10: delay_loop of each run of vigil alone),
# WINDOW (20s measurement), TRIALS (20 detection trials), PER_VS (100 real servers per virtual
# server), SCHED_SECONDS (5: the scheduler benchmark's window), BASELINE (path of another vigil
# binary, e.g. one built from an earlier commit, or several separated by commas, to run on the
# same targets in every round, between vigil and HAProxy),
# ROUNDS (1: vigil and HAProxy runs on the same targets, alternating; the summary gives medians),
# KINDS (tcp,http: the kinds of targets; http alone for HTTP_GET's cost), REUSE (1: vigil's
# HTTP_GETs keep their connection, http_protocol 1.1 and reuse_connection; BASELINE runs without).
set -euo pipefail

N=${N:-10000}
BIG=${BIG:-50000}
BIG_DELAYS=${BIG_DELAYS:-1,10}
WINDOW=${WINDOW:-20s}
TRIALS=${TRIALS:-20}
ROUNDS=${ROUNDS:-1}
PER_VS=${PER_VS:-100}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d /tmp/vigil-bench-checks.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

for tool in haproxy go; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool not installed" >&2; exit 1; }
done
# Every target is a listening socket and every check a connection: raise the open-file limit.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "open files: $(ulimit -n); $(nproc) CPUs; $(grep MemTotal /proc/meminfo)"

cd "$ROOT"
go build -o "$WORK/vigil" ./cmd/vigil
go build -o "$WORK/backends" ./bench/checks/backends
go build -o "$WORK/driver" ./bench/checks/driver

"$WORK/driver" -vigil "$WORK/vigil" -backends "$WORK/backends" -haproxy "$(command -v haproxy)" \
	-work "$WORK" -n "$N" -big "$BIG" -big-delays "$BIG_DELAYS" -window "$WINDOW" -trials "$TRIALS" -per-vs "$PER_VS" \
	-rounds "$ROUNDS" ${BASELINE:+-baseline "$BASELINE"} -kinds "${KINDS:-tcp,http}" ${REUSE:+-reuse}

echo
echo "Scheduler alone (trivial checks, no sockets): go test -run '^\$' -bench BenchmarkSchedulerTenThousandJobs ./internal/probe"
VIGIL_BENCH_SECONDS=${SCHED_SECONDS:-5} go test -run '^$' -bench BenchmarkSchedulerTenThousandJobs -benchtime 1x ./internal/probe | grep -E 'Benchmark|ok'
