package pool

import "time"

// EventKind says what happened to a service.
type EventKind int

// The kinds of Event. Server-level kinds name the server in Event.Server; service-level kinds
// leave it empty.
const (
	// ServerUp: every check of the server passes now; Script is notify_up.
	ServerUp EventKind = iota + 1
	// ServerDown: a check of the server failed; Script is notify_down.
	ServerDown
	// ServerConfirmed: a check's first result agreed with the state it started in (an alpha
	// check's first failure, typically). Keepalived runs the server's notify script for the
	// state it is in (notify_down, mostly) even though nothing changed; Script names it.
	ServerConfirmed
	// WeightChanged: the server's weight changed (a dynamic check, slow start, a reload).
	WeightChanged
	// ServerAdded and ServerRemoved: a reload added or removed the server.
	ServerAdded
	ServerRemoved
	// QuorumGained and QuorumLost: the live weight crossed the quorum; Script is quorum_up or
	// quorum_down when Keepalived would run it.
	QuorumGained
	QuorumLost
	// SorryOn and SorryOff: the sorry server replaced the pool, or gave it back.
	SorryOn
	SorryOff
	// PanicOn and PanicOff (vigil): too few servers pass their checks, so the pool keeps all
	// of them in; or enough pass again.
	PanicOn
	PanicOff
	// ChecksSuspended and ChecksResumed: ha_suspend saw the virtual address leave or return.
	ChecksSuspended
	ChecksResumed
	// ServiceStarted, Reconfigured and ServiceStopped carry the changes of New, Reconfigure and
	// Stop that no more specific event explains.
	ServiceStarted
	Reconfigured
	ServiceStopped
	// AdminChanged (vigil): an operator changed the server's admin state or weight override
	// (admin.go), or a restart restored them; Reason says what, by whom and why.
	AdminChanged
	// Resynced is never expected: it carries a change of the desired set that no other event
	// explained, so that no change goes unexplained even if the pool has a bug.
	Resynced
	// ServerEjected (vigil): passive health took a server whose checks pass out of the set
	// (weight 0) after the data plane saw its connections fail; Cause is the last failure's
	// kind. ServerReadmitted: its next check verdict passed and brought it back.
	// EjectionRefused: the ejection was not made; Cause names the limit (see ObserveFailure).
	ServerEjected
	ServerReadmitted
	EjectionRefused
)

var kindNames = [...]string{
	ServerUp: "server-up", ServerDown: "server-down", ServerConfirmed: "server-confirmed",
	WeightChanged: "weight-changed", ServerAdded: "server-added", ServerRemoved: "server-removed",
	QuorumGained: "quorum-gained", QuorumLost: "quorum-lost", SorryOn: "sorry-on",
	SorryOff: "sorry-off", PanicOn: "panic-on", PanicOff: "panic-off",
	ChecksSuspended: "checks-suspended", ChecksResumed: "checks-resumed",
	ServiceStarted: "service-started", Reconfigured: "reconfigured",
	ServiceStopped: "service-stopped", AdminChanged: "admin-changed", Resynced: "resynced",
	ServerEjected: "server-ejected", ServerReadmitted: "server-readmitted", EjectionRefused: "ejection-refused",
}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// MarshalText names the kind in JSON.
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Event is something that happened to a service, with its reason and its effect.
type Event struct {
	At      time.Time `json:"at"`
	Kind    EventKind `json:"kind"`
	Service string    `json:"service"`
	// Server is the real or sorry server concerned; empty for service-level events.
	Server string `json:"server,omitempty"`
	// Check is the index of the check behind the event, -1 if none.
	Check int `json:"check"`
	// Reason says why, for people: which check, what it saw, which numbers crossed what.
	Reason string `json:"reason"`
	// Script is the notify script the daemon should run (without waiting), empty if none.
	Script string `json:"script,omitempty"`
	// Cause is a short word for counting by: for ServerEjected the kind of the failure that
	// ejected the server (the data plane's: "timeout", "refused", ...), for EjectionRefused
	// the limit that refused it ("max_ejection_percent", "panic_threshold", "last_server").
	Cause string `json:"cause,omitempty"`
	// Changes are the changes of the desired set this event caused. Applying the Changes of
	// every event returned by one call, in order, turns the Desired before the call into the
	// Desired after it; no change of Desired is ever made without an event carrying it.
	Changes []Change `json:"changes,omitempty"`
}

// Change is one backend's entry in the desired set after an event.
type Change struct {
	ID string `json:"id"`
	// In is false when the backend left the set.
	In     bool `json:"in"`
	Weight int  `json:"weight"`
}

// Backend is one entry of the desired set.
type Backend struct {
	ID     string `json:"id"`
	Weight int    `json:"weight"`
}

// Desired is what the data plane should apply for one service.
type Desired struct {
	// Backends are sorted by ID. Weight 0 means inhibited: in the set, no new connections.
	Backends    []Backend `json:"backends"`
	SorryActive bool      `json:"sorry_active"`
	QuorumUp    bool      `json:"quorum_up"`
	Panic       bool      `json:"panic"`
}
