package status

import (
	"fmt"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// bgpCollector reads the BGP speaker's state at every scrape, so that its series are always
// current and a neighbor or virtual server that is gone leaves no stale series behind.
type bgpCollector struct {
	mu  sync.Mutex
	src func() *BGP // nil until SetBGPSource; nil or a nil result: no BGP series

	sessionUp, sessionState, sessionSince, prefixAnnounced, prefixState *prometheus.Desc

	// Counted as the speaker reports changes (ObserveBGPChange), not read at scrape time: a
	// flap between two scrapes must count.
	prefixTransitions, sessionTransitions *prometheus.CounterVec
}

// bgpSessionStates are RFC 4271's session states as GoBGP spells them.
func bgpSessionStates() []string {
	return []string{"IDLE", "CONNECT", "ACTIVE", "OPENSENT", "OPENCONFIRM", "ESTABLISHED"}
}

// BGPChange is one change of the BGP speaker: a prefix entering or leaving the RIB (what the
// neighbors are offered) or a session changing state. The daemon publishes it as a "bgp"
// event, so that the live page shows it at once, and counts it (ObserveBGPChange).
type BGPChange struct {
	// Session is true for a session's state change, false for a prefix's.
	Session bool
	// Subject is the prefix ("192.0.2.10/32") or the neighbor's address.
	Subject string
	// VirtualServer is the virtual server whose change moved a prefix; empty if none did.
	VirtualServer string
	// From and To are BGPAnnounced and BGPWithdrawn for a prefix, session states for a session.
	From, To string
	// Reason is why, as far as the speaker knows ("quorum lost"); may be empty.
	Reason string
}

// Message is the change as the event list shows it, after the subject:
// "withdrawn -> announced ([192.0.2.10]:tcp:80: quorum gained)".
func (c BGPChange) Message() string {
	why := c.Reason
	if c.VirtualServer != "" && why != "" {
		why = c.VirtualServer + ": " + why
	} else if c.VirtualServer != "" {
		why = c.VirtualServer
	}
	if why == "" {
		return fmt.Sprintf("%s -> %s", c.From, c.To)
	}
	return fmt.Sprintf("%s -> %s (%s)", c.From, c.To, why)
}

// ObserveBGPChange counts c in vigil_bgp_prefix_transitions_total{prefix,to} or
// vigil_bgp_session_transitions_total{peer,to}. The other values of "to" start at 0 on the
// first change of a prefix or neighbor, so that a dashboard sees 0 rather than no series.
func (m *Metrics) ObserveBGPChange(c BGPChange) {
	vec, all := m.bgp.prefixTransitions, []string{BGPAnnounced, BGPWithdrawn}
	if c.Session {
		vec, all = m.bgp.sessionTransitions, bgpSessionStates()
	}
	for _, to := range all {
		vec.WithLabelValues(c.Subject, to)
	}
	vec.WithLabelValues(c.Subject, c.To).Inc()
}

// set replaces the source; nil stops the series.
func (c *bgpCollector) set(src func() *BGP) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.src = src
}

func newBGPCollector() *bgpCollector {
	return &bgpCollector{
		sessionUp: prometheus.NewDesc("vigil_bgp_session_up",
			"1 while the BGP session with the neighbor is established.", []string{"peer"}, nil),
		sessionState: prometheus.NewDesc("vigil_bgp_session_state",
			"1 for the BGP session's current state.", []string{"peer", "state"}, nil),
		sessionSince: prometheus.NewDesc("vigil_bgp_session_established_timestamp_seconds",
			"When the BGP session was established, in seconds since the epoch; absent while it is down.", []string{"peer"}, nil),
		prefixAnnounced: prometheus.NewDesc("vigil_bgp_prefix_announced",
			"1 while the prefix is offered to the BGP neighbors.", []string{"prefix"}, nil),
		prefixState: prometheus.NewDesc("vigil_bgp_prefix_state",
			"1 for the current state of the virtual server's route.", []string{"virtual_server", "prefix", "state"}, nil),
		prefixTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_bgp_prefix_transitions_total",
			Help: "Times the prefix entered (to=announced) or left (to=withdrawn) the set offered to the BGP neighbors."},
			[]string{"prefix", "to"}),
		sessionTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_bgp_session_transitions_total",
			Help: "BGP session state changes, by the state entered."}, []string{"peer", "to"}),
	}
}

func (c *bgpCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sessionUp
	ch <- c.sessionState
	ch <- c.sessionSince
	ch <- c.prefixAnnounced
	ch <- c.prefixState
	c.prefixTransitions.Describe(ch)
	c.sessionTransitions.Describe(ch)
}

func (c *bgpCollector) Collect(ch chan<- prometheus.Metric) {
	c.prefixTransitions.Collect(ch)
	c.sessionTransitions.Collect(ch)
	c.mu.Lock()
	src := c.src
	c.mu.Unlock()
	if src == nil {
		return
	}
	b := src()
	if b == nil {
		return
	}
	// Every known state has a series, so that a dashboard sees 0 rather than no series: RFC
	// 4271's session states, and the speaker's prefix states.
	sessionStates := bgpSessionStates()
	prefixStates := []string{BGPAnnounced, BGPWithdrawn, BGPPendingAnnounce, BGPPendingWithdraw}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	one := func(ok bool) float64 {
		if ok {
			return 1
		}
		return 0
	}
	seen := map[string]bool{} // a registry refuses two series with the same labels
	for _, s := range b.Sessions {
		if seen[s.Peer] {
			continue
		}
		seen[s.Peer] = true
		up := s.State == "ESTABLISHED"
		gauge(c.sessionUp, one(up), s.Peer)
		for _, st := range sessionStates {
			gauge(c.sessionState, one(st == s.State), s.Peer, st)
		}
		if !slices.Contains(sessionStates, s.State) {
			gauge(c.sessionState, 1, s.Peer, s.State)
		}
		if up && !s.EstablishedSince.IsZero() {
			gauge(c.sessionSince, float64(s.EstablishedSince.UnixNano())/1e9, s.Peer)
		}
	}
	// Several virtual servers may share one prefix; it is offered once, while all of them
	// are announced, so the per-prefix series is 1 if any of them says it is in the RIB.
	inRIB := map[string]bool{}
	var order []string
	seen = map[string]bool{}
	for _, p := range b.Prefixes {
		if _, ok := inRIB[p.Prefix]; !ok {
			order = append(order, p.Prefix)
		}
		inRIB[p.Prefix] = inRIB[p.Prefix] || p.InRIB
		if seen[p.VirtualServer+"|"+p.Prefix] {
			continue
		}
		seen[p.VirtualServer+"|"+p.Prefix] = true
		for _, st := range prefixStates {
			gauge(c.prefixState, one(st == p.State), p.VirtualServer, p.Prefix, st)
		}
		if !slices.Contains(prefixStates, p.State) {
			gauge(c.prefixState, 1, p.VirtualServer, p.Prefix, p.State)
		}
	}
	for _, pfx := range order {
		gauge(c.prefixAnnounced, one(inRIB[pfx]), pfx)
	}
}

// BGPEventKind is the Event.Kind of a BGP change.
const BGPEventKind = "bgp"

// PublishBGPChange publishes c as an event of kind BGPEventKind about c.Subject, so that the
// event stream's clients (the live page) refetch the state at once.
func (h *Hub) PublishBGPChange(c BGPChange) Event {
	return h.Publish(BGPEventKind, c.Subject, c.Message())
}
