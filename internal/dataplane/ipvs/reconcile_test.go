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

// TestReconcilePutsBackWhatWasChangedByHand makes each drift of doc.go's list in the fake
// kernel (the ipvsadm command that makes it on a real one is beside it) and checks that
// Reconcile reports it and makes the one call that puts it back.
func TestReconcilePutsBackWhatWasChangedByHand(t *testing.T) {
	const svc = "tcp 192.0.2.10:80"
	base := web(a1, b1)
	persistent := with(base, func(s *dataplane.Service) {
		s.Persistence = 300 * time.Second
		s.PersistenceGranularity = 24
	})
	cases := []struct {
		name    string
		ipvsadm string
		apply   dataplane.Service
		edit    func(svcs map[string]*fakeService)
		drifts  []string
		calls   []string
	}{
		{
			name:    "service deleted",
			ipvsadm: "ipvsadm -D -t 192.0.2.10:80",
			apply:   base,
			edit:    func(svcs map[string]*fakeService) { delete(svcs, svc) },
			drifts:  []string{"IPVS service tcp 192.0.2.10:80 missing"},
			calls: []string{
				"create-service tcp 192.0.2.10:80 wlc flags=0x0 timeout=0 mask=/32",
				"create-dest " + svc + " 198.51.100.1:8080 w=1 nat",
				"create-dest " + svc + " 198.51.100.2:8080 w=1 nat",
			},
		},
		{
			name:    "fwmark service deleted",
			ipvsadm: "ipvsadm -D -f 5",
			apply:   marked(5, a1),
			edit:    func(svcs map[string]*fakeService) { delete(svcs, "fwmark 5 ipv4") },
			drifts:  []string{"IPVS service fwmark 5 ipv4 missing"},
			calls: []string{
				"create-service fwmark 5 ipv4 wlc flags=0x0 timeout=0 mask=/32",
				"create-dest fwmark 5 ipv4 198.51.100.1:8080 w=1 nat",
			},
		},
		{
			name:    "scheduler changed",
			ipvsadm: "ipvsadm -E -t 192.0.2.10:80 -s rr",
			apply:   base,
			edit:    func(svcs map[string]*fakeService) { svcs[svc].svc.Scheduler = "rr" },
			drifts:  []string{"IPVS service tcp 192.0.2.10:80 scheduler rr, want wlc"},
			calls:   []string{"update-service tcp 192.0.2.10:80 wlc flags=0x0 timeout=0 mask=/32"},
		},
		{
			name:    "persistence turned on",
			ipvsadm: "ipvsadm -E -t 192.0.2.10:80 -s wlc -p 60",
			apply:   base,
			edit: func(svcs map[string]*fakeService) {
				svcs[svc].svc.Flags |= ipvs.ServicePersistent
				svcs[svc].svc.Timeout = 60
			},
			drifts: []string{"IPVS service tcp 192.0.2.10:80 flags 0x1, want 0x0"},
			calls:  []string{"update-service tcp 192.0.2.10:80 wlc flags=0x0 timeout=0 mask=/32"},
		},
		{
			name:    "persistence timeout changed",
			ipvsadm: "ipvsadm -E -t 192.0.2.10:80 -s wlc -p 600 -M 255.255.255.0",
			apply:   persistent,
			edit:    func(svcs map[string]*fakeService) { svcs[svc].svc.Timeout = 600 },
			drifts:  []string{"IPVS service tcp 192.0.2.10:80 persistence timeout 600s, want 300s"},
			calls:   []string{"update-service tcp 192.0.2.10:80 wlc flags=0x1 timeout=300 mask=/24"},
		},
		{
			name:    "persistence netmask changed",
			ipvsadm: "ipvsadm -E -t 192.0.2.10:80 -s wlc -p 300 -M 255.255.0.0",
			apply:   persistent,
			edit:    func(svcs map[string]*fakeService) { svcs[svc].svc.Netmask = netmask.MaskFrom(16, 32) },
			drifts:  []string{"IPVS service tcp 192.0.2.10:80 persistence netmask /16, want /24"},
			calls:   []string{"update-service tcp 192.0.2.10:80 wlc flags=0x1 timeout=300 mask=/24"},
		},
		{
			name:    "sh-port flag cleared",
			ipvsadm: "ipvsadm -E -t 192.0.2.10:80 -s sh",
			apply:   with(base, func(s *dataplane.Service) { s.Scheduler = "sh"; s.HashPort = true }),
			edit:    func(svcs map[string]*fakeService) { svcs[svc].svc.Flags &^= ipvs.ServiceSchedulerOpt2 },
			drifts:  []string{"IPVS service tcp 192.0.2.10:80 flags 0x0, want 0x10"},
			calls:   []string{"update-service tcp 192.0.2.10:80 sh flags=0x10 timeout=0 mask=/32"},
		},
		{
			name:    "destination deleted",
			ipvsadm: "ipvsadm -d -t 192.0.2.10:80 -r 198.51.100.2:8080",
			apply:   base,
			edit: func(svcs map[string]*fakeService) {
				fs := svcs[svc]
				fs.dests = slices.Delete(fs.dests, fs.dest("198.51.100.2:8080"), fs.dest("198.51.100.2:8080")+1)
			},
			drifts: []string{"IPVS destination 198.51.100.2:8080 missing"},
			calls:  []string{"create-dest " + svc + " 198.51.100.2:8080 w=1 nat"},
		},
		{
			name:    "destination added by hand",
			ipvsadm: "ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.9:8080 -m -w 5",
			apply:   base,
			edit: func(svcs map[string]*fakeService) {
				svcs[svc].dests = append(svcs[svc].dests, ipvs.DestinationExtended{Destination: ipvs.Destination{
					Address: netip.MustParseAddr("198.51.100.9"), Port: 8080, Family: ipvs.INET, FwdMethod: ipvs.Masquerade, Weight: 5}})
			},
			drifts: []string{"IPVS destination 198.51.100.9:8080 is not one of the service's"},
			calls:  []string{"remove-dest " + svc + " 198.51.100.9:8080"},
		},
		{
			name:    "weight changed",
			ipvsadm: "ipvsadm -e -t 192.0.2.10:80 -r 198.51.100.1:8080 -m -w 0",
			apply:   base,
			edit:    func(svcs map[string]*fakeService) { svcs[svc].dests[svcs[svc].dest("198.51.100.1:8080")].Weight = 0 },
			drifts:  []string{"IPVS destination 198.51.100.1:8080 weight 0, want 1"},
			calls:   []string{"update-dest " + svc + " 198.51.100.1:8080 w=1 nat"},
		},
		{
			name:    "forwarding method changed",
			ipvsadm: "ipvsadm -e -t 192.0.2.10:80 -r 198.51.100.1:80 -g -w 1",
			apply:   web(be("198.51.100.1:80", 1)),
			edit: func(svcs map[string]*fakeService) {
				svcs[svc].dests[svcs[svc].dest("198.51.100.1:80")].FwdMethod = ipvs.DirectRoute
			},
			drifts: []string{"IPVS destination 198.51.100.1:80 forwarding DR, want NAT"},
			calls:  []string{"update-dest " + svc + " 198.51.100.1:80 w=1 nat"},
		},
		{
			name:    "several at once, in Apply's order",
			ipvsadm: "ipvsadm -E -t 192.0.2.10:80 -s rr; ipvsadm -e -t 192.0.2.10:80 -r 198.51.100.1:8080 -m -w 3; ipvsadm -d -t 192.0.2.10:80 -r 198.51.100.2:8080",
			apply:   base,
			edit: func(svcs map[string]*fakeService) {
				fs := svcs[svc]
				fs.svc.Scheduler = "rr"
				fs.dests[fs.dest("198.51.100.1:8080")].Weight = 3
				fs.dests = slices.Delete(fs.dests, fs.dest("198.51.100.2:8080"), fs.dest("198.51.100.2:8080")+1)
			},
			drifts: []string{
				"IPVS service tcp 192.0.2.10:80 scheduler rr, want wlc",
				"IPVS destination 198.51.100.2:8080 missing",
				"IPVS destination 198.51.100.1:8080 weight 3, want 1",
			},
			calls: []string{
				"update-service tcp 192.0.2.10:80 wlc flags=0x0 timeout=0 mask=/32",
				"create-dest " + svc + " 198.51.100.2:8080 w=1 nat",
				"update-dest " + svc + " 198.51.100.1:8080 w=1 nat",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, k := newTest(t, Options{})
			ctx := context.Background()
			if err := d.Apply(ctx, tc.apply); err != nil {
				t.Fatal(err)
			}
			applied := k.state()
			k.take()
			k.byHand(tc.edit)
			repairs := d.Reconcile(ctx)
			var drifts []string
			for _, r := range repairs {
				if r.Err != nil || r.Service != tc.apply.Name {
					t.Errorf("repair %v: want service %q and no error", r, tc.apply.Name)
				}
				drifts = append(drifts, r.Drift)
			}
			if !slices.Equal(drifts, tc.drifts) {
				t.Errorf("after %s, Reconcile found\n %q\nwant\n %q", tc.ipvsadm, drifts, tc.drifts)
			}
			if got := k.take(); !slices.Equal(got, tc.calls) {
				t.Errorf("repair calls:\n got  %q\n want %q", got, tc.calls)
			}
			if got := k.state(); !slices.Equal(got, applied) {
				t.Errorf("kernel after the repair:\n got  %q\n want %q (as Apply left it)", got, applied)
			}
			if again := d.Reconcile(ctx); again != nil {
				t.Errorf("second Reconcile: %q, want nothing", again)
			}
			if calls := k.take(); calls != nil {
				t.Errorf("second Reconcile made calls %q", calls)
			}
			if st := d.Stats(); st[0].NotServing != "" {
				t.Errorf("NotServing %q after the repair", st[0].NotServing)
			}
		})
	}
}

