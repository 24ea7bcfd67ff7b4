package lb

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/pool"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// srvRecords are the records of _http._tcp.web.test: one target per backend, each on
// 127.0.0.1 with the backend's port, TTL 1.
func srvRecords(t *testing.T, backends ...*testenv.Backend) []string {
	var rrs []string
	for i, b := range backends {
		_, port := b.HostPort()
		rrs = append(rrs, fmt.Sprintf("_http._tcp.web.test. 1 IN SRV 0 10 %s pod%d.web.test.", port, i),
			fmt.Sprintf("pod%d.web.test. 1 IN A 127.0.0.1", i))
	}
	return rrs
}

func dynamicConfig(vsPort int, resolver netip.AddrPort, extra string) string {
	return fmt.Sprintf(`virtual_server 127.0.0.1 %d {
  delay_loop 0.2
  lb_algo rr
  lb_kind NAT
  protocol TCP
  dynamic_real_servers {
    dns_srv _http._tcp.web.test
    resolver %s %d
    refresh 2
    drain_timeout 5
    empty_hold 1
%s    HTTP_GET {
      url {
        path /health
        status_code 200
      }
      connect_timeout 1
    }
  }
}
`, vsPort, resolver.Addr(), resolver.Port(), extra)
}

// dynamicVS is the first virtual server of d's status, with its real servers by address.
func dynamicVS(d *Half) (status.VirtualServer, map[string]status.RealServer) {
	vs := d.Snapshot().VirtualServers[0]
	rss := map[string]status.RealServer{}
	for _, rs := range vs.RealServers {
		rss[rs.Address] = rs
	}
	return vs, rss
}

