package testenv

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// stopWithin bounds how long RunUntilCleanup waits for run to return once cancelled.
const stopWithin = 15 * time.Second

// RunUntilCleanup runs run in a goroutine until the test ends: its cleanup cancels run's
// context, waits up to 15 s for run to return, and fails t if it did not, or returned an error
// other than the context's. The stop it returns does the same sooner (a restart); the cleanup
// then has nothing left to do.
func RunUntilCleanup(t testing.TB, what string, run func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("%s: %v", what, err)
				}
			case <-time.After(stopWithin):
				t.Errorf("%s did not return within %v of its context's end", what, stopWithin)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
