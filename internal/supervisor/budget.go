package supervisor

import (
	"log/slog"

	"github.com/vigil-lb/vigil/internal/check"
	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/control"
	"github.com/vigil-lb/vigil/internal/fdbudget"
	"github.com/vigil-lb/vigil/internal/lb"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/vrrp"
)

// The descriptor budget: before it builds the parts, Build counts what each needs of the
// process's descriptors (needs), reserves it (fdbudget.Reserve) and gives the data planes the
// rest as their maxconn (fdbudget.Compute). A flood of clients then takes at most the data
// planes' share; the checks, scripts, VRRP, BGP and the status page keep theirs.

// needs counts what the parts Build makes for cfg with o need of the descriptors; statusConns
// is the status server's cap (0 without one).
func needs(cfg *config.Config, o Options, statusConns int) fdbudget.Needs {
	n := fdbudget.Needs{StatusConns: statusConns}
	if cfg.Global.ControlSocket != "" {
		n.ControlConns = control.DefaultSocketConns
	}
	if !o.VRRPOnly {
		inFlight := lb.MaxInFlight(cfg)
		var v4, v6, misc, notifies int
		icmp := map[bool]bool{}
		groups := lvs.GroupsByName(cfg.VirtualServerGroups)
		for _, vs := range cfg.VirtualServers {
			n.Listeners++
			if g := groups[vs.Group]; vs.Kind == lvs.VSKindGroup && g != nil {
				// A listener per address of the group (the first is counted above).
				addrs, _ := g.Addresses(lvs.MaxGroupMembers)
				n.Listeners += max(len(addrs)-1, 0)
			}
			if vs.SelfProbe > 0 {
				n.Listeners++
			}
			notifies += countTrue(vs.QuorumUp != "", vs.QuorumDown != "")
			for _, rs := range vs.RealServers {
				notifies += countTrue(rs.NotifyUp != "", rs.NotifyDown != "")
				for _, c := range rs.Checkers {
					switch {
					case c.Kind == lvs.CheckMisc:
						misc++
					case c.Kind == lvs.CheckPing:
						icmp[rs.Address.Is6()] = true
					case rs.Address.Is6():
						v6++
					default:
						v4++
					}
					if o, ok := c.Options.(*check.HTTPOptions); ok && o.ReuseConnection {
						n.KeptConns++
					}
				}
			}
		}
		n.Probes = min(v4, inFlight) + min(v6, inFlight)
		n.ICMP = len(icmp)
		// The half's runner runs the MISC_CHECKs, the supervisor's the notify scripts.
		n.Scripts += min(misc, notify.DefaultMaxConcurrent) + min(notifies, notify.DefaultMaxConcurrent)
	}
	if runsVRRP(cfg, o) {
		n.VRRP, n.VRRPInstances = true, len(cfg.VRRPInstances)
		n.Scripts += min(vrrp.Scripts(cfg), notify.DefaultMaxConcurrent)
	}
	if runsBGP(cfg, o) {
		n.BGP, n.BGPNeighbors = true, len(cfg.BGP.Neighbors)
	}
	// At most what Build's continuity parts run (continuity.go); a reservation for a part
	// that then does not start costs little.
	n.ConntrackSync = cfg.Global.ConntrackSync != nil
	n.IPVSSync = cfg.Global.LVSSyncDaemon != nil && runsVRRP(cfg, o)
	return n
}

func countTrue(conds ...bool) int {
	n := 0
	for _, c := range conds {
		if c {
			n++
		}
	}
	return n
}

// budget is the descriptor budget for cfg under limit (the soft RLIMIT_NOFILE).
func budget(cfg *config.Config, o Options, limit int, statusConns int) fdbudget.Budget {
	return fdbudget.Compute(limit, fdbudget.Reserve(needs(cfg, o, statusConns)), configuredMaxConn(cfg))
}

// configuredMaxConn is global_defs maxconn (0: not set).
func configuredMaxConn(cfg *config.Config) int { return cfg.Global.MaxConn }

// statusConns is the status server's connection cap, reserved in the budget.
const statusConns = status.DefaultMaxConns

// fileLimit is o.FileLimit, or the soft RLIMIT_NOFILE as it is.
func fileLimit(o Options, log *slog.Logger) int {
	if o.FileLimit > 0 {
		return o.FileLimit
	}
	l, err := fdbudget.Current()
	if err != nil {
		log.Warn("descriptor limit unknown; budgeting for 1024", "err", err)
		return 1024
	}
	return int(min(l.Soft, 1<<30))
}

// Budget is the descriptor budget Build computed.
func (v *Vigil) Budget() fdbudget.Budget { return v.budget }

// capacity is the budget and the data plane's connections, for the metrics.
func (v *Vigil) capacity() status.Capacity {
	c := status.Capacity{Limit: v.budget.Limit, InUse: -1, Reserved: map[string]int{}, Dataplane: v.budget.Dataplane, MaxConn: v.budget.MaxConn}
	if n, err := fdbudget.InUse(); err == nil {
		c.InUse = n
	}
	for _, r := range v.budget.Reserved {
		c.Reserved[r.For] = r.N
	}
	if v.lb == nil {
		return c
	}
	for _, st := range v.lb.DataplaneStats() {
		refused := map[string]uint64{
			"overloaded":  st.RefusedOverloaded,
			"maxconn":     st.RefusedFull,
			"descriptors": st.RefusedDescriptors,
		}
		named := st.RefusedOverloaded + st.RefusedFull + st.RefusedDescriptors
		if st.Refused > named {
			refused["no_backend"] = st.Refused - named
		}
		c.Services = append(c.Services, status.ServiceCapacity{VirtualServer: st.Name, Open: st.Conns, Refused: refused, Paused: st.Paused})
	}
	return c
}
