package status

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// Each dynamic_real_servers block's state is exported at scrape time, and a virtual server
// that is gone leaves no series behind.
func TestDiscoveryStatesAreExportedAtScrapeTime(t *testing.T) {
	m := NewMetrics()
	var mu sync.Mutex
	answered := time.Unix(1764032523, 500_000_000)
	blocks := map[string]Discovery{
		"[192.0.2.10]:tcp:80": {Members: 3, Leaving: 1, LastAnswer: answered, Lookups: 9, LookupFailures: 2, Stale: true, Capped: 4},
		"[192.0.2.11]:tcp:80": {Lookups: 1, LookupFailures: 1},
	}
	m.SetDiscoverySource(func() map[string]Discovery {
		mu.Lock()
		defer mu.Unlock()
		return blocks
	})
	body := scrape(t, m)
	tests := []struct {
		line    string
		present bool
	}{
		{`vigil_discovery_members{virtual_server="[192.0.2.10]:tcp:80"} 3`, true},
		{`vigil_discovery_leaving{virtual_server="[192.0.2.10]:tcp:80"} 1`, true},
		{`vigil_discovery_stale{virtual_server="[192.0.2.10]:tcp:80"} 1`, true},
		{`vigil_discovery_capped{virtual_server="[192.0.2.10]:tcp:80"} 4`, true},
		{`vigil_discovery_last_answer_timestamp_seconds{virtual_server="[192.0.2.10]:tcp:80"} 1.7640325235e+09`, true},
		{`vigil_discovery_lookups_total{outcome="answered",virtual_server="[192.0.2.10]:tcp:80"} 7`, true},
		{`vigil_discovery_lookups_total{outcome="failed",virtual_server="[192.0.2.10]:tcp:80"} 2`, true},
		{`vigil_discovery_stale{virtual_server="[192.0.2.11]:tcp:80"} 0`, true},
		{`vigil_discovery_lookups_total{outcome="failed",virtual_server="[192.0.2.11]:tcp:80"} 1`, true},
		// Never answered: no timestamp rather than 1970.
		{`vigil_discovery_last_answer_timestamp_seconds{virtual_server="[192.0.2.11]:tcp:80"}`, false},
		{"# TYPE vigil_discovery_lookups_total counter", true},
	}
	for _, tc := range tests {
		if strings.Contains(body, tc.line) != tc.present {
			t.Errorf("present=%v wanted for %s\n%s", tc.present, tc.line, grepLines(body, "vigil_discovery"))
		}
	}

	mu.Lock()
	delete(blocks, "[192.0.2.10]:tcp:80")
	mu.Unlock()
	if body := scrape(t, m); strings.Contains(body, `virtual_server="[192.0.2.10]:tcp:80"`) {
		t.Errorf("a removed block keeps its series:\n%s", grepLines(body, "vigil_discovery"))
	}
}

func TestDiscoveryWithoutASourceExportsNothing(t *testing.T) {
	if body := scrape(t, NewMetrics()); strings.Contains(body, "vigil_discovery_") {
		t.Errorf("discovery series without a load-balancing half:\n%s", grepLines(body, "vigil_discovery"))
	}
}
