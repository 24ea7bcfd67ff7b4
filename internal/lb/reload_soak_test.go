package lb

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/pool"
	"github.com/vigil-lb/vigil/internal/status"
)

var (
	soakReloads = flag.Int("soak-reloads", 1000, "reloads the reload soak test performs at least (lowered under -short)")
	soakFor     = flag.Duration("soak-for", 2*time.Second, "how long the reload soak test reloads at least, so that checks are due while it does")
)

// soakConfig is a virtual server on vsPort over the backends, checked with HTTP_GET every 0.5 s.
func soakConfig(t *testing.T, vsPort int, backends ...*testBackend) string {
	t.Helper()
	return httpPoolConfig(t, vsPort, "delay_loop 0.5", backends...)
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

// settle polls until count() is at most limit, for at most within, and returns the last count.
func settle(within time.Duration, limit int, count func() int) int {
	deadline := time.Now().Add(within)
	n := count()
	for n > limit && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n = count()
	}
	return n
}

// describeFDs lists the open descriptors and this process's TCP sockets, for a failure message.
func describeFDs() string {
	var b strings.Builder
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fmt.Fprintf(&b, "fd %s -> %s\n", e.Name(), target)
	}
	if out, err := exec.Command("ss", "-tanpe").Output(); err == nil {
		pid := fmt.Sprintf("pid=%d,", os.Getpid())
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, pid) {
				b.WriteString(line + "\n")
			}
		}
	}
	return b.String()
}

// realServer finds a real server by address in a snapshot.
func realServer(s status.Snapshot, addr string) (status.RealServer, bool) {
	for _, vs := range s.VirtualServers {
		for _, rs := range vs.RealServers {
			if rs.Address == addr {
				return rs, true
			}
		}
	}
	return status.RealServer{}, false
}

