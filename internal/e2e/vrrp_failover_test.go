package e2e

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// master returns the node that is MASTER and the other one.
func (l *vrrpLab) master() (master, other *vigilNode) {
	l.t.Helper()
	testenv.WaitFor(l.t, 10*time.Second, "one master", func() bool {
		a, b := l.nodes[0].state(), l.nodes[1].state()
		return (a == "MASTER") != (b == "MASTER")
	})
	if l.nodes[0].state() == "MASTER" {
		return l.nodes[0], l.nodes[1]
	}
	return l.nodes[1], l.nodes[0]
}

// TestFailoverNewMasterServesWithinASecondOfTakingTheAddress kills the master twenty times,
// with SIGKILL and SIGTERM in turn (each node dies both ways, since the nodes take the address
// alternately), while
// eight clients open a new connection per request to the virtual server all along. Each time,
// the node that takes the address must serve the first request that starts after the address
// moved within 1 s of the move: its listener on the virtual address is bound before it owns
// the address (IP_FREEBIND), so nothing waits for a reload or a retry.
func TestFailoverNewMasterServesWithinASecondOfTakingTheAddress(t *testing.T) {
	l := newVRRPLab(t)
	log := &requestLog{}
	ctx, cancel := context.WithCancel(context.Background())
	clients := l.runClients(ctx, 8, log)
	defer func() { cancel(); clients.Wait() }()
	began := time.Now()
	testenv.WaitFor(t, 5*time.Second, "the clients served", func() bool { _, ok := log.firstServedAfter(began); return ok })

	const failovers = 20
	var delays []time.Duration
	failedAfterMove := 0
	for i := range failovers {
		dead, next := l.master()
		// KILL, KILL, TERM, TERM, ...: the masters alternate, so each node dies both ways.
		sig := syscall.SIGKILL
		if i/2%2 == 1 {
			sig = syscall.SIGTERM
		}
		stopped := time.Now()
		l.stop(dead, sig)
		testenv.WaitFor(t, 5*time.Second, next.name+" takes the address", func() bool { return next.lastVIPAdded().After(stopped) })
		moved := next.lastVIPAdded()
		took := testenv.WaitSince(t, moved, 3*time.Second, "a request served after the address moved to "+next.name, func() bool {
			_, ok := log.firstServedAfter(moved)
			return ok
		})
		served, _ := log.firstServedAfter(moved)
		delay := served.Sub(moved)
		delays = append(delays, delay)
		// Requests that start a second after the move must all be served.
		settled := moved.Add(time.Second)
		testenv.WaitFor(t, 3*time.Second, "requests after the settling second", func() bool { _, ok := log.firstServedAfter(settled.Add(200 * time.Millisecond)); return ok })
		f, n := log.failedBetween(settled, time.Now())
		failedAfterMove += f
		t.Logf("failover %2d: %s %v, %s took the address %v after the stop, first request served %v after the move (%v polling); %d of %d requests failed after the settling second",
			i+1, dead.name, sig, next.name, moved.Sub(stopped).Round(time.Millisecond), delay.Round(time.Millisecond), took.Round(time.Millisecond), f, n)
		l.start(dead)
		testenv.WaitFor(t, 10*time.Second, dead.name+" back as a serving backup", func() bool {
			return dead.state() == "BACKUP" && dead.serving()
		})
	}
	slices.Sort(delays)
	p := func(q float64) time.Duration {
		return delays[min(len(delays)-1, int(q*float64(len(delays))))].Round(time.Millisecond)
	}
	t.Logf("time from the address moving to the first served request over %d failovers: p50 %v, p99 %v, max %v; requests failed after the settling second: %d",
		failovers, p(0.5), p(0.99), delays[len(delays)-1].Round(time.Millisecond), failedAfterMove)
	if worst := delays[len(delays)-1]; worst > time.Second {
		t.Errorf("the new master served %v after taking the address, want within 1 s", worst)
	}
	if failedAfterMove > 0 {
		t.Errorf("%d requests failed more than a second after the address moved", failedAfterMove)
	}
}
