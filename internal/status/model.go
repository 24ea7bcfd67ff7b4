package status

import "time"

// Snapshot is the whole observable state at one moment. Its JSON form is the body of
// GET /api/v1/status, a public interface: fields are only ever added.
type Snapshot struct {
	Generated      time.Time       `json:"generated"`
	Version        string          `json:"version"`
	Dataplane      string          `json:"dataplane"`
	VirtualServers []VirtualServer `json:"virtual_servers"`
	VRRPInstances  []VRRPInstance  `json:"vrrp_instances"`
	// BGP is the BGP speaker's state; nil (and absent from the JSON) without a bgp block.
	BGP    *BGP    `json:"bgp,omitempty"`
	Events []Event `json:"events"`
	// LastReload is the last reload's outcome; nil before the first reload.
	LastReload *Reload `json:"last_reload,omitempty"`
}

// RealServer finds the real server at addr ("192.0.2.11:80") in any virtual server: the first
// one listed, as tools that name a server by its address alone read it.
func (s Snapshot) RealServer(addr string) (RealServer, bool) {
	for _, vs := range s.VirtualServers {
		for _, rs := range vs.RealServers {
			if rs.Address == addr {
				return rs, true
			}
		}
	}
	return RealServer{}, false
}

// Reload is the outcome of one reload (SIGHUP).
type Reload struct {
	At time.Time `json:"at"`
	// Outcome is "applied" or "refused".
	Outcome string `json:"outcome"`
	// Reason says why a reload was refused (with the file and line when a line caused it);
	// for an applied one, what it changed.
	Reason string `json:"reason"`
}

// VirtualServer is one virtual service and its pool.
type VirtualServer struct {
	Name        string `json:"name"`
	Listen      string `json:"listen"`
	Protocol    string `json:"protocol"`
	Scheduler   string `json:"scheduler"`
	Quorum      int    `json:"quorum"`
	QuorumUp    bool   `json:"quorum_up"`
	SorryActive bool   `json:"sorry_active"`
	Panic       bool   `json:"panic"`
	UpCount     int    `json:"up"`
	Total       int    `json:"total"`
	// Serving is true while the virtual server is served: what the data plane installed for
	// it is in place (its listener open, its kernel rules there) and a real server or the
	// sorry server can take a new connection. Up servers do not make a virtual server served.
	Serving bool `json:"serving"`
	// ServingReason says why Serving is false; empty when it is true.
	ServingReason string       `json:"serving_reason"`
	RealServers   []RealServer `json:"real_servers"`
	// Traffic is what the data plane counted for the virtual server, its real servers, draining
	// ones and the sorry server together; zero where the data plane counts nothing (nftables).
	Traffic Traffic `json:"traffic"`
	// Discovery is where members are found in DNS (dynamic_real_servers); absent without.
	Discovery *Discovery `json:"discovery,omitempty"`
}

// Traffic is a virtual server's counters, as HAProxy's stats page shows a frontend's.
type Traffic struct {
	// ActiveConns are the connections (TCP) or flows (UDP) open now; TotalConns those ever
	// opened.
	ActiveConns int64  `json:"active_connections"`
	TotalConns  uint64 `json:"total_connections"`
	// ConnsPerSecond is the rate of new connections over about the last minute, from the
	// status server's samples of TotalConns (at least 5 s apart, the last 12); 0 until it has
	// two.
	ConnsPerSecond float64 `json:"connections_per_second"`
	// BytesIn were sent by clients to the real servers, BytesOut by the real servers to clients.
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
}

// Discovery is a virtual server's members found in DNS (dynamic_real_servers).
type Discovery struct {
	// Query is the block's question ("dns_srv _http._tcp.web.example"), Resolver whom it asks.
	Query    string `json:"query"`
	Resolver string `json:"resolver"`
	// Members counts the real servers found in DNS, Leaving those of them gone from DNS that
	// drain before they are removed.
	Members int `json:"members"`
	Leaving int `json:"leaving"`
	// LastAnswer is when DNS last answered, TTL the least TTL of that answer, NextLookup when
	// it is asked again.
	LastAnswer time.Time     `json:"last_answer,omitzero"`
	TTL        time.Duration `json:"ttl_ns"`
	NextLookup time.Time     `json:"next_lookup,omitzero"`
	// Error is why the lookups fail since ErrorSince, or that DNS names nobody within the
	// block's empty_hold; empty while DNS answers. Stale is true while the members are those
	// of the last answer, kept through the failure.
	Error      string    `json:"error,omitempty"`
	ErrorSince time.Time `json:"error_since,omitzero"`
	Stale      bool      `json:"stale"`
	// Capped counts the members the last answer had beyond max, left out.
	Capped int `json:"capped,omitempty"`
	// Lookups counts the block's DNS lookups since it was configured (a reload that keeps it
	// goes on counting), LookupFailures those that failed (no answer, SERVFAIL, garbage).
	Lookups        uint64 `json:"lookups"`
	LookupFailures uint64 `json:"lookup_failures"`
}

