package vrrpd

import (
	"strings"

	"github.com/vigil-lb/vigil/internal/config/globaldefs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// addAuthKeywords installs the keywords of authentication (VRRPv2) and the deprecated per-instance
// lvs_sync_daemon_interface.
func (b *instanceBuilder) addAuthKeywords(kw map[string]syntax.Keyword) {
	v := b.v
	name := b.name
	st := b.st
	kw["authentication"] = syntax.Keyword{Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
		if v.Authentication == nil {
			v.Authentication = &Authentication{Pos: l.Pos}
		}
		a := v.Authentication
		return &syntax.Table{Keywords: map[string]syntax.Keyword{
			"auth_type": {Scalar: func(p *syntax.Parser, l syntax.Line) {
				w, ok := p.Need(l, 1)
				if !ok {
					return
				}
				if w == "PASS" || w == "AH" {
					a.Type = w
					return
				}
				p.Diags.Warnf(l.Pos, "%s unknown authentication type '%s'", name, w)
			}},
			"auth_pass": {Scalar: func(p *syntax.Parser, l syntax.Line) {
				w, ok := p.Need(l, 1)
				if !ok {
					return
				}
				if len(w) > 8 {
					p.Diags.Warnf(l.Pos, "Truncating auth_pass to 8 characters")
					w = w[:8]
				}
				a.Pass = w
			}},
		}}
	}}
	kw["lvs_sync_daemon_interface"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		p.Diags.Warnf(l.Pos, "%s Specifying lvs_sync_daemon_interface against a vrrp is deprecated.", name)
		// Keepalived pads with "%*s" of len(name)-2; a negative width pads to its magnitude.
		pad := len(v.Name) - 2
		if pad < 0 {
			pad = -pad
		}
		p.Diags.Warnf(l.Pos, "      %sPlease use global lvs_sync_daemon", strings.Repeat(" ", pad))
		w, ok := p.Need(l, 1)
		if !ok {
			return
		}
		g := st.g
		if g.LVSSyncDaemon != nil {
			p.Diags.Warnf(l.Pos, "%s lvs_sync_daemon_interface has already been specified as %s - ignoring", name, g.LVSSyncDaemon.Interface)
			return
		}
		v.LVSSyncDaemonInterface = w
		g.LVSSyncDaemon = &globaldefs.LVSSyncDaemon{Pos: l.Pos, Interface: w, VRRPInstance: v.Name, SyncID: -1}
	}}
}
