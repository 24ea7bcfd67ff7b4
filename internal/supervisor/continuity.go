package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/globaldefs"
	"github.com/vigil-lb/vigil/internal/ctsync"
	"github.com/vigil-lb/vigil/internal/dataplane/ipvs"
	"github.com/vigil-lb/vigil/internal/status"
)

// Connection continuity across a failover: conntrackd driven by the VRRP transitions
// (conntrack_sync) and the kernel's IPVS sync daemon following lvs_sync_daemon's instance.
// Both hear the VRRP half's state changes from its callback, which must not block: each keeps
// the latest state and acts on its own goroutine.

// newConntrackSync returns the conntrackd driver cfg asks for (nil without conntrack_sync),
// its command batches published on the event stream.
func newConntrackSync(cfg *config.Config, opts Options, dataplane string, hub *status.Hub, log *slog.Logger) *ctsync.Daemon {
	cs := cfg.Global.ConntrackSync
	if cs == nil {
		return nil
	}
	if dataplane != "nftables" && dataplane != "" {
		log.Warn("conntrack_sync keeps the nftables data plane's connections; this data plane keeps none in conntrack, so the sync saves nothing", "dataplane", dataplane)
	}
	c := ctsyncConfig(cs)
	if !c.ActiveActive() {
		if !runsVRRP(cfg, opts) {
			log.Warn("conntrack_sync follows a VRRP instance, but the VRRP half does not run here (-C): conntrackd is never told to commit, and a failover loses the connections", "instance", c.Instance)
		}
		warnPreempt(cfg, c.Instance, log)
	}
	return ctsync.New(c, ctsync.Options{Logger: log.With("part", "ctsync"), OnCommands: func(state string, cmds []ctsync.Command, took time.Duration, err error) {
		flags := make([]string, len(cmds))
		for i, c := range cmds {
			flags[i] = c.Flag
		}
		msg := fmt.Sprintf("%s: conntrackd %s in %v", state, strings.Join(flags, " "), took.Round(time.Millisecond))
		if err != nil {
			msg += ": " + err.Error()
		}
		hub.Publish("conntrack_sync", c.Instance, msg)
	}})
}

func ctsyncConfig(cs *globaldefs.ConntrackSync) ctsync.Config {
	return ctsync.Config{Instance: cs.Instance, Interface: cs.Interface, Peer: cs.Peer, Local: cs.Local, Port: cs.Port,
		ConfPath: cs.Config, RuntimeDir: cs.RuntimeDir, Binary: cs.Binary, ExternalCache: cs.ExternalCache}
}

// warnPreempt says when the followed instance may take the address back the moment it
// starts: the node would become master before conntrackd's resync (-n, on BACKUP) brought it
// the peer's connections, and those would be lost.
func warnPreempt(cfg *config.Config, instance string, log *slog.Logger) {
	for _, in := range cfg.VRRPInstances {
		if in.Name == instance && !in.Nopreempt && in.PreemptDelay.D() < 2*time.Second {
			log.Warn("conntrack_sync: the instance preempts without preempt_delay (or with less than 2 s): a node that returns takes the address back before conntrackd has resynchronised, and the peer's connections are lost; set preempt_delay or nopreempt", "instance", instance)
		}
	}
}

// ctsyncPart runs conntrackd. conntrack_sync's settings are read at start only.
type ctsyncPart struct {
	d     *ctsync.Daemon
	block *globaldefs.ConntrackSync
	log   *slog.Logger
}

func (p *ctsyncPart) Name() string                  { return "ctsync" }
func (p *ctsyncPart) Bind() error                   { return nil }
func (p *ctsyncPart) Run(ctx context.Context) error { return p.d.Run(ctx) }

func (p *ctsyncPart) Reload(cfg *config.Config) error {
	if next := cfg.Global.ConntrackSync; next == nil || ctsyncConfig(next) != ctsyncConfig(p.block) {
		p.log.Warn("conntrack_sync changed: conntrackd keeps its settings until vigil restarts")
	}
	return nil
}

// ipvsSyncFollower starts and stops the kernel's IPVS sync daemon as lvs_sync_daemon's
// instance changes state, as Keepalived's VRRP process does.
type ipvsSyncFollower struct {
	instance string
	daemon   ipvs.SyncDaemon
	log      *slog.Logger
	// open connects to the kernel's IPVS (a fake in tests).
	open func() (syncDaemons, error)

	mu    sync.Mutex
	state string
	wake  chan struct{}
}

