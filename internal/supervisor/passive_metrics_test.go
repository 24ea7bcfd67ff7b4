package supervisor

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigil-lb/vigil/internal/lb"
	"github.com/vigil-lb/vigil/internal/pool"
	"github.com/vigil-lb/vigil/internal/status"
)

// series are the series a collector holds now, each its labels' values and its counter value.
func series(c prometheus.Collector) map[string]float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	out := map[string]float64{}
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			continue
		}
		key := ""
		for _, l := range d.GetLabel() {
			key += l.GetName() + "=" + l.GetValue() + " "
		}
		out[key] = d.GetCounter().GetValue()
	}
	return out
}

func TestMetricsCountPassiveEjectionsByReasonAndRefusalsByLimit(t *testing.T) {
	m := status.NewMetrics()
	o := newMetricsObserver(m)
	for _, ev := range []pool.Event{
		{Kind: pool.ServerEjected, Server: "10.0.0.2:80", Cause: "timeout"},
		{Kind: pool.ServerEjected, Server: "10.0.0.2:80", Cause: "timeout"},
		{Kind: pool.ServerEjected, Server: "10.0.0.3:80", Cause: "refused"},
		{Kind: pool.EjectionRefused, Server: "10.0.0.3:80", Cause: pool.LimitMaxEjection},
	} {
		o.observe(lb.Event{VS: "vs", Pool: &ev})
	}
	ejections := series(m.PassiveEjections)
	if len(ejections) != 2 || ejections["real_server=10.0.0.2:80 reason=timeout virtual_server=vs "] != 2 ||
		ejections["real_server=10.0.0.3:80 reason=refused virtual_server=vs "] != 1 {
		t.Errorf("vigil_passive_ejections_total: %v; want 2 timeouts of .2, 1 refused of .3", ejections)
	}
	if refusals := series(m.PassiveRefusals); len(refusals) != 1 || refusals["limit=max_ejection_percent real_server=10.0.0.3:80 virtual_server=vs "] != 1 {
		t.Errorf("vigil_passive_ejections_refused_total: %v; want one refusal of .3 by max_ejection_percent", refusals)
	}
	o.observe(lb.Event{VS: "vs", Gone: true})
	if n := len(series(m.PassiveEjections)) + len(series(m.PassiveRefusals)); n != 0 {
		t.Errorf("%d passive health series left after the virtual server was removed", n)
	}
}
