package status

import (
	"net/http"
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
	ServerUp      *prometheus.GaugeVec     // vs, rs
	ServerWeight  *prometheus.GaugeVec     // vs, rs
	// ServerAdmin is 1 for the real server's admin state (ready, drain, maint), 0 for the others.
	ServerAdmin   *prometheus.GaugeVec   // vs, rs, state
	PoolUp        *prometheus.GaugeVec   // vs
	PoolSize      *prometheus.GaugeVec   // vs
	QuorumUp      *prometheus.GaugeVec   // vs
	Transitions   *prometheus.CounterVec // vs, rs, to
	VRRPState     *prometheus.GaugeVec   // instance, state (1 for the current state)
	VRRPChanges   *prometheus.CounterVec // instance, to
	Reloads       *prometheus.CounterVec // outcome
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
}

// NewMetrics registers vigil's collectors and the Go runtime's.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg:  reg,
		bgp:  newBGPCollector(),
		vrrp: newVRRPCollector(),

		capacity: newCapacityCollector(),
		CheckDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_check_duration_seconds", Help: "Duration of health check probes.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"kind"}),
		CheckResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_check_results_total", Help: "Health check probe results by outcome (success or failure).",
		}, []string{"kind", "outcome"}),
		ServerUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_real_server_up", Help: "1 while the real server passes its checks, 0 while it does not (an operator's drain or maint aside: vigil_real_server_admin_state).",
		}, []string{"virtual_server", "real_server"}),
		ServerWeight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_real_server_weight", Help: "Weight the data plane uses for the real server now.",
		}, []string{"virtual_server", "real_server"}),
		ServerAdmin: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_real_server_admin_state", Help: "1 for the real server's admin state, as an operator set it (ready: the checks decide; drain; maint), 0 for the others.",
		}, []string{"virtual_server", "real_server", "state"}),
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
	reg.MustRegister(m.CheckDuration, m.CheckResults, m.ServerUp, m.ServerWeight, m.ServerAdmin, m.PoolUp, m.PoolSize,
		m.QuorumUp, m.Transitions, m.VRRPState, m.VRRPChanges, m.Reloads, m.CheckLateness, m.Serving, m.Repairs, m.PassiveEjections, m.PassiveRefusals, m.bgp, m.vrrp, m.capacity,
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
