package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// connCounter is a loopback web server that answers its own address and counts the connections
// it holds now and the most it held at once.
type connCounter struct {
	addr string
	mu   sync.Mutex
	now  int
	peak int
}

func startConnCounter(t *testing.T) *connCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &connCounter{addr: ln.Addr().String()}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, c.addr) }),
		ReadHeaderTimeout: time.Minute,
		ConnState: func(_ net.Conn, s http.ConnState) {
			c.mu.Lock()
			defer c.mu.Unlock()
			switch s {
			case http.StateNew:
				c.now++
				c.peak = max(c.peak, c.now)
			case http.StateClosed, http.StateHijacked:
				c.now--
			}
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return c
}

func (c *connCounter) counts() (now, peak int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now, c.peak
}

// heldConn is a client's keep-alive connection through the virtual server.
type heldConn struct {
	c       net.Conn
	backend string
}

// hold opens a keep-alive connection to addr, asks once and keeps it open; it says which
// backend answered.
func hold(t *testing.T, addr string) *heldConn {
	t.Helper()
	k := testenv.DialKeepAlive(t, addr)
	body, err := k.Get("/", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return &heldConn{c: k.Conn, backend: body}
}

// TestUThresholdHoldsAndLThresholdReadmits: a real server with uthreshold 10 never holds more
// than 10 connections through the userspace data plane while the other takes the rest; it
// takes new ones again once its connections fall below its lthreshold 5.
func TestUThresholdHoldsAndLThresholdReadmits(t *testing.T) {
	capped, other := startConnCounter(t), startConnCounter(t)
	health := []*testenv.Backend{testenv.StartBackend(t), testenv.StartBackend(t)}
	vsPort := testenv.FreePort(t, "127.0.0.1", false)
	var b strings.Builder
	vsHeader(&b, vsPort, "  delay_loop 1\n")
	for i, be := range []*connCounter{capped, other} {
		h, p := splitAddr(t, be.addr)
		_, hp := health[i].HostPort()
		limits := ""
		if be == capped {
			limits = "    uthreshold 10\n    lthreshold 5\n"
		}
		fmt.Fprintf(&b, "  real_server %s %s {\n%s    TCP_CHECK {\n      connect_port %s\n      connect_timeout 1\n    }\n  }\n", h, p, limits, hp)
	}
	b.WriteString("}\n")
	d := runDaemon(t, loadConfig(t, b.String()))
	checkedUp(t, d, capped.addr, 5*time.Second)
	checkedUp(t, d, other.addr, 5*time.Second)
	vs := fmt.Sprintf("127.0.0.1:%d", vsPort)

	var onCapped []*heldConn
	got := map[string]int{}
	for range 40 {
		h := hold(t, vs)
		got[h.backend]++
		if h.backend == capped.addr {
			onCapped = append(onCapped, h)
		}
	}
	cNow, cPeak := capped.counts()
	oNow, _ := other.counts()
	t.Logf("40 connections: the server with uthreshold 10 took %d (held %d, at most %d at once), the other %d (held %d)",
		got[capped.addr], cNow, cPeak, got[other.addr], oNow)
	if cPeak > 10 || got[capped.addr] != 10 || got[other.addr] != 30 {
		t.Fatalf("the server with uthreshold 10 took %d connections (at most %d at once), the other %d; want 10 (never more at once) and 30",
			got[capped.addr], cPeak, got[other.addr])
	}

	// Down to 5, not below lthreshold 5: still overloaded.
	for _, h := range onCapped[:5] {
		h.c.Close()
	}
	testenv.WaitFor(t, 5*time.Second, "the capped server down to 5 connections", func() bool { n, _ := capped.counts(); return n == 5 })
	for range 4 {
		if h := hold(t, vs); h.backend != other.addr {
			t.Fatalf("a new connection went to the capped server at 5 connections, not below its lthreshold 5")
		}
	}
	// Below it: readmitted.
	onCapped[5].c.Close()
	testenv.WaitFor(t, 5*time.Second, "the capped server down to 4 connections", func() bool { n, _ := capped.counts(); return n == 4 })
	readmitted := 0
	for range 4 {
		if h := hold(t, vs); h.backend == capped.addr {
			readmitted++
		}
	}
	_, cPeak = capped.counts()
	t.Logf("below lthreshold 5 (4 held) the capped server took %d of 4 new connections; at most %d at once throughout", readmitted, cPeak)
	if readmitted == 0 || cPeak > 10 {
		t.Fatalf("after falling below lthreshold the capped server took %d of 4 new connections (peak %d); want some, never over 10", readmitted, cPeak)
	}
}
