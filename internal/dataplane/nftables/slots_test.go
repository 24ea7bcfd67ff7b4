package nftables

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

func be(i, weight int) dataplane.Backend {
	return dataplane.Backend{Addr: netip.MustParseAddrPort(fmt.Sprintf("198.51.100.%d:80", i)), Weight: weight}
}

func count(slots []netip.AddrPort) map[netip.AddrPort]int {
	m := map[netip.AddrPort]int{}
	for _, a := range slots {
		m[a]++
	}
	return m
}

func TestPlanSchedulers(t *testing.T) {
	sorry := be(99, 0)
	tests := []struct {
		name      string
		sched     dataplane.Scheduler
		backends  []dataplane.Backend
		sorry     *dataplane.Backend
		running   dataplane.Scheduler
		sel       selector
		want      map[netip.AddrPort]int // slots per backend
		wantOrder []netip.AddrPort       // when set, the exact slot order
	}{
		{name: "rr ignores weights", sched: "rr", backends: []dataplane.Backend{be(1, 1), be(2, 5)}, running: "rr",
			want: map[netip.AddrPort]int{be(1, 0).Addr: 1, be(2, 0).Addr: 1}},
		{name: "wrr repeats by weight, spread over the cycle", sched: "wrr", backends: []dataplane.Backend{be(1, 1), be(2, 2), be(3, 3)}, running: "wrr",
			wantOrder: []netip.AddrPort{be(3, 0).Addr, be(2, 0).Addr, be(1, 0).Addr, be(3, 0).Addr, be(2, 0).Addr, be(3, 0).Addr}},
		{name: "wrr divides by the common divisor", sched: "wrr", backends: []dataplane.Backend{be(1, 100), be(2, 300)}, running: "wrr",
			want: map[netip.AddrPort]int{be(1, 0).Addr: 1, be(2, 0).Addr: 3}},
		{name: "weight 0 takes no slot", sched: "wrr", backends: []dataplane.Backend{be(1, 0), be(2, 2)}, running: "wrr",
			want: map[netip.AddrPort]int{be(2, 0).Addr: 1}},
		{name: "wlc runs as wrr", sched: "wlc", backends: []dataplane.Backend{be(1, 1), be(2, 2)}, running: "wrr",
			want: map[netip.AddrPort]int{be(1, 0).Addr: 1, be(2, 0).Addr: 2}},
		{name: "empty scheduler is wlc so wrr", sched: "", backends: []dataplane.Backend{be(1, 1), be(2, 2)}, running: "wrr",
			want: map[netip.AddrPort]int{be(1, 0).Addr: 1, be(2, 0).Addr: 2}},
		{name: "lc runs as rr", sched: "lc", backends: []dataplane.Backend{be(1, 1), be(2, 2)}, running: "rr",
			want: map[netip.AddrPort]int{be(1, 0).Addr: 1, be(2, 0).Addr: 1}},
		{name: "sh hashes over weighted slots", sched: "sh", backends: []dataplane.Backend{be(1, 1), be(2, 3)}, running: "sh", sel: bySourceHash,
			want: map[netip.AddrPort]int{be(1, 0).Addr: 1, be(2, 0).Addr: 3}},
		{name: "dh falls back to sh", sched: "dh", backends: []dataplane.Backend{be(1, 1)}, running: "sh", sel: bySourceHash,
			want: map[netip.AddrPort]int{be(1, 0).Addr: 1}},
		{name: "fo takes the first highest weight", sched: "fo", backends: []dataplane.Backend{be(1, 2), be(2, 5), be(3, 5)}, running: "fo",
			want: map[netip.AddrPort]int{be(2, 0).Addr: 1}},
		{name: "sorry server when no weight", sched: "wrr", backends: []dataplane.Backend{be(1, 0)}, sorry: &sorry, running: "wrr",
			want: map[netip.AddrPort]int{sorry.Addr: 1}},
		{name: "nothing when no weight and no sorry server", sched: "wrr", backends: []dataplane.Backend{be(1, 0)}, running: "wrr",
			want: map[netip.AddrPort]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planFor(dataplane.Service{Scheduler: tt.sched, Backends: tt.backends, Sorry: tt.sorry}, false)
			if p.Running != tt.running || p.Select != tt.sel {
				t.Errorf("running %q select %d, want %q %d", p.Running, p.Select, tt.running, tt.sel)
			}
			if tt.wantOrder != nil {
				if !slices.Equal(p.Slots, tt.wantOrder) {
					t.Errorf("slots %v, want %v", p.Slots, tt.wantOrder)
				}
				return
			}
			got := count(p.Slots)
			if len(got) != len(tt.want) {
				t.Errorf("slots %v, want counts %v", p.Slots, tt.want)
			}
			for a, n := range tt.want {
				if got[a] != n {
					t.Errorf("%s has %d slots, want %d (slots %v)", a, got[a], n, p.Slots)
				}
			}
		})
	}
}

