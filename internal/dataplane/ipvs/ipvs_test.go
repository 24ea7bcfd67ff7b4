package ipvs

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

func be(addr string, weight int) dataplane.Backend {
	return dataplane.Backend{Addr: netip.MustParseAddrPort(addr), Weight: weight}
}

// web is the service most cases start from: two NAT backends behind 192.0.2.10:80.
func web(backends ...dataplane.Backend) dataplane.Service {
	return dataplane.Service{
		Name: "192.0.2.10 80", Protocol: dataplane.TCP, Listen: netip.MustParseAddrPort("192.0.2.10:80"),
		Scheduler: "wlc", Backends: backends,
	}
}

func with(s dataplane.Service, change func(*dataplane.Service)) dataplane.Service {
	s.Backends = slices.Clone(s.Backends)
	change(&s)
	return s
}

var (
	a1 = be("198.51.100.1:8080", 1)
	b1 = be("198.51.100.2:8080", 1)
)

// marked is a firewall-mark service (virtual_server fwmark n).
func marked(n uint32, backends ...dataplane.Backend) dataplane.Service {
	return dataplane.Service{Name: fmt.Sprintf("fwmark %d", n), Protocol: dataplane.TCP, Fwmark: n, Scheduler: "wlc", Backends: backends}
}

func sorry(s *dataplane.Service) { b := be("198.51.100.99:80", 0); s.Sorry = &b }

func newTest(t *testing.T, opts Options) (*Dataplane, *fakeKernel) {
	t.Helper()
	k := newFakeKernel()
	d, err := newWithClient(nil, opts, k)
	if err != nil {
		t.Fatal(err)
	}
	return d, k
}

