package fdbudget

import (
	"context"
	"log/slog"
	"time"
)

// Near is how close to the limit Watch warns: nine tenths of it in use.
func (b Budget) Near() int { return b.Limit - b.Limit/10 }

// Watch counts the descriptors in use (inUse) every period until ctx ends, and warns while
// they are at or past Near, at most once per quiet. The caps keep the data planes within their
// share, so a process near its limit has something else holding descriptors (scripts piling
// up, a leak), and the checks are next to go without; the line says what the budget expected.
func (b Budget) Watch(ctx context.Context, every, quiet time.Duration, inUse func() (int, error), log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	var warned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := inUse()
		if err != nil || n < b.Near() || time.Since(warned) < quiet {
			continue
		}
		warned = time.Now()
		log.Warn("file descriptors near the limit", "in_use", n, "limit", b.Limit, "reserved", b.ReservedTotal(),
			"dataplane", b.Dataplane, "maxconn", b.MaxConn)
	}
}
