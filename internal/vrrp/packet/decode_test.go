package packet

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

func envV4() Envelope {
	return Envelope{Src: netip.MustParseAddr("192.0.2.1"), Dst: GroupIPv4(), HopLimit: 255}
}

func envV6() Envelope {
	return Envelope{Src: netip.MustParseAddr("fe80::1"), Dst: GroupIPv6(), HopLimit: 255}
}

func mustMarshal(t *testing.T, a *Advert, env Envelope) []byte {
	t.Helper()
	b, err := a.Marshal(env)
	if err != nil {
		t.Fatalf("marshal %+v: %v", a, err)
	}
	return b
}

// refix recomputes the VRRP checksum of msg (no AH header) after a test has
// edited it, so that the edit is what gets rejected, not the checksum.
func refix(msg []byte, env Envelope) []byte {
	if len(msg) < headerLen {
		return msg
	}
	binary.BigEndian.PutUint16(msg[6:], 0)
	binary.BigEndian.PutUint16(msg[6:], Checksum(msg[0]>>4, msg, env.Src, env.Dst))
	return msg
}

func TestDecodeRejectsEachMalformationWithItsReason(t *testing.T) {
	v2 := &Advert{Version: 2, VRID: 7, Priority: 100, Interval: 1, Addrs: addrs("192.0.2.100")}
	v3 := &Advert{Version: 3, VRID: 7, Priority: 100, Interval: 100, Addrs: addrs("192.0.2.100", "192.0.2.101")}
	v6 := &Advert{Version: 3, VRID: 7, Priority: 100, Interval: 100, Addrs: addrs("2001:db8::100")}
	tests := []struct {
		name string
		env  Envelope
		msg  func(t *testing.T) []byte
		want Reason
	}{
		{"EmptyPayloadIsShort", envV4(), func(t *testing.T) []byte { return nil }, ReasonShort},
		{"SevenBytesIsShort", envV4(), func(t *testing.T) []byte { return mustMarshal(t, v2, envV4())[:7] }, ReasonShort},
		{"TruncatedAddressListIsShort", envV4(), func(t *testing.T) []byte { return mustMarshal(t, v3, envV4())[:12] }, ReasonShort},
		{"TrailingByteIsLong", envV4(), func(t *testing.T) []byte { return append(mustMarshal(t, v2, envV4()), 0) }, ReasonLong},
		{"VersionFourIsBadVersion", envV4(), func(t *testing.T) []byte {
			b := mustMarshal(t, v3, envV4())
			b[0] = 4<<4 | 1
			return refix(b, envV4())
		}, ReasonVersion},
		{"VersionTwoOverIPv6IsBadVersion", envV6(), func(t *testing.T) []byte {
			b := mustMarshal(t, v6, envV6())
			b[0] = 2<<4 | 1
			return b
		}, ReasonVersion},
		{"TypeTwoIsBadType", envV4(), func(t *testing.T) []byte {
			b := mustMarshal(t, v2, envV4())
			b[0] = 2<<4 | 2
			return refix(b, envV4())
		}, ReasonType},
		{"FlippedBitIsBadChecksum", envV4(), func(t *testing.T) []byte {
			b := mustMarshal(t, v2, envV4())
			b[2] ^= 1
			return b
		}, ReasonChecksum},
		{"V3ChecksumCoversPseudoHeaderSource", Envelope{Src: netip.MustParseAddr("192.0.2.2"), Dst: GroupIPv4(), HopLimit: 255},
			func(t *testing.T) []byte { return mustMarshal(t, v3, envV4()) }, ReasonChecksum},
		{"V6ChecksumCoversPseudoHeaderDestination", Envelope{Src: netip.MustParseAddr("fe80::1"), Dst: netip.MustParseAddr("ff02::13"), HopLimit: 255},
			func(t *testing.T) []byte { return mustMarshal(t, v6, envV6()) }, ReasonChecksum},
		{"TTL254IsBadTTL", Envelope{Src: envV4().Src, Dst: envV4().Dst, HopLimit: 254},
			func(t *testing.T) []byte { return mustMarshal(t, v2, envV4()) }, ReasonHopLimit},
		{"HopLimit1IsBadTTL", Envelope{Src: envV6().Src, Dst: envV6().Dst, HopLimit: 1},
			func(t *testing.T) []byte { return mustMarshal(t, v6, envV6()) }, ReasonHopLimit},
		{"MixedFamiliesAreRefused", Envelope{Src: envV4().Src, Dst: GroupIPv6(), HopLimit: 255},
			func(t *testing.T) []byte { return mustMarshal(t, v2, envV4()) }, ReasonFamily},
		{"IPv6MulticastFromGlobalSourceIsRefused", Envelope{Src: netip.MustParseAddr("2001:db8::1"), Dst: GroupIPv6(), HopLimit: 255},
			func(t *testing.T) []byte {
				env := Envelope{Src: netip.MustParseAddr("2001:db8::1"), Dst: GroupIPv6()}
				return mustMarshal(t, v6, env) // a checksum right for that source
			}, ReasonSource},
		{"IPv6MulticastFromUniqueLocalSourceIsRefused", Envelope{Src: netip.MustParseAddr("fd00::1"), Dst: GroupIPv6(), HopLimit: 255},
			func(t *testing.T) []byte {
				return mustMarshal(t, v6, Envelope{Src: netip.MustParseAddr("fd00::1"), Dst: GroupIPv6()})
			}, ReasonSource},
		{"InvalidSourceIsRefused", Envelope{Dst: GroupIPv4(), HopLimit: 255},
			func(t *testing.T) []byte { return mustMarshal(t, v2, envV4()) }, ReasonFamily},
		{"IPv4MappedSourceIsRefused", Envelope{Src: netip.MustParseAddr("::ffff:192.0.2.1"), Dst: netip.MustParseAddr("::ffff:224.0.0.18"), HopLimit: 255},
			func(t *testing.T) []byte { return mustMarshal(t, v2, envV4()) }, ReasonFamily},
		{"AHWithOtherNextHeaderIsBadAH", Envelope{Src: envV4().Src, Dst: envV4().Dst, Protocol: ProtocolAH, HopLimit: 255},
			func(t *testing.T) []byte {
				b := mustMarshal(t, &Advert{Version: 2, VRID: 7, Priority: 1, Interval: 1, AuthType: AuthAH, Addrs: v2.Addrs},
					Envelope{Src: envV4().Src, Dst: envV4().Dst, Protocol: ProtocolAH})
				b[0] = 6
				return b
			}, ReasonAH},
		{"AHWithOtherLengthIsBadAH", Envelope{Src: envV4().Src, Dst: envV4().Dst, Protocol: ProtocolAH, HopLimit: 255},
			func(t *testing.T) []byte {
				b := mustMarshal(t, &Advert{Version: 2, VRID: 7, Priority: 1, Interval: 1, AuthType: AuthAH, Addrs: v2.Addrs},
					Envelope{Src: envV4().Src, Dst: envV4().Dst, Protocol: ProtocolAH})
				b[1] = 5
				return b
			}, ReasonAH},
		{"TruncatedAHIsShort", Envelope{Src: envV4().Src, Dst: envV4().Dst, Protocol: ProtocolAH, HopLimit: 255},
			func(t *testing.T) []byte { return make([]byte, 20) }, ReasonShort},
		{"V3BehindAHIsBadVersion", Envelope{Src: envV4().Src, Dst: envV4().Dst, Protocol: ProtocolAH, HopLimit: 255},
			func(t *testing.T) []byte {
				env := Envelope{Src: envV4().Src, Dst: envV4().Dst, Protocol: ProtocolAH}
				b := mustMarshal(t, &Advert{Version: 2, VRID: 7, Priority: 1, Interval: 1, AuthType: AuthAH, Addrs: v2.Addrs}, env)
				// The same AH header in front of a well-formed VRRPv3 message: AH is
				// VRRPv2's only.
				return append(b[:AHLen], mustMarshal(t, v3, envV4())...)
			}, ReasonVersion},
		{"AHOverIPv6IsBadAH", Envelope{Src: envV6().Src, Dst: envV6().Dst, Protocol: ProtocolAH, HopLimit: 255},
			func(t *testing.T) []byte { return mustMarshal(t, v6, envV6()) }, ReasonAH},
		{"UnknownProtocolIsBadAH", Envelope{Src: envV4().Src, Dst: envV4().Dst, Protocol: 17, HopLimit: 255},
			func(t *testing.T) []byte { return mustMarshal(t, v2, envV4()) }, ReasonAH},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Decode(tt.msg(t), tt.env)
			if err == nil {
				t.Fatalf("decoded %+v, want error %v", a, tt.want)
			}
			if !errors.Is(err, tt.want) || ReasonOf(err) != tt.want {
				t.Fatalf("error %q has reason %v, want %v", err, ReasonOf(err), tt.want)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
		})
	}
}