// syncDaemons is what the follower needs of ipvs.SyncDaemons.
type syncDaemons interface {
	Follow(vrrpState string, d ipvs.SyncDaemon) error
	Close() error
}

// newIPVSSyncFollower returns the follower cfg asks for: nil without lvs_sync_daemon, without
// an instance to follow, or when the data plane is not IPVS (the daemon syncs IPVS's own
// connection table, which only the ipvs data plane fills).
func newIPVSSyncFollower(cfg *config.Config, opts Options, dataplane string, log *slog.Logger) *ipvsSyncFollower {
	sd := cfg.Global.LVSSyncDaemon
	if sd == nil {
		return nil
	}
	switch {
	case !runsVRRP(cfg, opts):
		log.Warn("lvs_sync_daemon follows a VRRP instance, which does not run here: no IPVS sync daemon is started")
		return nil
	case sd.VRRPInstance == "":
		log.Warn("lvs_sync_daemon names no vrrp_instance to follow: no IPVS sync daemon is started", "interface", sd.Interface)
		return nil
	case dataplane != "ipvs" && dataplane != "":
		log.Warn("lvs_sync_daemon synchronises IPVS connections, and the data plane is not ipvs: no IPVS sync daemon is started", "dataplane", dataplane)
		return nil
	}
	d := ipvs.SyncDaemon{Interface: sd.Interface, SyncID: uint32(max(sd.SyncID, 0)), MaxLen: uint16(sd.MaxLen), Port: uint16(sd.Port), TTL: uint8(sd.TTL), Group: sd.Group}
	if sd.SyncID < 0 { // Keepalived's default: the instance's virtual router id
		for _, in := range cfg.VRRPInstances {
			if in.Name == sd.VRRPInstance {
				d.SyncID = uint32(in.VirtualRouterID)
			}
		}
	}
	return &ipvsSyncFollower{instance: sd.VRRPInstance, daemon: d, log: log.With("part", "ipvs-sync"),
		open: func() (syncDaemons, error) { return ipvs.OpenSyncDaemons() }, wake: make(chan struct{}, 1)}
}

// vrrpChanged hears a state change of any instance; it never blocks.
func (f *ipvsSyncFollower) vrrpChanged(instance, state string) {
	if instance != f.instance {
		return
	}
	f.mu.Lock()
	f.state = state
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// run puts the daemons where the latest state wants them until ctx ends, then stops both.
func (f *ipvsSyncFollower) run(ctx context.Context) error {
	k, err := f.open()
	if err != nil {
		return fmt.Errorf("lvs_sync_daemon: %w", err)
	}
	defer k.Close()
	applied := ""
	for {
		select {
		case <-ctx.Done():
			if err := k.Follow("STOP", f.daemon); err != nil {
				f.log.Error("ipvs sync daemon: stop", "err", err)
			} else if applied != "" {
				f.log.Info("ipvs sync daemon stopped")
			}
			return nil
		case <-f.wake:
		}
		f.mu.Lock()
		state := f.state
		f.mu.Unlock()
		if state == applied {
			continue
		}
		if err := k.Follow(state, f.daemon); err != nil {
			f.log.Error("ipvs sync daemon", "instance", f.instance, "state", state, "err", err)
			continue
		}
		applied = state
		f.log.Info("ipvs sync daemon follows the instance", "instance", f.instance, "state", state, "interface", f.daemon.Interface, "sync_id", f.daemon.SyncID)
	}
}

// ipvsSyncPart runs the follower; lvs_sync_daemon is read at start only.
type ipvsSyncPart struct{ f *ipvsSyncFollower }

func (p *ipvsSyncPart) Name() string                  { return "ipvs-sync" }
func (p *ipvsSyncPart) Bind() error                   { return nil }
func (p *ipvsSyncPart) Run(ctx context.Context) error { return p.f.run(ctx) }

func (p *ipvsSyncPart) Reload(cfg *config.Config) error {
	if sd := cfg.Global.LVSSyncDaemon; sd == nil || sd.Interface != p.f.daemon.Interface || sd.VRRPInstance != p.f.instance {
		p.f.log.Warn("lvs_sync_daemon changed: the IPVS sync daemon keeps its settings until vigil restarts")
	}
	return nil
}

// dataplaneName is the data plane the load-balancing half runs ("" with -P: the virtual
// servers are served by another process, as with Keepalived's VRRP-only process).
func (v *Vigil) dataplaneName() string {
	if v.lb == nil {
		return ""
	}
	return v.lb.Snapshot().Dataplane
}
