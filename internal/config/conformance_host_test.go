package config_test

import (
	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/lb"
	"github.com/vigil-lb/vigil/internal/vrrp"
)

// The conformance tests judge what `vigil -t` says, not only what the parser says: the parts'
// dry builds too, as cmd/vigil's validateStart runs them for a plain start (both halves; the
// samples and the corpus have no bgp block, vigil's own).
func init() {
	config.SetHostDiagnostics(func(cfg *config.Config) []config.Diagnostic {
		var out []config.Diagnostic
		if len(cfg.VRRPInstances) > 0 {
			out = vrrp.Validate(cfg)
		}
		return append(out, lb.Validate(cfg, lb.Options{})...)
	})
}
