package status

import (
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// vrrpCollector reads the VRRP instances' drop counters at every scrape. The VRRP half counts
// every refused advert as it arrives (a flood may be thousands a second); reading the counts
// when asked costs the receive path nothing, a reason's series appears at the first scrape
// after its first refusal, and an instance that is gone leaves no stale series behind.
type vrrpCollector struct {
	mu      sync.Mutex
	src     func() []VRRPInstance // nil until SetVRRPSource; nil: no drop series
	dropped *prometheus.Desc
	// admin is 1 for the instance's admin state (ready, resigned), read at the same scrape.
	admin *prometheus.Desc
}

func newVRRPCollector() *vrrpCollector {
	return &vrrpCollector{
		dropped: prometheus.NewDesc("vigil_vrrp_adverts_dropped_total",
			"VRRP adverts the instance refused, by reason (address_count_mismatch and address_list_mismatch are counted but the advert is still used, as Keepalived does).",
			[]string{"instance", "reason"}, nil),
		admin: prometheus.NewDesc("vigil_vrrp_admin_state",
			"1 for the VRRP instance's admin state, as an operator set it (ready; resigned: priority 0 sent, BACKUP until ready), 0 for the other.",
			[]string{"instance", "state"}, nil),
	}
}

func (c *vrrpCollector) set(src func() []VRRPInstance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.src = src
}

func (c *vrrpCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.dropped; ch <- c.admin }

func (c *vrrpCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	src := c.src
	c.mu.Unlock()
	if src == nil {
		return
	}
	seen := map[string]bool{} // a registry refuses two series with the same labels
	for _, vi := range src() {
		if seen[vi.Name] {
			continue
		}
		seen[vi.Name] = true
		for _, st := range []string{AdminReady, AdminResigned} {
			v := 0.0
			if st == vi.AdminState || (st == AdminReady && vi.AdminState == "") {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.admin, prometheus.GaugeValue, v, vi.Name, st)
		}
		reasons := make([]string, 0, len(vi.Dropped))
		for r := range vi.Dropped {
			reasons = append(reasons, r)
		}
		slices.Sort(reasons)
		for _, r := range reasons {
			ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(vi.Dropped[r]), vi.Name, r)
		}
	}
}

// SetVRRPSource makes every scrape read the VRRP instances from src and export their drop
// counters (VRRPInstance.Dropped) as vigil_vrrp_adverts_dropped_total{instance,reason} and
// their admin state as vigil_vrrp_admin_state{instance,state}. src is
// called once per scrape and must not block for long; nil exports no such series.
func (m *Metrics) SetVRRPSource(src func() []VRRPInstance) { m.vrrp.set(src) }