func TestMembersFoundInDNSJoinDrainLeaveAndOutliveAReloadAndAFailure(t *testing.T) {
	b1, b2, b3 := testenv.StartBackend(t), testenv.StartBackend(t), testenv.StartBackend(t)
	zone := testenv.StartDNS(t, srvRecords(t, b1, b2)...)
	vsPort := testenv.FreePort(t, "127.0.0.1", false)
	text := dynamicConfig(vsPort, zone.Addr, "")
	var mu sync.Mutex
	var seen []string
	d := runDaemon(t, loadText(t, text), func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ev.Pool != nil && ev.Pool.Server != "":
			seen = append(seen, ev.Pool.Kind.String()+" "+ev.Pool.Server+": "+ev.Pool.Reason)
		case ev.Note != nil && ev.Note.Kind == NoteDiscovery:
			seen = append(seen, "note: "+ev.Note.Message)
		}
	})
	said := func(what string) bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.ContainsFunc(seen, func(s string) bool { return strings.Contains(s, what) })
	}
	// expect waits for an event saying what: the bus delivers after the state it reports.
	expect := func(what string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for !said(what) {
			if time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Errorf("no event saying %q: %q", what, seen)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	testenv.WaitFor(t, 5*time.Second, "two members found and up", func() bool {
		vs, rss := dynamicVS(d)
		return vs.UpCount == 2 && rss[b1.Addr].Discovered && rss[b2.Addr].Discovered && vs.Discovery != nil && vs.Discovery.Members == 2
	})
	expect("server-added " + b1.Addr + ": found in DNS (dns_srv _http._tcp.web.test): up")

	// b2 leaves DNS and b3 comes: b2 drains (held by dns) and, with no connection, is removed.
	zone.Set(t, srvRecords(t, b1, b3)...)
	testenv.WaitFor(t, 5*time.Second, "b3 added, b2 removed", func() bool {
		vs, rss := dynamicVS(d)
		_, b2there := rss[b2.Addr]
		return rss[b3.Addr].Up && !b2there && vs.Total == 2
	})
	for _, want := range []string{
		"admin-changed " + b2.Addr + ": drain by dns: gone from DNS (dns_srv _http._tcp.web.test): draining before removal",
		"server-removed " + b2.Addr + ": gone from DNS",
		"and drained: no connection left",
	} {
		expect(want)
	}

	// A reload keeps the members, their checks and their state.
	if err := d.Reload(loadText(t, text)); err != nil {
		t.Fatal(err)
	}
	if vs, rss := dynamicVS(d); vs.Total != 2 || !rss[b1.Addr].Up || !rss[b3.Addr].Discovered {
		t.Errorf("after a reload: %+v", vs)
	}
	if said("server-removed " + b1.Addr) {
		t.Errorf("the reload removed member %s", b1.Addr)
	}

	// DNS fails: the last answer stays, and the status and a note say so.
	zone.Fail("_http._tcp.web.test", true)
	testenv.WaitFor(t, 5*time.Second, "the failure in the status", func() bool {
		vs, _ := dynamicVS(d)
		return vs.Discovery.Error != "" && vs.Discovery.Stale
	})
	if vs, _ := dynamicVS(d); vs.Total != 2 || vs.UpCount != 2 || !strings.Contains(vs.Discovery.Error, "SERVFAIL") {
		t.Errorf("while DNS fails: %d of %d up, %+v", vs.UpCount, vs.Total, vs.Discovery)
	}
	expect("note: DNS lookup failed")
	expect("keeping the last answer (2 members")
	zone.Fail("_http._tcp.web.test", false)
	testenv.WaitFor(t, 5*time.Second, "DNS answers again", func() bool {
		vs, _ := dynamicVS(d)
		return vs.Discovery.Error == "" && !vs.Discovery.Stale && said("note: DNS answers again")
	})
	// The metrics tell the same: members, and lookups failed and answered.
	vs, _ := dynamicVS(d)
	for _, want := range []struct {
		name, outcome string
		atLeast       float64
	}{
		{"vigil_discovery_members", "", 2},
		{"vigil_discovery_lookups_total", "failed", 1},
		{"vigil_discovery_lookups_total", "answered", 3},
	} {
		if got := discoveryMetric(t, d, want.name, vs.Name, want.outcome); got < want.atLeast {
			t.Errorf("%s{outcome=%q} = %v, want at least %v", want.name, want.outcome, got, want.atLeast)
		}
	}
	if got := discoveryMetric(t, d, "vigil_discovery_stale", vs.Name, ""); got != 0 {
		t.Errorf("vigil_discovery_stale = %v once DNS answers again", got)
	}

	// Gone from DNS with a connection open: the member drains until drain_timeout.
	keep := testenv.DialKeepAlive(t, fmt.Sprintf("127.0.0.1:%d", vsPort))
	if _, err := keep.Get("/", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	var held string
	for _, rs := range []*testenv.Backend{b1, b3} {
		if rs.Served.Load() > 0 {
			held = rs.Addr
		}
	}
	// DNS names nobody: the members stay for empty_hold (1 s), then drain.
	left := time.Now()
	zone.Set(t)
	expect("note: DNS names nobody (NXDOMAIN or no records); keeping the last answer (2 members) for empty_hold 1s")
	if vs, _ := dynamicVS(d); !vs.Discovery.Stale || !strings.Contains(vs.Discovery.Error, "names nobody since") || vs.Discovery.Leaving != 0 {
		t.Errorf("while DNS names nobody, within empty_hold: %+v", vs.Discovery)
	}
	testenv.WaitFor(t, 5*time.Second, "the member with a connection drains", func() bool {
		_, rss := dynamicVS(d)
		rs := rss[held]
		return rs.AdminState == "drain" && rs.AdminBy == pool.HolderDNS.String()
	})
	if since := time.Since(left); since < time.Second {
		t.Errorf("the members drained %v after DNS named nobody, before empty_hold 1s", since)
	}
	expect("note: DNS has named nobody for")
	took := testenv.WaitFor(t, 10*time.Second, "removed at drain_timeout", func() bool {
		_, rss := dynamicVS(d)
		_, there := rss[held]
		return !there
	})
	if since := time.Since(left); since < 5*time.Second {
		t.Errorf("a member with a connection was removed %v after it left DNS, before empty_hold 1s and drain_timeout 5s", since)
	}
	t.Logf("the member holding a connection was removed %v after it drained, at drain_timeout", took)
	expect("drain_timeout 5s passed, connections still open: 1")
}

// discoveryMetric is the value of the series name for virtual server vs (and outcome, when
// given) in d's metrics; -1 when there is none.
func discoveryMetric(t *testing.T, d *Half, name, vs, outcome string) float64 {
	t.Helper()
	families, err := d.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["virtual_server"] != vs || labels["outcome"] != outcome {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

func TestMaxTakesTheFirstMembersByAddressAndNamesTheOthers(t *testing.T) {
	backends := []*testenv.Backend{testenv.StartBackend(t), testenv.StartBackend(t), testenv.StartBackend(t)}
	zone := testenv.StartDNS(t, srvRecords(t, backends...)...)
	var mu sync.Mutex
	var notes []string
	d := runDaemon(t, loadText(t, dynamicConfig(testenv.FreePort(t, "127.0.0.1", false), zone.Addr, "    max 2\n")), func(ev Event) {
		if ev.Note != nil && ev.Note.Kind == NoteDiscovery {
			mu.Lock()
			notes = append(notes, ev.Note.Message)
			mu.Unlock()
		}
	})
	addrs := make([]netip.AddrPort, len(backends))
	for i, b := range backends {
		addrs[i] = netip.MustParseAddrPort(b.Addr)
	}
	slices.SortFunc(addrs, netip.AddrPort.Compare)
	testenv.WaitFor(t, 5*time.Second, "two members of three", func() bool {
		vs, _ := dynamicVS(d)
		return vs.Discovery != nil && vs.Discovery.Members == 2 && vs.Discovery.Capped == 1
	})
	_, rss := dynamicVS(d)
	if _, ok := rss[addrs[2].String()]; ok || len(rss) != 2 {
		t.Errorf("members %v; want the first two by address, not %s", slices.Collect(maps.Keys(rss)), addrs[2])
	}
	want := fmt.Sprintf("dns_srv _http._tcp.web.test answered 3 members, max is 2: the first 2 by address are taken, %s left out", addrs[2])
	testenv.WaitFor(t, 3*time.Second, "a note naming the member left out", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(notes, want)
	})
}
