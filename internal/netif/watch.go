package netif

import (
	"context"
	"fmt"
)

// subscribeFunc starts a netlink subscription that sends its updates on ch, and reports a
// failure to onErr, until done is closed; it then closes ch.
type subscribeFunc[U any] func(ch chan<- U, done <-chan struct{}, onErr func(error)) error

// watch runs one subscription until ctx ends, handing each update to fn on the caller's
// goroutine. It returns nil when ctx ends, or an error naming what (as "address changes") when
// the subscription fails. No goroutine of the subscription outlives the call.
func watch[U any](ctx context.Context, what string, subscribe subscribeFunc[U], fn func(U)) error {
	ch := make(chan U, 64)
	done := make(chan struct{})
	errc := make(chan error, 1)
	onErr := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	if err := subscribe(ch, done, onErr); err != nil {
		close(done)
		return fmt.Errorf("netif: subscribe to %s: %w", what, err)
	}
	// Closing done closes the socket; the reader then closes ch. Waiting for that means no
	// goroutine outlives the call.
	defer func() {
		close(done)
		for range ch {
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return fmt.Errorf("netif: %s: %w", what, err)
		case u, ok := <-ch:
			if !ok {
				return fmt.Errorf("netif: %s: subscription closed", what)
			}
			fn(u)
		}
	}
}
