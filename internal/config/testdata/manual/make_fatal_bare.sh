#!/bin/sh
# Lists the keywords of keywords-2.4.3.txt (outside the checker section) that make
# `keepalived -t` exit 2 (fatal: "missing a parameter") when written with no argument, inside
# their blocks. Run where Keepalived is installed (Debian's is 2.2.7), from this directory:
#   sh make_fatal_bare.sh > fatal-bare-2.2.7.txt
# bfd_instance is left out: Keepalived 2.2.7 crashes on an empty one (exit 139).
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
open_of() {
	case $1 in
	global_defs) echo "global_defs {" ;;
	vrrp_instance) echo "vrrp_instance VI_1 {" ;;
	vrrp_script) echo "vrrp_script chk {" ;;
	vrrp_sync_group) echo "vrrp_sync_group G1 {" ;;
	vrrp_track_process) echo "vrrp_track_process P1 {" ;;
	track_file) echo "track_file F1 {" ;;
	bfd_instance) echo "bfd_instance B1 {" ;;
	track_group) echo "track_group T1 {" ;;
	*) echo "$1 {" ;;
	esac
}
cut -f1 keywords-2.4.3.txt | grep -v '^virtual_server\|^SSL\|^bfd_instance' | while read -r path; do
	n=$(echo "$path" | tr '/' '\n' | wc -l)
	{
		i=1
		for blk in $(echo "$path" | tr '/' ' '); do
			if [ "$i" -lt "$n" ]; then open_of "$blk"; else echo "$blk"; fi
			i=$((i + 1))
		done
		i=1
		while [ "$i" -lt "$n" ]; do echo "}"; i=$((i + 1)); done
	} > "$tmp/t.conf"
	timeout 10 keepalived -t -f "$tmp/t.conf" > /dev/null 2>&1
	[ $? -eq 2 ] && echo "$path"
done
