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
}
