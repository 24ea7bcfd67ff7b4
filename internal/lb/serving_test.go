package lb

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// poolReports records, in order, whether each state the half publishes can serve, as
// track_virtual_server hears it.
type poolReports struct {
	mu   sync.Mutex
	list []string // "NAME up" / "NAME down"
}

// subscribe makes r hear d's states.
func (r *poolReports) subscribe(d *Half) {
	d.Events().Subscribe("test", func(ev Event) {
		if ev.State == nil {
			return
		}
		st := "down"
		if ev.State.CanServe() {
			st = "up"
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.list = append(r.list, ev.VS+" "+st)
	})
}

func (r *poolReports) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.list...)
}

// last is the latest report for vs ("" when none).
func (r *poolReports) last(vs string) string {
	l := r.snapshot()
	for i := len(l) - 1; i >= 0; i-- {
		if name, st, _ := strings.Cut(l[i], " "); name == vs {
			return st
		}
	}
	return ""
}

// Every virtual server's state is published once it is applied (Listen, before Run: the VRRP
// half starts its instances with it), at every quorum change, and again after a reload.
func TestPoolHealthFollowsQuorumForEveryVirtualServer(t *testing.T) {
	b1, b2 := startBackend(t), startBackend(t)
	port1, port2 := testenv.FreePort(t, "127.0.0.1", false), testenv.FreePort(t, "127.0.0.1", false)
	vs := func(port int, backend string) string {
		h, p := hostPort(t, backend)
		return fmt.Sprintf(`virtual_server 127.0.0.1 %d {
  delay_loop 0.2
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server %s %s {
    HTTP_GET {
      url {
        path /health
        status_code 200
      }
      connect_timeout 1
    }
  }
}
`, port, h, p)
	}
	text := vs(port1, b1.addr) + vs(port2, b2.addr)
	cfg := loadText(t, text)
	name1, name2 := cfg.VirtualServers[0].Name(), cfg.VirtualServers[1].Name()
	rep := &poolReports{}
	d, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep.subscribe(d)
	if l := rep.snapshot(); len(l) != 0 {
		t.Fatalf("reported %v before the services were applied", l)
	}
	if err := d.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := d.Events().Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a, b := rep.last(name1), rep.last(name2); a != "up" || b != "up" {
		t.Fatalf("after Listen: %s %q, %s %q; want both up (reports %v)", name1, a, name2, b, rep.snapshot())
	}
	testenv.RunUntilCleanup(t, "the checker half", d.Run)

	b1.failing.Store(true)
	testenv.WaitFor(t, 3*time.Second, "the first pool reported down when it loses quorum", func() bool { return rep.last(name1) == "down" })
	if s := rep.last(name2); s != "up" {
		t.Errorf("the second pool, whose server is healthy, was reported %q", s)
	}
	b1.failing.Store(false)
	testenv.WaitFor(t, 3*time.Second, "the first pool reported up when it regains quorum", func() bool { return rep.last(name1) == "up" })

	before := len(rep.snapshot())
	if err := d.Reload(loadText(t, text)); err != nil {
		t.Fatal(err)
	}
	if err := d.Events().Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := rep.snapshot()[before:]
	if !containsAll(after, name1+" up", name2+" up") {
		t.Errorf("a reload reported %v, want both pools' current state", after)
	}
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, l := range list {
			found = found || l == w
		}
		if !found {
			return false
		}
	}
	return true
}

// vsState is the status of the virtual server listening on port.
func vsState(t *testing.T, d *Half, port int) status.VirtualServer {
	t.Helper()
	for _, vs := range d.Snapshot().VirtualServers {
		if strings.HasSuffix(vs.Listen, fmt.Sprintf(":%d", port)) {
			return vs
		}
	}
	t.Fatalf("no virtual server on port %d", port)
	return status.VirtualServer{}
}

// A port another process holds stops the daemon at start, with an error that names the
// virtual server, its line and the address, and leaves nothing running.
func TestListenFailsAtStartOnAPortAnotherProcessHolds(t *testing.T) {
	b := startBackend(t)
	port := testenv.FreePort(t, "127.0.0.1", false)
	busy, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	d, err := New(loadText(t, webConfig(t, port, b)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Listen()
	if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), "keepalived.conf:1") {
		t.Fatalf("Listen: %v, want the bind error with the virtual server's line", err)
	}
}

// A virtual server whose listener cannot bind while the daemon runs (added by a reload onto a
// port another process holds) is shown as not serving, with the reason, and is reported down
// to VRRP although its pool has quorum; once the port is free it serves again, without a
// reload.
func TestNotServingIsShownReportedAndRepaired(t *testing.T) {
	b := startBackend(t)
	port1, port2 := testenv.FreePort(t, "127.0.0.1", false), testenv.FreePort(t, "127.0.0.1", false)
	rep := &poolReports{}
	cfg := loadText(t, webConfig(t, port1, b))
	d, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep.subscribe(d)
	testenv.RunUntilCleanup(t, "the checker half", d.Run)
	testenv.WaitFor(t, 3*time.Second, "the first virtual server serving", func() bool { return vsState(t, d, port1).Serving })

	busy, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port2))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	next := loadText(t, webConfig(t, port1, b)+webConfig(t, port2, b))
	if err := d.Reload(next); err != nil {
		t.Fatal(err)
	}
	name2 := next.VirtualServers[1].Name()
	testenv.WaitFor(t, 3*time.Second, "the second virtual server's pool up", func() bool { return vsState(t, d, port2).QuorumUp })
	vs := vsState(t, d, port2)
	if vs.Serving || !strings.Contains(vs.ServingReason, "address already in use") {
		t.Fatalf("second virtual server serving %v (%q), want not serving because its port is taken", vs.Serving, vs.ServingReason)
	}
	if err := d.Events().Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := rep.last(name2); got != "down" {
		t.Fatalf("VRRP heard %q for the virtual server that does not serve, want down", got)
	}
	busy.Close()
	took := testenv.WaitFor(t, 5*time.Second, "the second virtual server serving once its port is free", func() bool { return vsState(t, d, port2).Serving })
	t.Logf("serving %v after the port was freed", took)
	if err := d.Events().Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := rep.last(name2); got != "up" {
		t.Errorf("VRRP heard %q once it serves, want up", got)
	}
	if _, err := get(&http.Client{Timeout: 2 * time.Second}, fmt.Sprintf("http://127.0.0.1:%d/", port2)); err != nil {
		t.Errorf("request to the repaired virtual server: %v", err)
	}
}

// Up servers do not make a virtual server served: with every server failing its check, the
// status says why nothing can take a connection.
func TestNoRealServerMeansNotServing(t *testing.T) {
	b := startBackend(t)
	port := testenv.FreePort(t, "127.0.0.1", false)
	d := runDaemon(t, loadText(t, webConfig(t, port, b)))
	testenv.WaitFor(t, 3*time.Second, "serving", func() bool { return vsState(t, d, port).Serving })
	b.failing.Store(true)
	testenv.WaitFor(t, 3*time.Second, "not serving once the only server fails", func() bool { return !vsState(t, d, port).Serving })
	if why := vsState(t, d, port).ServingReason; !strings.Contains(why, "no real server can take a connection (0 of 1 up, no sorry server)") {
		t.Errorf("reason %q", why)
	}
}
