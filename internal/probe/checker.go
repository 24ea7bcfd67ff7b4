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
	// NoVerdict says the probe tells nothing of health (an agent that did not answer, or
	// answered neither up nor down): the check keeps the state it is in, no retry is
	// counted, and the scheduler reports Healthy as that state.
	NoVerdict bool `json:"no_verdict,omitempty"`
	// Agent is what the target's agent said of it beside health (AGENT_CHECK, HAProxy's
	// agent protocol), for the pool; nil when it said nothing of the kind, and from every
	// other checker.
	Agent *AgentWord `json:"agent,omitempty"`
}

// AgentWord is what an agent said of its server beside health: an administrative state, a
// weight, both or neither. What it did not say is left as it was.
type AgentWord struct {
	// State is "ready", "drain" or "maint"; empty when the agent said none of them.
	State string `json:"state,omitempty"`
	// WeightPercent is the weight asked for, in percent of the configured weight; -1 when the
	// agent asked none.
	WeightPercent int `json:"weight_percent"`
	// Said is the agent's answer as it wrote it.
	Said string `json:"said"`
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