func TestReloadSoakKeepsTrafficStateGoroutinesAndFDs(t *testing.T) {
	reloads, soakMin := *soakReloads, *soakFor
	if testing.Short() {
		reloads, soakMin = min(reloads, 100), min(soakMin, time.Second)
	}
	b1, b2, b3 := startBackend(t), startBackend(t), startBackend(t)
	vsPort := testenv.FreePort(t, "127.0.0.1", false)
	two := soakConfig(t, vsPort, b1, b2)
	three := soakConfig(t, vsPort, b1, b2, b3)
	h, p := hostPort(t, b1.addr)
	brokenText := fmt.Sprintf("virtual_server 127.0.0.1 %d {\n  delay_loop 0.5\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  real_server %s %s {\n    MISC_CHECK {\n      misc_path /bin/true\n      user no-such-user-vigil\n    }\n  }\n}\n", vsPort, h, p)
	// Each reload gets a configuration parsed apart from the running one, as SIGHUP does: the
	// identical reload is equal text, not the same pointer.
	cfgs := []*config.Config{loadText(t, three), loadText(t, two), loadText(t, two)}
	broken := loadText(t, brokenText)

	d := runDaemon(t, loadText(t, three))
	url := fmt.Sprintf("http://127.0.0.1:%d/", vsPort)
	client := &http.Client{Timeout: 2 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	testenv.WaitFor(t, 5*time.Second, "all three servers up", func() bool {
		s := d.Snapshot()
		for _, b := range []*testBackend{b1, b2, b3} {
			if rs, ok := realServer(s, b.addr); !ok || !rs.Up {
				return false
			}
		}
		return true
	})
	testenv.WaitFor(t, 5*time.Second, "balancer serving", func() bool { _, err := get(client, url); return err == nil })

	// Baselines, with the daemon running and the client's connection idle.
	client.CloseIdleConnections()
	goroutinesBefore := runtime.NumGoroutine()
	fdsBefore := openFDs(t)
	snapBefore := d.Snapshot()
	since := map[string]time.Time{}
	for _, b := range []*testBackend{b1, b2} {
		rs, _ := realServer(snapBefore, b.addr)
		since[b.addr] = rs.Since
	}
	lastCheck, _ := realServer(snapBefore, b1.addr)

	// Every pool event while the soak runs (the bus hands each one over; none is coalesced).
	var (
		evMu     sync.Mutex
		spurious []string
	)
	d.Events().Subscribe("soak", func(ev Event) {
		if ev.Pool == nil || (ev.Pool.Kind != pool.ServerDown && ev.Pool.Kind != pool.ServerUp) {
			return
		}
		if ev.Pool.Server == b1.addr || ev.Pool.Server == b2.addr {
			evMu.Lock()
			spurious = append(spurious, ev.Pool.Kind.String()+" "+ev.Pool.Server+": "+ev.Pool.Reason)
			evMu.Unlock()
		}
	})

	// Two client loops until the reloads end, bounded in count and time: one on a keep-alive
	// connection (its requests stay on the backend that connection reached), one with a new
	// connection per request (balanced over the pool as reloads change it).
	ctx, stopClient := context.WithTimeout(context.Background(), 60*time.Second)
	defer stopClient()
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	var requests, failures atomic.Int64
	var firstErr atomic.Value
	var clients sync.WaitGroup
	for _, c := range []*http.Client{client, fresh} {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for i := 0; i < 1_000_000 && ctx.Err() == nil; i++ {
				requests.Add(1)
				body, err := get(c, url)
				if err == nil && body != b1.addr && body != b2.addr && body != b3.addr {
					err = fmt.Errorf("unexpected body %q", body)
				}
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}

	start := time.Now()
	applied, refused := 0, 0
	i := 0
	// Paced at about 1,000 reloads a second: far beyond any operator, and slow enough that a
	// new connection's dial (tens of microseconds) is not outrun by several table changes.
	pace := time.NewTicker(time.Millisecond)
	defer pace.Stop()
	for ; i < reloads || (time.Since(start) < soakMin && i < 100*reloads); i++ {
		<-pace.C
		if i%100 == 50 {
			before := d.Snapshot()
			if err := d.Reload(broken); err == nil {
				t.Fatalf("reload %d: an unbuildable MISC_CHECK was accepted", i)
			}
			refused++
			after := d.Snapshot()
			if got, want := serverSet(after), serverSet(before); got != want {
				t.Fatalf("reload %d: a refused reload changed the servers: %s, was %s", i, got, want)
			}
			continue
		}
		if err := d.Reload(cfgs[i%len(cfgs)]); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		applied++
	}
	elapsed := time.Since(start)
	reloads = i
	// Leave the last configuration with traffic for one more check round, so that requests run
	// against the settled pool too.
	time.Sleep(600 * time.Millisecond)
	stopClient()
	clients.Wait()

	t.Logf("%d reloads (%d applied, %d refused) in %v: %.0f reloads/s; %d requests, %d failed; served by b1 %d, b2 %d, b3 (added and removed) %d",
		reloads, applied, refused, elapsed.Round(time.Millisecond), float64(reloads)/elapsed.Seconds(), requests.Load(), failures.Load(),
		b1.served.Load(), b2.served.Load(), b3.served.Load())
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d requests failed during reloads; first: %v", n, requests.Load(), firstErr.Load())
	}
	if err := d.Events().Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	evMu.Lock()
	for _, ev := range spurious {
		t.Errorf("unchanged server changed state during reloads: %s", ev)
	}
	evMu.Unlock()

	snapAfter := d.Snapshot()
	for _, b := range []*testBackend{b1, b2} {
		rs, ok := realServer(snapAfter, b.addr)
		if !ok || !rs.Up {
			t.Errorf("unchanged server %s is not up after the soak: %+v", b.addr, rs)
		} else if !rs.Since.Equal(since[b.addr]) {
			t.Errorf("reloads reset unchanged server %s: since %v, was %v", b.addr, rs.Since, since[b.addr])
		}
	}
	// Unchanged servers keep their timers: their checks go on through a storm of reloads.
	// delay_loop is 0.5 s; a reload that restarted their timers (warmup up to one interval)
	// would starve them while reloads come every millisecond.
	if elapsed > 1500*time.Millisecond {
		rs, _ := realServer(snapAfter, b1.addr)
		if len(rs.Checks) == 0 || !rs.Checks[0].At.After(lastCheck.Checks[0].At.Add(elapsed/2)) {
			t.Errorf("unchanged server %s: last check at %v, %v before the soak began; reloads lasted %v",
				b1.addr, rs.Checks[0].At, start.Sub(lastCheck.Checks[0].At), elapsed.Round(time.Millisecond))
		}
	}

	client.CloseIdleConnections()
	// Tolerance: the status server, a draining proxied connection, a probe in flight.
	const goroutineSlack, fdSlack = 5, 6
	goroutinesAfter := settle(5*time.Second, goroutinesBefore+goroutineSlack, runtime.NumGoroutine)
	fdsAfter := settle(5*time.Second, fdsBefore+fdSlack, func() int { return openFDs(t) })
	t.Logf("goroutines %d before, %d after; fds %d before, %d after", goroutinesBefore, goroutinesAfter, fdsBefore, fdsAfter)
	if goroutinesAfter > goroutinesBefore+goroutineSlack {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines grew from %d to %d over %d reloads:\n%s", goroutinesBefore, goroutinesAfter, reloads, buf[:runtime.Stack(buf, true)])
	}
	if fdsAfter > fdsBefore+fdSlack {
		t.Errorf("file descriptors grew from %d to %d over %d reloads:\n%s", fdsBefore, fdsAfter, reloads, describeFDs())
	}
}

// serverSet names the virtual servers and their real servers' addresses and check kinds.
func serverSet(s status.Snapshot) string {
	var b strings.Builder
	for _, vs := range s.VirtualServers {
		b.WriteString(vs.Name + "[")
		for _, rs := range vs.RealServers {
			b.WriteString(rs.Address)
			for _, c := range rs.Checks {
				b.WriteString(" " + c.Kind)
			}
			b.WriteString(";")
		}
		b.WriteString("]")
	}
	return b.String()
}
