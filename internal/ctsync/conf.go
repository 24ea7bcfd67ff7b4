package ctsync

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
)

// Config is what conntrack_sync says (internal/config/globaldefs).
type Config struct {
	// Instance is the VRRP instance whose transitions drive conntrackd; empty: active-active.
	Instance string
	// Interface is the sync link; Peer the other node's address on it; Local this node's
	// (invalid: the interface's first address of Peer's family, read at start).
	Interface   string
	Peer, Local netip.Addr
	Port        uint16
	// ConfPath is the conntrackd.conf of a conntrackd vigil does not run (empty: vigil writes
	// one in RuntimeDir and runs conntrackd itself).
	ConfPath   string
	RuntimeDir string
	// Binary is the conntrackd program ("conntrackd": from PATH).
	Binary string
	// ExternalCache keeps the peer's entries in conntrackd's external cache until the MASTER
	// transition commits them (primary-backup.sh's way); false injects them into the kernel
	// table as they come, so a takeover finds them there (see the package doc).
	ExternalCache bool
}

// ActiveActive reports whether every node forwards at once (no instance to follow).
func (c Config) ActiveActive() bool { return c.Instance == "" }

// Paths are the files of a conntrackd that vigil runs, all in the runtime directory, named
// after the sync interface so that two vigils of one host (network namespaces) do not share
// them unless they share the directory and the interface name.
type Paths struct {
	Conf, Lock, Socket string
}

// PathsOf returns where vigil puts conntrackd's files for c.
func PathsOf(c Config) Paths {
	base := filepath.Join(c.RuntimeDir, "conntrackd-"+c.Interface)
	return Paths{Conf: base + ".conf", Lock: base + ".lock", Socket: base + ".ctl"}
}

// Render returns the conntrackd.conf vigil runs conntrackd with: FTFW over UDP between local
// and c.Peer on c.Interface, TCP and UDP entries only, none of the node's own traffic to or
// from local, the peer or the loopback. The peer's entries go into the kernel table as they
// come (DisableExternalCache on) unless c.ExternalCache keeps them for the MASTER
// transition's commit.
func Render(c Config, local netip.Addr, p Paths) string {
	var b strings.Builder
	fam := "IPv4"
	if local.Is6() {
		fam = "IPv6"
	}
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# Written by vigil from conntrack_sync; rewritten at each start.")
	w("Sync {")
	w("\tMode FTFW {")
	if c.ExternalCache && !c.ActiveActive() {
		w("\t\tDisableExternalCache off")
	} else {
		w("\t\tDisableExternalCache on")
	}
	w("\t}")
	w("\tUDP {")
	w("\t\t%s_address %s", fam, local)
	w("\t\t%s_Destination_Address %s", fam, c.Peer)
	w("\t\tPort %d", c.Port)
	w("\t\tInterface %s", c.Interface)
	w("\t\tSndSocketBuffer 1249280")
	w("\t\tRcvSocketBuffer 1249280")
	w("\t\tChecksum on")
	w("\t}")
	w("}")
	w("General {")
	w("\tSystemd off")
	w("\tHashSize 32768")
	w("\tHashLimit 131072")
	w("\tLogFile off")
	w("\tSyslog off")
	w("\tLockFile %s", p.Lock)
	w("\tUNIX {")
	w("\t\tPath %s", p.Socket)
	w("\t}")
	w("\tNetlinkBufferSize 2097152")
	w("\tNetlinkBufferSizeMaxGrowth 8388608")
	w("\tFilter From Userspace {")
	w("\t\tProtocol Accept {")
	w("\t\t\tTCP")
	w("\t\t\tUDP")
	w("\t\t}")
	w("\t\tAddress Ignore {")
	for _, a := range ignored(local, c.Peer) {
		if a.Is4() {
			w("\t\t\tIPv4_address %s", a)
		} else {
			w("\t\t\tIPv6_address %s", a)
		}
	}
	w("\t\t}")
	w("\t}")
	w("}")
	return b.String()
}

// ignored are the addresses whose connections are the node's own, never a client's through
// the virtual address: the loopback, this node's and the peer's sync addresses.
func ignored(local, peer netip.Addr) []netip.Addr {
	out := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
	for _, a := range []netip.Addr{local, peer} {
		if a.IsValid() && !a.IsLoopback() {
			out = append(out, a)
		}
	}
	return out
}

// localAddr returns the first address of ifname of want's family: this node's end of the
// sync link when conntrack_sync names none.
func localAddr(ifname string, want netip.Addr) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("conntrack_sync interface %s: %w", ifname, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("conntrack_sync interface %s: addresses: %w", ifname, err)
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.Is4() == want.Is4() && !ip.IsLinkLocalUnicast() {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("conntrack_sync interface %s: no address of %s's family (set local)", ifname, want)
}
