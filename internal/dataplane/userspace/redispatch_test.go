package userspace

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// refusingBackend is an address nothing listens on: its connects are refused at once.
func refusingBackend(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	return addr
}

// failures records what a balancer reports through Options.OnBackendFailure.
type failures struct {
	mu   sync.Mutex
	list []dataplane.BackendFailure
}

func (f *failures) record(bf dataplane.BackendFailure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = append(f.list, bf)
}

func (f *failures) all() []dataplane.BackendFailure {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]dataplane.BackendFailure(nil), f.list...)
}

func backendStats(t *testing.T, b *Balancer, addr netip.AddrPort) dataplane.BackendStats {
	t.Helper()
	for _, ss := range b.Stats() {
		for _, bs := range ss.Backends {
			if bs.Addr == addr {
				return bs
			}
		}
	}
	t.Fatalf("no stats for backend %s", addr)
	return dataplane.BackendStats{}
}

func TestConnectTimeoutFollowsConnectTimes(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	for _, tc := range []struct {
		name           string
		samples        []time.Duration
		floor, ceiling time.Duration
		want           time.Duration
	}{
		{"before any connect: RFC 6298's initial 1 s", nil, ms(250), ms(2000), ms(1000)},
		{"before any connect, under a lower ceiling", nil, ms(250), ms(500), ms(500)},
		{"one sample: srtt + 4·(srtt/2)", []time.Duration{ms(100)}, ms(250), ms(2000), ms(300)},
		{"two samples smoothed", []time.Duration{ms(100), ms(300)}, ms(250), ms(2000), ms(475)},
		{"a LAN's connects fall to the floor", []time.Duration{ms(0.2), ms(0.3), ms(0.1), ms(0.2)}, ms(250), ms(2000), ms(250)},
		{"a slow path is bounded by the ceiling", []time.Duration{ms(900)}, ms(250), ms(2000), ms(2000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e connectRTT
			for _, d := range tc.samples {
				e.observe(d)
			}
			if got := e.timeout(tc.floor, tc.ceiling); got != tc.want {
				t.Errorf("timeout after %v = %v, want %v", tc.samples, got, tc.want)
			}
		})
	}
}

func TestDerivedConnectTimeoutFallsToTheFloorOnLoopback(t *testing.T) {
	hbs := startHTTPBackends(t, 1)
	b := newTestBalancer(t, Options{})
	mustApply(t, b, tcpService("web", hbs))
	if got := backendStats(t, b, hbs[0].addr).ConnectTimeout; got != initialRTO {
		t.Errorf("connect timeout before any connect: %v, want %v", got, initialRTO)
	}
	for i := range 5 {
		if _, err := oneShot(addrOf(t, b, "web"), false); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if got := backendStats(t, b, hbs[0].addr).ConnectTimeout; got != 250*time.Millisecond {
		t.Errorf("connect timeout after five loopback connects: %v, want the floor, 250ms", got)
	}
}

func TestSilentBackendIsGivenUpAtTheAttemptTimeout(t *testing.T) {
	hbs := startHTTPBackends(t, 1)
	_, silent, _ := testenv.FullListener(t) // connects to it go unanswered, as to a cut host
	var seen failures
	// A DialTimeout far beyond the client's patience: only the per-attempt timeout saves it.
	b := newTestBalancer(t, Options{DialTimeout: 10 * time.Second, OnBackendFailure: seen.record})
	svc := tcpService("web", hbs)
	svc.Backends = append([]dataplane.Backend{{Addr: silent, Weight: 1}}, svc.Backends...)
	svc.ConnectTimeout = 300 * time.Millisecond
	mustApply(t, b, svc)

	start := time.Now()
	got, err := oneShot(addrOf(t, b, "web"), false) // rr's first pick is the silent one
	took := time.Since(start)
	if err != nil || got != "backend-0" {
		t.Fatalf("request: %q, %v; want it redispatched to backend-0", got, err)
	}
	if took < 300*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("the request took %v; want the 300ms attempt on the silent backend and little more", took)
	}
	fs := seen.all()
	if len(fs) != 1 || fs[0].Backend != silent || fs[0].Kind != dataplane.FailureTimeout || fs[0].Consecutive != 1 || fs[0].Service != "web" {
		t.Errorf("failures reported: %+v; want one timeout of %s", fs, silent)
	}
	t.Logf("a client whose first pick was a silent backend was served in %v: %+v", took.Round(time.Millisecond), fs)
}

func TestConnectAttemptsOneTurnsRedispatchOff(t *testing.T) {
	for _, tc := range []struct {
		attempts int
		served   bool
	}{{1, false}, {2, true}, {0, true}} {
		hbs := startHTTPBackends(t, 1)
		b := newTestBalancer(t, Options{})
		svc := tcpService("web", hbs)
		svc.Backends = append([]dataplane.Backend{{Addr: refusingBackend(t), Weight: 1}}, svc.Backends...)
		svc.ConnectAttempts = tc.attempts
		mustApply(t, b, svc)
		got, err := oneShot(addrOf(t, b, "web"), false) // rr's first pick refuses
		if served := err == nil && got == "backend-0"; served != tc.served {
			t.Errorf("ConnectAttempts %d: %q, %v; want served %v", tc.attempts, got, err, tc.served)
		}
	}
}

// resettingBackend accepts connections and, while reset is set, resets each at once without
// a byte; otherwise it answers one HTTP request.
type resettingBackend struct {
	addr  netip.AddrPort
	reset atomic.Bool
}

