package check

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// udpTestServer answers each datagram with reply(payload); nil sends nothing.
func udpTestServer(t *testing.T, reply func(p []byte) []byte) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if r := reply(bytes.Clone(buf[:n])); r != nil {
				_, _ = pc.WriteTo(r, from)
			}
		}
	}()
	return addrPort(t, pc.LocalAddr())
}

func TestParseHexPattern(t *testing.T) {
	tests := []struct {
		in        string
		wildcards bool
		data      []byte
		mask      []byte
		err       string
	}{
		// The example of keepalived.conf(5).
		{in: "Ab12f 3 456 546443123", data: []byte{0xab, 0x12, 0x0f, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03}},
		{in: "\tdead beef ", data: []byte{0xde, 0xad, 0xbe, 0xef}},
		{in: "12X4 x", wildcards: true, data: []byte{0x12, 0x04, 0x00}, mask: []byte{0x00, 0xf0, 0x0f}},
		{in: "12 34", wildcards: true, data: []byte{0x12, 0x34}},
		{in: "0x ff", wildcards: true, data: []byte{0x00, 0xff}, mask: []byte{0x0f, 0x00}},
		{in: "XX", wildcards: true, data: []byte{0x00}, mask: []byte{0xff}},
		{in: "a b", data: []byte{0x0a, 0x0b}},
		{in: "0x", err: `'x' is not a hex digit`},
		{in: "12X4", err: `'X' is not a hex digit`},
		{in: "zz", err: "not a hex digit"},
		{in: "  ", err: "no bytes"},
	}
	for _, tc := range tests {
		data, mask, err := ParseHexPattern(tc.in, tc.wildcards)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseHexPattern(%q): error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !bytes.Equal(data, tc.data) || !bytes.Equal(mask, tc.mask) || (mask == nil) != (tc.mask == nil) {
			t.Errorf("ParseHexPattern(%q) = % x / % x, %v; want % x / % x", tc.in, data, mask, err, tc.data, tc.mask)
		}
	}
}

func TestUDPCheck(t *testing.T) {
	echo := func(p []byte) []byte { return p }
	silent := func([]byte) []byte { return nil }
	fixed := func(r []byte) func([]byte) []byte { return func([]byte) []byte { return r } }
	ping := []byte("ping")

	tests := []struct {
		name    string
		opts    UDPOptions
		reply   func([]byte) []byte
		addr    netip.AddrPort
		healthy bool
		reason  string
	}{
		{name: "ReplyNotRequiredAndGivenPasses", opts: UDPOptions{Payload: ping}, reply: echo, healthy: true, reason: "reply of 4 bytes"},
		{name: "SilenceWithoutRequireReplyPasses", opts: UDPOptions{Payload: ping}, reply: silent, healthy: true, reason: "no reply and no ICMP error"},
		{name: "SilenceWithRequireReplyTimesOut", opts: UDPOptions{Payload: ping, RequireReply: true}, reply: silent, reason: "read reply: timeout"},
		{name: "ClosedPortIsUnreachable", opts: UDPOptions{Payload: ping}, addr: closedUDPPort(t), reason: "port unreachable"},
		{name: "ClosedPortIsUnreachableWithRequireReply", opts: UDPOptions{Payload: ping, RequireReply: true}, addr: closedUDPPort(t), reason: "port unreachable"},
		{name: "AnyReplyPasses", opts: UDPOptions{Payload: ping, RequireReply: true}, reply: fixed([]byte("whatever")), healthy: true, reason: "reply of 8 bytes"},
		{name: "MatchingReplyPasses", opts: UDPOptions{Payload: ping, RequireReply: true, Reply: []byte("pong")}, reply: fixed([]byte("pong!")), healthy: true, reason: "reply of 5 bytes"},
		{name: "ShortReplyComparedOverItsLength", opts: UDPOptions{Payload: ping, RequireReply: true, Reply: []byte("pong")}, reply: fixed([]byte("po")), healthy: true, reason: "reply of 2 bytes"},
		{name: "MismatchedReplyFails", opts: UDPOptions{Payload: ping, RequireReply: true, Reply: []byte("pong")}, reply: fixed([]byte("pang")), reason: "reply byte 1 is 0x61, expected 0x6f"},
		{name: "MaskedNibblesAreIgnored", opts: UDPOptions{Payload: ping, RequireReply: true, Reply: []byte{0x12, 0x00}, ReplyMask: []byte{0x00, 0xff}}, reply: fixed([]byte{0x12, 0x7e}), healthy: true, reason: "reply of 2 bytes"},
		{name: "UnmaskedNibbleStillCounts", opts: UDPOptions{Payload: ping, RequireReply: true, Reply: []byte{0x12, 0x00}, ReplyMask: []byte{0x00, 0x0f}}, reply: fixed([]byte{0x12, 0x7e}), reason: "reply byte 1"},
		{name: "ReplyBelowMinLengthFails", opts: UDPOptions{Payload: ping, RequireReply: true, MinReplyLen: 10}, reply: echo, reason: "reply of 4 bytes, expected 10-255"},
		{name: "ReplyAboveMaxLengthFails", opts: UDPOptions{Payload: ping, RequireReply: true, MaxReplyLen: 3}, reply: echo, reason: "longer than 3 bytes"},
		{name: "HugeReplyIsCutAtDefaultMax", opts: UDPOptions{Payload: ping, RequireReply: true}, reply: fixed(make([]byte, 1400)), reason: "longer than 255 bytes"},
		{name: "LargeMaxAcceptsLargeReply", opts: UDPOptions{Payload: ping, RequireReply: true, MaxReplyLen: 2000}, reply: fixed(make([]byte, 1400)), healthy: true, reason: "reply of 1400 bytes"},
		// Without a payload the probe carries 32 filler bytes, as Keepalived's does: a server
		// that ignores empty datagrams still answers (the echo's length shows what was sent).
		{name: "NoPayloadSendsThirtyTwoBytes", opts: UDPOptions{RequireReply: true}, reply: func(p []byte) []byte {
			if len(p) == 0 {
				return nil
			}
			return p
		}, healthy: true, reason: "reply of 32 bytes"},
		{name: "SlowReplyTimesOut", opts: UDPOptions{Payload: ping, RequireReply: true}, reply: func(p []byte) []byte { time.Sleep(2 * probeTimeout); return p }, reason: "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := tc.opts
			o.Addr = tc.addr
			if tc.reply != nil {
				o.Addr = udpTestServer(t, tc.reply)
			}
			c, err := NewUDP(o)
			if err != nil {
				t.Fatal(err)
			}
			wantProbe(t, runProbe(t, c, probeDeadline(tc.reason)), tc.healthy, tc.reason)
		})
	}
}

func TestNewUDPRejectsContradictions(t *testing.T) {
	ap := netip.MustParseAddrPort("192.0.2.10:53")
	for _, o := range []UDPOptions{
		{ConnOptions: ConnOptions{Addr: ap}, Reply: []byte{1, 2}, ReplyMask: []byte{0}},
		{ConnOptions: ConnOptions{Addr: ap}, MinReplyLen: 300},
		{ConnOptions: ConnOptions{Addr: ap}, MaxReplyLen: 70000},
	} {
		if _, err := NewUDP(o); err == nil {
			t.Errorf("NewUDP(%+v) accepted contradictory options", o)
		}
	}
}
