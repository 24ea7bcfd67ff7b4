package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func TestAdvanceFiresDueTimersInOrderOfDueTimeThenCreation(t *testing.T) {
	f := NewFake(epoch)
	var got []string
	at := func(name string) func() { return func() { got = append(got, name+"@"+f.Now().Sub(epoch).String()) } }
	f.AfterFunc(3*time.Second, at("c"))
	f.AfterFunc(1*time.Second, at("a"))
	f.AfterFunc(1*time.Second, at("b"))
	f.AfterFunc(10*time.Second, at("late"))

	f.Advance(5 * time.Second)

	want := []string{"a@1s", "b@1s", "c@3s"}
	if len(got) != len(want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fired %v, want %v", got, want)
		}
	}
	if now := f.Now().Sub(epoch); now != 5*time.Second {
		t.Fatalf("Now after Advance(5s) = +%v, want +5s", now)
	}
	if f.Pending() != 1 {
		t.Fatalf("Pending = %d, want 1 (the 10s timer)", f.Pending())
	}
}

func TestTimerArmedByFiredFunctionWithinStepFiresInSameAdvance(t *testing.T) {
	f := NewFake(epoch)
	var ticks []time.Duration
	var tick func()
	tick = func() {
		ticks = append(ticks, f.Now().Sub(epoch))
		f.AfterFunc(time.Second, tick)
	}
	f.AfterFunc(time.Second, tick)
	f.Advance(3500 * time.Millisecond)
	if len(ticks) != 3 || ticks[0] != time.Second || ticks[2] != 3*time.Second {
		t.Fatalf("ticks = %v, want [1s 2s 3s]", ticks)
	}
}

func TestChannelTimerDeliversFakeTimeAndStopPreventsIt(t *testing.T) {
	f := NewFake(epoch)
	a := f.NewTimer(time.Second)
	b := f.NewTimer(time.Second)
	if !b.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	if b.Stop() {
		t.Fatal("second Stop reported true")
	}
	f.Advance(2 * time.Second)
	select {
	case v := <-a.C():
		if !v.Equal(epoch.Add(time.Second)) {
			t.Fatalf("timer sent %v, want its due time %v", v, epoch.Add(time.Second))
		}
	default:
		t.Fatal("due timer did not send")
	}
	select {
	case <-b.C():
		t.Fatal("stopped timer sent")
	default:
	}
}

func TestResetDropsUnreceivedValueAndReschedules(t *testing.T) {
	f := NewFake(epoch)
	tm := f.NewTimer(time.Second)
	f.Advance(time.Second) // fires, value sits in the channel
	if tm.Reset(time.Second) {
		t.Fatal("Reset of a fired timer reported it pending")
	}
	select {
	case <-tm.C():
		t.Fatal("stale value received after Reset")
	default:
	}
	f.Advance(999 * time.Millisecond)
	select {
	case <-tm.C():
		t.Fatal("fired early")
	default:
	}
	f.Advance(time.Millisecond)
	select {
	case <-tm.C():
	default:
		t.Fatal("did not fire at its new due time")
	}
}

func TestWithTimeoutIsDoneWithDeadlineExceededCauseOnlyAfterAdvance(t *testing.T) {
	f := NewFake(epoch)
	ctx, cancel := f.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	f.Advance(199 * time.Millisecond)
	if ctx.Err() != nil {
		t.Fatal("done before its timeout")
	}
	f.Advance(time.Millisecond)
	if !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		t.Fatalf("cause = %v, want DeadlineExceeded", context.Cause(ctx))
	}

	ctx2, cancel2 := f.WithTimeout(context.Background(), time.Second)
	cancel2()
	if !errors.Is(context.Cause(ctx2), context.Canceled) {
		t.Fatalf("cause after cancel = %v, want Canceled", context.Cause(ctx2))
	}
	if f.Pending() != 0 {
		t.Fatalf("cancel left %d timers pending", f.Pending())
	}
}

func TestWaitPendingReturnsOnceAnotherGoroutineArmsATimer(t *testing.T) {
	f := NewFake(epoch)
	go func() { f.NewTimer(time.Second) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.WaitPending(ctx, 1); err != nil {
		t.Fatalf("WaitPending: %v", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if err := f.WaitPending(ctx2, 2); err == nil {
		t.Fatal("WaitPending(2) returned nil with one timer pending")
	}
}

func TestRealClockTimerFires(t *testing.T) {
	c := Real()
	tm := c.NewTimer(time.Millisecond)
	select {
	case <-tm.C():
	case <-time.After(5 * time.Second):
		t.Fatal("real timer did not fire within 5s")
	}
	done := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("real AfterFunc did not run within 5s")
	}
	ctx, cancel := c.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("real WithTimeout err = %v", ctx.Err())
	}
}

func TestPendingAtSeesOnlyUnfiredTimers(t *testing.T) {
	f := NewFake(epoch)
	f.NewTimer(time.Second)
	if !f.PendingAt(epoch.Add(time.Second)) || f.PendingAt(epoch.Add(2*time.Second)) {
		t.Fatal("PendingAt wrong before firing")
	}
	f.Advance(time.Second)
	if f.PendingAt(epoch.Add(time.Second)) {
		t.Fatal("PendingAt true after the timer fired")
	}
}
