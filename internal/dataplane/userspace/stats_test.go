package userspace

import (
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// TestCountsOutliveABackendThatLeavesAndReturns: the service's totals go on when a backend
// leaves the set (a failed server), and the backend's own go on from where they were when it
// returns, so that a page's rate never reads a drop as negative traffic; meanwhile its counts
// are shown apart (Departed), so that a down server's page does not read 0.
func TestCountsOutliveABackendThatLeavesAndReturns(t *testing.T) {
	backends := startHTTPBackends(t, 2)
	b := newTestBalancer(t, Options{})
	both := tcpService("web", backends)
	mustApply(t, b, both)
	addr := addrOf(t, b, "web")
	for range 10 {
		if _, err := oneShot(addr, false); err != nil {
			t.Fatal(err)
		}
	}
	stats := func() dataplane.ServiceStats {
		t.Helper()
		for _, s := range b.Stats() {
			if s.Name == "web" {
				return s
			}
		}
		t.Fatal("no stats for web")
		return dataplane.ServiceStats{}
	}
	backendTotal := func(s dataplane.ServiceStats, i int) (uint64, bool) {
		for _, bs := range s.Backends {
			if bs.Addr == backends[i].addr {
				return bs.Total, true
			}
		}
		return 0, false
	}
	// Every connection closed: the counts are final.
	testenv.WaitFor(t, 5*time.Second, "connections closed", func() bool { return stats().Conns == 0 })
	before := stats()
	second, _ := backendTotal(before, 1)
	if before.Total != 10 || second == 0 || before.BytesIn == 0 || before.BytesOut == 0 {
		t.Fatalf("after 10 requests: %+v", before)
	}

	mustApply(t, b, tcpService("web", backends[:1]))
	left := stats()
	if _, ok := backendTotal(left, 1); ok {
		t.Fatalf("the backend that left is still listed: %+v", left.Backends)
	}
	// Its counts are still there to show, apart from the set.
	if len(left.Departed) != 1 || left.Departed[0].Addr != backends[1].addr || left.Departed[0].Total != second {
		t.Fatalf("departed after the backend left: %+v, want %s with total %d", left.Departed, backends[1].addr, second)
	}
	if left.Total != before.Total || left.BytesIn != before.BytesIn || left.BytesOut != before.BytesOut {
		t.Fatalf("totals after a backend left: %d/%d/%d, before %d/%d/%d", left.Total, left.BytesIn, left.BytesOut, before.Total, before.BytesIn, before.BytesOut)
	}

	mustApply(t, b, both)
	back := stats()
	if got, _ := backendTotal(back, 1); got != second {
		t.Fatalf("the returning backend's total is %d, it was %d", got, second)
	}
	if len(back.Departed) != 0 {
		t.Fatalf("the returned backend is still departed: %+v", back.Departed)
	}
	if back.Total != before.Total {
		t.Fatalf("total after the backend returned: %d, before %d (counted twice or lost)", back.Total, before.Total)
	}
	if _, err := oneShot(addr, false); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, "the new request counted", func() bool { return stats().Total == before.Total+1 })
}
