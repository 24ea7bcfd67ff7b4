package supervisor

import (
	"testing"

	"github.com/vigil-lb/vigil/internal/vrrp"
)

func TestVRRPStatusKeepsTheDropCounts(t *testing.T) {
	got := vrrpStatus([]vrrp.InstanceStatus{{Name: "VI_1", Dropped: map[string]uint64{"bad_ttl": 2, "unknown_peer": 1}}})
	if len(got) != 1 || got[0].Dropped["bad_ttl"] != 2 || got[0].Dropped["unknown_peer"] != 1 {
		t.Fatalf("vrrpStatus = %+v, want the drop counts", got)
	}
}
