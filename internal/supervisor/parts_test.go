package supervisor

import (
	"testing"

	"github.com/vigil-lb/vigil/internal/config"
)

func TestSameBGPBlockIgnoresPositions(t *testing.T) {
	a := &config.BGP{Pos: config.Pos{File: "a", Line: 1}, LocalAS: 65001, Neighbors: []*config.BGPNeighbor{{Pos: config.Pos{Line: 3}, RemoteAS: 65000}}}
	b := &config.BGP{Pos: config.Pos{File: "b", Line: 9}, LocalAS: 65001, Neighbors: []*config.BGPNeighbor{{Pos: config.Pos{Line: 7}, RemoteAS: 65000}}}
	c := &config.BGP{LocalAS: 65001, Neighbors: []*config.BGPNeighbor{{RemoteAS: 65002}}}
	if !sameBGPBlock(a, b) || sameBGPBlock(a, c) || sameBGPBlock(a, nil) || !sameBGPBlock(nil, nil) {
		t.Fatal("sameBGPBlock compares the wrong things")
	}
}
