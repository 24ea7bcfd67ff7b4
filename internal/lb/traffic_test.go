package lb

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	"github.com/vigil-lb/vigil/internal/status"
)

func TestSnapshotCarriesTheBalancersTrafficAndEachChecksRecentProbes(t *testing.T) {
	b1, b2 := startBackend(t), startBackend(t)
	vsPort := testenv.FreePort(t, "127.0.0.1", false)
	d := runDaemon(t, loadText(t, webConfig(t, vsPort, b1, b2)))
	url := fmt.Sprintf("http://127.0.0.1:%d/", vsPort)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	testenv.WaitFor(t, 5*time.Second, "balancer serving", func() bool { _, err := get(client, url); return err == nil })
	const requests = 20
	for i := range requests {
		if _, err := get(client, url); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	// Each request's bytes are counted when its connection ends, which may be just after the
	// client read its answer.
	var vs status.VirtualServer
	testenv.WaitFor(t, 5*time.Second, "traffic counted", func() bool {
		vs = d.Snapshot().VirtualServers[0]
		return vs.Traffic.TotalConns >= requests+1 && vs.Traffic.BytesIn > 0 && vs.Traffic.BytesOut > 0
	})
	sumOfServers := func(vs status.VirtualServer, when string) {
		t.Helper()
		var total, in, out uint64
		for _, rs := range vs.RealServers {
			total, in, out = total+rs.TotalConns, in+rs.BytesIn, out+rs.BytesOut
		}
		if total != vs.Traffic.TotalConns || in != vs.Traffic.BytesIn || out != vs.Traffic.BytesOut {
			t.Errorf("%s: virtual server's traffic %+v is not the sum of its servers' (%d connections, %d in, %d out)", when, vs.Traffic, total, in, out)
		}
	}
	sumOfServers(vs, "both up")

	// HTTP_GET every 200 ms: a couple of seconds give each check a few probes, never more than
	// the ring holds.
	testenv.WaitFor(t, 5*time.Second, "probes recorded", func() bool {
		for _, rs := range d.Snapshot().VirtualServers[0].RealServers {
			if len(rs.Checks[0].Recent) < 3 {
				return false
			}
		}
		return true
	})
	for _, rs := range d.Snapshot().VirtualServers[0].RealServers {
		recent := rs.Checks[0].Recent
		if len(recent) > status.ProbeHistory {
			t.Errorf("%s keeps %d probes, more than %d", rs.Name, len(recent), status.ProbeHistory)
		}
		for i, p := range recent {
			if p.Latency <= 0 || !p.Healthy || (i > 0 && p.At.Before(recent[i-1].At)) {
				t.Errorf("%s probe %d: %+v (want healthy, timed, oldest first)", rs.Name, i, p)
			}
		}
	}

	// A server whose checks fail leaves the pool, but it still shows what it carried.
	b2.failing.Store(true)
	testenv.WaitFor(t, 5*time.Second, "the second server down", func() bool {
		vs = d.Snapshot().VirtualServers[0]
		return vs.UpCount == 1
	})
	for _, rs := range vs.RealServers {
		if !rs.Up && rs.TotalConns == 0 {
			t.Errorf("down server %s shows no connections after the requests it served", rs.Name)
		}
	}
	sumOfServers(vs, "one down")
}

// At shutdown the last state a virtual server publishes says it is stopped, not that no real
// server can take a connection while every one is up.
func TestAStoppingVirtualServerSaysItIsStopped(t *testing.T) {
	b1 := startBackend(t)
	vsPort := testenv.FreePort(t, "127.0.0.1", false)
	var logs testenv.Buffer
	d, err := New(loadText(t, webConfig(t, vsPort, b1)), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var last *State
	d.Events().Subscribe("test", func(ev Event) {
		if ev.State != nil {
			mu.Lock()
			last = ev.State
			mu.Unlock()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	testenv.WaitFor(t, 5*time.Second, "serving", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return last != nil && last.Serving
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return 10 s after its context ended")
	}
	mu.Lock()
	defer mu.Unlock()
	if last.Serving || !strings.HasPrefix(last.ServingReason, "stopped:") {
		t.Errorf("last state at shutdown: serving %v, %q; want not serving, stopped", last.Serving, last.ServingReason)
	}
	// The servers a stop takes down are logged, but not as warnings.
	text := logs.String()
	if !strings.Contains(text, `level=INFO msg="server-down: shutting down"`) || strings.Contains(text, "level=WARN") {
		t.Errorf("the stop logged:\n%s\nwant its server-down at INFO and no warning", text)
	}
}
