package vrrp

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/globaldefs"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/vrrp/fsm"
)

// fifoSet is the VRRP half's notify fifos (global_defs notify_fifo and vrrp_notify_fifo):
// every instance and sync group state change is written to each as a Keepalived line
// (INSTANCE "VI_1" MASTER 100, GROUP "G" BACKUP 0), and each fifo's notify_fifo_script runs
// for as long as the fifo is open, with the fifo's path as its last argument.
type fifoSet struct {
	id     string // the configuration it was opened with, compared on reload
	log    *slog.Logger
	fifos  []*notify.Fifo
	stop   context.CancelFunc // ends the scripts
	closed chan struct{}      // closed when close begins: scripts may end on EOF
	wg     sync.WaitGroup
}

// fifoID is what a reload compares to decide whether to reopen the fifos.
func fifoID(g *globaldefs.Defs) string {
	b, _ := json.Marshal([]*globaldefs.Fifo{g.NotifyFifo, g.VRRPNotifyFifo})
	return string(stripPosJSON(b))
}

// openFifos opens g's VRRP fifos and starts their scripts. A fifo that cannot be opened is
// logged and skipped, as Keepalived does; the others still work.
func openFifos(ctx context.Context, g *globaldefs.Defs, runner *notify.Runner, defUser *notify.User, log *slog.Logger) *fifoSet {
	ctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	fs := &fifoSet{id: fifoID(g), log: log, stop: stop, closed: make(chan struct{})}
	for _, c := range []*globaldefs.Fifo{g.NotifyFifo, g.VRRPNotifyFifo} {
		if c == nil || c.Path == "" {
			continue
		}
		var owner *notify.User
		if c.User != "" {
			u, err := notify.LookupUser(c.User, c.Group)
			if err != nil {
				log.Error("notify fifo not opened", "fifo", c.Path, "error", err)
				continue
			}
			owner = u
		}
		f, err := notify.OpenFifo(c.Path, owner)
		if err != nil {
			log.Error("notify fifo not opened", "fifo", c.Path, "error", err)
			continue
		}
		fs.fifos = append(fs.fifos, f)
		if c.Script == nil {
			continue
		}
		if runner == nil {
			log.Warn("notify_fifo_script not run: no script runner", "fifo", c.Path)
			continue
		}
		user := defUser
		if c.Script.User != "" {
			u, err := notify.LookupUser(c.Script.User, c.Script.Group)
			if err != nil {
				log.Error("notify_fifo_script not run", "fifo", c.Path, "error", err)
				continue
			}
			user = u
		}
		s := notify.Script{Command: c.Script.Command, Args: []string{c.Path}, User: user}
		fs.wg.Add(1)
		go func() {
			defer fs.wg.Done()
			o := runner.Run(ctx, s)
			select {
			case <-fs.closed:
			default:
				log.Warn("notify_fifo_script ended while its fifo is open", "fifo", c.Path, "result", o.String())
			}
		}()
	}
	return fs
}

// instance writes an instance's state (or event: MASTER_RX_LOWER_PRI, MASTER_PRIORITY,
// BACKUP_PRIORITY) and effective priority. It never blocks.
func (fs *fifoSet) instance(name, state string, prio int) {
	for _, f := range fs.fifos {
		if err := f.Instance(name, state, prio); err != nil {
			fs.log.Warn("notify fifo", "error", err)
		}
	}
}

// group writes a sync group's state.
func (fs *fifoSet) group(name, state string) {
	for _, f := range fs.fifos {
		if err := f.Group(name, state); err != nil {
			fs.log.Warn("notify fifo", "error", err)
		}
	}
}

// fifoScriptGrace is how long a notify_fifo_script has to exit by itself once its fifo is
// closed (it reads end of file) before it is stopped.
const fifoScriptGrace = 2 * time.Second

// close removes and closes the fifos (their readers see end of file), then waits for the
// scripts, stopping them after fifoScriptGrace.
func (fs *fifoSet) close() {
	close(fs.closed)
	for _, f := range fs.fifos {
		if err := f.Close(); err != nil {
			fs.log.Warn("notify fifo", "error", err)
		}
	}
	t := time.AfterFunc(fifoScriptGrace, fs.stop)
	fs.wg.Wait()
	t.Stop()
	fs.stop()
}

// reloadFifos reopens the fifos if cfg configures them differently; m.mu is held and Run runs.
func (m *Manager) reloadFifos(cfg *config.Config) {
	old := m.fifo.Load()
	if old != nil && old.id == fifoID(&cfg.Global) {
		return
	}
	m.fifo.Store(openFifos(m.ctx, &cfg.Global, m.opts.Runner, m.user, m.log))
	if old != nil {
		// close may wait for the old scripts: not under m.mu.
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			old.close()
		}()
	}
}

// fifoInstance writes the instance's state or event to the notify fifos, if any.
func (in *instance) fifoInstance(state string, prio int) {
	if in.fifos == nil {
		return
	}
	if fs := in.fifos.Load(); fs != nil {
		fs.instance(in.conf().name, state, prio)
	}
}

// priorityChanged tells of a new effective priority as Keepalived does with
// notify_priority_changes: MASTER_PRIORITY or BACKUP_PRIORITY in the fifos (and, in vigil, the
// generic notify script with the state and new priority).
func (in *instance) priorityChanged(st fsm.State, prio int) {
	s := in.conf()
	if !s.notifyPrio {
		return
	}
	if st == fsm.Master {
		in.fifoInstance("MASTER_PRIORITY", prio)
	} else {
		in.fifoInstance("BACKUP_PRIORITY", prio)
	}
	if s.notify.generic != nil {
		in.queueNotify(s.notify.generic, notify.InstanceArgs(s.name, st.String(), prio))
	}
}
