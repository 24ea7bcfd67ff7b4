package supervisor

import (
	"errors"
	"sort"

	"github.com/vigil-lb/vigil/internal/bgp"
	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/bgpd"
	"github.com/vigil-lb/vigil/internal/lb"
	"github.com/vigil-lb/vigil/internal/vrrp"
)

// Validate says what Build and Bind would refuse in cfg, and what they would warn of, each at
// its line, without opening anything or touching the network: each part Build makes, built by
// the functions Build builds it with (vrrp.Validate for vrrp.NewManager, lb.Validate for
// lb.New, the bgp block's settings as bgp.New checks them). The result is in file and line
// order. `vigil -t` prints it.
func Validate(cfg *config.Config, o Options) []config.Diagnostic {
	var out []config.Diagnostic
	if runsVRRP(cfg, o) {
		out = append(out, vrrp.Validate(cfg)...)
	}
	if runsBGP(cfg, o) {
		out = append(out, bgpDiagnostics(cfg.BGP)...)
	}
	lbCfg := cfg
	if o.VRRPOnly {
		c := *cfg
		c.VirtualServers, c.VirtualServerGroups = nil, nil
		lbCfg = &c
	}
	out = append(out, lb.Validate(lbCfg, lb.Options{Dataplane: o.Dataplane})...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Pos, out[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return out
}

// bgpDiagnostics is what bgp.New would refuse in the bgp block b: each problem at its
// neighbor's line, or at the block's.
func bgpDiagnostics(b *bgpd.BGP) []config.Diagnostic {
	err := bgpConfig(b).Validate()
	if err == nil {
		return nil
	}
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	var out []config.Diagnostic
	for _, e := range errs {
		pos := b.Pos
		var ne *bgp.NeighborError
		if errors.As(e, &ne) && ne.Index < len(b.Neighbors) {
			pos = b.Neighbors[ne.Index].Pos
		}
		out = append(out, config.Diagnostic{Pos: pos, Severity: config.Error, Message: e.Error()})
	}
	return out
}
