//go:build ignore

// pcap2golden converts a libpcap capture (Ethernet link type) of VRRP
// advertisements into the golden-file format the packet tests read:
//
//	# comment
//	<src> <dst> <ttl-or-hop-limit> <ip-protocol> <hex of the IP payload>
//
// The IP payload is the VRRP message (protocol 112), or the IPsec AH header
// followed by the VRRP message (protocol 51). It is run by generate.sh.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"net/netip"
	"os"
)

func main() {
	in := flag.String("in", "", "pcap file")
	out := flag.String("out", "", "golden file to write")
	comment := flag.String("comment", "", "comment line for the golden file")
	flag.Parse()
	data, err := os.ReadFile(*in)
	if err != nil {
		fail(err)
	}
	if len(data) < 24 {
		fail(fmt.Errorf("%s: too short for a pcap header", *in))
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(data) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		fail(fmt.Errorf("%s: not a pcap file", *in))
	}
	if lt := bo.Uint32(data[20:]); lt != 1 {
		fail(fmt.Errorf("%s: link type %d, want 1 (Ethernet)", *in, lt))
	}
	f, err := os.Create(*out)
	if err != nil {
		fail(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, "# captured with generate.sh; %s\n", *comment)
	fmt.Fprintf(w, "# src dst ttl/hop-limit ip-protocol payload-hex\n")
	n := 0
	for off := 24; off+16 <= len(data); {
		incl := int(bo.Uint32(data[off+8:]))
		off += 16
		if off+incl > len(data) {
			break
		}
		frame := data[off : off+incl]
		off += incl
		if line, ok := parse(frame); ok {
			fmt.Fprintln(w, line)
			n++
		}
	}
	if err := w.Flush(); err != nil {
		fail(err)
	}
	if err := f.Close(); err != nil {
		fail(err)
	}
	if n == 0 {
		fail(fmt.Errorf("%s: no VRRP packets", *in))
	}
	fmt.Printf("%s: %d packets\n", *out, n)
}

func parse(frame []byte) (string, bool) {
	if len(frame) < 14 {
		return "", false
	}
	ip := frame[14:]
	switch binary.BigEndian.Uint16(frame[12:]) {
	case 0x0800:
		if len(ip) < 20 {
			return "", false
		}
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if ihl < 20 || total < ihl || total > len(ip) {
			return "", false
		}
		proto := ip[9]
		if proto != 112 && proto != 51 {
			return "", false
		}
		src, _ := netip.AddrFromSlice(ip[12:16])
		dst, _ := netip.AddrFromSlice(ip[16:20])
		return fmt.Sprintf("%s %s %d %d %s", src, dst, ip[8], proto, hex.EncodeToString(ip[ihl:total])), true
	case 0x86dd:
		if len(ip) < 40 {
			return "", false
		}
		plen := int(binary.BigEndian.Uint16(ip[4:]))
		if ip[6] != 112 || 40+plen > len(ip) {
			return "", false
		}
		src, _ := netip.AddrFromSlice(ip[8:24])
		dst, _ := netip.AddrFromSlice(ip[24:40])
		return fmt.Sprintf("%s %s %d %d %s", src, dst, ip[7], ip[6], hex.EncodeToString(ip[40:40+plen])), true
	}
	return "", false
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "pcap2golden:", err)
	os.Exit(1)
}
