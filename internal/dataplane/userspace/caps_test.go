package userspace

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// answered reports whether the request k sent is answered within wait.
func answered(k *testenv.KeepAlive, wait time.Duration) bool {
	_, err := k.Read(wait)
	return err == nil
}

func statsOf(t *testing.T, b *Balancer, name string) dataplane.ServiceStats {
	t.Helper()
	for _, s := range b.Stats() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no stats for %s", name)
	return dataplane.ServiceStats{}
}

func TestGlobalMaxConnStopsAcceptingUntilAConnectionEnds(t *testing.T) {
	backends := startHTTPBackends(t, 1)
	var logs testenv.Buffer
	b := New(slog.New(slog.NewTextHandler(&logs, nil)), Options{MaxConn: 3})
	t.Cleanup(func() { b.Close() })
	mustApply(t, b, tcpService("web", backends))
	addr := addrOf(t, b, "web")
	var held []*testenv.KeepAlive
	for i := range 3 {
		k := testenv.DialKeepAlive(t, addr)
		if _, err := k.Get("/", 3*time.Second); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		held = append(held, k)
	}
	// The fourth connects (the kernel completes the handshake into the listen backlog) but is
	// not accepted: its request waits.
	waiting := testenv.DialKeepAlive(t, addr)
	if err := waiting.Send("/"); err != nil {
		t.Fatal(err)
	}
	if answered(waiting, 300*time.Millisecond) {
		t.Fatal("a fourth connection was served beside three held ones at maxconn 3")
	}
	st := statsOf(t, b, "web")
	if st.Conns != 3 || st.Paused == 0 || st.Refused != 0 {
		t.Fatalf("stats at the cap: conns %d, paused %d, refused %d; want 3, > 0, 0", st.Conns, st.Paused, st.Refused)
	}
	if !strings.Contains(logs.String(), "data plane at its global maxconn") {
		t.Errorf("no warning at the cap:\n%s", logs.String())
	}
	held[0].Conn.Close()
	if !answered(waiting, 5*time.Second) {
		t.Fatal("the waiting connection was not served once a connection ended")
	}
}

