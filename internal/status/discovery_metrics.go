package status

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// discoveryCollector reads each dynamic_real_servers block's state at every scrape: how many
// members DNS names, whether they are a kept answer through failing lookups, and the lookups'
// outcomes. A virtual server a reload removed leaves no series behind.
type discoveryCollector struct {
	mu  sync.Mutex
	src func() map[string]Discovery // nil until SetDiscoverySource

	members, leaving, stale, capped, lastAnswer, lookups *prometheus.Desc
}

func newDiscoveryCollector() *discoveryCollector {
	vs := []string{"virtual_server"}
	return &discoveryCollector{
		members: prometheus.NewDesc("vigil_discovery_members", "Real servers the virtual server's dynamic_real_servers found in DNS, those leaving included.", vs, nil),
		leaving: prometheus.NewDesc("vigil_discovery_leaving", "Real servers gone from DNS that drain before they are removed.", vs, nil),
		stale: prometheus.NewDesc("vigil_discovery_stale",
			"1 while the members are those of the last answer, kept because the lookups fail or DNS names nobody within empty_hold.", vs, nil),
		capped: prometheus.NewDesc("vigil_discovery_capped", "Members the last answer had beyond the block's max, left out.", vs, nil),
		lastAnswer: prometheus.NewDesc("vigil_discovery_last_answer_timestamp_seconds",
			"When DNS last answered the block's question (absent until it has).", vs, nil),
		lookups: prometheus.NewDesc("vigil_discovery_lookups_total",
			"DNS lookups of the block, by outcome: answered (records or none) or failed (timeout, SERVFAIL, a garbled answer).",
			[]string{"virtual_server", "outcome"}, nil),
	}
}

func (c *discoveryCollector) set(src func() map[string]Discovery) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.src = src
}

func (c *discoveryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.members, c.leaving, c.stale, c.capped, c.lastAnswer, c.lookups} {
		ch <- d
	}
}

func (c *discoveryCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	src := c.src
	c.mu.Unlock()
	if src == nil {
		return
	}
	for vs, d := range src() {
		ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(d.Members), vs)
		ch <- prometheus.MustNewConstMetric(c.leaving, prometheus.GaugeValue, float64(d.Leaving), vs)
		ch <- prometheus.MustNewConstMetric(c.stale, prometheus.GaugeValue, gauge(d.Stale), vs)
		ch <- prometheus.MustNewConstMetric(c.capped, prometheus.GaugeValue, float64(d.Capped), vs)
		if !d.LastAnswer.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.lastAnswer, prometheus.GaugeValue, float64(d.LastAnswer.UnixNano())/1e9, vs)
		}
		ch <- prometheus.MustNewConstMetric(c.lookups, prometheus.CounterValue, float64(d.Lookups-d.LookupFailures), vs, "answered")
		ch <- prometheus.MustNewConstMetric(c.lookups, prometheus.CounterValue, float64(d.LookupFailures), vs, "failed")
	}
}

// SetDiscoverySource makes every scrape read the dynamic_real_servers blocks' states from src,
// by virtual server, and export them as vigil_discovery_* series. src is called once per
// scrape and must not block for long; nil exports no such series.
func (m *Metrics) SetDiscoverySource(src func() map[string]Discovery) { m.discovery.set(src) }
