package daemon

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// poolReports records what the daemon tells Options.PoolHealth, in order.
type poolReports struct {
	mu   sync.Mutex
	list []string // "NAME up" / "NAME down"
}

func (r *poolReports) report(vs string, up bool) {
	st := "down"
	if up {
		st = "up"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, vs+" "+st)
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

// Every virtual server's pool health is reported at start (before Run: the VRRP half may start
// its instances with it), at every quorum change, and again after a reload.
func TestPoolHealthFollowsQuorumForEveryVirtualServer(t *testing.T) {
	b1, b2 := startBackend(t), startBackend(t)
	port1, port2 := freePort(t), freePort(t)
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
	d, err := New(cfg, Options{StatusListen: "off", PoolHealth: rep.report})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := rep.last(name1), rep.last(name2); a != "up" || b != "up" {
		t.Fatalf("after New: %s %q, %s %q; want both up (reports %v)", name1, a, name2, b, rep.snapshot())
	}
	startRun(t, d)

	b1.failing.Store(true)
	waitFor(t, 3*time.Second, "the first pool reported down when it loses quorum", func() bool { return rep.last(name1) == "down" })
	if s := rep.last(name2); s != "up" {
		t.Errorf("the second pool, whose server is healthy, was reported %q", s)
	}
	b1.failing.Store(false)
	waitFor(t, 3*time.Second, "the first pool reported up when it regains quorum", func() bool { return rep.last(name1) == "up" })

	before := len(rep.snapshot())
	if err := d.Reload(loadText(t, text)); err != nil {
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