func TestApplyMakesTheFewestKernelCalls(t *testing.T) {
	base := web(a1, b1)
	const svc = "tcp 192.0.2.10:80"
	cases := []struct {
		name   string
		opts   Options
		before []dataplane.Service
		apply  dataplane.Service
		calls  []string
		state  []string
	}{
		{
			name:  "a new service is created with its backends",
			apply: base,
			calls: []string{
				"create-service tcp 192.0.2.10:80 wlc flags=0x0 timeout=0 mask=/32",
				"create-dest " + svc + " 198.51.100.1:8080 w=1 nat",
				"create-dest " + svc + " 198.51.100.2:8080 w=1 nat",
			},
		},
		{
			name:   "applying the same state again changes nothing",
			before: []dataplane.Service{base},
			apply:  base,
			calls:  nil,
		},
		{
			name:   "an added backend is one new destination",
			before: []dataplane.Service{base},
			apply:  web(a1, b1, be("198.51.100.3:8080", 2)),
			calls:  []string{"create-dest " + svc + " 198.51.100.3:8080 w=2 nat"},
		},
		{
			name:   "a backend that left is one removed destination",
			before: []dataplane.Service{base},
			apply:  web(b1),
			calls:  []string{"remove-dest " + svc + " 198.51.100.1:8080"},
		},
		{
			name:   "a weight change is one destination update",
			before: []dataplane.Service{base},
			apply:  web(be("198.51.100.1:8080", 5), b1),
			calls:  []string{"update-dest " + svc + " 198.51.100.1:8080 w=5 nat"},
		},
		{
			name:   "uthreshold and lthreshold are the destination's upper and lower thresholds",
			before: []dataplane.Service{base},
			apply:  web(dataplane.Backend{Addr: netip.MustParseAddrPort("198.51.100.1:8080"), Weight: 1, UThreshold: 10, LThreshold: 5}, b1),
			calls:  []string{"update-dest " + svc + " 198.51.100.1:8080 w=1 nat x=10 y=5"},
		},
		{
			name:   "weight 0 keeps the destination at weight 0",
			before: []dataplane.Service{base},
			apply:  web(be("198.51.100.1:8080", 0), b1),
			calls:  []string{"update-dest " + svc + " 198.51.100.1:8080 w=0 nat"},
		},
		{
			name:   "weights are raised before others are lowered",
			before: []dataplane.Service{web(be("198.51.100.1:8080", 5), be("198.51.100.2:8080", 0))},
			apply:  web(be("198.51.100.1:8080", 0), be("198.51.100.2:8080", 5)),
			calls: []string{
				"update-dest " + svc + " 198.51.100.2:8080 w=5 nat",
				"update-dest " + svc + " 198.51.100.1:8080 w=0 nat",
			},
		},
		{
			name:   "backends are added before the ones that left are removed",
			before: []dataplane.Service{web(a1)},
			apply:  web(b1),
			calls: []string{
				"create-dest " + svc + " 198.51.100.2:8080 w=1 nat",
				"remove-dest " + svc + " 198.51.100.1:8080",
			},
		},
		{
			name:   "a sorry server alone is not used while a backend has weight",
			before: []dataplane.Service{base},
			apply:  with(base, sorry),
			calls:  nil,
		},
		{
			name:   "the sorry server replaces backends that all have weight 0",
			before: []dataplane.Service{with(base, sorry)},
			apply:  with(web(be("198.51.100.1:8080", 0), be("198.51.100.2:8080", 0)), sorry),
			calls: []string{
				"create-dest " + svc + " 198.51.100.99:80 w=1 nat",
				"remove-dest " + svc + " 198.51.100.1:8080",
				"remove-dest " + svc + " 198.51.100.2:8080",
			},
			state: []string{
				"tcp 192.0.2.10:80 -> 198.51.100.99:80 w=1 nat",
				"tcp 192.0.2.10:80 wlc flags=0x0 timeout=0 mask=/32",
			},
		},
		{
			name:   "the sorry server replaces an empty pool",
			before: []dataplane.Service{base},
			apply:  with(web(), sorry),
			calls: []string{
				"create-dest " + svc + " 198.51.100.99:80 w=1 nat",
				"remove-dest " + svc + " 198.51.100.1:8080",
				"remove-dest " + svc + " 198.51.100.2:8080",
			},
		},
		{
			name:   "the sorry server goes when a backend is back",
			before: []dataplane.Service{with(web(), sorry)},
			apply:  with(web(a1), sorry),
			calls: []string{
				"create-dest " + svc + " 198.51.100.1:8080 w=1 nat",
				"remove-dest " + svc + " 198.51.100.99:80",
			},
		},
		{
			name:   "without a sorry server backends at weight 0 all stay",
			before: []dataplane.Service{base},
			apply:  web(be("198.51.100.1:8080", 0), be("198.51.100.2:8080", 0)),
			calls: []string{
				"update-dest " + svc + " 198.51.100.1:8080 w=0 nat",
				"update-dest " + svc + " 198.51.100.2:8080 w=0 nat",
			},
		},
		{
			name:   "a scheduler change updates the service in place",
			before: []dataplane.Service{base},
			apply:  with(base, func(s *dataplane.Service) { s.Scheduler = "rr" }),
			calls:  []string{"update-service tcp 192.0.2.10:80 rr flags=0x0 timeout=0 mask=/32"},
		},
		{
			name:   "a scheduler IPVS has and vigil's other data planes do not is passed through",
			before: []dataplane.Service{base},
			apply:  with(base, func(s *dataplane.Service) { s.Scheduler = "lblcr" }),
			calls:  []string{"update-service tcp 192.0.2.10:80 lblcr flags=0x0 timeout=0 mask=/32"},
		},
		{
			name:   "the empty scheduler is wlc",
			before: []dataplane.Service{base},
			apply:  with(base, func(s *dataplane.Service) { s.Scheduler = "" }),
			calls:  nil,
		},
		{
			name:   "persistence updates the service with its timeout and granularity",
			before: []dataplane.Service{base},
			apply: with(base, func(s *dataplane.Service) {
				s.Persistence = 300 * time.Second
				s.PersistenceGranularity = 24
			}),
			calls: []string{"update-service tcp 192.0.2.10:80 wlc flags=0x1 timeout=300 mask=/24"},
		},
		{
			name:   "a persistence under a second rounds up to one",
			before: []dataplane.Service{base},
			apply:  with(base, func(s *dataplane.Service) { s.Persistence = 1500 * time.Millisecond }),
			calls:  []string{"update-service tcp 192.0.2.10:80 wlc flags=0x1 timeout=2 mask=/32"},
		},
		{
			name:   "persistence off updates the service",
			before: []dataplane.Service{with(base, func(s *dataplane.Service) { s.Persistence = time.Minute })},
			apply:  base,
			calls:  []string{"update-service tcp 192.0.2.10:80 wlc flags=0x0 timeout=0 mask=/32"},
		},
		{
			name:   "granularity without persistence changes nothing",
			before: []dataplane.Service{base},
			apply:  with(base, func(s *dataplane.Service) { s.PersistenceGranularity = 24 }),
			calls:  nil,
		},
		{
			name:   "sh-port sets scheduler flag 2",
			before: []dataplane.Service{base},
			apply: with(base, func(s *dataplane.Service) {
				s.Scheduler = "sh"
				s.HashPort = true
			}),
			calls: []string{"update-service tcp 192.0.2.10:80 sh flags=0x10 timeout=0 mask=/32"},
		},
		{
			name:   "hash port means nothing to wlc",
			before: []dataplane.Service{base},
			apply:  with(base, func(s *dataplane.Service) { s.HashPort = true }),
			calls:  nil,
		},
		{
			name:   "a new port re-creates the service before the old one goes",
			before: []dataplane.Service{base},
			apply:  with(base, func(s *dataplane.Service) { s.Listen = netip.MustParseAddrPort("192.0.2.10:8000") }),
			calls: []string{
				"create-service tcp 192.0.2.10:8000 wlc flags=0x0 timeout=0 mask=/32",
				"create-dest tcp 192.0.2.10:8000 198.51.100.1:8080 w=1 nat",
				"create-dest tcp 192.0.2.10:8000 198.51.100.2:8080 w=1 nat",
				"remove-service " + svc,
			},
		},
		{
			name:   "a new protocol re-creates the service",
			before: []dataplane.Service{web(a1)},
			apply:  with(web(a1), func(s *dataplane.Service) { s.Protocol = dataplane.UDP }),
			calls: []string{
				"create-service udp 192.0.2.10:80 wlc flags=0x0 timeout=0 mask=/32",
				"create-dest udp 192.0.2.10:80 198.51.100.1:8080 w=1 nat",
				"remove-service " + svc,
			},
		},
		{
			name: "an IPv6 service takes its granularity as a prefix length",
			apply: dataplane.Service{
				Name: "v6", Protocol: dataplane.TCP, Listen: netip.MustParseAddrPort("[2001:db8::10]:443"),
				Scheduler: "mh", HashPort: true, Persistence: time.Minute, PersistenceGranularity: 64,
				Backends: []dataplane.Backend{be("[2001:db8::1]:443", 3)},
			},
			calls: []string{
				"create-service tcp [2001:db8::10]:443 mh flags=0x11 timeout=60 mask=/64",
				"create-dest tcp [2001:db8::10]:443 [2001:db8::1]:443 w=3 nat",
			},
		},
		{
			name:  "DR destinations take the service's port",
			opts:  Options{DefaultForwarding: DR},
			apply: web(a1),
			calls: []string{
				"create-service " + svc + " wlc flags=0x0 timeout=0 mask=/32",
				"create-dest " + svc + " 198.51.100.1:80 w=1 dr",
			},
		},
		{
			name:   "DR: re-applying changes nothing",
			opts:   Options{DefaultForwarding: DR},
			before: []dataplane.Service{web(a1)},
			apply:  web(a1),
			calls:  nil,
		},
		{
			name:  "a fwmark service is an IPVS fwmark service of its backends' family",
			apply: marked(5, a1, b1),
			calls: []string{
				"create-service fwmark 5 ipv4 wlc flags=0x0 timeout=0 mask=/32",
				"create-dest fwmark 5 ipv4 198.51.100.1:8080 w=1 nat",
				"create-dest fwmark 5 ipv4 198.51.100.2:8080 w=1 nat",
			},
			state: []string{
				"fwmark 5 ipv4 -> 198.51.100.1:8080 w=1 nat",
				"fwmark 5 ipv4 -> 198.51.100.2:8080 w=1 nat",
				"fwmark 5 ipv4 wlc flags=0x0 timeout=0 mask=/32",
			},
		},
		{
			name:   "a fwmark service applied again changes nothing",
			before: []dataplane.Service{marked(5, a1, b1)},
			apply:  marked(5, a1, b1),
			calls:  nil,
		},
		{
			name:   "a fwmark service's backend change is one destination call",
			before: []dataplane.Service{marked(5, a1, b1)},
			apply:  marked(5, b1),
			calls:  []string{"remove-dest fwmark 5 ipv4 198.51.100.1:8080"},
		},
		{
			name:   "a new mark re-creates the service before the old one goes",
			before: []dataplane.Service{marked(5, a1)},
			apply:  with(marked(6, a1), func(s *dataplane.Service) { s.Name = "fwmark 5" }),
			calls: []string{
				"create-service fwmark 6 ipv4 wlc flags=0x0 timeout=0 mask=/32",
				"create-dest fwmark 6 ipv4 198.51.100.1:8080 w=1 nat",
				"remove-service fwmark 5 ipv4",
			},
		},
		{
			name:   "a listen service turned fwmark is re-created",
			before: []dataplane.Service{with(web(a1), func(s *dataplane.Service) { s.Name = "fwmark 5" })},
			apply:  marked(5, a1),
			calls: []string{
				"create-service fwmark 5 ipv4 wlc flags=0x0 timeout=0 mask=/32",
				"create-dest fwmark 5 ipv4 198.51.100.1:8080 w=1 nat",
				"remove-service " + svc,
			},
		},
		{
			name:  "an IPv6 fwmark service with persistence",
			apply: with(marked(7, be("[2001:db8::1]:443", 2)), func(s *dataplane.Service) { s.Persistence = time.Minute; s.PersistenceGranularity = 64 }),
			calls: []string{
				"create-service fwmark 7 ipv6 wlc flags=0x1 timeout=60 mask=/64",
				"create-dest fwmark 7 ipv6 [2001:db8::1]:443 w=2 nat",
			},
		},
		{
			name:  "DR destinations of a fwmark service take port 0 (the packet's own)",
			opts:  Options{DefaultForwarding: DR},
			apply: marked(5, a1),
			calls: []string{
				"create-service fwmark 5 ipv4 wlc flags=0x0 timeout=0 mask=/32",
				"create-dest fwmark 5 ipv4 198.51.100.1:0 w=1 dr",
			},
		},
		{
			name:  "TUN forwarding",
			opts:  Options{DefaultForwarding: TUN},
			apply: web(be("198.51.100.1:80", 4)),
			calls: []string{
				"create-service " + svc + " wlc flags=0x0 timeout=0 mask=/32",
				"create-dest " + svc + " 198.51.100.1:80 w=4 tun",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, k := newTest(t, tc.opts)
			ctx := context.Background()
			for _, s := range tc.before {
				if err := d.Apply(ctx, s); err != nil {
					t.Fatalf("apply before: %v", err)
				}
			}
			k.take()
			if err := d.Apply(ctx, tc.apply); err != nil {
				t.Fatalf("apply: %v", err)
			}
			if got := k.take(); !slices.Equal(got, tc.calls) {
				t.Errorf("calls:\n got  %q\n want %q", got, tc.calls)
			}
			if tc.state != nil {
				if got := k.state(); !slices.Equal(got, tc.state) {
					t.Errorf("kernel state:\n got  %q\n want %q", got, tc.state)
				}
			}
			// Whatever the change, applying it again makes no call.
			if err := d.Apply(ctx, tc.apply); err != nil {
				t.Fatalf("re-apply: %v", err)
			}
			if got := k.take(); len(got) != 0 {
				t.Errorf("re-apply made calls %q, want none", got)
			}
		})
	}
}

