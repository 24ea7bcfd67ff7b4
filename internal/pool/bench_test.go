package pool

import (
	"fmt"
	"testing"
	"time"
)

func benchService(b *testing.B, n int) *Service {
	b.Helper()
	spec := ServiceSpec{Name: "bench", Quorum: n / 2, QuorumUp: "qup", QuorumDown: "qdown", Sorry: &SorrySpec{ID: "sorry"}, PanicThreshold: 10}
	for i := range n {
		rs := srv(fmt.Sprintf("10.%d.%d.%d:80", i>>16&255, i>>8&255, i&255), 1+i%5, "cc")
		rs.InhibitOnFailure = i%3 == 0
		spec.Servers = append(spec.Servers, rs)
	}
	s, _, err := New(spec, t0)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkObserveTenThousandServers flips servers down and up in a 10,000-server pool: every
// observation changes the desired set, none flips quorum, panic or the sorry server.
func BenchmarkObserveTenThousandServers(b *testing.B) {
	benchObserve(b, 10_000)
}

// BenchmarkObserveScaling shows the cost of an observation does not grow with the pool.
func BenchmarkObserveScaling(b *testing.B) {
	for _, n := range []int{100, 10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchObserve(b, n) })
	}
}

func benchObserve(b *testing.B, n int) {
	s := benchService(b, n)
	ids := make([]string, n)
	for i, r := range s.order {
		ids[i] = r.spec.ID
	}
	now := t0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Millisecond)
		o := Observation{Server: ids[(i/2)%n], Check: (i / 2 / n) % 2, Healthy: i%2 == 1, Reason: "bench"}
		evs, err := s.Observe(o, now)
		if err != nil || len(evs) == 0 {
			b.Fatalf("observe %+v: %v, %d events", o, err, len(evs))
		}
	}
}

// BenchmarkObserveSteadyState is the common case: a verdict that changes nothing.
func BenchmarkObserveSteadyState(b *testing.B) {
	s := benchService(b, 10_000)
	now := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Millisecond)
		if _, err := s.Observe(Observation{Server: s.order[i%10_000].spec.ID, Check: 0, Healthy: true}, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDesiredAfterChangeTenThousandServers is what a daemon pays when it rebuilds the
// whole set after every change instead of applying Event.Changes.
func BenchmarkDesiredAfterChangeTenThousandServers(b *testing.B) {
	s := benchService(b, 10_000)
	id := s.order[0].spec.ID
	now := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Millisecond)
		if _, err := s.Observe(Observation{Server: id, Check: 0, Healthy: i%2 == 1}, now); err != nil {
			b.Fatal(err)
		}
		if d := s.Desired(); len(d.Backends) < 9_000 {
			b.Fatalf("%d backends", len(d.Backends))
		}
	}
}