func startResettingBackend(t *testing.T) *resettingBackend {
	t.Helper()
	r := &resettingBackend{}
	r.addr = testenv.ServeTCP(t, func(c net.Conn) {
		if r.reset.Load() {
			c.(*net.TCPConn).SetLinger(0) // the close that follows is a reset
			return
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		c.Read(make([]byte, 4096))
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"))
	})
	return r
}

func TestFailuresInARowAreCountedUntilTheBackendAnswers(t *testing.T) {
	eachCopyMode(t, testFailuresInARow)
}

func testFailuresInARow(t *testing.T, opts Options) {
	rb := startResettingBackend(t)
	var seen failures
	opts.OnBackendFailure = seen.record
	b := newTestBalancer(t, opts)
	mustApply(t, b, dataplane.Service{Name: "web", Protocol: dataplane.TCP, Listen: netip.MustParseAddrPort("127.0.0.1:0"),
		Scheduler: dataplane.RoundRobin, Backends: []dataplane.Backend{{Addr: rb.addr, Weight: 1}}})
	addr := addrOf(t, b, "web")

	rb.reset.Store(true)
	for i := range 2 {
		if _, err := oneShot(addr, false); err == nil {
			t.Fatalf("request %d through a backend that resets was answered", i)
		}
	}
	testenv.WaitFor(t, 5*time.Second, "two resets counted", func() bool { return len(seen.all()) == 2 })
	rb.reset.Store(false)
	if got, err := oneShot(addr, false); err != nil || got != "hello" {
		t.Fatalf("request to the answering backend: %q, %v", got, err)
	}
	// With splice the answer can reach the client a moment before the copy records it.
	testenv.WaitFor(t, 5*time.Second, "the run of failures ended by the answer", func() bool { return backendStats(t, b, rb.addr).ConsecutiveFailures == 0 })
	rb.reset.Store(true)
	oneShot(addr, false)
	testenv.WaitFor(t, 5*time.Second, "a third reset counted", func() bool { return len(seen.all()) == 3 })

	fs := seen.all()
	for i, want := range []int{1, 2, 1} {
		if fs[i].Kind != dataplane.FailureReset || fs[i].Consecutive != want || fs[i].Backend != rb.addr {
			t.Errorf("failure %d: %+v; want a reset, %d in a row", i, fs[i], want)
		}
	}
}

func TestRefusedConnectsAreReportedAndTheSorryServersAreNot(t *testing.T) {
	hbs := startHTTPBackends(t, 1)
	dead := refusingBackend(t)
	var seen failures
	b := newTestBalancer(t, Options{OnBackendFailure: seen.record})
	svc := tcpService("web", hbs)
	svc.Backends = append([]dataplane.Backend{{Addr: dead, Weight: 1}}, svc.Backends...)
	mustApply(t, b, svc)
	for i := range 6 {
		if got, err := oneShot(addrOf(t, b, "web"), false); err != nil || got != "backend-0" {
			t.Fatalf("request %d: %q, %v", i, got, err)
		}
	}
	fs := seen.all()
	if len(fs) != 3 {
		t.Fatalf("failures reported: %+v; want 3", fs)
	}
	for i, f := range fs {
		if f.Backend != dead || f.Kind != dataplane.FailureRefused || f.Consecutive != i+1 {
			t.Errorf("failure %d: %+v; want refused, %d in a row", i, f, i+1)
		}
	}
	if n := backendStats(t, b, dead).ConsecutiveFailures; n != 3 {
		t.Errorf("stats say %d failures in a row, want 3", n)
	}

	// The sorry server's failures are counted, not reported: the pool does not weigh it.
	sorry := refusingBackend(t)
	svc = tcpService("web", nil)
	svc.Sorry = &dataplane.Backend{Addr: sorry}
	mustApply(t, b, svc)
	oneShot(addrOf(t, b, "web"), false)
	if n := len(seen.all()); n != 3 {
		t.Errorf("the sorry server's failure was reported (%d failures)", n)
	}
}

func TestUDPPortUnreachableCountsAgainstTheBackend(t *testing.T) {
	echoes := startUDPEchoes(t, 1)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	var seen failures
	b := newTestBalancer(t, Options{OnBackendFailure: seen.record})
	svc := udpService(echoes)
	svc.Backends = append([]dataplane.Backend{{Addr: dead, Weight: 1}}, svc.Backends...)
	mustApply(t, b, svc)
	addr := addrOf(t, b, "dns")

	// rr sends the first flow to the closed port, the second to the echo.
	lost := newUDPClient(t, addr).ask("one", 300*time.Millisecond)
	if got := newUDPClient(t, addr).ask("two", 2*time.Second); got != "echo-0" {
		t.Fatalf("second flow answered by %q, want echo-0", got)
	}
	testenv.WaitFor(t, 5*time.Second, "the port unreachable reported", func() bool { return len(seen.all()) == 1 })
	if f := seen.all()[0]; f.Backend != dead || f.Kind != dataplane.FailureRefused || f.Consecutive != 1 {
		t.Errorf("failure %+v; want the closed port refused, 1 in a row", f)
	}
	if lost != "" {
		t.Errorf("the flow to the closed port was answered by %q", lost)
	}
	if n := backendStats(t, b, echoes[0].addr).ConsecutiveFailures; n != 0 {
		t.Errorf("the echo has %d failures in a row, want 0", n)
	}
}
