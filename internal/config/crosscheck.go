package config

import (
	"fmt"
	"slices"

	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// The checks across sections: what one section's block says of another's, once the whole
// file is read.

// finishBGP checks announce blocks against the bgp block once everything is read.
func (c *Config) finishBGP(diags *syntax.Diagnostics) {
	for _, vs := range c.VirtualServers {
		if vs.Announce == nil {
			continue
		}
		if c.BGP == nil {
			diags.Warnf(vs.Announce.Pos, "announce without a bgp block - nothing will be announced")
		}
		if vs.Kind != lvs.VSKindAddress {
			diags.Warnf(vs.Announce.Pos, "announce: only virtual servers with an address can be announced - %s ignored", fmt.Sprint(vs.Name()))
			vs.Announce = nil
			continue
		}
		// An unknown instance is an error, not a warning: ignoring the condition would
		// announce from a node that is not master and pull traffic to it.
		if a := vs.Announce; a.OnlyWhileMaster != "" && !slices.ContainsFunc(c.VRRPInstances, func(in *VRRPInstance) bool { return in.Name == a.OnlyWhileMaster }) {
			diags.Errorf(a.OnlyWhileMasterPos, "announce: only_while_master %s: no vrrp_instance of that name", a.OnlyWhileMaster)
		}
	}
}
