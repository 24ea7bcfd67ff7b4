package nftables

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// TestReconcileRepairsWhatOthersChanged breaks vigil's table in the balancer namespace the
// ways an administrator or another program could, and checks that one Reconcile finds the
// drift, reports it once, and puts traffic back.
func TestReconcileRepairsWhatOthersChanged(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	url := "http://" + vip.String() + "/"
	// serve makes n requests, each on a new connection, and returns how many failed.
	serve := func(n int) (failed int) {
		c := httpClient(l.clientWorker, false)
		for range n {
			if _, err := get(c, url); err != nil {
				failed++
			}
		}
		return failed
	}
	// handle returns the handle of the rule of chain in vigil's table whose listing contains
	// text.
	handle := func(t *testing.T, chain, text string) string {
		t.Helper()
		for _, line := range strings.Split(l.nft(t, "-a", "list", "chain", "inet", "vigil", chain), "\n") {
			if strings.Contains(line, text) {
				if m := regexp.MustCompile(`# handle (\d+)`).FindStringSubmatch(line); m != nil {
					return m[1]
				}
			}
		}
		t.Fatalf("no rule with %q in chain %s:\n%s", text, chain, l.nft(t, "-a", "list", "chain", "inet", "vigil", chain))
		return ""
	}
	web := webService(weighted(l, 1, 1, 1))

	cases := []struct {
		name string
		// breakIt changes the balancer namespace's ruleset behind vigil's back.
		breakIt func(t *testing.T)
		// service and drift are what the one Repair says (drift is a part of it).
		service, drift string
		// refuses is whether the change makes some of 6 new connections fail.
		refuses bool
	}{
		{
			name:    "FlushRuleset",
			breakIt: func(t *testing.T) { l.nft(t, "flush", "ruleset") },
			drift:   "nftables table inet vigil missing", refuses: true,
		},
		{
			name:    "DeleteTable",
			breakIt: func(t *testing.T) { l.nft(t, "delete", "table", "inet", "vigil") },
			drift:   "nftables table inet vigil missing", refuses: true,
		},
		{
			name: "DeleteServiceRuleByHandle",
			breakIt: func(t *testing.T) {
				l.nft(t, "delete", "rule", "inet", "vigil", "vs1", "handle", handle(t, "vs1", "numgen"))
			},
			service: web.Name, drift: "chain vs1: 1 rules, want 2", refuses: true,
		},
		{
			name: "ReplaceServiceRule",
			breakIt: func(t *testing.T) {
				l.nft(t, "replace", "rule", "inet", "vigil", "vs1", "handle", handle(t, "vs1", "numgen"), "counter")
			},
			service: web.Name, drift: "chain vs1: rule 1 of 2 altered", refuses: true,
		},
		{
			name:    "FlushHookChain",
			breakIt: func(t *testing.T) { l.nft(t, "flush", "chain", "inet", "vigil", "prerouting") },
			drift:   "chain prerouting: 0 rules, want 4", refuses: true,
		},
		{
			name: "DeleteSlotElement",
			breakIt: func(t *testing.T) {
				l.nft(t, "delete", "element", "inet", "vigil", "vs1_slots", "{ 0 }")
			},
			service: web.Name, drift: "map vs1_slots: elements 1 missing", refuses: true,
		},
		{
			name: "ChangeSlotElement",
			breakIt: func(t *testing.T) {
				l.nft(t, "delete", "element", "inet", "vigil", "vs1_slots", "{ 0 }")
				l.nft(t, "add", "element", "inet", "vigil", "vs1_slots", "{ 0 : 198.51.100.13 . 8080 }")
			},
			service: web.Name, drift: "map vs1_slots: elements 1 changed",
		},
		{
			name: "DeleteDispatchElement",
			breakIt: func(t *testing.T) {
				l.nft(t, "delete", "element", "inet", "vigil", "services4", "{ tcp . 192.0.2.10 . 80 }")
			},
			service: web.Name, drift: "map services4: elements 1 missing", refuses: true,
		},
		{
			name:    "DormantTable",
			breakIt: func(t *testing.T) { l.nft(t, "add", "table", "inet", "vigil", "{ flags dormant; }") },
			drift:   "nftables table inet vigil dormant", refuses: true,
		},
		{
			name: "ChainAddedToTheTable",
			breakIt: func(t *testing.T) {
				l.nft(t, "add", "chain", "inet", "vigil", "intruder", "{ type filter hook prerouting priority -300; }")
				l.nft(t, "add", "rule", "inet", "vigil", "intruder", "tcp", "dport", "80", "reject", "with", "tcp", "reset")
			},
			drift: "chain intruder is not vigil's", refuses: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := l.newDataplane(t, Options{})
			if err := d.Apply(ctx, web); err != nil {
				t.Fatal(err)
			}
			if n := serve(6); n != 0 {
				t.Fatalf("%d of 6 requests failed before the change", n)
			}
			tc.breakIt(t)
			if n := serve(6); tc.refuses && n == 0 {
				t.Fatalf("all 6 requests answered after the change, want some refused (the test breaks nothing):\n%s", l.nft(t, "list", "ruleset"))
			}
			start := time.Now()
			repairs := d.Reconcile(ctx)
			took := time.Since(start)
			if len(repairs) != 1 || repairs[0].Err != nil || repairs[0].Service != tc.service || !strings.Contains(repairs[0].Drift, tc.drift) {
				t.Fatalf("Reconcile: %q, want one repaired drift of service %q saying %q", repairs, tc.service, tc.drift)
			}
			t.Logf("%v in %v", repairs[0], took)
			if n := serve(6); n != 0 {
				t.Errorf("%d of 6 requests failed after the repair:\n%s", n, l.nft(t, "list", "ruleset"))
			}
			if again := d.Reconcile(ctx); again != nil {
				t.Errorf("Reconcile after the repair: %q, want nothing", again)
			}
			if st := d.Stats(); len(st) != 1 || st[0].NotServing != "" {
				t.Errorf("Stats after the repair: %+v, want the service serving", st)
			}
		})
	}
}