// PoolState is how the page colours the pool's badge: "up" with every real server up, "warn"
// with some down but quorum kept, "down" without quorum.
func (vs VirtualServer) PoolState() string {
	switch {
	case !vs.QuorumUp:
		return "down"
	case vs.UpCount < vs.Total:
		return "warn"
	}
	return "up"
}

// RealServer is one backend of a virtual server.
type RealServer struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Up      bool   `json:"up"`
	Weight  int    `json:"weight"`
	// EffectiveWeight is what the data plane uses now (0 when inhibited, ramping in slow start).
	EffectiveWeight int       `json:"effective_weight"`
	Since           time.Time `json:"since"`
	Reason          string    `json:"reason"`
	Checks          []Check   `json:"checks"`
	ActiveConns     int64     `json:"active_connections"`
	TotalConns      uint64    `json:"total_connections"`
	// BytesIn were sent by clients to the server, BytesOut by the server to clients.
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// AdminState is the operator's say beside the checks' verdict (Up): "ready" (the checks
	// decide), "drain" (no new connections, established ones finish) or "maint" (out of the
	// pool). AdminReason, AdminBy and AdminSince are the last change's why, who and when;
	// empty and absent for a server nobody touched.
	AdminState  string    `json:"admin_state"`
	AdminReason string    `json:"admin_reason"`
	AdminBy     string    `json:"admin_by"`
	AdminSince  time.Time `json:"admin_since,omitzero"`
	// WeightOverride is the operator's weight, in force in place of Weight; absent without one.
	WeightOverride *int `json:"weight_override,omitempty"`
	// AgentState is the admin state the server's agent (AGENT_CHECK) last said, and
	// AgentWeightPercent the weight it asked for in percent of Weight; both absent while it
	// said none. AdminState is the most restrictive of the operator's word and the agent's
	// (and discovery's), and AdminBy says whose it is: "agent" for the agent's.
	AgentState         string `json:"agent_state,omitempty"`
	AgentWeightPercent *int   `json:"agent_weight_percent,omitempty"`
	// Discovered is true for a member found in DNS (dynamic_real_servers). One gone from DNS
	// is in drain, AdminBy "dns", until it is removed.
	Discovered bool `json:"discovered,omitempty"`
	// Ejected (passive health) says the data plane saw the server's connections fail and the
	// pool took it out until its next check verdict; EjectedReason is the last failure.
	Ejected       bool   `json:"ejected,omitempty"`
	EjectedReason string `json:"ejected_reason,omitempty"`
	// Timeline is the server's changes of state over the last hour (TimelineWindow), oldest
	// first, at most TimelineSize of them: the state each change left it in.
	Timeline []StateChange `json:"timeline"`
}

// StateChange is one change of a real server's state: whether its checks pass, and the
// operator's admin state, from At on.
type StateChange struct {
	At         time.Time `json:"at"`
	Up         bool      `json:"up"`
	AdminState string    `json:"admin_state"`
}

// Label is the word for the state: the admin state when the operator set one, else up or down.
func (c StateChange) Label() string {
	if c.AdminState != "" && c.AdminState != AdminReady {
		return c.AdminState
	}
	if c.Up {
		return "up"
	}
	return "down"
}

// The admin states of a real server (RealServer.AdminState) and of a VRRP instance
// (VRRPInstance.AdminState).
const (
	AdminReady    = "ready"
	AdminDrain    = "drain"
	AdminMaint    = "maint"
	AdminResigned = "resigned"
)

