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

// passiveLab runs the half over three loopback web servers, a virtual server with lines added,
// and records the passive health events it publishes. It returns once the virtual server
// serves. Each server's check always passes (MISC_CHECK /bin/true, every minute), so that only
// passive health sees a server die: a TCP_CHECK's first probe, at a random moment of its
// first minute, could mark a dead server down first, and then passive health has no say.
type passiveLab struct {
	d        *Half
	backends []*testBackend
	url      string
	client   *http.Client

	mu     sync.Mutex
	events []pool.Event
}

func newPassiveLab(t *testing.T, lines string) *passiveLab {
	t.Helper()
	l := &passiveLab{backends: []*testBackend{startBackend(t), startBackend(t), startBackend(t)}}
	vsPort := testenv.FreePort(t, "127.0.0.1", false)
	var conf strings.Builder
	fmt.Fprintf(&conf, "virtual_server 127.0.0.1 %d {\n  delay_loop 60\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n%s", vsPort, lines)
	for _, be := range l.backends {
		h, p := hostPort(t, be.addr)
		fmt.Fprintf(&conf, "  real_server %s %s {\n    MISC_CHECK {\n      misc_path /bin/true\n    }\n  }\n", h, p)
	}
	conf.WriteString("}\n")
	d, err := New(loadText(t, conf.String()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.d = d
	d.Events().Subscribe("test", func(ev Event) {
		if ev.Pool != nil && (ev.Pool.Kind == pool.ServerEjected || ev.Pool.Kind == pool.EjectionRefused) {
			l.mu.Lock()
			l.events = append(l.events, *ev.Pool)
			l.mu.Unlock()
		}
	})
	testenv.RunUntilCleanup(t, "the checker half", d.Run)
	l.url = fmt.Sprintf("http://127.0.0.1:%d/", vsPort)
	l.client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	testenv.WaitFor(t, 5*time.Second, "balancer serving", func() bool { _, err := get(l.client, l.url); return err == nil })
	return l
}

// passive is the passive health events published so far.
func (l *passiveLab) passive() []pool.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]pool.Event(nil), l.events...)
}

// requestsUntil sends requests through the virtual server, each of which must be served,
// until cond holds.
func (l *passiveLab) requestsUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 5*time.Second, what, func() bool {
		if _, err := get(l.client, l.url); err != nil {
			t.Fatalf("a request while waiting for %s: %v", what, err)
		}
		return cond()
	})
}

// A real server that stops listening between two checks is ejected by what the userspace data
// plane saw, with its check still passing: each client whose connection went to it was
// redispatched, and after two failures in a row no client goes to it.
func TestDataPlaneFailuresEjectAServerBeforeItsNextCheck(t *testing.T) {
	l := newPassiveLab(t, "  passive_health {\n    consecutive_failures 2\n    max_ejection_percent 50\n  }\n")
	d, b2, client, url := l.d, l.backends[1], l.client, l.url
	b2.srv.Close() // refused from now on; its check goes on passing
	l.requestsUntil(t, "the ejection published", func() bool { return len(l.passive()) > 0 })
	ev := l.passive()[0]
	if ev.Kind != pool.ServerEjected || ev.Server != b2.addr || ev.Cause != "refused" {
		t.Fatalf("first passive event %+v; want %s ejected for refused connects", ev, b2.addr)
	}
	for _, be := range l.backends {
		if rs := realServerStatus(t, d, be.addr); rs.Ejected != (be == b2) || !rs.Up {
			t.Errorf("status of %s: up %v ejected %v (%s)", rs.Address, rs.Up, rs.Ejected, rs.EjectedReason)
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
			l := newPassiveLab(t, tc.lines)
			l.backends[0].srv.Close()
			l.backends[1].srv.Close()
			l.requestsUntil(t, "one ejection and one refusal", func() bool { return len(l.passive()) >= 2 })
			for range 12 { // more failures of the refused server's run: no more refusals said
				if _, err := get(l.client, l.url); err != nil {
					t.Fatal(err)
				}
			}
			passive := l.passive()
			if len(passive) != 2 || passive[0].Kind != pool.ServerEjected || passive[1].Kind != pool.EjectionRefused || passive[1].Cause != tc.limit {
				t.Fatalf("passive health events %+v; want one ejection, then one refusal by %s", passive, tc.limit)
			}
			t.Logf("%s: %s", passive[1].Server, passive[1].Reason)
		})
	}
}
