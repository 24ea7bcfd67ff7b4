package probe

import (
	"context"
	"time"
)

// Result is the outcome of one probe of one real server by one checker.
type Result struct {
	// Healthy is the verdict of this probe alone; retry, alpha and the like are applied later.
	Healthy bool `json:"healthy"`
	// Weight, when >= 0, is a weight the check asks for (MISC_CHECK with misc_dynamic,
	// FILE_CHECK); -1 leaves the configured weight alone.
	Weight int `json:"weight"`
	// Reason says what the probe saw, for people: "connect: connection refused",
	// "HTTP status 503, expected 200", "exit status 1".
	Reason string `json:"reason"`
	// Latency is how long the probe took.
	Latency time.Duration `json:"latency"`
}

// Checker probes one target one way. Implementations hold no schedule and no history: the
// scheduler decides when to call Check, and the pool what the results mean.
type Checker interface {
	// Kind is the Keepalived block name: "TCP_CHECK", "HTTP_GET", ...
	Kind() string
	// Target names what is probed, for logs and status: "192.0.2.10:80".
	Target() string
	// Key identifies the probe: two checkers with the same key send the same probe to the same
	// target, so the scheduler runs it once and hands the result to both.
	Key() string
	// Check runs one probe. ctx carries the check's timeout as its deadline; Check returns
	// promptly once ctx is done. A probe cut short by cancellation (not by its deadline) is
	// reported with Healthy false and the scheduler discards it.
	Check(ctx context.Context) Result
}