func TestCloseRemovesOnlyVigilsServices(t *testing.T) {
	d, k := newTest(t, Options{})
	foreign := ipvs.Service{Address: netip.MustParseAddr("192.0.2.200"), Port: 53, Family: ipvs.INET, Protocol: ipvs.UDP, Scheduler: "rr", Netmask: netmask.MaskFrom(32, 32)}
	if err := k.CreateService(foreign); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	other := with(web(b1), func(s *dataplane.Service) { s.Name = "other"; s.Listen = netip.MustParseAddrPort("192.0.2.11:443") })
	for _, s := range []dataplane.Service{web(a1), other} {
		if err := d.Apply(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	k.take()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"remove-service tcp 192.0.2.10:80", "remove-service tcp 192.0.2.11:443"}
	if got := k.take(); !slices.Equal(got, want) {
		t.Errorf("close calls %q, want %q", got, want)
	}
	if got, want := k.state(), []string{"udp 192.0.2.200:53 rr flags=0x0 timeout=0 mask=/32"}; !slices.Equal(got, want) {
		t.Errorf("after close the kernel has %q, want only the foreign service %q", got, want)
	}
	if err := d.Apply(ctx, web(a1)); err == nil {
		t.Error("apply after close succeeded, want an error")
	}
	if err := d.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func TestCloseWithKeepOnCloseLeavesServices(t *testing.T) {
	d, k := newTest(t, Options{KeepOnClose: true})
	if err := d.Apply(context.Background(), web(a1)); err != nil {
		t.Fatal(err)
	}
	k.take()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if got := k.take(); len(got) != 0 {
		t.Errorf("close with KeepOnClose made calls %q", got)
	}
	if len(k.state()) != 2 {
		t.Errorf("kernel state after close %q, want the service and its destination", k.state())
	}
}

func TestApplyAdoptsAServiceLeftByAPreviousRun(t *testing.T) {
	k := newFakeKernel()
	first, _ := newWithClient(nil, Options{KeepOnClose: true}, k)
	if err := first.Apply(context.Background(), web(a1, b1)); err != nil {
		t.Fatal(err)
	}
	first.Close()
	k.take()
	d, _ := newWithClient(nil, Options{}, k)
	if err := d.Apply(context.Background(), web(a1)); err != nil {
		t.Fatal(err)
	}
	if got, want := k.take(), []string{"remove-dest tcp 192.0.2.10:80 198.51.100.2:8080"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

func TestApplyRepairsAChangeMadeBehindVigilsBack(t *testing.T) {
	d, k := newTest(t, Options{})
	ctx := context.Background()
	if err := d.Apply(ctx, web(a1, b1)); err != nil {
		t.Fatal(err)
	}
	id := identity(web())
	k.RemoveDestination(id, ipvs.Destination{Address: netip.MustParseAddr("198.51.100.1"), Port: 8080})
	k.take()
	if err := d.Apply(ctx, web(a1, b1)); err != nil {
		t.Fatal(err)
	}
	if got, want := k.take(), []string{"create-dest tcp 192.0.2.10:80 198.51.100.1:8080 w=1 nat"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

func TestApplyFailureOnANewServiceLeavesNothing(t *testing.T) {
	d, k := newTest(t, Options{})
	k.fail["create-dest tcp 192.0.2.10:80 198.51.100.2:8080"] = unix.EINVAL
	err := d.Apply(context.Background(), web(a1, b1))
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "198.51.100.2:8080") {
		t.Fatalf("apply error %v, want EINVAL naming the destination", err)
	}
	if st := k.state(); len(st) != 0 {
		t.Errorf("kernel after a failed create has %q, want nothing", st)
	}
	if st := d.Stats(); len(st) != 0 {
		t.Errorf("stats after a failed create list %v", st)
	}
	// The next Apply starts again from scratch.
	if err := d.Apply(context.Background(), web(a1, b1)); err != nil {
		t.Fatal(err)
	}
	if len(k.state()) != 3 {
		t.Errorf("kernel state %q, want the service and two destinations", k.state())
	}
}

func TestApplyRefusesAListenAddressOfAnotherService(t *testing.T) {
	d, _ := newTest(t, Options{})
	ctx := context.Background()
	if err := d.Apply(ctx, web(a1)); err != nil {
		t.Fatal(err)
	}
	err := d.Apply(ctx, with(web(b1), func(s *dataplane.Service) { s.Name = "clash" }))
	if err == nil || !strings.Contains(err.Error(), "already belongs to service 192.0.2.10 80") {
		t.Fatalf("apply error %v, want one naming the owner", err)
	}
}

func TestApplyRefusesInvalidInput(t *testing.T) {
	d, k := newTest(t, Options{DefaultForwarding: DR})
	for _, s := range []dataplane.Service{
		with(web(a1), func(s *dataplane.Service) { s.Scheduler = "bogus" }),
		web(be("198.51.100.1:8080", 1), be("198.51.100.1:9090", 1)), // one destination under DR
	} {
		if err := d.Apply(context.Background(), s); err == nil {
			t.Errorf("apply %+v succeeded, want an error", s)
		}
	}
	if got := k.take(); len(got) != 0 {
		t.Errorf("invalid applies made calls %q", got)
	}
	if _, err := newWithClient(nil, Options{DefaultForwarding: "FULLNAT"}, k); err == nil {
		t.Error("forwarding FULLNAT accepted")
	}
}

func TestRemove(t *testing.T) {
	d, k := newTest(t, Options{})
	ctx := context.Background()
	if err := d.Remove(ctx, "unknown"); err != nil {
		t.Errorf("remove unknown: %v", err)
	}
	if err := d.Apply(ctx, web(a1)); err != nil {
		t.Fatal(err)
	}
	k.take()
	if err := d.Remove(ctx, web().Name); err != nil {
		t.Fatal(err)
	}
	if got, want := k.take(), []string{"remove-service tcp 192.0.2.10:80"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if len(d.Stats()) != 0 {
		t.Error("a removed service is still in Stats")
	}
	// Removed behind vigil's back first: still not an error.
	if err := d.Apply(ctx, web(a1)); err != nil {
		t.Fatal(err)
	}
	k.RemoveService(identity(web()))
	if err := d.Remove(ctx, web().Name); err != nil {
		t.Errorf("remove of a service already gone: %v", err)
	}
}

func TestFwmarkServicesAreRemovedAndClosed(t *testing.T) {
	d, k := newTest(t, Options{})
	ctx := context.Background()
	for _, s := range []dataplane.Service{marked(5, a1), marked(6, b1)} {
		if err := d.Apply(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// IPVS keys a fwmark service by family and mark only: another protocol is the same one.
	clash := with(marked(5, b1), func(s *dataplane.Service) { s.Name = "clash"; s.Protocol = dataplane.UDP })
	if err := d.Apply(ctx, clash); err == nil || !strings.Contains(err.Error(), "fwmark 5 ipv4 already belongs to service fwmark 5") {
		t.Fatalf("apply of a second mark-5 service: %v, want an error naming the owner", err)
	}
	if st := d.Stats(); len(st) != 2 || st[0].Fwmark != 5 || st[0].Listen.IsValid() {
		t.Errorf("stats %+v, want two services, the first with Fwmark 5 and no listen address", st)
	}
	k.take()
	if err := d.Remove(ctx, "fwmark 5"); err != nil {
		t.Fatal(err)
	}
	if got, want := k.take(), []string{"remove-service fwmark 5 ipv4"}; !slices.Equal(got, want) {
		t.Errorf("remove calls %q, want %q", got, want)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := k.take(), []string{"remove-service fwmark 6 ipv4"}; !slices.Equal(got, want) {
		t.Errorf("close calls %q, want %q", got, want)
	}
}

func TestStatsComeFromTheKernelsDestinationCounters(t *testing.T) {
	d, k := newTest(t, Options{})
	ctx := context.Background()
	s := with(web(a1, be("198.51.100.2:8080", 3)), func(s *dataplane.Service) { s.Scheduler = "sed" })
	if err := d.Apply(ctx, s); err != nil {
		t.Fatal(err)
	}
	fs := k.svcs["tcp 192.0.2.10:80"]
	// The kernel lists destinations in its own order; Stats keeps the pool's.
	fs.dests[0], fs.dests[1] = fs.dests[1], fs.dests[0]
	fs.dests[0].ActiveConnections = 7
	fs.dests[0].Stats64 = ipvs.Stats{Connections: 100, IncomingBytes: 2000, OutgoingBytes: 30000}
	got := d.Stats()
	want := []dataplane.ServiceStats{{
		Name: s.Name, Protocol: dataplane.TCP, Listen: s.Listen, Scheduler: "sed",
		Backends: []dataplane.BackendStats{
			{Addr: a1.Addr, Weight: 1},
			{Addr: netip.MustParseAddrPort("198.51.100.2:8080"), Weight: 3, Active: 7, Total: 100, BytesIn: 2000, BytesOut: 30000},
		},
	}}
	if len(got) != 1 || !slices.Equal(got[0].Backends, want[0].Backends) || got[0].Scheduler != "sed" || got[0].Name != s.Name {
		t.Errorf("stats\n got  %+v\n want %+v", got, want)
	}

	if err := d.Apply(ctx, with(web(), sorry)); err != nil {
		t.Fatal(err)
	}
	got = d.Stats()
	if len(got[0].Backends) != 1 || !got[0].Backends[0].Sorry || got[0].Backends[0].Addr.String() != "198.51.100.99:80" {
		t.Errorf("stats with the sorry server in force: %+v", got[0].Backends)
	}
}

func TestApplyChangesOneOfThreeThousandBackendsWithOneCall(t *testing.T) {
	d, k := newTest(t, Options{})
	s := web()
	for i := range 3000 {
		s.Backends = append(s.Backends, dataplane.Backend{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(100 + i/250), byte(1 + i%250)}), 8080), Weight: 1})
	}
	ctx := context.Background()
	if err := d.Apply(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got := len(k.take()); got != 3001 {
		t.Fatalf("create made %d calls, want 3001", got)
	}
	s = with(s, func(s *dataplane.Service) { s.Backends[1500].Weight = 0 })
	start := time.Now()
	if err := d.Apply(ctx, s); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if got, want := k.take(), []string{"update-dest tcp 192.0.2.10:80 198.51.106.1:8080 w=0 nat"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	t.Logf("diff of 3000 destinations took %v", elapsed)
}
