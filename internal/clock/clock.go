package clock

import (
	"context"
	"time"
)

// Clock tells the time and makes timers. Everything in vigil that decides by time takes one.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// NewTimer makes a timer that sends the time on its channel once, d from now.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine (Real) or from Advance (Fake), d from now.
	AfterFunc(d time.Duration, f func()) Timer
	// WithTimeout is context.WithTimeout on this clock: the context is done d from now, and
	// context.Cause then reports context.DeadlineExceeded.
	WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc)
}

// Timer is one pending event of a Clock.
type Timer interface {
	// C delivers the firing time; nil for timers made by AfterFunc.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it was still pending.
	Stop() bool
	// Reset makes the timer fire d from now; it reports whether it was still pending. As with
	// time.Timer (Go 1.23+), no stale value is received after Reset or Stop returns.
	Reset(d time.Duration) bool
}

// Real returns the clock of the operating system.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{t: time.NewTimer(d)} }

func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{t: time.AfterFunc(d, f)}
}

func (realClock) WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

var (
	_ Clock = realClock{}
	_ Clock = (*Fake)(nil)
)
