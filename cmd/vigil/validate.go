package main

import (
	"errors"
	"sort"

	"github.com/vigil-lb/vigil/internal/bgp"
	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/bgpd"
	"github.com/vigil-lb/vigil/internal/daemon"
	"github.com/vigil-lb/vigil/internal/vrrp"
)

// runsVRRP says whether serve runs the VRRP half for cfg.
func runsVRRP(o options, cfg *config.Config) bool { return !o.checkOnly && len(cfg.VRRPInstances) > 0 }

// runsBGP says whether serve runs the BGP speaker for cfg.
func runsBGP(o options, cfg *config.Config) bool { return cfg.BGP != nil && !o.vrrpOnly }

// validateStart says what serve would refuse in cfg, and what it would warn of, each at its
// line, without opening anything or touching the network: each part serve starts, built by
// the functions serve builds it with (vrrp.Validate for vrrp.NewManager, daemon.Validate for
// daemon.New, the bgp block's settings as bgp.New checks them). The result is in file and line
// order.
func validateStart(o options, cfg *config.Config) []config.Diagnostic {
	var out []config.Diagnostic
	if runsVRRP(o, cfg) {
		out = append(out, vrrp.Validate(cfg)...)
	}
	if runsBGP(o, cfg) {
		out = append(out, bgpDiagnostics(cfg.BGP)...)
	}
	h := &halves{vrrpOnly: o.vrrpOnly}
	out = append(out, daemon.Validate(h.checkerConfig(cfg), daemon.Options{Dataplane: o.dataplane})...)
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
