package testenv

import (
	"testing"
	"time"
)

// pollEvery is how often WaitFor looks again.
const pollEvery = 10 * time.Millisecond

// WaitFor polls cond until it holds and returns how long that took, or fails t once within has
// passed, naming what it waited for.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return WaitSince(t, time.Now(), within, what, cond)
}

// WaitSince is WaitFor with the clock started at since (the moment a fault began, say), so that
// the time returned and the bound both count from there.
func WaitSince(t testing.TB, since time.Time, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	for {
		if cond() {
			return time.Since(since)
		}
		if time.Since(since) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(pollEvery)
	}
}

// Eventually is WaitFor without failing: it reports whether cond held within the bound, for
// tests that measure how often something happens.
func Eventually(within time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > within {
			return time.Since(start), false
		}
		time.Sleep(pollEvery)
	}
}
