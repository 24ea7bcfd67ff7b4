package check

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// ProxyVersion is the PROXY protocol header a check sends first on its connection
// (send_proxy, a vigil keyword, as HAProxy's check-send-proxy): a server behind a listener that
// expects the header refuses a connection without it.
type ProxyVersion uint8

const (
	// ProxyNone sends no header.
	ProxyNone ProxyVersion = iota
	// ProxyV1 sends the text header: "PROXY TCP4 192.0.2.1 192.0.2.10 40000 80\r\n".
	ProxyV1
	// ProxyV2 sends the binary header.
	ProxyV2
)

// String returns the keyword form: "v1", "v2", or "" for none.
func (v ProxyVersion) String() string {
	switch v {
	case ProxyV1:
		return "v1"
	case ProxyV2:
		return "v2"
	}
	return ""
}

// MarshalText gives the keyword form, for `vigil dump-config`.
func (v ProxyVersion) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// sendProxyKeyword reads "send_proxy v1|v2" (the version alone defaults to v1).
func sendProxyKeyword(set func(ProxyVersion)) syntax.Keyword {
	return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		switch {
		case len(l.Words) < 2:
			set(ProxyV1)
		case l.Words[1] == "v1" || l.Words[1] == "1":
			set(ProxyV1)
		case l.Words[1] == "v2" || l.Words[1] == "2":
			set(ProxyV2)
		default:
			p.Diags.Warnf(l.Pos, "Invalid send_proxy version %s - expected v1 or v2", l.Words[1])
		}
	}}
}

// proxyV2Signature opens every version 2 header.
var proxyV2Signature = [12]byte{0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a}

// proxyHeader is the header of version v for a TCP connection from src to dst, as the PROXY
// protocol's specification (haproxy's proxy-protocol.txt) writes it. Addresses of different
// families (which one socket never has) give the header for an unknown connection.
func proxyHeader(v ProxyVersion, src, dst netip.AddrPort) []byte {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	known := sa.IsValid() && da.IsValid() && sa.Is4() == da.Is4()
	switch v {
	case ProxyV1:
		if !known {
			return []byte("PROXY UNKNOWN\r\n")
		}
		fam := "TCP4"
		if sa.Is6() {
			fam = "TCP6"
		}
		return []byte("PROXY " + fam + " " + sa.WithZone("").String() + " " + da.WithZone("").String() + " " +
			strconv.Itoa(int(src.Port())) + " " + strconv.Itoa(int(dst.Port())) + "\r\n")
	case ProxyV2:
		h := append([]byte(nil), proxyV2Signature[:]...)
		h = append(h, 0x21) // version 2, command PROXY
		if !known {
			return append(h, 0x00, 0, 0) // AF_UNSPEC, no address
		}
		if sa.Is4() {
			h = append(h, 0x11, 0, 12) // TCP over IPv4, 12 bytes of addresses
		} else {
			h = append(h, 0x21, 0, 36) // TCP over IPv6, 36 bytes
		}
		h = append(h, sa.AsSlice()...)
		h = append(h, da.AsSlice()...)
		h = binary.BigEndian.AppendUint16(h, src.Port())
		return binary.BigEndian.AppendUint16(h, dst.Port())
	}
	return nil
}
