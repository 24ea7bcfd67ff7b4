package status

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds vigil's Prometheus collectors on a registry of its own (no global state).
type Metrics struct {
	reg *prometheus.Registry

	CheckDuration *prometheus.HistogramVec // kind
	CheckResults  *prometheus.CounterVec   // kind, outcome
	PoolUp        *prometheus.GaugeVec     // vs
	PoolSize      *prometheus.GaugeVec     // vs
	QuorumUp      *prometheus.GaugeVec     // vs
	Transitions   *prometheus.CounterVec   // vs, rs, to
	VRRPState     *prometheus.GaugeVec     // instance, state (1 for the current state)
	VRRPChanges   *prometheus.CounterVec   // instance, to
	Reloads       *prometheus.CounterVec   // outcome
	CheckLateness prometheus.Histogram
	// Serving is 1 while the virtual server is served (its data plane state is in place and a
	// real server or the sorry server can take a connection).
	Serving *prometheus.GaugeVec // vs
	// Repairs counts drift found between what vigil installed and what the kernel holds.
	Repairs *prometheus.CounterVec // part (dataplane, vrrp), outcome (repaired, failed)
	// PassiveEjections counts passive health's ejections by the kind of the failure that
	// ejected the server; PassiveRefusals the ejections a limit refused.
	PassiveEjections *prometheus.CounterVec // vs, rs, reason (timeout, refused, unreachable, reset, error)
	PassiveRefusals  *prometheus.CounterVec // vs, rs, limit (max_ejection_percent, panic_threshold, last_server)

	bgp  *bgpCollector  // reads the BGP state at scrape time; see SetBGPSource
	vrrp *vrrpCollector // reads the VRRP drop counters at scrape time; see SetVRRPSource
	// capacity reads the descriptor budget and the connections at scrape time; see
	// SetCapacitySource.
	capacity *capacityCollector
	// servers reads the real servers' states at scrape time; see SetRealServerSource.
	servers *realServerCollector
	// discovery reads the dynamic_real_servers blocks at scrape time; see SetDiscoverySource.
	discovery *discoveryCollector
}

// NewMetrics registers vigil's collectors and the Go runtime's.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg:  reg,
		bgp:  newBGPCollector(),
		vrrp: newVRRPCollector(),

		capacity:  newCapacityCollector(),
		servers:   newRealServerCollector(),
		discovery: newDiscoveryCollector(),
		CheckDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_check_duration_seconds", Help: "Duration of health check probes.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"kind"}),
		CheckResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_check_results_total", Help: "Health check probe results by outcome (success or failure).",
		}, []string{"kind", "outcome"}),
		PoolUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_pool_servers_up", Help: "Real servers up in the pool.",
		}, []string{"virtual_server"}),
		PoolSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_pool_servers", Help: "Real servers configured in the pool.",
		}, []string{"virtual_server"}),
		QuorumUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_pool_quorum_up", Help: "1 while the pool has quorum.",
		}, []string{"virtual_server"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_real_server_transitions_total", Help: "Real server state changes.",
		}, []string{"virtual_server", "real_server", "to"}),
		VRRPState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_vrrp_state", Help: "1 for the VRRP instance's current state.",
		}, []string{"instance", "state"}),
		VRRPChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_vrrp_transitions_total", Help: "VRRP state changes.",
		}, []string{"instance", "to"}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_reloads_total", Help: "Configuration reloads by outcome (applied or refused).",
		}, []string{"outcome"}),
		Serving: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_virtual_server_serving", Help: "1 while the virtual server is served: its data plane state is in place and a real server (or the sorry server) can take a connection.",
		}, []string{"virtual_server"}),
		Repairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_reconcile_repairs_total", Help: "Differences found between what vigil installed and what the kernel holds, by part and by whether the repair worked.",
		}, []string{"part", "outcome"}),
		PassiveEjections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_passive_ejections_total", Help: "Real servers passive health ejected after their connections failed in the userspace data plane, by the kind of the failure that ejected them.",
		}, []string{"virtual_server", "real_server", "reason"}),
		PassiveRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_passive_ejections_refused_total", Help: "Ejections passive health did not make, by the limit that refused them.",
		}, []string{"virtual_server", "real_server", "limit"}),
		CheckLateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_check_lateness_seconds", Help: "How late probes start against their schedule.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
	}
	reg.MustRegister(m.CheckDuration, m.CheckResults, m.PoolUp, m.PoolSize,
		m.QuorumUp, m.Transitions, m.VRRPState, m.VRRPChanges, m.Reloads, m.CheckLateness, m.Serving, m.Repairs, m.PassiveEjections, m.PassiveRefusals, m.bgp, m.vrrp, m.capacity, m.servers, m.discovery,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Both outcomes exist from the start, so that a dashboard sees 0 rather than no series.
	m.Reloads.WithLabelValues("applied")
	m.Reloads.WithLabelValues("refused")
	for _, part := range []string{"dataplane", "vrrp"} {
		m.Repairs.WithLabelValues(part, "repaired")
		m.Repairs.WithLabelValues(part, "failed")
	}
	return m
}

