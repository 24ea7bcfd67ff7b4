package supervisor

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/vigil-lb/vigil/internal/bgp"
	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/bgpd"
	"github.com/vigil-lb/vigil/internal/control"
	"github.com/vigil-lb/vigil/internal/lb"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/vrrp"
)

// The adapters below make each package's runner a Part, so that none of those packages needs
// to know the supervisor's interface.

// statusPart serves the status page, API and metrics.
type statusPart struct {
	srv    *status.Server
	listen string
	log    *slog.Logger
}

func (p *statusPart) Name() string                  { return "status" }
func (p *statusPart) Bind() error                   { return p.srv.Bind() }
func (p *statusPart) Run(ctx context.Context) error { return p.srv.Run(ctx) }

// Reload keeps the listening socket: a new status_listen takes effect at the next start.
func (p *statusPart) Reload(cfg *config.Config) error {
	if next := statusListen(cfg, ""); next != p.listen {
		p.log.Warn("status_listen changed: the status server keeps listening on the old address until vigil restarts", "running", p.listen, "configured", next)
	}
	return nil
}

// controlPart is the control socket: the operators' commands without a token, root only.
type controlPart struct {
	sock     *control.Socket
	stateDir string
	log      *slog.Logger
}

func (p *controlPart) Name() string                  { return "control" }
func (p *controlPart) Bind() error                   { return p.sock.Bind() }
func (p *controlPart) Run(ctx context.Context) error { return p.sock.Run(ctx) }

// Reload keeps the socket and the state file where they are until vigil restarts.
func (p *controlPart) Reload(cfg *config.Config) error {
	if next := cfg.Global.ControlSocket; next != p.sock.Path() {
		p.log.Warn("control_socket changed: the control socket stays where it is until vigil restarts", "running", p.sock.Path(), "configured", next)
	}
	if next := cfg.Global.StateDir; next != p.stateDir {
		p.log.Warn("state_dir changed: the state file stays where it is until vigil restarts", "running", p.stateDir, "configured", next)
	}
	return nil
}

// lbPart is the load-balancing half.
type lbPart struct{ h *lb.Half }

func (p *lbPart) Name() string                    { return "lb" }
func (p *lbPart) Bind() error                     { return p.h.Listen() }
func (p *lbPart) Run(ctx context.Context) error   { return p.h.Run(ctx) }
func (p *lbPart) Reload(cfg *config.Config) error { return p.h.Reload(cfg) }

// vrrpPart is the VRRP half.
type vrrpPart struct{ m *vrrp.Manager }

func (p *vrrpPart) Name() string                    { return "vrrp" }
func (p *vrrpPart) Bind() error                     { return nil }
func (p *vrrpPart) Run(ctx context.Context) error   { return p.m.Run(ctx) }
func (p *vrrpPart) Reload(cfg *config.Config) error { return p.m.Reload(cfg) }

// bgpPart is the BGP speaker. Announcements follow the file at once (they come from the
// virtual servers); the speaker's own settings are read at start only.
type bgpPart struct {
	sp    *bgp.Speaker
	block *bgpd.BGP
	log   *slog.Logger
}

func (p *bgpPart) Name() string                  { return "bgp" }
func (p *bgpPart) Bind() error                   { return nil }
func (p *bgpPart) Run(ctx context.Context) error { return p.sp.Run(ctx) }

func (p *bgpPart) Reload(cfg *config.Config) error {
	if !sameBGPBlock(p.block, cfg.BGP) {
		p.log.Warn("the bgp block changed: announcements follow the new file, but the BGP speaker keeps its sessions and settings until vigil restarts")
	}
	return nil
}

// sameBGPBlock compares two bgp blocks by what they configure (not where they were written).
func sameBGPBlock(a, b *bgpd.BGP) bool {
	strip := func(x *bgpd.BGP) string {
		if x == nil {
			return "null"
		}
		c := *x
		c.Pos = config.Pos{}
		var ns []bgpd.Neighbor
		for _, n := range x.Neighbors {
			n2 := *n
			n2.Pos = config.Pos{}
			ns = append(ns, n2)
		}
		c.Neighbors = nil
		b, _ := json.Marshal(struct {
			B bgpd.BGP
			N []bgpd.Neighbor
		}{c, ns})
		return string(b)
	}
	return strip(a) == strip(b)
}