// TestReconcileReadsNothingWhenNobodyChangedTheRuleset: vigil's own changes keep the table
// known to be in place, so Reconcile does not read it; a change elsewhere in the ruleset makes
// it read the table once, and find every kind of service vigil writes as it wants it.
func TestReconcileReadsNothingWhenNobodyChangedTheRuleset(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	d := l.newDataplane(t, Options{})
	v6 := func(i int) dataplane.Backend { return dataplane.Backend{Addr: l.backends[i].addr6, Weight: 1} }
	for _, svc := range []dataplane.Service{
		webService(weighted(l, 1, 2, 3)),
		{Name: "sticky", Protocol: dataplane.UDP, Listen: vip, Scheduler: dataplane.SourceHash, Persistence: time.Minute, IdleTimeout: time.Minute, Backends: weighted(l, 1, 1)},
		{Name: "maglev", Protocol: dataplane.TCP, Listen: netip.AddrPortFrom(vip.Addr(), 81), Scheduler: dataplane.MaglevHash, Backends: weighted(l, 1, 1, 1)},
		{Name: "fwmark 9", Protocol: dataplane.TCP, Fwmark: 9, Scheduler: "rr", Backends: []dataplane.Backend{v6(0), v6(1)}},
		{Name: "v6 persistent", Protocol: dataplane.TCP, Listen: vip6, Scheduler: "rr", Persistence: time.Minute, Backends: []dataplane.Backend{v6(2)}},
		{Name: "sorry only", Protocol: dataplane.TCP, Listen: netip.AddrPortFrom(vip.Addr(), 82), Scheduler: "wrr", Backends: weighted(l, 0), Sorry: &dataplane.Backend{Addr: l.backends[2].addr}},
		{Name: "nobody", Protocol: dataplane.TCP, Listen: netip.AddrPortFrom(vip.Addr(), 83), Scheduler: "wrr", Backends: weighted(l, 0, 0)},
	} {
		if err := d.Apply(ctx, svc); err != nil {
			t.Fatal(err)
		}
	}
	// A weight change and a removal on top, so that maps keep keys past the modulus.
	if err := d.Apply(ctx, webService(weighted(l, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(ctx, "maglev"); err != nil {
		t.Fatal(err)
	}
	if got := d.Reconcile(ctx); got != nil || d.readBacks != 0 {
		t.Fatalf("Reconcile after vigil's own changes: %q and %d read-backs, want nothing and no read", got, d.readBacks)
	}
	l.nft(t, "add", "table", "inet", "someone_else")
	if got := d.Reconcile(ctx); got != nil || d.readBacks != 1 {
		t.Fatalf("Reconcile after a change in another table: %q and %d read-backs, want nothing found in one read:\n%s", got, d.readBacks, l.nft(t, "list", "table", "inet", "vigil"))
	}
	if got := d.Reconcile(ctx); got != nil || d.readBacks != 1 {
		t.Fatalf("Reconcile once the read found the table in place: %q and %d read-backs, want nothing and no new read", got, d.readBacks)
	}
	// A client now in a persistence set is no change to the ruleset.
	if _, err := l.clientWorker.udpAsk(vip); err != nil {
		t.Fatalf("UDP to the sticky service: %v", err)
	}
	if got := d.Reconcile(ctx); got != nil || d.readBacks != 1 {
		t.Errorf("Reconcile after a client filled a persistence set: %q and %d read-backs, want nothing and no new read", got, d.readBacks)
	}
}

// TestFailedRepairSetsNotServingUntilARepairSucceeds takes vigil's table name with another
// program's owner table (NFT_TABLE_F_OWNER: only its netlink socket may change it, and the
// table goes when the socket closes), so the repair fails honestly.
func TestFailedRepairSetsNotServingUntilARepairSucceeds(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	d := l.newDataplane(t, Options{})
	web := webService(weighted(l, 1, 1, 1))
	if err := d.Apply(ctx, web); err != nil {
		t.Fatal(err)
	}
	l.nft(t, "delete", "table", "inet", "vigil")
	owner := ownTable(t, "/var/run/netns/"+l.lb.Name, "vigil")

	repairs := d.Reconcile(ctx)
	if len(repairs) != 1 || repairs[0].Err == nil || !strings.Contains(repairs[0].Drift, "taken by another program") {
		t.Fatalf("Reconcile with the table name taken: %q, want one drift that could not be repaired", repairs)
	}
	if !errors.Is(repairs[0].Err, unix.EPERM) {
		t.Errorf("repair error %v, want EPERM from the kernel", repairs[0].Err)
	}
	st := d.Stats()
	if len(st) != 1 || !strings.Contains(st[0].NotServing, "taken by another program") {
		t.Fatalf("Stats after a failed repair: %+v, want NotServing to say what is missing", st)
	}
	// Still broken: the next Reconcile looks again and fails again, and so does an Apply.
	if again := d.Reconcile(ctx); len(again) != 1 || again[0].Err == nil {
		t.Errorf("second Reconcile while the name is taken: %q, want the same unrepaired drift", again)
	}
	changed := webService(weighted(l, 1, 1, 2))
	if err := d.Apply(ctx, changed); err == nil {
		t.Error("Apply while another program holds the table succeeded, want an error")
	}

	owner.Close() // the owner table goes with its socket
	if err := d.Apply(ctx, changed); err != nil {
		t.Fatalf("Apply once the name is free: %v", err)
	}
	if st := d.Stats(); len(st) != 1 || st[0].NotServing != "" {
		t.Errorf("Stats after Apply reinstalled the table: %+v, want NotServing empty", st)
	}
	if got, err := get(httpClient(l.clientWorker, false), "http://"+vip.String()+"/"); err != nil {
		t.Errorf("request after the reinstall: %q, %v", got, err)
	}
	if again := d.Reconcile(ctx); again != nil {
		t.Errorf("Reconcile after the reinstall: %q, want nothing", again)
	}

	// The same through Reconcile alone.
	l.nft(t, "delete", "table", "inet", "vigil")
	owner = ownTable(t, "/var/run/netns/"+l.lb.Name, "vigil")
	if r := d.Reconcile(ctx); len(r) != 1 || r[0].Err == nil {
		t.Fatalf("Reconcile with the name taken again: %q", r)
	}
	owner.Close()
	if r := d.Reconcile(ctx); len(r) != 1 || r[0].Err != nil || r[0].Drift != "nftables table inet vigil missing" {
		t.Fatalf("Reconcile once the name is free: %q, want the missing table repaired", r)
	}
	if st := d.Stats(); len(st) != 1 || st[0].NotServing != "" {
		t.Errorf("Stats after Reconcile repaired the table: %+v, want NotServing empty", st)
	}
}

// ownTable creates inet table name with the owner flag in the namespace at path, from a
// netlink socket of its own: the table is that socket's, others get EPERM when they change
// it, and it is deleted when the socket closes.
func ownTable(t *testing.T, path, name string) *netlink.Conn {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(f.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_TABLE_NAME, Data: []byte(name + "\x00")},
		{Type: unix.NFTA_TABLE_FLAGS, Data: []byte{0, 0, 0, tableOwner}},
	})
	if err != nil {
		t.Fatal(err)
	}
	batch := func(typ uint16) netlink.Message {
		return netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request},
			Data: []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, unix.NFNL_SUBSYS_NFTABLES}}
	}
	msgs := []netlink.Message{
		batch(unix.NFNL_MSG_BATCH_BEGIN),
		{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWTABLE), Flags: netlink.Request | netlink.Acknowledge | netlink.Create},
			Data: append([]byte{unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0}, attrs...)},
		batch(unix.NFNL_MSG_BATCH_END),
	}
	if _, err := c.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Receive(); err != nil {
		t.Fatalf("create owner table %s: %v", name, err)
	}
	return c
}

