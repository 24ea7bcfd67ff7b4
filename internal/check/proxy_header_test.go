package check

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"
)

// The headers of the PROXY protocol's specification (haproxy's proxy-protocol.txt): its
// version 1 examples word for word, and version 2 laid out as its section 2.2 says.
func TestProxyHeaderFollowsTheSpecification(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name     string
		v        ProxyVersion
		src, dst netip.AddrPort
		want     string // text for v1, hex for v2
	}{
		{"v1 example", ProxyV1, ap("192.168.0.1:56324"), ap("192.168.0.11:443"), "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"},
		{"v1 longest IPv4", ProxyV1, ap("255.255.255.255:65535"), ap("255.255.255.255:65535"), "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"},
		{"v1 longest IPv6", ProxyV1, ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
			"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"},
		{"v1 IPv4-mapped is IPv4", ProxyV1, ap("[::ffff:192.0.2.1]:40000"), ap("192.0.2.10:80"), "PROXY TCP4 192.0.2.1 192.0.2.10 40000 80\r\n"},
		{"v1 unknown", ProxyV1, ap("192.0.2.1:1"), ap("[2001:db8::1]:2"), "PROXY UNKNOWN\r\n"},
		{"v2 IPv4", ProxyV2, ap("192.0.2.1:40000"), ap("192.0.2.10:80"),
			"0d0a0d0a000d0a515549540a" + "21" + "11" + "000c" + "c0000201" + "c000020a" + "9c40" + "0050"},
		{"v2 IPv6", ProxyV2, ap("[2001:db8::1]:1"), ap("[2001:db8::2]:443"),
			"0d0a0d0a000d0a515549540a" + "21" + "21" + "0024" + "20010db8000000000000000000000001" + "20010db8000000000000000000000002" + "0001" + "01bb"},
		{"v2 unknown", ProxyV2, ap("192.0.2.1:1"), ap("[2001:db8::1]:2"), "0d0a0d0a000d0a515549540a" + "21" + "00" + "0000"},
	}
	for _, tt := range tests {
		got := proxyHeader(tt.v, tt.src, tt.dst)
		want := []byte(tt.want)
		if tt.v == ProxyV2 {
			want, _ = hex.DecodeString(tt.want)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %q, want %q", tt.name, got, want)
		}
	}
	// The longest TCP6 header is 104 bytes, within the 107 the specification bounds a
	// version 1 header at.
	if n := len(proxyHeader(ProxyV1, ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"))); n != 104 {
		t.Errorf("longest v1 header: %d bytes", n)
	}
}