func TestDecodeSkipsHopLimitCheckForUnicast(t *testing.T) {
	env := Envelope{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"), HopLimit: NoHopLimitCheck}
	a := &Advert{Version: 3, VRID: 9, Priority: 50, Interval: 100, Addrs: addrs("192.0.2.100")}
	if _, err := Decode(mustMarshal(t, a, env), env); err != nil {
		t.Fatalf("unicast advert with no TTL: %v", err)
	}
}

// A unicast peer over IPv6 may use a global address (Keepalived's unicast_src_ip often is one):
// the link-local rule is for multicast adverts.
func TestDecodeAcceptsIPv6UnicastFromGlobalSource(t *testing.T) {
	env := Envelope{Src: netip.MustParseAddr("2001:db8::a"), Dst: netip.MustParseAddr("2001:db8::b"), HopLimit: NoHopLimitCheck}
	a := &Advert{Version: 3, VRID: 9, Priority: 50, Interval: 100, Addrs: addrs("2001:db8::100")}
	if _, err := Decode(mustMarshal(t, a, env), env); err != nil {
		t.Fatalf("unicast IPv6 advert from a global source: %v", err)
	}
}

func TestDecodeIgnoresV3ReservedIntervalBits(t *testing.T) {
	env := envV4()
	a := &Advert{Version: 3, VRID: 9, Priority: 50, Interval: 100, Addrs: addrs("192.0.2.100")}
	b := mustMarshal(t, a, env)
	b[4] |= 0xf0
	got, err := Decode(refix(b, env), env)
	if err != nil {
		t.Fatal(err)
	}
	if got.Interval != 100 {
		t.Fatalf("interval %d, want 100", got.Interval)
	}
}

func TestRoundTripKeepsEveryField(t *testing.T) {
	tests := []struct {
		name string
		a    Advert
		env  Envelope
	}{
		{"V2Pass", Advert{Version: 2, VRID: 1, Priority: 255, Interval: 255, AuthType: AuthPass, AuthData: PassData("secret"), Addrs: addrs("192.0.2.1")}, envV4()},
		{"V2NoAddresses", Advert{Version: 2, VRID: 255, Priority: 1, Interval: 1, Addrs: []netip.Addr{}}, envV4()},
		{"V3MaxInterval", Advert{Version: 3, VRID: 2, Priority: 0, Interval: 4095, Addrs: addrs("192.0.2.1", "198.51.100.1")}, envV4()},
		{"V3IPv6Unicast", Advert{Version: 3, VRID: 3, Priority: 77, Interval: 1, Addrs: addrs("2001:db8::1", "2001:db8::2", "2001:db8::3")},
			Envelope{Src: netip.MustParseAddr("2001:db8::a"), Dst: netip.MustParseAddr("2001:db8::b"), HopLimit: 255}},
		{"V3IPv6WithIPv4MappedVIP", Advert{Version: 3, VRID: 5, Priority: 9, Interval: 100, Addrs: addrs("::ffff:192.0.2.1")}, envV6()},
		{"V2AH", Advert{Version: 2, VRID: 4, Priority: 100, Interval: 3, AuthType: AuthAH, HasAH: true,
			AH: AH{SPI: 0xc0000201, Seq: 42, ICV: [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}, Addrs: addrs("192.0.2.9")},
			Envelope{Src: netip.MustParseAddr("192.0.2.1"), Dst: GroupIPv4(), Protocol: ProtocolAH, HopLimit: 255}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustMarshal(t, &tt.a, tt.env)
			got, err := Decode(b, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			got.Checksum = 0
			if !equalAdvert(got, &tt.a) {
				t.Fatalf("round trip\n got %+v\nwant %+v", got, tt.a)
			}
		})
	}
}

func equalAdvert(x, y *Advert) bool {
	if x.Version != y.Version || x.VRID != y.VRID || x.Priority != y.Priority || x.Interval != y.Interval ||
		x.AuthType != y.AuthType || x.AuthData != y.AuthData || x.HasAH != y.HasAH || x.AH != y.AH ||
		len(x.Addrs) != len(y.Addrs) {
		return false
	}
	for i := range x.Addrs {
		if x.Addrs[i] != y.Addrs[i] {
			return false
		}
	}
	return true
}

func TestMarshalRefusesWhatCannotBeSent(t *testing.T) {
	tests := []struct {
		name string
		a    Advert
		env  Envelope
	}{
		{"V2OverIPv6", Advert{Version: 2, Interval: 1, Addrs: addrs("2001:db8::1")}, envV6()},
		{"Version1", Advert{Version: 1, Interval: 1}, envV4()},
		{"V3IntervalOver4095", Advert{Version: 3, Interval: 4096}, envV4()},
		{"V2IntervalOver255", Advert{Version: 2, Interval: 256}, envV4()},
		{"IPv6AddressInIPv4Advert", Advert{Version: 3, Interval: 1, Addrs: addrs("2001:db8::1")}, envV4()},
		{"IPv4AddressInIPv6Advert", Advert{Version: 3, Interval: 1, Addrs: addrs("192.0.2.1")}, envV6()},
		{"TooManyAddresses", Advert{Version: 3, Interval: 1, Addrs: make([]netip.Addr, 256)}, envV4()},
		{"AHWithV3", Advert{Version: 3, Interval: 1}, Envelope{Src: envV4().Src, Dst: envV4().Dst, Protocol: ProtocolAH}},
		{"UnknownProtocol", Advert{Version: 3, Interval: 1}, Envelope{Src: envV4().Src, Dst: envV4().Dst, Protocol: 6}},
		{"NoSource", Advert{Version: 3, Interval: 1}, Envelope{Dst: GroupIPv4()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := tt.a.Marshal(tt.env); err == nil {
				t.Fatalf("marshalled %x, want an error", b)
			}
		})
	}
}

func TestUnmarshalIntoReusedAdvertDoesNotAllocate(t *testing.T) {
	for _, file := range []string{"v2_ipv4_noauth.golden", "v2_ipv4_ah.golden", "v3_ipv6.golden"} {
		p := readGolden(t, file)[0]
		var a Advert
		if err := a.Unmarshal(p.payload, p.env); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if err := a.Unmarshal(p.payload, p.env); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Unmarshal, want 0", file, allocs)
		}
	}
}

func TestAppendIntoReusedBufferDoesNotAllocate(t *testing.T) {
	p := readGolden(t, "v3_ipv4.golden")[0]
	a, err := Decode(p.payload, p.env)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 128)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := a.Append(buf[:0], p.env); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Append, want 0", allocs)
	}
}

func BenchmarkUnmarshalV3IPv4(b *testing.B) {
	p := readGolden(b, "v3_ipv4.golden")[0]
	var a Advert
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Unmarshal(p.payload, p.env); err != nil {
			b.Fatal(err)
		}
	}
}