// Check is the last result of one checker of one real server.
type Check struct {
	Kind    string        `json:"kind"`
	Target  string        `json:"target"`
	Healthy bool          `json:"healthy"`
	Reason  string        `json:"reason"`
	Latency time.Duration `json:"latency_ns"`
	At      time.Time     `json:"at"`
	Checked bool          `json:"checked"`
	// Recent are the check's last probes, oldest first, at most ProbeHistory of them: what the
	// page draws its latency sparkline from.
	Recent []Probe `json:"recent"`
}

// ProbeHistory is how many probes of each check Check.Recent keeps.
const ProbeHistory = 60

// Probe is one probe's outcome.
type Probe struct {
	At      time.Time     `json:"at"`
	Latency time.Duration `json:"latency_ns"`
	Healthy bool          `json:"healthy"`
}

// VRRPInstance is one VRRP virtual router as this node sees it.
type VRRPInstance struct {
	Name              string    `json:"name"`
	Interface         string    `json:"interface"`
	VRID              int       `json:"vrid"`
	State             string    `json:"state"`
	Priority          int       `json:"priority"`
	EffectivePriority int       `json:"effective_priority"`
	MasterAddress     string    `json:"master_address"`
	Transitions       int       `json:"transitions"`
	Since             time.Time `json:"since"`
	VirtualAddresses  []string  `json:"virtual_addresses"`
	// Repairs counts the master's addresses, routes and rules that vigil found missing and put
	// back.
	Repairs uint64 `json:"repairs"`
	// Dropped counts the adverts the instance refused, by reason ("bad_ttl", "auth_failure",
	// ...; docs/status-api.md lists them). A reason is there once counted.
	Dropped map[string]uint64 `json:"dropped"`
	// Problem is empty when the instance is what its state says; otherwise it says what is
	// wrong, e.g. a MASTER whose virtual address is missing, or whose tracked virtual server
	// is not serving.
	Problem string `json:"problem,omitempty"`
	// AdminState is "ready" or, once an operator resigned the instance, "resigned": it sent
	// priority 0 if it was master and stays BACKUP until made ready. AdminReason, AdminBy and
	// AdminSince say why, who and when, while resigned.
	AdminState  string    `json:"admin_state"`
	AdminReason string    `json:"admin_reason"`
	AdminBy     string    `json:"admin_by"`
	AdminSince  time.Time `json:"admin_since,omitzero"`
}

// Event is one change, as the SSE stream and the page's event list show it.
type Event struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Subject string    `json:"subject"`
	Message string    `json:"message"`
}

// BGP is what the BGP speaker shows: its sessions and every prefix the daemon has asked it to
// announce or withdraw.
type BGP struct {
	Sessions []BGPSession `json:"sessions"`
	Prefixes []BGPPrefix  `json:"prefixes"`
}

// BGPSession is one configured neighbor.
type BGPSession struct {
	Peer string `json:"peer"`
	AS   uint32 `json:"as"`
	// State is the session's BGP state: IDLE, CONNECT, ACTIVE, OPENSENT, OPENCONFIRM or
	// ESTABLISHED (UNKNOWN if the speaker cannot tell).
	State string `json:"state"`
	// EstablishedSince is when the session came up; zero unless State is ESTABLISHED.
	EstablishedSince time.Time `json:"established_since"`
}

// The BGP prefix states (BGPPrefix.State).
const (
	BGPAnnounced       = "announced"
	BGPWithdrawn       = "withdrawn"
	BGPPendingAnnounce = "pending-announce" // wanted, held back by hold-down
	BGPPendingWithdraw = "pending-withdraw" // unwanted, held back by hold-down or the withdraw cap
)

// BGPPrefix is one virtual server's route.
type BGPPrefix struct {
	VirtualServer string `json:"virtual_server"`
	Prefix        string `json:"prefix"`
	State         string `json:"state"` // BGPAnnounced, BGPWithdrawn, BGPPendingAnnounce, BGPPendingWithdraw
	// Reason is why the daemon last asked for the change, e.g. "quorum lost".
	Reason string `json:"reason"`
	// Held says why a pending change waits (hold-down, withdraw cap); empty otherwise.
	Held  string    `json:"held"`
	Since time.Time `json:"since"` // when State began
	// Due is when a pending change is looked at again; zero otherwise.
	Due time.Time `json:"due"`
	// InRIB is true while the prefix is offered to the neighbors: the speaker runs and every
	// virtual server on the address is announced.
	InRIB bool `json:"in_rib"`
	// Error is the last error the BGP implementation returned for the prefix; empty if none.
	Error string `json:"error"`
}