func TestServiceMaxConnLeavesOtherServicesTheirShare(t *testing.T) {
	backends := startHTTPBackends(t, 1)
	b := newTestBalancer(t, Options{})
	capped := tcpService("capped", backends)
	capped.MaxConn = 2
	mustApply(t, b, capped)
	mustApply(t, b, tcpService("free", backends))
	for range 2 {
		if _, err := testenv.DialKeepAlive(t, addrOf(t, b, "capped")).Get("/", 3*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	waiting := testenv.DialKeepAlive(t, addrOf(t, b, "capped"))
	if err := waiting.Send("/"); err != nil {
		t.Fatal(err)
	}
	if answered(waiting, 300*time.Millisecond) {
		t.Fatal("capped service served a third connection at maxconn 2")
	}
	for i := range 5 {
		if _, err := testenv.DialKeepAlive(t, addrOf(t, b, "free")).Get("/", 3*time.Second); err != nil {
			t.Fatalf("the other service's connection %d: %v", i, err)
		}
	}
	// Raising the cap lets the waiting connection in at once.
	capped.MaxConn = 3
	mustApply(t, b, capped)
	if !answered(waiting, 5*time.Second) {
		t.Fatal("the waiting connection was not served once the cap was raised")
	}
}

// tagOf opens a keep-alive connection to addr and says which backend answered it.
func tagOf(t *testing.T, addr string) (*testenv.KeepAlive, string) {
	t.Helper()
	k := testenv.DialKeepAlive(t, addr)
	tag, err := k.Get("/", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return k, tag
}

func TestUThresholdOverloadsABackendAndLThresholdReadmits(t *testing.T) {
	backends := startHTTPBackends(t, 2)
	b := newTestBalancer(t, Options{})
	svc := tcpService("web", backends)
	svc.Backends[0].UThreshold, svc.Backends[0].LThreshold = 3, 1
	mustApply(t, b, svc)
	addr := addrOf(t, b, "web")
	var onFirst []*testenv.KeepAlive
	count := map[string]int{}
	for range 10 {
		k, tag := tagOf(t, addr)
		count[tag]++
		if tag == "backend-0" {
			onFirst = append(onFirst, k)
		}
		if a := statsOf(t, b, "web").Backends[0].Active; a > 3 {
			t.Fatalf("backend-0 holds %d connections, over its uthreshold 3", a)
		}
	}
	if count["backend-0"] != 3 || count["backend-1"] != 7 {
		t.Fatalf("connections %v, want backend-0 at its uthreshold 3 and backend-1 the other 7", count)
	}
	if !statsOf(t, b, "web").Backends[0].Overloaded {
		t.Fatal("backend-0 not reported overloaded")
	}
	// Down to 1 is not below lthreshold 1: still overloaded.
	onFirst[0].Conn.Close()
	onFirst[1].Conn.Close()
	testenv.WaitFor(t, 5*time.Second, "backend-0 down to one connection", func() bool { return statsOf(t, b, "web").Backends[0].Active == 1 })
	for range 4 {
		if _, tag := tagOf(t, addr); tag != "backend-1" {
			t.Fatalf("a connection went to %s with one connection left, not below lthreshold 1", tag)
		}
	}
	// Below it, backend-0 takes connections again.
	onFirst[2].Conn.Close()
	testenv.WaitFor(t, 5*time.Second, "backend-0 idle", func() bool { return !statsOf(t, b, "web").Backends[0].Overloaded })
	again := map[string]int{}
	for range 4 {
		_, tag := tagOf(t, addr)
		again[tag]++
	}
	if again["backend-0"] == 0 {
		t.Fatalf("after falling below lthreshold backend-0 took none of %v", again)
	}
}

func TestEveryBackendOverloadedRefusesAndSaysWhy(t *testing.T) {
	backends := startHTTPBackends(t, 1)
	var logs testenv.Buffer
	b := New(slog.New(slog.NewTextHandler(&logs, nil)), Options{})
	t.Cleanup(func() { b.Close() })
	svc := tcpService("web", backends)
	svc.Backends[0].UThreshold = 1
	mustApply(t, b, svc)
	addr := addrOf(t, b, "web")
	tagOf(t, addr)
	// The refusal is a reset, which can reach the client before its connect has returned.
	c, err := net.DialTimeout("tcp", addr, time.Second)
	switch {
	case errors.Is(err, syscall.ECONNRESET):
	case err != nil:
		t.Fatal(err)
	default:
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a connection was served with the only backend at its uthreshold")
		}
	}
	testenv.WaitFor(t, 5*time.Second, "the refusal counted", func() bool { return statsOf(t, b, "web").RefusedOverloaded == 1 })
	if !strings.Contains(logs.String(), "at its uthreshold") {
		t.Errorf("no warning of the refusal:\n%s", logs.String())
	}
}

func TestOverloadFollowsIPVSThresholdRules(t *testing.T) {
	tests := []struct {
		name       string
		u, l       int
		steps      string // a: admit (x when refused), r: release
		overloaded bool
	}{
		{"no thresholds never overload", 0, 0, "aaaaa", false},
		{"uthreshold is reached by the admission", 3, 0, "aaa", true},
		{"past uthreshold is refused", 3, 0, "aaax", true},
		{"three quarters of uthreshold is not below it", 4, 0, "aaaar", true},
		{"below three quarters readmits", 4, 0, "aaaarr", false},
		{"lthreshold itself is not below it", 4, 2, "aaaarr", true},
		{"below lthreshold readmits", 4, 2, "aaaarrr", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(netip.MustParseAddrPort("192.0.2.1:80"), false)
			b.setThresholds(tc.u, tc.l)
			for i, s := range []byte(tc.steps) {
				switch s {
				case 'a', 'x':
					if got := b.admit(); got != (s == 'a') {
						t.Fatalf("step %d: admit %v, want %v", i, got, s == 'a')
					}
				case 'r':
					b.release()
				}
			}
			if b.stats().Overloaded != tc.overloaded {
				t.Fatalf("overloaded %v after %q, want %v", b.stats().Overloaded, tc.steps, tc.overloaded)
			}
		})
	}
	// Raising uthreshold clears the overload, as in IPVS; lowering it to what is held sets it.
	b := newBackend(netip.MustParseAddrPort("192.0.2.1:80"), false)
	b.setThresholds(2, 0)
	b.admit()
	b.admit()
	b.setThresholds(5, 0)
	if b.stats().Overloaded {
		t.Fatal("still overloaded after uthreshold was raised")
	}
	b.setThresholds(2, 0)
	if !b.stats().Overloaded || b.admit() {
		t.Fatal("not overloaded at the lowered uthreshold")
	}
}
