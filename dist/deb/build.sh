#!/usr/bin/env bash
# Builds vigil's Debian package from this repository: the binary (/usr/sbin/vigil), the unit
# (/lib/systemd/system/vigil.service, dist/vigil.service with the package's paths), a default
# configuration (/etc/vigil/vigil.conf and /etc/default/vigil, both conffiles), the state
# directory (/var/lib/vigil), the docs and examples. Usage: dist/deb/build.sh [OUTDIR]; prints
# the .deb's path. Needs go and dpkg-deb (Debian's dpkg).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-dist/out}
mkdir -p "$out"
arch=$(dpkg --print-architecture)
# A Debian version must start with a digit; the commit count orders builds of main.
version="0.1.0~git$(git rev-list --count HEAD).$(git rev-parse --short HEAD)"
root=$(mktemp -d)
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT

install -d "$root/DEBIAN" "$root/usr/sbin" "$root/lib/systemd/system" "$root/etc/vigil" "$root/etc/default" \
	"$root/var/lib/vigil" "$root/usr/share/doc/vigil/examples"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$root/usr/sbin/vigil" ./cmd/vigil
# The unit's paths are the manual install's (/usr/local/bin, Keepalived's file); the package's
# binary is in /usr/sbin and its file is set by VIGIL_CONFIG in /etc/default/vigil.
sed -e 's#/usr/local/bin/vigil#/usr/sbin/vigil#g' dist/vigil.service >"$root/lib/systemd/system/vigil.service"
install -m 0644 dist/deb/vigil.conf "$root/etc/vigil/vigil.conf"
install -m 0644 dist/deb/default "$root/etc/default/vigil"
install -m 0644 README.md docs/*.md "$root/usr/share/doc/vigil/"
install -m 0644 examples/*.conf "$root/usr/share/doc/vigil/examples/"
chmod 0750 "$root/var/lib/vigil"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" dist/deb/control >"$root/DEBIAN/control"
printf '/etc/vigil/vigil.conf\n/etc/default/vigil\n' >"$root/DEBIAN/conffiles"
install -m 0755 dist/deb/postinst dist/deb/prerm dist/deb/postrm "$root/DEBIAN/"
deb="$out/vigil_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
