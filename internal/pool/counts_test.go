package pool

import (
	"testing"
	"time"
)

func TestCountsAgreeWithSnapshot(t *testing.T) {
	now := time.Unix(1000, 0)
	spec := ServiceSpec{Name: "vs", Quorum: 2, Servers: []ServerSpec{
		{ID: "a", Weight: 1, Checks: []CheckSpec{{}}},
		{ID: "b", Weight: 1, Checks: []CheckSpec{{}}},
		{ID: "c", Weight: 1},
	}}
	s, _, err := New(spec, now)
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		up, total, q := s.Counts()
		snap := s.Snapshot()
		if up != snap.Up || total != snap.Total || q != snap.QuorumUp {
			t.Fatalf("%s: Counts %d/%d/%v, Snapshot %d/%d/%v", when, up, total, q, snap.Up, snap.Total, snap.QuorumUp)
		}
	}
	check("start")
	for _, id := range []string{"a", "b"} {
		now = now.Add(time.Second)
		if _, err := s.Observe(Observation{Server: id, Healthy: false, Reason: "refused"}, now); err != nil {
			t.Fatal(err)
		}
		check("after " + id + " failed")
	}
	if up, _, q := s.Counts(); up != 1 || q {
		t.Fatalf("two of three down with quorum 2: up %d, quorum %v", up, q)
	}
}
