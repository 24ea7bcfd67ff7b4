package status

import (
	"strings"
	"sync"
	"testing"
)

// A reason's series appears at the first scrape after the instance counted it, and follows
// the count from then on; an instance that is gone leaves no series behind.
func TestVRRPDropsAreExportedByInstanceAndReasonOnceCounted(t *testing.T) {
	m := NewMetrics()
	var mu sync.Mutex
	instances := []VRRPInstance{{Name: "VI_1", Dropped: map[string]uint64{}}, {Name: "VI_2"}}
	m.SetVRRPSource(func() []VRRPInstance {
		mu.Lock()
		defer mu.Unlock()
		return instances
	})
	if body := scrape(t, m); strings.Contains(body, "vigil_vrrp_adverts_dropped_total{") {
		t.Fatalf("series before anything was dropped:\n%s", grepLines(body, "dropped"))
	}

	mu.Lock()
	instances[0].Dropped = map[string]uint64{"bad_ttl": 3, "source_not_link_local": 1}
	instances[1].Dropped = map[string]uint64{"unknown_peer": 7}
	mu.Unlock()
	body := scrape(t, m)
	for _, want := range []string{
		`vigil_vrrp_adverts_dropped_total{instance="VI_1",reason="bad_ttl"} 3`,
		`vigil_vrrp_adverts_dropped_total{instance="VI_1",reason="source_not_link_local"} 1`,
		`vigil_vrrp_adverts_dropped_total{instance="VI_2",reason="unknown_peer"} 7`,
		"# TYPE vigil_vrrp_adverts_dropped_total counter",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s\n%s", want, grepLines(body, "dropped"))
		}
	}

	mu.Lock()
	instances = instances[1:]
	mu.Unlock()
	if body := scrape(t, m); strings.Contains(body, `instance="VI_1"`) {
		t.Errorf("a removed instance keeps its series:\n%s", grepLines(body, "dropped"))
	}
}

func TestVRRPDropsWithoutASourceExportNothing(t *testing.T) {
	if body := scrape(t, NewMetrics()); strings.Contains(body, "vigil_vrrp_adverts_dropped_total") {
		t.Errorf("drop series without a VRRP half:\n%s", grepLines(body, "dropped"))
	}
}

func TestVRRPAdminStateIsOneForTheStateAnOperatorSet(t *testing.T) {
	m := NewMetrics()
	m.SetVRRPSource(func() []VRRPInstance {
		return []VRRPInstance{{Name: "VI_1", AdminState: AdminResigned}, {Name: "VI_2"}}
	})
	body := scrape(t, m)
	for _, want := range []string{
		`vigil_vrrp_admin_state{instance="VI_1",state="resigned"} 1`,
		`vigil_vrrp_admin_state{instance="VI_1",state="ready"} 0`,
		`vigil_vrrp_admin_state{instance="VI_2",state="ready"} 1`,
		`vigil_vrrp_admin_state{instance="VI_2",state="resigned"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s\n%s", want, grepLines(body, "admin_state"))
		}
	}
}
