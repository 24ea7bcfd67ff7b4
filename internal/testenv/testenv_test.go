package testenv

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	took := WaitFor(t, time.Second, "third look", func() bool { n++; return n >= 3 })
	if n != 3 || took <= 0 {
		t.Errorf("looked %d times over %v, want 3 looks", n, took)
	}
	if _, ok := Eventually(30*time.Millisecond, func() bool { return false }); ok {
		t.Error("Eventually reported a condition that never held")
	}
}

func TestFreePortIsFreeAndBelowTheEphemeralRange(t *testing.T) {
	seen := map[int]bool{}
	for range 5 {
		p := FreePort(t, "127.0.0.1", true)
		if p < firstPort || p >= lastPort || seen[p] {
			t.Fatalf("port %d: outside [%d, %d) or given twice", p, firstPort, lastPort)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d not free: %v", p, err)
		}
		ln.Close()
	}
}

func TestNamespacesJoinedByABridgeReachEachOther(t *testing.T) {
	lan := NewNamespace(t, "lan")
	lan.Bridge(t, "br0")
	a, b := NewNamespace(t, "a"), NewNamespace(t, "b")
	lan.Attach(t, "br0", "pa", a, "eth0")
	lan.Attach(t, "br0", "pb", b, "eth0")
	a.Addr(t, "eth0", "192.0.2.1/24")
	b.Addr(t, "eth0", "192.0.2.2/24")
	var ln net.Listener
	b.Do(t, func() {
		var err error
		if ln, err = net.Listen("tcp", "192.0.2.2:0"); err != nil {
			t.Fatal(err)
		}
	})
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	a.Do(t, func() {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
		if err != nil {
			t.Fatalf("connect over the bridge: %v", err)
		}
		c.Close()
	})
	var inside string
	a.Do(t, func() {
		ifs, err := net.Interfaces()
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range ifs {
			inside += i.Name + " "
		}
	})
	if !strings.Contains(inside, "eth0") {
		t.Errorf("Do did not run inside the namespace: interfaces %q", inside)
	}
}

func TestKeepAliveAsksTwiceOnOneConnection(t *testing.T) {
	b := StartBackend(t)
	k := DialKeepAlive(t, b.Addr)
	for range 2 {
		if body, err := k.Get("/health", time.Second); err != nil || body != "ok" {
			t.Fatalf("Get: %q, %v", body, err)
		}
	}
	b.Failing.Store(true)
	if _, err := k.Get("/health", time.Second); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Get of a failing /health: %v, want its status as an error", err)
	}
}

func TestRunUntilCleanupStopsWhatItRuns(t *testing.T) {
	stopped := make(chan struct{})
	t.Run("runs", func(t *testing.T) {
		RunUntilCleanup(t, "a loop", func(ctx context.Context) error {
			<-ctx.Done()
			close(stopped)
			return ctx.Err()
		})
	})
	select {
	case <-stopped:
	default:
		t.Fatal("the loop still ran after its test ended")
	}
}
