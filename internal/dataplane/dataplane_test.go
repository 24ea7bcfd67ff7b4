package dataplane

import (
	"net/netip"
	"strings"
	"testing"
)

func TestEffectiveMapsKeepalivedNames(t *testing.T) {
	tests := []struct {
		in       Scheduler
		want     Scheduler
		fallback bool
		ok       bool
	}{
		{"", WeightedLeastConnection, false, true},
		{"rr", RoundRobin, false, true},
		{"mh", MaglevHash, false, true},
		{"sed", WeightedLeastConnection, true, true},
		{"dh", SourceHash, true, true},
		{"ovf", Failover, true, true},
		{"bogus", "", false, false},
	}
	for _, tt := range tests {
		got, fb, ok := Effective(tt.in)
		if got != tt.want || fb != tt.fallback || ok != tt.ok {
			t.Errorf("Effective(%q) = %q, %v, %v; want %q, %v, %v", tt.in, got, fb, ok, tt.want, tt.fallback, tt.ok)
		}
	}
}

func TestValidateNamesTheProblem(t *testing.T) {
	good := Service{Name: "vs1", Protocol: TCP, Listen: netip.MustParseAddrPort("127.0.0.1:80"), Scheduler: "rr",
		Backends: []Backend{{Addr: netip.MustParseAddrPort("127.0.0.2:80"), Weight: 1}}}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid service refused: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Service)
		want string
	}{
		{"protocol", func(s *Service) { s.Protocol = "sctp" }, `protocol "sctp"`},
		{"scheduler", func(s *Service) { s.Scheduler = "xx" }, `scheduler "xx"`},
		{"weight", func(s *Service) { s.Backends[0].Weight = -1 }, "weight -1"},
		{"duplicate", func(s *Service) { s.Backends = append(s.Backends, s.Backends[0]) }, "listed twice"},
		{"listen", func(s *Service) { s.Listen = netip.AddrPort{} }, "listen address"},
		{"fwmark and listen", func(s *Service) { s.Fwmark = 5 }, "fwmark 5 with listen address 127.0.0.1:80"},
		{"fwmark mixed families", func(s *Service) {
			s.Listen, s.Fwmark = netip.AddrPort{}, 5
			s.Backends = append(s.Backends, Backend{Addr: netip.MustParseAddrPort("[2001:db8::1]:80"), Weight: 1})
		}, "differ in address family"},
		{"fwmark sorry of another family", func(s *Service) {
			s.Listen, s.Fwmark = netip.AddrPort{}, 5
			s.Sorry = &Backend{Addr: netip.MustParseAddrPort("[2001:db8::1]:80")}
		}, "differ in address family"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			s.Backends = append([]Backend(nil), good.Backends...)
			tt.mod(&s)
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "vs1") {
				t.Fatalf("Validate() = %v, want error naming vs1 and %q", err, tt.want)
			}
		})
	}
}

func TestFwmarkServiceTakesFamilyFromBackends(t *testing.T) {
	v6 := Service{Name: "fwmark 5", Protocol: TCP, Fwmark: 5, Scheduler: "rr",
		Backends: []Backend{{Addr: netip.MustParseAddrPort("[2001:db8::2]:80"), Weight: 1}}}
	if err := v6.Validate(); err != nil {
		t.Fatalf("valid fwmark service refused: %v", err)
	}
	if !v6.IPv6() {
		t.Error("fwmark service with IPv6 backends: IPv6() = false")
	}
	none := Service{Name: "fwmark 6", Protocol: UDP, Fwmark: 6}
	if err := none.Validate(); err != nil || none.IPv6() {
		t.Errorf("fwmark service without backends: Validate() = %v, IPv6() = %v; want nil, false", err, none.IPv6())
	}
	listen := Service{Name: "v", Protocol: TCP, Listen: netip.MustParseAddrPort("[2001:db8::1]:80"),
		Backends: []Backend{{Addr: netip.MustParseAddrPort("192.0.2.1:80")}}}
	if !listen.IPv6() {
		t.Error("listen address decides the family: IPv6() = false for [2001:db8::1]:80")
	}
}

func TestEqualSeesBackendAndSorryChanges(t *testing.T) {
	a := Service{Name: "v", Backends: []Backend{{Addr: netip.MustParseAddrPort("127.0.0.1:1"), Weight: 1}}}
	b := a
	b.Backends = []Backend{{Addr: netip.MustParseAddrPort("127.0.0.1:1"), Weight: 1}}
	if !a.Equal(b) {
		t.Fatal("same content in different slices must be equal")
	}
	b.Backends[0].Weight = 2
	if a.Equal(b) {
		t.Fatal("weight change not seen")
	}
	c := a
	c.Sorry = &Backend{Addr: netip.MustParseAddrPort("127.0.0.1:2")}
	if a.Equal(c) {
		t.Fatal("sorry server change not seen")
	}
	d := a
	d.Fwmark = 7
	if a.Equal(d) {
		t.Fatal("fwmark change not seen")
	}
}
