package supervisor

import (
	"testing"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/bgpd"
)

func TestSameBGPBlockIgnoresPositions(t *testing.T) {
	a := &bgpd.BGP{Pos: config.Pos{File: "a", Line: 1}, LocalAS: 65001, Neighbors: []*bgpd.Neighbor{{Pos: config.Pos{Line: 3}, RemoteAS: 65000}}}
	b := &bgpd.BGP{Pos: config.Pos{File: "b", Line: 9}, LocalAS: 65001, Neighbors: []*bgpd.Neighbor{{Pos: config.Pos{Line: 7}, RemoteAS: 65000}}}
	c := &bgpd.BGP{LocalAS: 65001, Neighbors: []*bgpd.Neighbor{{RemoteAS: 65002}}}
	if !sameBGPBlock(a, b) || sameBGPBlock(a, c) || sameBGPBlock(a, nil) || !sameBGPBlock(nil, nil) {
		t.Fatal("sameBGPBlock compares the wrong things")
	}
}