// BenchmarkReconcile runs Reconcile against 20,000 backends (1,000 services of 20): when
// nobody changed the ruleset (the generation check alone), and when another table changed
// (the whole table read back and compared).
func BenchmarkReconcile(b *testing.B) {
	ns := testenv.NewNamespace(b, "nftb").Name
	d, err := New(nil, Options{NetNS: "/var/run/netns/" + ns})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	ctx := context.Background()
	for i := range 1000 {
		svc := dataplane.Service{Name: fmt.Sprintf("vs%d", i), Protocol: dataplane.TCP,
			Listen: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 250)}), uint16(1000+i)), Scheduler: "wrr"}
		for j := range 20 {
			n := i*20 + j
			svc.Backends = append(svc.Backends, dataplane.Backend{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}), 8080), Weight: 1 + j%3})
		}
		if err := d.Apply(ctx, svc); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Unchanged", func(b *testing.B) {
		for b.Loop() {
			if r := d.Reconcile(ctx); r != nil {
				b.Fatal(r)
			}
		}
	})
	b.Run("ReadBack", func(b *testing.B) {
		for b.Loop() {
			d.mu.Lock()
			d.inPlaceKnown = false
			d.mu.Unlock()
			if r := d.Reconcile(ctx); r != nil {
				b.Fatal(r)
			}
		}
	})
}
