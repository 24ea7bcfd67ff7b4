package userspace

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

// udpEcho answers each datagram with "echo-N:" and the payload.
type udpEcho struct {
	id   int
	conn *net.UDPConn
	addr netip.AddrPort
}

func startUDPEchoes(t *testing.T, n int) []*udpEcho {
	t.Helper()
	out := make([]*udpEcho, n)
	var wg sync.WaitGroup
	for i := range out {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		e := &udpEcho{id: i, conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort()}
		out[i] = e
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			for {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				c.WriteToUDPAddrPort(append([]byte("echo-"+string(rune('0'+e.id))+":"), buf[:n]...), from)
			}
		}()
	}
	t.Cleanup(func() {
		for _, e := range out {
			e.conn.Close()
		}
		wg.Wait()
	})
	return out
}

func udpService(echoes []*udpEcho) dataplane.Service {
	s := dataplane.Service{Name: "dns", Protocol: dataplane.UDP, Listen: netip.MustParseAddrPort("127.0.0.1:0"), Scheduler: dataplane.RoundRobin}
	for _, e := range echoes {
		s.Backends = append(s.Backends, dataplane.Backend{Addr: e.addr, Weight: 1})
	}
	return s
}

// udpClient is one client socket: one flow.
type udpClient struct{ c *net.UDPConn }

func newUDPClient(t *testing.T, addr string) *udpClient {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpClient{c: c.(*net.UDPConn)}
}

// ask sends msg and returns the echoing backend's tag, or "" on no answer within wait.
func (u *udpClient) ask(msg string, wait time.Duration) string {
	u.c.Write([]byte(msg))
	u.c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 2048)
	n, err := u.c.Read(buf)
	if err != nil {
		return ""
	}
	tag, payload, _ := strings.Cut(string(buf[:n]), ":")
	if payload != msg {
		return "bad payload " + payload
	}
	return tag
}

func TestUDPFlowsBalanceStickAndFollowUpdates(t *testing.T) {
	echoes := startUDPEchoes(t, 3)
	b := newTestBalancer(t, Options{})
	svc := udpService(echoes)
	mustApply(t, b, svc)
	addr := addrOf(t, b, "dns")

	clients := make([]*udpClient, 6)
	tags := make([]string, 6)
	seen := map[string]int{}
	for i := range clients {
		clients[i] = newUDPClient(t, addr)
		tags[i] = clients[i].ask("q1", 2*time.Second)
		seen[tags[i]]++
	}
	if len(seen) != 3 || seen[""] != 0 {
		t.Fatalf("six flows over rr went to %v, want two on each of three echoes", seen)
	}
	// A flow sticks to its backend.
	for i, c := range clients {
		if got := c.ask("q2", 2*time.Second); got != tags[i] {
			t.Fatalf("flow %d moved from %s to %s", i, tags[i], got)
		}
	}
	// Remove echo-2: its flows drain (still answered), new flows avoid it.
	svc.Backends = svc.Backends[:2]
	mustApply(t, b, svc)
	for i, c := range clients {
		if got := c.ask("q3", 2*time.Second); got != tags[i] {
			t.Fatalf("draining flow %d got %q, want %s", i, got, tags[i])
		}
	}
	for range 6 {
		if got := newUDPClient(t, addr).ask("new", 2*time.Second); got != "echo-0" && got != "echo-1" {
			t.Fatalf("new flow after removal went to %q", got)
		}
	}
	// With ShutdownSessions, removing echo-1 cuts its flows; the client's next datagram starts
	// a new flow on echo-0.
	svc.ShutdownSessions = true
	svc.Backends = svc.Backends[:1]
	mustApply(t, b, svc)
	for i, c := range clients {
		if tags[i] == "echo-1" {
			if got := c.ask("q4", 2*time.Second); got != "echo-0" {
				t.Fatalf("flow %d of a shut-down backend answered by %q, want a new flow on echo-0", i, got)
			}
		}
	}
}

func TestUDPSorryAndIdleExpiry(t *testing.T) {
	echoes := startUDPEchoes(t, 2)
	b := newTestBalancer(t, Options{})
	svc := udpService(echoes[:1])
	svc.Backends[0].Weight = 0
	svc.Sorry = &dataplane.Backend{Addr: echoes[1].addr}
	svc.IdleTimeout = 100 * time.Millisecond
	mustApply(t, b, svc)
	c := newUDPClient(t, addrOf(t, b, "dns"))
	if got := c.ask("x", 2*time.Second); got != "echo-1" {
		t.Fatalf("with every weight 0 the flow went to %q, want the sorry echo-1", got)
	}
	active := func() int64 {
		var n int64
		for _, st := range b.Stats()[0].Backends {
			n += st.Active
		}
		return n
	}
	if active() != 1 {
		t.Fatalf("active flows %d, want 1", active())
	}
	testenv.WaitFor(t, 5*time.Second, "idle flow to expire", func() bool { return active() == 0 })
	svc.Backends[0].Weight = 1
	mustApply(t, b, svc)
	if got := c.ask("y", 2*time.Second); got != "echo-0" {
		t.Fatalf("after the backend came back the new flow went to %q", got)
	}
}

// A new flow past the flow table's bound, or past maxconn (the service's or the balancer's),
// is refused: a datagram cannot wait in a backlog.
func TestUDPFlowsPastABoundAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     Options
		maxconn  int
		wantFull uint64 // refusals counted as at a cap
	}{
		{"the flow table's bound", Options{MaxUDPFlows: 2}, 0, 0},
		{"the balancer's maxconn", Options{MaxConn: 2}, 0, 1},
		{"the service's maxconn", Options{}, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			echoes := startUDPEchoes(t, 1)
			b := newTestBalancer(t, tc.opts)
			svc := udpService(echoes)
			svc.MaxConn = tc.maxconn
			mustApply(t, b, svc)
			addr := addrOf(t, b, "dns")
			for i := range 2 {
				if got := newUDPClient(t, addr).ask("a", 2*time.Second); got != "echo-0" {
					t.Fatalf("flow %d: %q", i, got)
				}
			}
			if got := newUDPClient(t, addr).ask("a", 200*time.Millisecond); got != "" {
				t.Fatalf("third flow answered by %q past a bound of 2", got)
			}
			if st := b.Stats()[0]; st.Refused != 1 || st.RefusedFull != tc.wantFull || st.Conns != 2 {
				t.Fatalf("refused %d (at a cap %d), conns %d; want 1 (%d), 2", st.Refused, st.RefusedFull, st.Conns, tc.wantFull)
			}
		})
	}
}
