package probe

import (
	"sync/atomic"
	"testing"
	"time"
)

// releaseFake counts its Release calls.
type releaseFake struct {
	*schedFake
	released atomic.Int32
}

func (f *releaseFake) Release() { f.released.Add(1) }

func TestSchedulerReleasesACheckerItNoLongerRuns(t *testing.T) {
	h := newSchedHarness(t, 4)
	first := &releaseFake{schedFake: newSchedFake("a")}
	job := Job{ID: "a", Checker: first, Interval: 10 * time.Second, Warmup: -1}
	schedMust(t, h.s.Add(job))
	schedMust(t, h.s.Add(Job{ID: "b", Checker: first, Interval: 10 * time.Second, Warmup: -1}))
	h.start()

	same := job
	schedMust(t, h.s.Update(same)) // the same checker object: nothing to let go of
	if n := first.released.Load(); n != 0 {
		t.Fatalf("an update with the same checker released it %d times", n)
	}
	second := &releaseFake{schedFake: newSchedFake("a")}
	job.Checker = second // a reload's new object with the same key: the old one goes
	schedMust(t, h.s.Update(job))
	if n := first.released.Load(); n != 1 {
		t.Fatalf("the replaced checker was released %d times, want 1", n)
	}
	h.s.Remove("b") // job a still runs the probe
	if n := second.released.Load(); n != 0 {
		t.Fatalf("a checker still in use was released %d times", n)
	}
	h.s.Remove("a")
	if n := second.released.Load(); n != 1 {
		t.Fatalf("the last job's checker was released %d times after its removal, want 1", n)
	}
}

func TestKeptSocketClosedKeepsNothing(t *testing.T) {
	var k KeptSocket
	k.Close()
	s := &Socket{fd: -1}
	k.Keep(s)
	if k.Take() != nil {
		t.Error("a closed KeptSocket kept a socket")
	}
}
