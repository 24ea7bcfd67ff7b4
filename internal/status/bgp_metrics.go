package status

import (
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
	}
}

func (c *bgpCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sessionUp
	ch <- c.sessionState
	ch <- c.sessionSince
	ch <- c.prefixAnnounced
	ch <- c.prefixState
}

func (c *bgpCollector) Collect(ch chan<- prometheus.Metric) {
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
	sessionStates := []string{"IDLE", "CONNECT", "ACTIVE", "OPENSENT", "OPENCONFIRM", "ESTABLISHED"}
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
