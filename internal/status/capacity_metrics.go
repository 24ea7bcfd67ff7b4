package status

import (
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Capacity is what the descriptor budget gave out and what is used of it, read at scrape time
// (SetCapacitySource).
type Capacity struct {
	// Limit is the soft RLIMIT_NOFILE; InUse the descriptors the process holds now (-1 when
	// they cannot be counted).
	Limit, InUse int
	// Reserved is each part's reservation ("base", "checks", "scripts", "vrrp", "bgp",
	// "sync", "status", "listeners").
	Reserved map[string]int
	// Dataplane is what the reservations leave to the data planes; MaxConn the connections
	// and flows the userspace data plane holds at once.
	Dataplane, MaxConn int
	// Services are the data plane's services' connections, by virtual server.
	Services []ServiceCapacity
}

// ServiceCapacity is one virtual server's connections against the caps.
type ServiceCapacity struct {
	VirtualServer string
	// Open are the connections and UDP flows it holds now.
	Open int64
	// Refused counts the connections and flows refused, by reason: no_backend, overloaded
	// (every real server at its uthreshold), maxconn (a UDP flow at a cap), descriptors.
	Refused map[string]uint64
	// Paused counts the times it stopped accepting because a cap was reached.
	Paused uint64
}

// capacityCollector exports Capacity at every scrape.
type capacityCollector struct {
	mu  sync.Mutex
	src func() Capacity // nil until SetCapacitySource

	limit, inUse, reserved, dataplane, maxconn, open, refused, paused *prometheus.Desc
}

func newCapacityCollector() *capacityCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &capacityCollector{
		limit:     d("vigil_descriptors_limit", "The file descriptors vigil may hold (its soft RLIMIT_NOFILE, raised to the hard one at start)."),
		inUse:     d("vigil_descriptors_in_use", "The file descriptors vigil holds now."),
		reserved:  d("vigil_descriptors_reserved", "File descriptors reserved for a part of vigil (base, checks, scripts, vrrp, bgp, sync, status, listeners), which connections may not take.", "part"),
		dataplane: d("vigil_descriptors_dataplane", "File descriptors left to the data planes' connections after the reservations."),
		maxconn:   d("vigil_connections_max", "The connections and UDP flows the userspace data plane holds at once (maxconn), every virtual server together."),
		open:      d("vigil_connections_open", "Connections and UDP flows the userspace data plane holds now for the virtual server.", "virtual_server"),
		refused: d("vigil_connections_refused_total",
			"Connections and UDP flows the data plane refused, by reason: no_backend (no real server nor sorry server could take it), overloaded (every real server that could was at its uthreshold), maxconn (a UDP flow at a connection cap; TCP connections wait in the listen backlog instead), descriptors (out of file descriptors).",
			"virtual_server", "reason"),
		paused: d("vigil_connections_paused_total", "Times the virtual server stopped accepting because a connection cap (its own or maxconn) was reached; new connections waited in the listen backlog.", "virtual_server"),
	}
}

func (c *capacityCollector) set(src func() Capacity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.src = src
}

func (c *capacityCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.limit, c.inUse, c.reserved, c.dataplane, c.maxconn, c.open, c.refused, c.paused} {
		ch <- d
	}
}

func (c *capacityCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	src := c.src
	c.mu.Unlock()
	if src == nil {
		return
	}
	capa := src()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.limit, float64(capa.Limit))
	if capa.InUse >= 0 {
		gauge(c.inUse, float64(capa.InUse))
	}
	parts := make([]string, 0, len(capa.Reserved))
	for p := range capa.Reserved {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	for _, p := range parts {
		gauge(c.reserved, float64(capa.Reserved[p]), p)
	}
	gauge(c.dataplane, float64(capa.Dataplane))
	gauge(c.maxconn, float64(capa.MaxConn))
	seen := map[string]bool{}
	for _, s := range capa.Services {
		if seen[s.VirtualServer] {
			continue
		}
		seen[s.VirtualServer] = true
		gauge(c.open, float64(s.Open), s.VirtualServer)
		for _, r := range RefusalReasons {
			ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(s.Refused[r]), s.VirtualServer, r)
		}
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.CounterValue, float64(s.Paused), s.VirtualServer)
	}
}

// RefusalReasons are the reason labels of vigil_connections_refused_total, each exported (at 0
// too) for every virtual server of the data plane.
var RefusalReasons = []string{"no_backend", "overloaded", "maxconn", "descriptors"}

// SetCapacitySource makes every scrape read the descriptor budget and the data plane's
// connections from src and export them (vigil_descriptors_*, vigil_connections_*). src is
// called once per scrape and must not block for long; nil exports no such series.
func (m *Metrics) SetCapacitySource(src func() Capacity) { m.capacity.set(src) }