// TestReconcileReadsEveryServiceAndWithNothingChangedChangesNothing: the kernel's state,
// read back, compares equal to every kind of service Apply makes.
func TestReconcileReadsEveryServiceAndWithNothingChangedChangesNothing(t *testing.T) {
	for _, opts := range []Options{{}, {DefaultForwarding: DR}} {
		d, k := newTest(t, opts)
		ctx := context.Background()
		services := []dataplane.Service{
			web(a1, be("198.51.100.2:8080", 0)),
			with(web(), func(s *dataplane.Service) {
				sorry(s)
				s.Name = "sorry"
				s.Listen = netip.MustParseAddrPort("192.0.2.11:80")
			}),
			with(marked(5, a1), func(s *dataplane.Service) { s.Persistence = time.Minute; s.PersistenceGranularity = 24 }),
			{Name: "v6", Protocol: dataplane.UDP, Listen: netip.MustParseAddrPort("[2001:db8::10]:53"), Scheduler: "mh", HashPort: true, Backends: []dataplane.Backend{be("[2001:db8::1]:53", 2)}},
		}
		for _, s := range services {
			if err := d.Apply(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		k.take()
		k.reads = 0
		if got := d.Reconcile(ctx); got != nil {
			t.Errorf("%+v: Reconcile with nothing changed: %q, want nil", opts, got)
		}
		if want := 2 * len(services); k.reads != want {
			t.Errorf("%+v: Reconcile made %d reads, want %d (each service and its destinations)", opts, k.reads, want)
		}
		if calls := k.take(); calls != nil {
			t.Errorf("%+v: Reconcile with nothing changed made calls %q", opts, calls)
		}
	}
}

func TestReconcileThatFailsSetsNotServingUntilARepairOrApply(t *testing.T) {
	d, k := newTest(t, Options{})
	ctx := context.Background()
	if err := d.Apply(ctx, web(a1, b1)); err != nil {
		t.Fatal(err)
	}
	removeB1 := func(svcs map[string]*fakeService) {
		fs := svcs["tcp 192.0.2.10:80"]
		fs.dests = slices.Delete(fs.dests, fs.dest("198.51.100.2:8080"), fs.dest("198.51.100.2:8080")+1)
	}
	k.byHand(removeB1)
	k.fail["create-dest tcp 192.0.2.10:80 198.51.100.2:8080"] = unix.ENOMEM
	r := d.Reconcile(ctx)
	if len(r) != 1 || !errors.Is(r[0].Err, unix.ENOMEM) || r[0].Drift != "IPVS destination 198.51.100.2:8080 missing" {
		t.Fatalf("Reconcile with the repair failing: %q, want one drift not repaired with ENOMEM", r)
	}
	if ns := d.Stats()[0].NotServing; !strings.Contains(ns, "IPVS destination 198.51.100.2:8080 missing: not repaired") {
		t.Errorf("NotServing %q, want the drift not repaired", ns)
	}
	if r := d.Reconcile(ctx); len(r) != 1 || r[0].Err != nil {
		t.Fatalf("Reconcile once the kernel takes the call: %q, want one repaired drift", r)
	}
	if ns := d.Stats()[0].NotServing; ns != "" {
		t.Errorf("NotServing %q after the repair", ns)
	}

	// An Apply that puts the service in place clears it too.
	k.byHand(removeB1)
	k.fail["create-dest tcp 192.0.2.10:80 198.51.100.2:8080"] = unix.ENOMEM
	d.Reconcile(ctx)
	if err := d.Apply(ctx, web(a1, b1)); err != nil {
		t.Fatal(err)
	}
	if ns := d.Stats()[0].NotServing; ns != "" {
		t.Errorf("NotServing %q after an Apply put the destination back", ns)
	}

	// A service that cannot be created again.
	k.byHand(func(svcs map[string]*fakeService) { delete(svcs, "tcp 192.0.2.10:80") })
	k.fail["create-service"] = unix.EPERM
	if r := d.Reconcile(ctx); len(r) != 1 || !errors.Is(r[0].Err, unix.EPERM) {
		t.Fatalf("Reconcile with the service missing and creation refused: %q", r)
	}
	if ns := d.Stats()[0].NotServing; !strings.Contains(ns, "IPVS service tcp 192.0.2.10:80 missing: not repaired") {
		t.Errorf("NotServing %q, want the missing service", ns)
	}
}

func TestReconcileRemovesAServiceApplyCouldNotReplace(t *testing.T) {
	d, k := newTest(t, Options{})
	ctx := context.Background()
	if err := d.Apply(ctx, web(a1)); err != nil {
		t.Fatal(err)
	}
	k.fail["remove-service tcp 192.0.2.10:80"] = unix.EBUSY
	moved := with(web(a1), func(s *dataplane.Service) { s.Listen = netip.MustParseAddrPort("192.0.2.10:8080") })
	if err := d.Apply(ctx, moved); err == nil {
		t.Fatal("Apply with the old service's removal failing succeeded, want its error")
	}
	k.take()
	r := d.Reconcile(ctx)
	if len(r) != 1 || r[0].Err != nil || r[0].Drift != "IPVS service tcp 192.0.2.10:80 replaced by Apply but still there" {
		t.Fatalf("Reconcile: %q, want the replaced service removed", r)
	}
	if got, want := k.take(), []string{"remove-service tcp 192.0.2.10:80"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if r := d.Reconcile(ctx); r != nil {
		t.Errorf("second Reconcile: %q", r)
	}
}

// BenchmarkReconcileTwentyThousandDestinations measures vigil's own work for one Reconcile of
// 1,000 services of 20 destinations with nothing changed (the fake answers at once; a real
// kernel adds two netlink round trips per service).
func BenchmarkReconcileTwentyThousandDestinations(b *testing.B) {
	k := newFakeKernel()
	d, err := newWithClient(nil, Options{}, k)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range 1000 {
		s := dataplane.Service{Name: fmt.Sprint(i), Protocol: dataplane.TCP, Scheduler: "wrr",
			Listen: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 250)}), uint16(1000+i))}
		for j := range 20 {
			n := i*20 + j
			s.Backends = append(s.Backends, dataplane.Backend{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}), 8080), Weight: 1})
		}
		if err := d.Apply(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if r := d.Reconcile(ctx); r != nil {
			b.Fatal(r)
		}
	}
}
