package userspace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// httpBackend is a real HTTP server that counts the requests it gets, and separately those
// whose client started them after the test's Apply returned (header X-After).
type httpBackend struct {
	id    int
	srv   *httptest.Server
	addr  netip.AddrPort
	all   atomic.Int64
	after atomic.Int64
}

func startHTTPBackends(t *testing.T, n int) []*httpBackend {
	t.Helper()
	out := make([]*httpBackend, n)
	for i := range out {
		hb := &httpBackend{id: i}
		hb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hb.all.Add(1)
			if r.Header.Get("X-After") == "1" {
				hb.after.Add(1)
			}
			fmt.Fprintf(w, "backend-%d", hb.id)
		}))
		hb.addr = netip.MustParseAddrPort(hb.srv.Listener.Addr().String())
		t.Cleanup(hb.srv.Close)
		out[i] = hb
	}
	return out
}

func newTestBalancer(t *testing.T, opts Options) *Balancer {
	t.Helper()
	b := New(nil, opts)
	t.Cleanup(func() { b.Close() })
	return b
}

func tcpService(name string, backends []*httpBackend, weights ...int) dataplane.Service {
	s := dataplane.Service{Name: name, Protocol: dataplane.TCP, Listen: netip.MustParseAddrPort("127.0.0.1:0"), Scheduler: dataplane.RoundRobin}
	for i, hb := range backends {
		w := 1
		if i < len(weights) {
			w = weights[i]
		}
		s.Backends = append(s.Backends, dataplane.Backend{Addr: hb.addr, Weight: w})
	}
	return s
}

func mustApply(t *testing.T, b *Balancer, s dataplane.Service) {
	t.Helper()
	if err := b.Apply(context.Background(), s); err != nil {
		t.Fatalf("Apply(%s): %v", s.Name, err)
	}
}

func addrOf(t *testing.T, b *Balancer, name string) string {
	t.Helper()
	a, ok := b.Addr(name)
	if !ok {
		t.Fatalf("service %s not listening", name)
	}
	return a.String()
}

func oneShot(addr string, after bool) (string, error) {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	if after {
		req.Header.Set("X-After", "1")
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func TestRemovedBackendGetsNoRequestAfterApplyReturns(t *testing.T) {
	type variant struct {
		sched   dataplane.Scheduler
		inhibit bool // weight 0 instead of removal
	}
	var variants []variant
	for _, sched := range []dataplane.Scheduler{"rr", "wrr", "lc", "wlc", "sh", "mh", "fo"} {
		variants = append(variants, variant{sched, false}, variant{sched, true})
	}
	for _, v := range variants {
		sched := v.sched
		name := string(sched) + "/remove"
		if v.inhibit {
			name = string(sched) + "/weight0"
		}
		t.Run(name, func(t *testing.T) {
			hbs := startHTTPBackends(t, 3)
			b := newTestBalancer(t, Options{})
			svc := tcpService("web", hbs)
			svc.Scheduler = sched
			mustApply(t, b, svc)
			addr := addrOf(t, b, "web")

			var applied atomic.Bool
			var errs atomic.Int64
			var firstErr atomic.Value
			var sent atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := oneShot(addr, applied.Load()); err != nil {
							if errs.Add(1) == 1 {
								firstErr.Store(err.Error())
							}
						}
						sent.Add(1)
					}
				}()
			}
			testenv.WaitFor(t, 5*time.Second, "traffic", func() bool {
				return hbs[0].all.Load()+hbs[1].all.Load()+hbs[2].all.Load() > 50
			})
			// Remove the busiest backend (with sh and mh, the only one 127.0.0.1 reaches).
			victim := 0
			for i, hb := range hbs {
				if hb.all.Load() > hbs[victim].all.Load() {
					victim = i
				}
			}
			if v.inhibit {
				svc.Backends[victim].Weight = 0
			} else {
				svc.Backends = append(svc.Backends[:victim:victim], svc.Backends[victim+1:]...)
			}
			mustApply(t, b, svc)
			applied.Store(true)
			before := sent.Load()
			testenv.WaitFor(t, 5*time.Second, "100 requests after the update", func() bool { return sent.Load()-before > 100 })
			close(stop)
			wg.Wait()
			if n := hbs[victim].after.Load(); n != 0 {
				t.Fatalf("removed backend got %d requests started after Apply returned", n)
			}
			if hbs[0].after.Load()+hbs[1].after.Load()+hbs[2].after.Load() == 0 {
				t.Fatal("no request after Apply reached the remaining backends")
			}
			if e := errs.Load(); e != 0 {
				t.Fatalf("%d client requests failed across the update, first: %v", e, firstErr.Load())
			}
		})
	}
}

