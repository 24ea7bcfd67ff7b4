package nftables

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

func weighted(l *lab, weights ...int) []dataplane.Backend {
	var bs []dataplane.Backend
	for i, w := range weights {
		bs = append(bs, dataplane.Backend{Addr: l.backends[i].addr, Weight: w})
	}
	return bs
}

func webService(bs []dataplane.Backend) dataplane.Service {
	return dataplane.Service{Name: "192.0.2.10 80", Protocol: dataplane.TCP, Listen: vip, Scheduler: dataplane.WeightedRoundRobin, Backends: bs}
}

// TestKernelNAT runs the data plane in a balancer namespace between a client namespace and
// three backend namespaces (see lab). Each subtest starts its own Dataplane, which also shows
// that New takes over the table the previous one left.
func TestKernelNAT(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	url := "http://" + vip.String() + "/"
	apply := func(t *testing.T, d *Dataplane, svc dataplane.Service) {
		t.Helper()
		if err := d.Apply(ctx, svc); err != nil {
			t.Fatalf("Apply: %v\n%s", err, l.nft(t, "list", "ruleset"))
		}
	}
	// tally makes n requests, each on a new connection, and counts the answers by backend.
	tally := func(t *testing.T, n int) map[string]int {
		t.Helper()
		c := httpClient(l.clientWorker, false)
		got := map[string]int{}
		for i := range n {
			name, err := get(c, url)
			if err != nil {
				t.Fatalf("request %d of %d: %v", i+1, n, err)
			}
			got[name]++
		}
		return got
	}

	t.Run("WeightsOneTwoThreeSplitSixHundredConnections", func(t *testing.T) {
		d := l.newDataplane(t, Options{})
		apply(t, d, webService(weighted(l, 1, 2, 3)))
		const n = 600
		got := tally(t, n)
		for i, want := range []float64{1.0 / 6, 2.0 / 6, 3.0 / 6} {
			name := l.backends[i].name
			share := float64(got[name]) / n
			if share < want-0.05 || share > want+0.05 {
				t.Errorf("%s got %d of %d (%.1f%%), want %.1f%% ± 5 points; all: %v", name, got[name], n, share*100, want*100, got)
			}
		}
		stats := d.Stats()
		if len(stats) != 1 {
			t.Fatalf("Stats: %d services, want 1", len(stats))
		}
		for i, b := range stats[0].Backends {
			if int(b.Total) != got[l.backends[i].name] {
				t.Errorf("Stats: %s total %d, answers counted %d", b.Addr, b.Total, got[l.backends[i].name])
			}
		}
		t.Logf("answers %v, stats %+v", got, stats[0].Backends)
	})

	t.Run("RemovedAndInhibitedGetNoNewConnectionsWhileKeepAliveSurvives", func(t *testing.T) {
		d := l.newDataplane(t, Options{})
		apply(t, d, webService(weighted(l, 1, 1, 1)))
		conn, err := l.clientWorker.dial(ctx, vip.String())
		if err != nil {
			t.Fatalf("dial %s: %v", vip, err)
		}
		defer conn.Close()
		ka := newKeepAlive(conn)
		first, err := ka.get()
		if err != nil {
			t.Fatalf("keep-alive request: %v", err)
		}
		// Keep the keep-alive's backend in at weight 0, remove another one.
		var kept, removed, other *testBackend
		for _, b := range l.backends {
			switch {
			case b.name == first:
				kept = b
			case removed == nil:
				removed = b
			default:
				other = b
			}
		}
		apply(t, d, webService([]dataplane.Backend{{Addr: kept.addr, Weight: 0}, {Addr: other.addr, Weight: 1}}))
		keptConns, removedConns := kept.conns.Load(), removed.conns.Load()
		got := tally(t, 60)
		if got[other.name] != 60 {
			t.Errorf("after removing %s and setting %s to weight 0, 60 new connections went to %v, want all to %s", removed.name, kept.name, got, other.name)
		}
		if n := removed.conns.Load() - removedConns; n != 0 {
			t.Errorf("removed backend %s accepted %d new connections after Apply returned", removed.name, n)
		}
		if n := kept.conns.Load() - keptConns; n != 0 {
			t.Errorf("weight-0 backend %s accepted %d new connections after Apply returned", kept.name, n)
		}
		if name, err := ka.get(); err != nil || name != kept.name {
			t.Errorf("keep-alive connection after its backend went to weight 0: answer %q, %v; want %s", name, err, kept.name)
		}
		// Remove it altogether: the established connection still drains through conntrack.
		apply(t, d, webService([]dataplane.Backend{{Addr: other.addr, Weight: 1}}))
		for i := range 3 {
			if name, err := ka.get(); err != nil || name != kept.name {
				t.Errorf("keep-alive request %d after its backend was removed: answer %q, %v; want %s", i, name, err, kept.name)
			}
		}
	})

	t.Run("ActiveDrainingAndShutdownSessions", func(t *testing.T) {
		d := l.newDataplane(t, Options{})
		apply(t, d, webService(weighted(l, 1, 1, 1)))
		open := func() (*keepAliveConn, string) {
			t.Helper()
			conn, err := l.clientWorker.dial(ctx, vip.String())
			if err != nil {
				t.Fatalf("dial %s: %v", vip, err)
			}
			t.Cleanup(func() { conn.Close() })
			ka := newKeepAlive(conn)
			name, err := ka.get()
			if err != nil {
				t.Fatalf("keep-alive request: %v", err)
			}
			return ka, name
		}
		kaA, a := open()
		kaB, b := open()
		byName := map[string]*testBackend{}
		for _, tb := range l.backends {
			byName[tb.name] = tb
		}
		var keep []dataplane.Backend
		for _, tb := range l.backends {
			if tb.name != a && tb.name != b {
				keep = append(keep, dataplane.Backend{Addr: tb.addr, Weight: 1})
			}
		}
		st := d.Stats()[0]
		for _, bs := range st.Backends {
			if bs.Addr == byName[a].addr && bs.Active != 1 {
				t.Errorf("Stats: %s has %d active connections, want the keep-alive's 1", a, bs.Active)
			}
		}
		// a leaves without ShutdownSessions: drains, and Stats lists it as draining.
		svc := webService(append([]dataplane.Backend{{Addr: byName[b].addr, Weight: 1}}, keep...))
		apply(t, d, svc)
		if name, err := kaA.get(); err != nil || name != a {
			t.Errorf("draining keep-alive: answer %q, %v; want %s", name, err, a)
		}
		st = d.Stats()[0]
		if last := st.Backends[len(st.Backends)-1]; last.Addr != byName[a].addr || !last.Draining || last.Active != 1 {
			t.Errorf("Stats after %s left: last backend %+v, want it draining with 1 active", a, last)
		}
		// b leaves with ShutdownSessions: its connection is cut.
		svc = webService(keep)
		svc.ShutdownSessions = true
		apply(t, d, svc)
		if name, err := kaB.get(); err == nil {
			t.Errorf("keep-alive to %s after it left with ShutdownSessions: answered by %s, want the connection reset", b, name)
		}
		if name, err := kaA.get(); err != nil || name != a {
			t.Errorf("keep-alive to %s (which left earlier, before ShutdownSessions) after another left with it: answer %q, %v; want %s", a, name, err, a)
		}
	})

	t.Run("UpdatesUnderLoadFailNoRequest", func(t *testing.T) {
		d := l.newDataplane(t, Options{})
		apply(t, d, webService(weighted(l, 1, 1, 1)))
		var ok, failed atomic.Int64
		var firstErr atomic.Value
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := httpClient(l.clientWorker, false)
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := get(c, url); err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					} else {
						ok.Add(1)
					}
				}
			}()
		}
		sets := [][]int{{1, 2, 3}, {0, 1, 1}, {3, 0, 1}, {1, 1, 0}, {5, 1, 1}, {1, 1, 1}}
		deadline := time.Now().Add(2 * time.Second)
		updates := 0
		for time.Now().Before(deadline) {
			apply(t, d, webService(weighted(l, sets[updates%len(sets)]...)))
			updates++
			time.Sleep(20 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		if failed.Load() != 0 || ok.Load() < 100 {
			t.Errorf("%d updates under load: %d requests ok, %d failed (first: %v); want 0 failed and at least 100 ok", updates, ok.Load(), failed.Load(), firstErr.Load())
		}
		t.Logf("%d updates under load: %d requests ok, %d failed", updates, ok.Load(), failed.Load())

		// A packet picked by the old rule may look the map up after the commit: shrinking from
		// 7 slots ({5,1,1}) to 2 ({0,1,1}) keeps keys 2..6, each on a backend still in use.
		apply(t, d, webService(weighted(l, 5, 1, 1)))
		apply(t, d, webService(weighted(l, 0, 1, 1)))
		out := l.nft(t, "list", "map", "inet", "vigil", "vs1_slots")
		for key := range 7 {
			if !strings.Contains(out, fmt.Sprintf("0x%08x : ", key)) {
				t.Errorf("slot map after shrinking from 7 to 2 slots lacks key %d:\n%s", key, out)
			}
		}
		if strings.Contains(out, l.backends[0].addr.Addr().String()) {
			t.Errorf("slot map after %s left still sends to it:\n%s", l.backends[0].name, out)
		}
	})

	t.Run("SourceHashAndPersistenceKeepAClientOnOneBackend", func(t *testing.T) {
		d := l.newDataplane(t, Options{})
		for _, svc := range []dataplane.Service{
			{Name: "sh", Protocol: dataplane.TCP, Listen: vip, Scheduler: dataplane.SourceHash, Backends: weighted(l, 1, 1, 1)},
			{Name: "mh", Protocol: dataplane.TCP, Listen: vip, Scheduler: dataplane.MaglevHash, Backends: weighted(l, 1, 1, 1)},
			{Name: "rr persistent", Protocol: dataplane.TCP, Listen: vip, Scheduler: dataplane.RoundRobin, Persistence: time.Minute, Backends: weighted(l, 1, 1, 1)},
		} {
			apply(t, d, svc)
			got := tally(t, 12)
			if len(got) != 1 {
				t.Errorf("%s: one client's 12 connections went to %v, want one backend", svc.Name, got)
			}
			if err := d.Remove(ctx, svc.Name); err != nil {
				t.Fatalf("Remove %s: %v", svc.Name, err)
			}
		}
		// Persistence: when the client's backend leaves, the client moves and sticks again.
		svc := dataplane.Service{Name: "rr persistent", Protocol: dataplane.TCP, Listen: vip, Scheduler: dataplane.RoundRobin, Persistence: time.Minute, Backends: weighted(l, 1, 1, 1)}
		apply(t, d, svc)
		before := tally(t, 4)
		var gone string
		for name := range before {
			gone = name
		}
		var rest []dataplane.Backend
		for _, b := range l.backends {
			if b.name != gone {
				rest = append(rest, dataplane.Backend{Addr: b.addr, Weight: 1})
			}
		}
		svc.Backends = rest
		apply(t, d, svc)
		after := tally(t, 8)
		if len(after) != 1 || after[gone] != 0 {
			t.Errorf("after its backend %s left, the client's 8 connections went to %v, want one other backend", gone, after)
		}
	})

	t.Run("SorryServerWhenNoBackendHasWeightThenRefused", func(t *testing.T) {
		d := l.newDataplane(t, Options{})
		sorry := l.backends[2]
		svc := webService(weighted(l, 0, 0))
		svc.Sorry = &dataplane.Backend{Addr: sorry.addr}
		apply(t, d, svc)
		if got := tally(t, 6); got[sorry.name] != 6 {
			t.Errorf("every backend at weight 0: answers %v, want all 6 from the sorry server %s", got, sorry.name)
		}
		svc.Sorry = nil
		apply(t, d, svc)
		c := httpClient(l.clientWorker, false)
		for range 3 {
			if name, err := get(c, url); err == nil {
				t.Errorf("no backend and no sorry server: request answered by %s, want refused", name)
			} else if !strings.Contains(err.Error(), "refused") {
				t.Errorf("no backend and no sorry server: %v, want connection refused (the balancer's own stack answers)", err)
			}
		}
		if st := d.Stats(); len(st) != 1 || st[0].Refused < 3 {
			t.Errorf("Stats after 3 refused connections: %+v, want Refused >= 3", st)
		}
	})

	t.Run("LocalClientThroughOutputHook", func(t *testing.T) {
		d := l.newDataplane(t, Options{})
		apply(t, d, webService(weighted(l, 1, 1, 1)))
		c := httpClient(l.lbWorker, false)
		seen := map[string]int{}
		for i := range 6 {
			name, err := get(c, url)
			if err != nil {
				t.Fatalf("request %d from the balancer itself: %v", i, err)
			}
			seen[name]++
		}
		// Exact shares are TestKernelNAT's weighted test's business; under load a SYN lost
		// before its conntrack entry is confirmed is scheduled again, shifting rr by one.
		counted := uint64(0)
		for _, b := range d.Stats()[0].Backends {
			counted += b.Total
		}
		if len(seen) < 2 || counted < 6 {
			t.Errorf("6 local requests with rr reached %v (%d connections counted by the service), want at least 2 backends and 6 counted", seen, counted)
		}
	})

	t.Run("IPv6ServiceBalancesAndMasquerades", func(t *testing.T) {
		d := l.newDataplane(t, Options{})
		var bs []dataplane.Backend
		for i, b := range l.backends {
			bs = append(bs, dataplane.Backend{Addr: b.addr6, Weight: i + 1})
		}
		apply(t, d, dataplane.Service{Name: "v6", Protocol: dataplane.TCP, Listen: vip6, Scheduler: dataplane.WeightedRoundRobin, Backends: bs})
		c := httpClient(l.clientWorker, false)
		got := map[string]int{}
		for i := range 60 {
			name, err := get(c, "http://"+vip6.String()+"/")
			if err != nil {
				diag := func(args ...string) string {
					out, _ := exec.Command(args[0], args[1:]...).CombinedOutput()
					return string(out)
				}
				t.Fatalf("IPv6 request %d: %v\n%s\n%s\n%s\n%s", i, err, l.nft(t, "list", "ruleset"),
					diag("ip", "netns", "exec", l.client.Name, "ping", "-6", "-c1", "-W1", "2001:db8:1::10"),
					diag("ip", "netns", "exec", l.lb.Name, "ping", "-6", "-c1", "-W1", "2001:db8:2::11"),
					diag("ip", "netns", "exec", l.lb.Name, "cat", "/proc/net/nf_conntrack"))
			}
			got[name]++
		}
		if got["b1"] != 10 || got["b2"] != 20 || got["b3"] != 30 {
			t.Errorf("IPv6 wrr 1:2:3 over 60 connections: %v, want exactly 10 20 30 (wrr is deterministic)", got)
		}
		st := d.Stats()
		if len(st) != 1 || st[0].Backends[2].Total != 30 {
			t.Errorf("Stats: %+v, want 30 connections on %s", st, bs[2].Addr)
		}
		// Persistence and source hashing read the 16-byte source address.
		for _, sched := range []dataplane.Scheduler{dataplane.SourceHash, dataplane.RoundRobin} {
			svc := dataplane.Service{Name: "v6", Protocol: dataplane.TCP, Listen: vip6, Scheduler: sched, Persistence: time.Minute, Backends: bs}
			apply(t, d, svc)
			got := map[string]int{}
			for i := range 6 {
				name, err := get(c, "http://"+vip6.String()+"/")
				if err != nil {
					t.Fatalf("IPv6 %s persistent request %d: %v", sched, i, err)
				}
				got[name]++
			}
			if len(got) != 1 {
				t.Errorf("IPv6 %s with persistence: one client reached %v, want one backend", sched, got)
			}
		}
	})

	t.Run("UDPFlowsAreBalanced", func(t *testing.T) {
		d := l.newDataplane(t, Options{})
		svc := dataplane.Service{Name: "dns-like", Protocol: dataplane.UDP, Listen: netip.AddrPortFrom(vip.Addr(), 53), Scheduler: dataplane.WeightedRoundRobin, Backends: weighted(l, 1, 0, 2)}
		apply(t, d, svc)
		got := map[string]int{}
		for i := range 30 {
			name, err := l.clientWorker.udpAsk(svc.Listen)
			if err != nil {
				t.Fatalf("UDP flow %d: %v", i, err)
			}
			got[name]++
		}
		if got["b1"] != 10 || got["b3"] != 20 {
			t.Errorf("UDP wrr 1:0:2 over 30 flows: %v, want b1 10 and b3 20", got)
		}
		// A TCP service on the same address and port is a different service.
		if _, err := get(httpClient(l.clientWorker, false), "http://"+svc.Listen.String()+"/"); err == nil {
			t.Error("TCP to the UDP service's address and port was answered, want refused")
		}
	})

	t.Run("IdleTimeoutForgetsFlows", func(t *testing.T) {
		d := l.newDataplane(t, Options{})
		svc := dataplane.Service{Name: "udp idle", Protocol: dataplane.UDP, Listen: netip.AddrPortFrom(vip.Addr(), 5353), Scheduler: dataplane.RoundRobin, IdleTimeout: time.Second, Backends: weighted(l, 1, 1, 1)}
		apply(t, d, svc)
		tcp := webService(weighted(l, 1, 1, 1))
		tcp.IdleTimeout = time.Second
		apply(t, d, tcp)
		flow := l.clientWorker.udpFlow(t, svc.Listen)
		first, err := flow.ask()
		if err != nil {
			t.Fatalf("UDP: %v", err)
		}
		if again, err := flow.ask(); err != nil || again != first {
			t.Fatalf("UDP second datagram of the flow: %q, %v; want %s again", again, err, first)
		}
		conn, err := l.clientWorker.dial(ctx, vip.String())
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer conn.Close()
		if _, err := newKeepAlive(conn).get(); err != nil {
			t.Fatalf("TCP: %v", err)
		}
		active := func() (n int64) {
			for _, st := range d.Stats() {
				for _, b := range st.Backends {
					n += b.Active
				}
			}
			return n
		}
		if n := active(); n != 2 {
			t.Errorf("Stats: %d active flows, want 2 (one UDP, one TCP)", n)
		}
		// Conntrack's garbage collection may lag the timeout by a few seconds.
		deadline := time.Now().Add(10 * time.Second)
		for active() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("flows still in conntrack 10s after a 1s idle timeout: %+v", d.Stats())
			}
			time.Sleep(100 * time.Millisecond)
		}
		if next, err := flow.ask(); err != nil || next == first {
			t.Errorf("UDP datagram after the flow was forgotten: %q, %v; want a new rr pick, not %s", next, err, first)
		}
	})

	t.Run("StructuralChangesRecreateTheService", func(t *testing.T) {
		d := l.newDataplane(t, Options{})
		svc := webService(weighted(l, 1, 1, 1))
		apply(t, d, svc)
		moved := svc
		moved.Listen = netip.AddrPortFrom(vip.Addr(), 8081)
		moved.Persistence = time.Minute
		apply(t, d, moved)
		c := httpClient(l.clientWorker, false)
		if _, err := get(c, url); err == nil {
			t.Errorf("old listen port %d still answered after the service moved", vip.Port())
		}
		got := map[string]int{}
		for range 5 {
			name, err := get(c, "http://"+moved.Listen.String()+"/")
			if err != nil {
				t.Fatalf("new listen port: %v", err)
			}
			got[name]++
		}
		if len(got) != 1 {
			t.Errorf("persistent service after the move: %v, want one backend", got)
		}
		moved.Persistence = 0
		apply(t, d, moved)
		got = map[string]int{}
		for range 3 {
			name, err := get(c, "http://"+moved.Listen.String()+"/")
			if err != nil {
				t.Fatalf("after dropping persistence: %v", err)
			}
			got[name]++
		}
		if len(got) != 3 {
			t.Errorf("rr without persistence: %v, want 3 backends", got)
		}
		if err := d.Remove(ctx, moved.Name); err != nil {
			t.Fatalf("Remove: %v", err)
		}
		apply(t, d, webService(weighted(l, 1)))
		if err := d.Apply(ctx, dataplane.Service{Name: "clash", Protocol: dataplane.TCP, Listen: vip, Scheduler: "rr", Backends: weighted(l, 1)}); err == nil || !strings.Contains(err.Error(), "already") {
			t.Errorf("second service on the same protocol, address and port: %v, want an error naming the first", err)
		}
		if err := d.Remove(ctx, webService(nil).Name); err != nil {
			t.Fatalf("Remove: %v", err)
		}
		if err := d.Remove(ctx, "never applied"); err != nil {
			t.Errorf("Remove of an unknown service: %v, want nil", err)
		}
		if out := l.nft(t, "list", "table", "inet", "vigil"); strings.Contains(out, "chain vs") || strings.Contains(out, "map vs") {
			t.Errorf("objects left after Remove:\n%s", out)
		}
	})

	t.Run("NewReplacesStaleTableAndCloseRemovesOnlyItsOwn", func(t *testing.T) {
		l.nft(t, "add", "table", "inet", "testowned")
		l.nft(t, "add", "chain", "inet", "testowned", "keepme")
		t.Cleanup(func() { l.nft(t, "delete", "table", "inet", "testowned") })
		l.nft(t, "add", "table", "inet", "vigil")
		l.nft(t, "add", "chain", "inet", "vigil", "stale_from_previous_run")
		d := l.newDataplane(t, Options{})
		if out := l.nft(t, "list", "table", "inet", "vigil"); strings.Contains(out, "stale_from_previous_run") {
			t.Errorf("New kept a chain of the previous table:\n%s", out)
		}
		apply(t, d, webService(weighted(l, 1, 1, 1)))
		if err := d.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		out := l.nft(t, "list", "tables")
		if strings.Contains(out, "inet vigil") {
			t.Errorf("Close left vigil's table:\n%s", out)
		}
		if !strings.Contains(out, "inet testowned") || !strings.Contains(l.nft(t, "list", "table", "inet", "testowned"), "keepme") {
			t.Errorf("Close touched a table it did not create:\n%s", out)
		}
		if err := d.Apply(ctx, webService(weighted(l, 1))); err == nil {
			t.Error("Apply after Close succeeded, want an error")
		}

		d2 := l.newDataplane(t, Options{Table: "vigil_kept", KeepOnClose: true})
		apply(t, d2, webService(weighted(l, 1, 1, 1)))
		if err := d2.Close(); err != nil {
			t.Fatalf("Close with KeepOnClose: %v", err)
		}
		if out := l.nft(t, "list", "tables"); !strings.Contains(out, "inet vigil_kept") {
			t.Errorf("Close with KeepOnClose removed the table:\n%s", out)
		}
		if got := tally(t, 6); len(got) < 2 {
			t.Errorf("after Close with KeepOnClose, 6 connections went to %v, want the kept rules to spread them", got)
		}
		l.nft(t, "delete", "table", "inet", "vigil_kept")
	})

	t.Run("FwmarkServiceTakesMarkedPacketsBeforeAddressServices", func(t *testing.T) {
		// The test's own table marks TCP to 192.0.2.20 ports 80 and 8000 with 5 before NAT
		// (mangle priority), as an administrator's rules would for virtual_server fwmark 5.
		marked := netip.MustParseAddr("192.0.2.20")
		testenv.Run(t, "ip", "-n", l.lb.Name, "addr", "add", marked.String()+"/32", "dev", "lo")
		t.Cleanup(func() { testenv.Run(t, "ip", "-n", l.lb.Name, "addr", "del", marked.String()+"/32", "dev", "lo") })
		l.nft(t, "add", "table", "inet", "testmark")
		t.Cleanup(func() { l.nft(t, "delete", "table", "inet", "testmark") })
		l.nft(t, "add", "chain", "inet", "testmark", "pre", "{ type filter hook prerouting priority mangle; }")
		l.nft(t, "add", "rule", "inet", "testmark", "pre", "ip", "daddr", marked.String(), "tcp", "dport", "{ 80, 8000 }", "meta", "mark", "set", "5")
		// Counts the SYNs the balancer sees. Under load it has seen 21 for 20 connections (in
		// runs of 0.3 s, so not the 1 s retransmission timer; the cause is not pinned down):
		// the extra SYN makes a conntrack entry of its own, is scheduled (the service's own
		// counters show 21) and so may shift the round robin by one.
		l.nft(t, "add", "rule", "inet", "testmark", "pre", "ip", "daddr", marked.String(), "tcp", "flags", "syn", "counter")
		testTable := l.nft(t, "-s", "list", "table", "inet", "testmark")

		d := l.newDataplane(t, Options{})
		// An address service on one of the marked ports: the mark wins, as in IPVS.
		byAddr := dataplane.Service{Name: "192.0.2.20 80", Protocol: dataplane.TCP, Listen: netip.AddrPortFrom(marked, 80), Scheduler: "rr",
			Backends: []dataplane.Backend{{Addr: l.backends[2].addr, Weight: 1}}}
		apply(t, d, byAddr)
		fw := dataplane.Service{Name: "fwmark 5", Protocol: dataplane.TCP, Fwmark: 5, Scheduler: "rr", Backends: weighted(l, 1, 1)}
		apply(t, d, fw)
		apply(t, d, fw) // identical: no-op
		c := httpClient(l.clientWorker, false)
		ask := func(port uint16) (string, error) {
			return get(c, "http://"+netip.AddrPortFrom(marked, port).String()+"/")
		}
		got := map[string]int{}
		for i := range 20 {
			port := uint16(80)
			if i%2 == 1 {
				port = 8000
			}
			name, err := ask(port)
			if err != nil {
				t.Fatalf("request %d to marked port %d: %v\n%s", i, port, err, l.nft(t, "list", "ruleset"))
			}
			got[name]++
		}
		syns := counterPackets(t, l.nft(t, "list", "table", "inet", "testmark"))
		resent := int(syns) - 20
		b1, b2 := got[l.backends[0].name], got[l.backends[1].name]
		// Each extra scheduling moves one connection from one backend to the other.
		if b1+b2 != 20 || b1-b2 > 2*resent || b2-b1 > 2*resent {
			t.Errorf("20 marked connections (ports 80 and 8000, %d SYNs resent) went to %v, want 10 each to %s and %s only (shifted by at most one per resent SYN)", resent, got, l.backends[0].name, l.backends[1].name)
		}
		st := d.Stats()
		if len(st) != 2 || st[1].Name != "fwmark 5" || st[1].Fwmark != 5 {
			t.Errorf("Stats %+v, want fwmark 5 second with Fwmark 5", st)
		} else if n := st[1].Backends[0].Total + st[1].Backends[1].Total; n < 20 || n > syns {
			t.Errorf("Stats counted %d connections for fwmark 5, want 20 (up to %d with the resent SYNs)", n, syns)
		}
		if err := d.Apply(ctx, dataplane.Service{Name: "clash", Protocol: dataplane.TCP, Fwmark: 5, Backends: weighted(l, 1)}); err == nil || !strings.Contains(err.Error(), "tcp fwmark 5 ipv4 is already service fwmark 5's") {
			t.Errorf("second tcp fwmark 5 service: %v, want an error naming the first", err)
		}

		if err := d.Remove(ctx, fw.Name); err != nil {
			t.Fatalf("Remove: %v", err)
		}
		if name, err := ask(80); err != nil || name != l.backends[2].name {
			t.Errorf("after removing the fwmark service, port 80 answered %q, %v; want the address service's %s", name, err, l.backends[2].name)
		}
		if name, err := ask(8000); err == nil {
			t.Errorf("after removing the fwmark service, port 8000 still reached %s", name)
		}
		if out := l.nft(t, "list", "map", "inet", "vigil", "fwmarks4"); strings.Contains(out, "jump") {
			t.Errorf("fwmark map not emptied by Remove:\n%s", out)
		}
		apply(t, d, fw)
		if err := d.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if out := l.nft(t, "-s", "list", "table", "inet", "testmark"); out != testTable {
			t.Errorf("vigil changed the test's own table:\nbefore\n%s\nafter\n%s", testTable, out)
		}
	})

	t.Run("RulesetStaysListable", func(t *testing.T) {
		d := l.newDataplane(t, Options{})
		apply(t, d, webService(weighted(l, 1, 2, 3)))
		svc := dataplane.Service{Name: "sticky", Protocol: dataplane.UDP, Listen: vip, Scheduler: dataplane.SourceHash, Persistence: time.Minute, IdleTimeout: time.Minute, Backends: weighted(l, 1, 1)}
		apply(t, d, svc)
		apply(t, d, dataplane.Service{Name: "fwmark 9", Protocol: dataplane.TCP, Fwmark: 9, Scheduler: "rr", Backends: []dataplane.Backend{{Addr: l.backends[0].addr6, Weight: 1}}})
		out := l.nft(t, "list", "ruleset")
		for _, want := range []string{"numgen inc mod 6 map", "jhash ip saddr mod 2", "update @", "masquerade", "ct timeout set",
			"meta l4proto . meta mark vmap @fwmarks4", "meta l4proto . meta mark vmap @fwmarks6", "tcp . 0x00000009 : jump vs"} {
			if !strings.Contains(out, want) {
				t.Errorf("nft list ruleset lacks %q:\n%s", want, out)
			}
		}
		if t.Failed() {
			fmt.Println(out)
		}
	})
}

// counterPackets returns the packets of the only counter in an nft listing.
func counterPackets(t *testing.T, listing string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`counter packets (\d+)`).FindAllStringSubmatch(listing, -1)
	if len(m) != 1 {
		t.Fatalf("want one counter in:\n%s", listing)
	}
	n, err := strconv.ParseUint(m[0][1], 10, 64)
	if err != nil {
		t.Fatalf("counter in %q: %v", m[0][0], err)
	}
	return n
}