func TestPlanCapsSlotsKeepingProportions(t *testing.T) {
	p := planFor(dataplane.Service{Scheduler: "wrr", Backends: []dataplane.Backend{be(1, 65535), be(2, 65534), be(3, 1)}}, false)
	if len(p.Slots) > maxSlots+3 {
		t.Fatalf("%d slots, want at most about %d", len(p.Slots), maxSlots)
	}
	got := count(p.Slots)
	if got[be(3, 0).Addr] != 1 {
		t.Errorf("weight 1 among 65535s got %d slots, want 1 (every live backend keeps a slot)", got[be(3, 0).Addr])
	}
	if d := got[be(1, 0).Addr] - got[be(2, 0).Addr]; d < -1 || d > 1 {
		t.Errorf("weights 65535 and 65534 got %d and %d slots, want within 1", got[be(1, 0).Addr], got[be(2, 0).Addr])
	}
}

func TestMaglevMovesOnlyTheLeavingBackendsShare(t *testing.T) {
	four := []dataplane.Backend{be(1, 1), be(2, 1), be(3, 1), be(4, 1)}
	before := planFor(dataplane.Service{Scheduler: "mh", Backends: four}, false).Slots
	after := planFor(dataplane.Service{Scheduler: "mh", Backends: four[:3]}, false).Slots
	if len(before) != maglevSize || len(after) != maglevSize {
		t.Fatalf("table sizes %d and %d, want %d", len(before), len(after), maglevSize)
	}
	for a, n := range count(before) {
		if n < maglevSize/4-maglevSize/20 || n > maglevSize/4+maglevSize/20 {
			t.Errorf("%s owns %d of %d entries, want about a quarter", a, n, maglevSize)
		}
	}
	moved := 0
	for i := range before {
		if before[i] != four[3].Addr && before[i] != after[i] {
			moved++
		}
	}
	// Maglev promises minimal disruption, not none: allow a few percent of the table.
	if moved > maglevSize*5/100 {
		t.Errorf("removing one of four backends moved %d entries of the others, want at most 5%% of %d", moved, maglevSize)
	}
}

func TestApplyRefusesMixedAddressFamilies(t *testing.T) {
	svc := dataplane.Service{Name: "web", Protocol: dataplane.TCP, Listen: netip.MustParseAddrPort("192.0.2.10:80"), Scheduler: "rr",
		Backends: []dataplane.Backend{be(1, 1), {Addr: netip.MustParseAddrPort("[2001:db8::1]:80"), Weight: 1}}}
	if err := sameFamily(svc); err == nil {
		t.Error("IPv4 service with an IPv6 backend accepted, want an error")
	}
	svc.Backends = svc.Backends[:1]
	svc.Sorry = &dataplane.Backend{Addr: netip.MustParseAddrPort("[2001:db8::2]:80")}
	if err := sameFamily(svc); err == nil {
		t.Error("IPv4 service with an IPv6 sorry server accepted, want an error")
	}
	svc.Sorry = nil
	if err := sameFamily(svc); err != nil {
		t.Errorf("IPv4 service with IPv4 backends: %v", err)
	}
}
