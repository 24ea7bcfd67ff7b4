package clock

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Fake is a Clock that moves only when told to. Advance fires every timer that falls due, in
// order of due time (ties in order of creation), each at its own due time, so a test sees the
// same sequence on every run. The zero value is not usable; use NewFake.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	seq     uint64
	pending fakeHeap
	changed chan struct{} // closed and replaced whenever the set of pending timers changes
}

// NewFake returns a fake clock that reads start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, changed: make(chan struct{})}
}

// Now is the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer makes a timer whose channel (buffered, like time.Timer's) receives the fake time
// when Advance passes its due time.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{clock: f, ch: make(chan time.Time, 1), index: -1}
	t.Reset(d)
	return t
}

// AfterFunc calls fn from Advance, synchronously, when Advance passes its due time.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	t := &fakeTimer{clock: f, fn: fn, index: -1}
	t.Reset(d)
	return t
}

// WithTimeout returns a context cancelled with cause context.DeadlineExceeded when Advance
// passes now+d. It has no Deadline: the fake time means nothing to sockets.
func (f *Fake) WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	t := f.AfterFunc(d, func() { cancel(context.DeadlineExceeded) })
	return ctx, func() {
		t.Stop()
		cancel(context.Canceled)
	}
}

// Advance moves the clock forward by d, firing due timers in order. A timer armed by a fired
// function for a time within the step fires within the same call.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	end := f.now.Add(d)
	for len(f.pending) > 0 && !f.pending[0].due.After(end) {
		t := heap.Pop(&f.pending).(*fakeTimer)
		if t.due.After(f.now) {
			f.now = t.due
		}
		f.notifyLocked()
		now := f.now
		if t.fn != nil {
			f.mu.Unlock()
			t.fn()
			f.mu.Lock()
			continue
		}
		select {
		case t.ch <- now:
		default:
		}
	}
	f.now = end
	f.mu.Unlock()
}

// Set moves the clock to t (forward only), like Advance(t.Sub(Now())).
func (f *Fake) Set(t time.Time) {
	if d := t.Sub(f.Now()); d > 0 {
		f.Advance(d)
	}
}

// Pending is the number of timers not yet fired or stopped.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending)
}

// NextDue is the due time of the earliest pending timer; ok is false when there is none.
func (f *Fake) NextDue() (due time.Time, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pending) == 0 {
		return time.Time{}, false
	}
	return f.pending[0].due, true
}

// PendingAt reports whether a timer is pending for exactly t, for tests that must know a
// goroutine's timer has not fired yet.
func (f *Fake) PendingAt(t time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.pending {
		if p.due.Equal(t) {
			return true
		}
	}
	return false
}

// WaitPending blocks until at least n timers are pending or ctx is done, for tests that must
// know a goroutine under test has armed its timers before they Advance.
func (f *Fake) WaitPending(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		got, ch := len(f.pending), f.changed
		f.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

type fakeTimer struct {
	clock *Fake
	ch    chan time.Time
	fn    func()
	due   time.Time
	seq   uint64
	index int // in clock.pending; -1 when not pending
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	f := t.clock
	f.mu.Lock()
	defer f.mu.Unlock()
	return t.stopLocked()
}

func (t *fakeTimer) stopLocked() bool {
	if t.ch != nil {
		select { // as time.Timer since Go 1.23: no stale value after Stop
		case <-t.ch:
		default:
		}
	}
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.clock.pending, t.index)
	t.clock.notifyLocked()
	return true
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	f := t.clock
	f.mu.Lock()
	defer f.mu.Unlock()
	was := t.stopLocked()
	f.seq++
	t.due, t.seq = f.now.Add(d), f.seq
	heap.Push(&f.pending, t)
	f.notifyLocked()
	return was
}

type fakeHeap []*fakeTimer

func (h fakeHeap) Len() int { return len(h) }
func (h fakeHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h fakeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *fakeHeap) Push(x any) {
	t := x.(*fakeTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *fakeHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
