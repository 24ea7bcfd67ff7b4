#!/usr/bin/env bash
# Regenerates samples_oracle.txt: what the real Keepalived says of each of its own sample
# configurations (shared/samples), in the format of shared/corpus/ORACLE_FULL.txt.
# Usage: make_samples_oracle.sh /path/to/shared/samples > samples_oracle.txt   (as root)
set -u
cd "$1" || exit 1
echo '# Output of `keepalived -t -f NAME` (Keepalived '"$(keepalived -v 2>&1 | head -1 | awk '{print $2}')"', as root, run in shared/samples) per sample; made by make_samples_oracle.sh.'
for f in *; do
	out=$(timeout 10 keepalived -t -f "$f" 2>&1)
	echo "=== $f exit=$? mode=-t"
	echo "$out"
	echo
done