// ObserveCheck records one probe.
func (m *Metrics) ObserveCheck(kind string, healthy bool, latency time.Duration) {
	m.CheckKind(kind).Observe(healthy, latency)
}

// CheckKindMetrics are one check kind's series, looked up once: recording a probe through them
// costs no label hashing, which at tens of thousands of probes a second showed in profiles.
type CheckKindMetrics struct {
	duration         prometheus.Observer
	success, failure prometheus.Counter
}

// CheckKind returns the series of checks of kind ("TCP_CHECK", ...).
func (m *Metrics) CheckKind(kind string) *CheckKindMetrics {
	return &CheckKindMetrics{
		duration: m.CheckDuration.WithLabelValues(kind),
		success:  m.CheckResults.WithLabelValues(kind, "success"),
		failure:  m.CheckResults.WithLabelValues(kind, "failure"),
	}
}

// Observe records one probe.
func (c *CheckKindMetrics) Observe(healthy bool, latency time.Duration) {
	c.duration.Observe(latency.Seconds())
	if healthy {
		c.success.Inc()
	} else {
		c.failure.Inc()
	}
}

// SetBGPSource makes every scrape read the BGP speaker's state from src and export it as
// vigil_bgp_* series: the sessions (up, state, established since) and the prefixes
// (offered to the neighbors, state per virtual server). src is called once per scrape and
// must not block for long; nil, or src returning nil, exports no BGP series.
func (m *Metrics) SetBGPSource(src func() *BGP) { m.bgp.set(src) }

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry exposes the registry, for tests and for collectors other packages add.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// RealServerSample is one real server's state as a scrape reads it (SetRealServerSource).
type RealServerSample struct {
	VirtualServer, RealServer string
	Up                        bool
	// Weight is the weight the data plane uses now.
	Weight int
	// Admin is the index, in the states SetRealServerSource was given, of the operator's
	// state of the server.
	Admin int
}

// SetRealServerSource makes every scrape export the real servers src yields as
// vigil_real_server_up, vigil_real_server_weight and vigil_real_server_admin_state (1 for
// admin[Admin], 0 for the other admin states). The series are made at scrape time, not kept:
// a stored series per real server and state cost about 2.6 KB a real server, more than all of
// the server's other state. src is called once per scrape and must not block for long.
func (m *Metrics) SetRealServerSource(admin []string, src func(yield func(RealServerSample))) {
	m.servers.set(admin, src)
}

// realServerCollector exports the real servers' states at every scrape.
type realServerCollector struct {
	mu    sync.Mutex
	admin []string
	src   func(yield func(RealServerSample)) // nil until SetRealServerSource

	up, weight, adminState *prometheus.Desc
}

func newRealServerCollector() *realServerCollector {
	rs := []string{"virtual_server", "real_server"}
	return &realServerCollector{
		up: prometheus.NewDesc("vigil_real_server_up",
			"1 while the real server passes its checks, 0 while it does not (an operator's drain or maint aside: vigil_real_server_admin_state).", rs, nil),
		weight: prometheus.NewDesc("vigil_real_server_weight", "Weight the data plane uses for the real server now.", rs, nil),
		adminState: prometheus.NewDesc("vigil_real_server_admin_state",
			"1 for the real server's admin state, as an operator set it (ready: the checks decide; drain; maint), 0 for the others.",
			[]string{"virtual_server", "real_server", "state"}, nil),
	}
}

func (c *realServerCollector) set(admin []string, src func(yield func(RealServerSample))) {
	c.mu.Lock()
	c.admin, c.src = admin, src
	c.mu.Unlock()
}

func (c *realServerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.weight
	ch <- c.adminState
}

func (c *realServerCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	admin, src := c.admin, c.src
	c.mu.Unlock()
	if src == nil {
		return
	}
	src(func(s RealServerSample) {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, gauge(s.Up), s.VirtualServer, s.RealServer)
		ch <- prometheus.MustNewConstMetric(c.weight, prometheus.GaugeValue, float64(s.Weight), s.VirtualServer, s.RealServer)
		for i, a := range admin {
			ch <- prometheus.MustNewConstMetric(c.adminState, prometheus.GaugeValue, gauge(s.Admin == i), s.VirtualServer, s.RealServer, a)
		}
	})
}

func gauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
