#!/usr/bin/env bash
# Regenerates corpus_oracle_with_interfaces.txt: what the real Keepalived says of each corpus file
# when every interface the corpus names exists. shared/corpus/ORACLE_FULL.txt was made on a host
# with only eth0, and a missing interface stops Keepalived's checks of an instance early, which
# hides complaints about the configuration itself. Here each missing interface is a veth in a
# throwaway network namespace, so only the configuration is judged.
# Usage (as root): make_corpus_oracle_with_interfaces.sh /path/to/shared/corpus > corpus_oracle_with_interfaces.txt
set -u
corpus=$(cd "$1" && pwd) || exit 1
ns=vigil-oracle-$$
ip netns add "$ns" || exit 1
trap 'ip netns del "$ns"' EXIT
ip -n "$ns" link set lo up
ip -n "$ns" link add eth0 type veth peer name peth0
i=0
for dev in bond0 em1 em2 em4 eno167 eno16777984 enp0s5 enp1s0 ens160 ens19 ens192 ens3 ens32 ens33 ens4 ens7f0 eth1 eth2 eth3 wlan0 ztkxhjtd64; do
	i=$((i + 1))
	ip -n "$ns" link add "$dev" type veth peer name "p$i"
done
# VLAN names as plain veths: the vlan link type may be missing from the kernel, and Keepalived only needs the name.
ip -n "$ns" link add eth0.53 type veth peer name p-vlan53
ip -n "$ns" link add ens7f1.57 type veth peer name p-vlan57
for dev in $(ip -n "$ns" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do
	ip -n "$ns" link set "$dev" up
done
echo "# Output of \`keepalived -t -f NNN.conf\` (Keepalived $(keepalived -v 2>&1 | head -1 | awk '{print $2}')) per corpus file, run as root in a network namespace where every interface the corpus names exists; made by make_corpus_oracle_with_interfaces.sh."
cd "$corpus"
for f in [0-9][0-9][0-9].conf; do
	out=$(timeout 10 ip netns exec "$ns" keepalived -t -f "$f" 2>&1)
	echo "=== $f exit=$? mode=-t"
	echo "$out"
	echo
done