func TestEstablishedConnectionSurvivesUpdates(t *testing.T) {
	eachCopyMode(t, testSurvives)
}

func testSurvives(t *testing.T, opts Options) {
	hbs := startHTTPBackends(t, 3)
	b := newTestBalancer(t, opts)
	svc := tcpService("web", hbs)
	mustApply(t, b, svc)
	ka := testenv.DialKeepAlive(t, addrOf(t, b, "web"))
	first, err := ka.Get("/", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var mine int
	fmt.Sscanf(first, "backend-%d", &mine)

	updates := []func(*dataplane.Service){
		func(s *dataplane.Service) { s.Scheduler = dataplane.WeightedLeastConnection },
		func(s *dataplane.Service) { s.Backends[(mine+1)%3].Weight = 5 },
		func(s *dataplane.Service) { s.Backends[mine].Weight = 0 }, // inhibit: established stays
		func(s *dataplane.Service) { s.Backends = append(s.Backends[:0:0], s.Backends[mine]) },
		func(s *dataplane.Service) {
			s.Backends = []dataplane.Backend{{Addr: hbs[(mine+2)%3].addr, Weight: 1}} // mine removed: drains
		},
	}
	for i, up := range updates {
		up(&svc)
		mustApply(t, b, svc)
		got, err := ka.Get("/", 3*time.Second)
		if err != nil || got != first {
			t.Fatalf("after update %d the long-lived connection got %q, %v; want %q", i, got, err, first)
		}
	}
	// New connections follow the last update.
	if got, err := oneShot(addrOf(t, b, "web"), false); err != nil || got != fmt.Sprintf("backend-%d", (mine+2)%3) {
		t.Fatalf("new connection got %q, %v", got, err)
	}
	st := b.Stats()[0]
	var draining bool
	for _, bs := range st.Backends {
		if bs.Addr == hbs[mine].addr && bs.Draining && bs.Active == 1 {
			draining = true
		}
	}
	if !draining {
		t.Fatalf("stats %+v: want backend %d draining with 1 active connection", st.Backends, mine)
	}
}

func TestShutdownSessionsResetsOnlyRemovedBackend(t *testing.T) {
	hbs := startHTTPBackends(t, 2)
	b := newTestBalancer(t, Options{})
	svc := tcpService("web", hbs)
	svc.ShutdownSessions = true
	mustApply(t, b, svc)
	addr := addrOf(t, b, "web")
	conns := map[string]*testenv.KeepAlive{}
	for len(conns) < 2 {
		ka := testenv.DialKeepAlive(t, addr)
		who, err := ka.Get("/", 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns[who] = ka
	}
	svc.Backends = svc.Backends[:1]
	mustApply(t, b, svc)
	if _, err := conns["backend-1"].Get("/", 3*time.Second); err == nil {
		t.Fatal("connection to the removed backend still works with ShutdownSessions")
	}
	if got, err := conns["backend-0"].Get("/", 3*time.Second); err != nil || got != "backend-0" {
		t.Fatalf("connection to the remaining backend: %q, %v", got, err)
	}
}

func TestSorryServerTakesOverWhenNoBackendHasWeight(t *testing.T) {
	hbs := startHTTPBackends(t, 3)
	b := newTestBalancer(t, Options{})
	svc := tcpService("web", hbs[:2], 0, 0)
	svc.Sorry = &dataplane.Backend{Addr: hbs[2].addr}
	mustApply(t, b, svc)
	addr := addrOf(t, b, "web")
	steps := []struct {
		name    string
		mod     func(*dataplane.Service)
		want    string // "" means refused
		refused bool
	}{
		{"all weight 0", func(s *dataplane.Service) {}, "backend-2", false},
		{"empty set", func(s *dataplane.Service) { s.Backends = nil }, "backend-2", false},
		{"a backend back", func(s *dataplane.Service) { s.Backends = []dataplane.Backend{{Addr: hbs[1].addr, Weight: 1}} }, "backend-1", false},
		{"no sorry, none up", func(s *dataplane.Service) { s.Backends[0].Weight = 0; s.Sorry = nil }, "", true},
	}
	for _, st := range steps {
		st.mod(&svc)
		mustApply(t, b, svc)
		for range 3 {
			got, err := oneShot(addr, false)
			if st.refused {
				if err == nil {
					t.Fatalf("%s: request answered %q, want refused", st.name, got)
				}
				continue
			}
			if err != nil || got != st.want {
				t.Fatalf("%s: got %q, %v; want %q", st.name, got, err, st.want)
			}
		}
	}
	if r := b.Stats()[0].Refused; r != 3 {
		t.Fatalf("refused = %d, want 3", r)
	}
}

func TestDialFailureTriesNextBackend(t *testing.T) {
	hbs := startHTTPBackends(t, 1)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := netip.MustParseAddrPort(dead.Addr().String())
	dead.Close()
	b := newTestBalancer(t, Options{})
	svc := tcpService("web", hbs)
	svc.Backends = append([]dataplane.Backend{{Addr: deadAddr, Weight: 1}}, svc.Backends...)
	mustApply(t, b, svc)
	for i := range 6 {
		if got, err := oneShot(addrOf(t, b, "web"), false); err != nil || got != "backend-0" {
			t.Fatalf("request %d: %q, %v", i, got, err)
		}
	}
	st := b.Stats()[0].Backends
	if st[0].DialFailures != 3 || st[1].Total != 6 {
		t.Fatalf("stats %+v: want 3 dial failures on the dead backend, 6 connections on the live one", st)
	}
}

func TestIdenticalApplyIsNoOpAndListenChangeRebinds(t *testing.T) {
	hbs := startHTTPBackends(t, 1)
	b := newTestBalancer(t, Options{})
	svc := tcpService("web", hbs)
	mustApply(t, b, svc)
	addr1 := addrOf(t, b, "web")
	ka := testenv.DialKeepAlive(t, addr1)
	if _, err := ka.Get("/", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	same := svc
	same.Backends = append([]dataplane.Backend(nil), svc.Backends...)
	mustApply(t, b, same)
	if a := addrOf(t, b, "web"); a != addr1 {
		t.Fatalf("identical Apply rebound %s to %s", addr1, a)
	}
	if st := b.Stats()[0].Backends[0]; st.Total != 1 || st.Active != 1 {
		t.Fatalf("identical Apply touched counters: %+v", st)
	}
	svc.Listen = netip.MustParseAddrPort("127.0.0.2:0")
	mustApply(t, b, svc)
	addr2 := addrOf(t, b, "web")
	if !strings.HasPrefix(addr2, "127.0.0.2:") {
		t.Fatalf("rebound to %s, want 127.0.0.2", addr2)
	}
	if _, err := oneShot(addr2, false); err != nil {
		t.Fatalf("new listen address: %v", err)
	}
	if _, err := oneShot(addr1, false); err == nil {
		t.Fatal("old listen address still answers")
	}
	if _, err := ka.Get("/", 3*time.Second); err != nil {
		t.Fatalf("established connection cut by the rebind: %v", err)
	}
	// A port another process holds: the state is taken, the service says it is not serving
	// and binds once the port is free.
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	svc.Listen = netip.MustParseAddrPort(busy.Addr().String())
	err := b.Apply(context.Background(), svc)
	if !errors.Is(err, dataplane.ErrIncomplete) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Apply onto a busy port: %v, want ErrIncomplete naming the busy address", err)
	}
	if strings.Count(err.Error(), "listen tcp") != 1 {
		t.Errorf("error %q repeats its prefix", err)
	}
	if ns := b.Stats()[0].NotServing; !strings.Contains(ns, "address already in use") {
		t.Fatalf("NotServing %q, want the bind error", ns)
	}
	if _, err := oneShot(addr2, false); err == nil {
		t.Fatal("the old listen address still answers after the service moved")
	}
	busy.Close()
	testenv.WaitFor(t, 2*rebindMax, "the freed port bound by the retry", func() bool {
		return b.Stats()[0].NotServing == ""
	})
	if _, err := oneShot(svc.Listen.String(), false); err != nil {
		t.Fatalf("after the retry bound the port: %v", err)
	}
	if _, err := ka.Get("/", 3*time.Second); err != nil {
		t.Fatalf("established connection cut by the failed rebind: %v", err)
	}
}

// TestHalfCloseDeliversTheWholeAnswer uses a backend that answers only after the client
// shut its write side.
func TestHalfCloseDeliversTheWholeAnswer(t *testing.T) {
	eachCopyMode(t, testHalfClose)
}

// copyModes are the ways TCP payload moves; tests of the byte path run both.
var copyModes = []struct {
	name string
	opts Options
}{{"splice", Options{Splice: true}}, {"loop", Options{CopyBuffer: 4096}}, {"plain", Options{CopyBuffer: 4096, PlainCopy: true}}}

// eachCopyMode runs test as a subtest for each way the balancer can copy bytes.
func eachCopyMode(t *testing.T, test func(*testing.T, Options)) {
	for _, mode := range copyModes {
		t.Run(mode.name, func(t *testing.T) { test(t, mode.opts) })
	}
}

func testHalfClose(t *testing.T, opts Options) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		data, _ := io.ReadAll(c)
		c.Write([]byte(strings.ToUpper(string(data))))
	}()
	b := newTestBalancer(t, opts)
	mustApply(t, b, dataplane.Service{Name: "up", Protocol: dataplane.TCP, Listen: netip.MustParseAddrPort("127.0.0.1:0"),
		Scheduler: "rr", Backends: []dataplane.Backend{{Addr: netip.MustParseAddrPort(ln.Addr().String()), Weight: 1}}})
	c, err := net.Dial("tcp", addrOf(t, b, "up"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("hello half close"))
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "HELLO HALF CLOSE" {
		t.Fatalf("got %q, %v", got, err)
	}
	testenv.WaitFor(t, 5*time.Second, "bytes counted", func() bool {
		st := b.Stats()[0].Backends[0]
		return st.BytesIn == 16 && st.BytesOut == 16 && st.Active == 0
	})
}

func TestIdleConnectionIsClosed(t *testing.T) {
	eachCopyMode(t, testIdle)
}

func testIdle(t *testing.T, opts Options) {
	hbs := startHTTPBackends(t, 1)
	b := newTestBalancer(t, opts)
	svc := tcpService("web", hbs)
	svc.IdleTimeout = 150 * time.Millisecond
	mustApply(t, b, svc)
	ka := testenv.DialKeepAlive(t, addrOf(t, b, "web"))
	// Busy for longer than the timeout: not closed.
	for range 6 {
		if _, err := ka.Get("/", 3*time.Second); err != nil {
			t.Fatalf("active connection closed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	ka.Conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := ka.Conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("read data from an idle connection")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("idle connection closed after %v, want within 2×150ms plus slack", d)
	}
}

func TestPersistenceKeepsClientOnOneBackend(t *testing.T) {
	hbs := startHTTPBackends(t, 3)
	b := newTestBalancer(t, Options{})
	svc := tcpService("web", hbs)
	svc.Persistence = time.Minute
	mustApply(t, b, svc)
	addr := addrOf(t, b, "web")
	first, err := oneShot(addr, false)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if got, err := oneShot(addr, false); err != nil || got != first {
			t.Fatalf("persistent client moved from %s to %q (%v)", first, got, err)
		}
	}
	var mine int
	fmt.Sscanf(first, "backend-%d", &mine)
	svc.Backends[mine].Weight = 0
	mustApply(t, b, svc)
	if got, _ := oneShot(addr, false); got == first {
		t.Fatal("persistence kept sending new connections to a weight-0 backend")
	}
}

func TestCloseLeavesNoGoroutine(t *testing.T) {
	hbs := startHTTPBackends(t, 2)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	b := New(nil, Options{})
	svc := tcpService("web", hbs)
	mustApply(t, b, svc)
	ka := testenv.DialKeepAlive(t, addrOf(t, b, "web"))
	if _, err := ka.Get("/", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ka.Get("/", 3*time.Second); err == nil {
		t.Fatal("connection survived Close with no drain time")
	}
	if err := b.Apply(context.Background(), svc); err == nil {
		t.Fatal("Apply after Close succeeded")
	}
}

func TestBulkTransferIsExactBothWays(t *testing.T) {
	for _, mode := range copyModes {
		t.Run(mode.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			var wg sync.WaitGroup
			t.Cleanup(wg.Wait)
			wg.Add(1)
			go func() { // echo until EOF, then half-close
				defer wg.Done()
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
			b := newTestBalancer(t, mode.opts)
			mustApply(t, b, dataplane.Service{Name: "echo", Protocol: dataplane.TCP, Listen: netip.MustParseAddrPort("127.0.0.1:0"),
				Scheduler: "rr", Backends: []dataplane.Backend{{Addr: netip.MustParseAddrPort(ln.Addr().String()), Weight: 1}}})
			c, err := net.Dial("tcp", addrOf(t, b, "echo"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			const size = 3<<20 + 12345 // more than one splice chunk
			payload := make([]byte, size)
			for i := range payload {
				payload[i] = byte(i*7 + i>>11)
			}
			go func() {
				c.Write(payload)
				c.(*net.TCPConn).CloseWrite()
			}()
			got, err := io.ReadAll(c)
			if err != nil || len(got) != size || !bytes.Equal(got, payload) {
				t.Fatalf("echoed %d bytes (err %v), want the %d sent, byte for byte", len(got), err, size)
			}
			testenv.WaitFor(t, 5*time.Second, "byte counters", func() bool {
				st := b.Stats()[0].Backends[0]
				return st.BytesIn == size && st.BytesOut == size
			})
		})
	}
}

// TestConcurrentAppliesDuringTraffic churns the backend set and scheduler while clients run:
// every request must succeed (some backend is always in), and the race detector must stay quiet.
func TestConcurrentAppliesDuringTraffic(t *testing.T) {
	hbs := startHTTPBackends(t, 4)
	b := newTestBalancer(t, Options{})
	base := tcpService("web", hbs)
	mustApply(t, b, base)
	addr := addrOf(t, b, "web")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var errs, ok atomic.Int64
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ka *testenv.KeepAlive
			for {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if i%2 == 0 { // half the clients keep their connection, half reconnect
					if ka == nil {
						ka = testenv.DialKeepAlive(t, addr)
					}
					_, err = ka.Get("/", 3*time.Second)
				} else {
					_, err = oneShot(addr, false)
				}
				if err != nil {
					t.Logf("client %d: %v", i, err)
					errs.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	scheds := []dataplane.Scheduler{"rr", "wrr", "lc", "wlc", "sh", "mh", "fo"}
	for i := range 200 {
		svc := base
		svc.Scheduler = scheds[i%len(scheds)]
		svc.Backends = nil
		for j, be := range base.Backends {
			// Backend 0 always stays, so established keep-alive connections to it never drain
			// away; the others come and go with changing weights.
			if j == 0 || (i+j)%3 != 0 {
				svc.Backends = append(svc.Backends, dataplane.Backend{Addr: be.Addr, Weight: 1 + (i+j)%4})
			}
		}
		mustApply(t, b, svc)
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if errs.Load() != 0 || ok.Load() == 0 {
		t.Fatalf("%d requests failed, %d succeeded across 200 updates", errs.Load(), ok.Load())
	}
}

// TestCloseResetsWhatRemoveLeftDraining: a removed service's established connection drains,
// and Close still ends it (and its goroutines) at once.
func TestCloseResetsWhatRemoveLeftDraining(t *testing.T) {
	hbs := startHTTPBackends(t, 2)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	b := New(nil, Options{})
	svc := tcpService("web", hbs[:1])
	svc.Sorry = &dataplane.Backend{Addr: hbs[1].addr}
	svc.Backends[0].Weight = 0
	mustApply(t, b, svc)
	onSorry := testenv.DialKeepAlive(t, addrOf(t, b, "web"))
	if got, err := onSorry.Get("/", 3*time.Second); err != nil || got != "backend-1" {
		t.Fatalf("sorry server: %q, %v", got, err)
	}
	// Replace the sorry server while its connection lives, then remove the service.
	svc.Sorry = &dataplane.Backend{Addr: hbs[0].addr}
	mustApply(t, b, svc)
	if err := b.Remove(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	if got, err := onSorry.Get("/", 3*time.Second); err != nil || got != "backend-1" {
		t.Fatalf("draining connection after Remove: %q, %v", got, err)
	}
	done := make(chan struct{})
	go func() { b.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with a drained connection of a removed service open")
	}
	if _, err := onSorry.Get("/", 3*time.Second); err == nil {
		t.Fatal("connection of a removed service survived Close")
	}
}

func TestIPv6ServiceAndBackends(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		testenv.Unavailable(t, fmt.Sprintf("needs IPv6 loopback: %v", err))
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "six")
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	b := newTestBalancer(t, Options{})
	mustApply(t, b, dataplane.Service{Name: "v6", Protocol: dataplane.TCP, Listen: netip.MustParseAddrPort("[::1]:0"),
		Scheduler: dataplane.MaglevHash, Persistence: time.Minute,
		Backends: []dataplane.Backend{{Addr: netip.MustParseAddrPort(ln.Addr().String()), Weight: 1}}})
	if got, err := oneShot(addrOf(t, b, "v6"), false); err != nil || got != "six" {
		t.Fatalf("over IPv6: %q, %v", got, err)
	}
}

func TestHashPortSpreadsOneClient(t *testing.T) {
	hbs := startHTTPBackends(t, 3)
	b := newTestBalancer(t, Options{})
	svc := tcpService("web", hbs)
	svc.Scheduler = dataplane.MaglevHash
	mustApply(t, b, svc)
	addr := addrOf(t, b, "web")
	distinct := func() int {
		seen := map[string]bool{}
		for range 30 {
			got, err := oneShot(addr, false)
			if err != nil {
				t.Fatal(err)
			}
			seen[got] = true
		}
		return len(seen)
	}
	if n := distinct(); n != 1 {
		t.Fatalf("mh without port: one client reached %d backends, want 1", n)
	}
	svc.HashPort = true
	mustApply(t, b, svc)
	if n := distinct(); n < 2 {
		t.Fatalf("mh-port: 30 connections from one client reached %d backend(s), want several", n)
	}
}

// TestAnswerAndFINTogetherEndTheConnection has a backend that writes its answer and closes at
// once, so the FIN usually rides with the data: the client must see the answer and then EOF,
// not wait for the idle timeout. Buffers of 7 bytes make every answer take several bursts.
func TestAnswerAndFINTogetherEndTheConnection(t *testing.T) {
	modes := append(copyModes[:len(copyModes):len(copyModes)], struct {
		name string
		opts Options
	}{"loop-7-bytes", Options{CopyBuffer: 7}})
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			answer := strings.Repeat("answer and goodbye. ", 50)
			backend := testenv.ServeTCP(t, func(c net.Conn) { c.Write([]byte(answer)) })
			b := newTestBalancer(t, mode.opts)
			mustApply(t, b, dataplane.Service{Name: "fin", Protocol: dataplane.TCP, Listen: netip.MustParseAddrPort("127.0.0.1:0"),
				Scheduler: "rr", Backends: []dataplane.Backend{{Addr: backend, Weight: 1}}})
			addr := addrOf(t, b, "fin")
			for i := range 40 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(3 * time.Second))
				got, err := io.ReadAll(c)
				c.Close()
				if err != nil || string(got) != answer {
					t.Fatalf("connection %d: read %d bytes, err %v; want the %d-byte answer, then EOF", i, len(got), err, len(answer))
				}
			}
		})
	}
}

func TestFwmarkServiceIsRefused(t *testing.T) {
	b := New(nil, Options{})
	defer b.Close()
	svc := dataplane.Service{Name: "fwmark 5", Protocol: dataplane.TCP, Fwmark: 5, Scheduler: "rr",
		Backends: []dataplane.Backend{{Addr: netip.MustParseAddrPort("127.0.0.1:9"), Weight: 1}}}
	err := b.Apply(context.Background(), svc)
	if err == nil || !strings.Contains(err.Error(), "userspace data plane cannot serve fwmark services (use nftables or ipvs)") || !strings.Contains(err.Error(), "fwmark 5") {
		t.Fatalf("Apply(fwmark service) = %v, want the refusal naming the service", err)
	}
	if st := b.Stats(); len(st) != 0 {
		t.Fatalf("refused service shows in Stats: %+v", st)
	}
}
