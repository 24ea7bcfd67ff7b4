package lb

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/pool"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// A real server that stops listening between two checks is ejected by what the userspace data
// plane saw, long before its next check: each client whose connection went to it was
// redispatched, and after two failures in a row no client goes to it.
func TestDataPlaneFailuresEjectAServerBeforeItsNextCheck(t *testing.T) {
	b1, b2, b3 := startBackend(t), startBackend(t), startBackend(t)
	vsPort := testenv.FreePort(t, "127.0.0.1", false)
	var conf strings.Builder
	fmt.Fprintf(&conf, "virtual_server 127.0.0.1 %d {\n  delay_loop 60\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n", vsPort)
	conf.WriteString("  passive_health {\n    consecutive_failures 2\n    max_ejection_percent 50\n  }\n")
	for _, be := range []*testBackend{b1, b2, b3} {
		h, p := hostPort(t, be.addr)
		fmt.Fprintf(&conf, "  real_server %s %s {\n    TCP_CHECK {\n      connect_timeout 1\n    }\n  }\n", h, p)
	}
	conf.WriteString("}\n")
	d, err := New(loadText(t, conf.String()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var ejections []pool.Event
	d.Events().Subscribe("test", func(ev Event) {
		if ev.Pool != nil && (ev.Pool.Kind == pool.ServerEjected || ev.Pool.Kind == pool.EjectionRefused) {
			mu.Lock()
			ejections = append(ejections, *ev.Pool)
			mu.Unlock()
		}
	})
	startRun(t, d)
	url := fmt.Sprintf("http://127.0.0.1:%d/", vsPort)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	testenv.WaitFor(t, 5*time.Second, "balancer serving", func() bool { _, err := get(client, url); return err == nil })

	b2.srv.Close() // refused from now on; its check is a minute away
	published := func() bool { mu.Lock(); defer mu.Unlock(); return len(ejections) > 0 }
	testenv.WaitFor(t, 5*time.Second, "the ejection published", func() bool {
		if _, err := get(client, url); err != nil {
			t.Fatalf("a request after the server died: %v", err)
		}
		return published()
	})
	mu.Lock()
	ev := ejections[0]
	mu.Unlock()
	if ev.Kind != pool.ServerEjected || ev.Server != b2.addr || ev.Cause != "refused" {
		t.Fatalf("first passive event %+v; want %s ejected for refused connects", ev, b2.addr)
	}
	for _, vs := range d.Snapshot().VirtualServers {
		for _, rs := range vs.RealServers {
			if ejected := rs.Address == b2.addr; rs.Ejected != ejected || !rs.Up {
				t.Errorf("status of %s: up %v ejected %v (%s)", rs.Address, rs.Up, rs.Ejected, rs.EjectedReason)
			}
		}
	}
	dialed := func() (failures uint64, weight int) {
		for _, ss := range d.DataplaneStats() {
			for _, bs := range ss.Backends {
				if bs.Addr == netip.MustParseAddrPort(b2.addr) {
					return bs.DialFailures, bs.Weight
				}
			}
		}
		return 0, -1
	}
	before, weight := dialed()
	if weight != 0 || before < 2 {
		t.Errorf("the ejected server: %d dial failures, weight %d in the data plane; want at least 2 and 0", before, weight)
	}
	for i := range 9 {
		if _, err := get(client, url); err != nil {
			t.Fatalf("request %d after the ejection: %v", i, err)
		}
	}
	if after, _ := dialed(); after != before {
		t.Errorf("the ejected server was dialled %d more times", after-before)
	}
}

// Two real servers die between checks, and the limits let passive health eject one: the other
// is refused, and the refusal is published once with the limit that refused it. Its clients
// are still redispatched, each after its own failed connect.
func TestEjectionPastALimitIsRefusedAndSaid(t *testing.T) {
	for _, tc := range []struct {
		name, lines, limit string
	}{
		{"max_ejection_percent", "  passive_health {\n    consecutive_failures 2\n    max_ejection_percent 34\n  }\n", pool.LimitMaxEjection},
		{"panic_threshold", "  panic_threshold 50\n  passive_health {\n    consecutive_failures 2\n    max_ejection_percent 100\n  }\n", pool.LimitPanic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backends := []*testBackend{startBackend(t), startBackend(t), startBackend(t)}
			vsPort := testenv.FreePort(t, "127.0.0.1", false)
			var conf strings.Builder
			fmt.Fprintf(&conf, "virtual_server 127.0.0.1 %d {\n  delay_loop 60\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n%s", vsPort, tc.lines)
			for _, be := range backends {
				h, p := hostPort(t, be.addr)
				fmt.Fprintf(&conf, "  real_server %s %s {\n    TCP_CHECK {\n      connect_timeout 1\n    }\n  }\n", h, p)
			}
			conf.WriteString("}\n")
			d, err := New(loadText(t, conf.String()), Options{})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var passive []pool.Event
			d.Events().Subscribe("test", func(ev Event) {
				if ev.Pool != nil && (ev.Pool.Kind == pool.ServerEjected || ev.Pool.Kind == pool.EjectionRefused) {
					mu.Lock()
					passive = append(passive, *ev.Pool)
					mu.Unlock()
				}
			})
			startRun(t, d)
			url := fmt.Sprintf("http://127.0.0.1:%d/", vsPort)
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
			testenv.WaitFor(t, 5*time.Second, "balancer serving", func() bool { _, err := get(client, url); return err == nil })

			backends[0].srv.Close()
			backends[1].srv.Close()
			testenv.WaitFor(t, 5*time.Second, "one ejection and one refusal", func() bool {
				if body, err := get(client, url); err != nil || body != backends[2].addr {
					t.Fatalf("a request with two servers dead: %q, %v; want it served by the live one", body, err)
				}
				mu.Lock()
				defer mu.Unlock()
				return len(passive) >= 2
			})
			for range 12 { // more failures of the refused server's run: no more refusals said
				if _, err := get(client, url); err != nil {
					t.Fatal(err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(passive) != 2 || passive[0].Kind != pool.ServerEjected || passive[1].Kind != pool.EjectionRefused || passive[1].Cause != tc.limit {
				t.Fatalf("passive health events %+v; want one ejection, then one refusal by %s", passive, tc.limit)
			}
			t.Logf("%s: %s", passive[1].Server, passive[1].Reason)
		})
	}
}
