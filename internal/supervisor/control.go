package supervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/control"
	"github.com/vigil-lb/vigil/internal/pool"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/vrrp"
)

// controller carries out the operators' commands (control.Executor) on the halves, for the
// control socket and the status API's write endpoints alike, one at a time, and keeps the state
// file in step with what the halves hold: after each change, after each reload (a server no
// longer configured loses its admin state), and at start, when it restores what the file held.
type controller struct {
	log  *slog.Logger
	hub  *status.Hub
	path string // the state file
	now  func() time.Time

	mu sync.Mutex
	v  *Vigil
	// carried are the file's states of a half this process does not run (-P, -C), written
	// back as they were so that the other process's survive.
	carried control.State
}

func newController(v *Vigil, cfg *config.Config) *controller {
	return &controller{log: v.opts.Logger, hub: v.hub, v: v, now: time.Now,
		path: filepath.Join(cfg.Global.StateDir, control.StateFile)}
}

// Execute carries c out (control.Executor).
func (c *controller) Execute(cmd control.Command) (control.Reply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	reply, err := c.execute(cmd)
	if err != nil {
		c.log.Warn("operator command refused", "command", cmd.String(), "by", cmd.By, "err", err)
		return reply, err
	}
	c.log.Info("operator command", "command", cmd.String(), "by", cmd.By, "changed", reply.Changed, "result", reply.Message)
	if reply.Changed {
		c.v.settle()
		if err := c.saveLocked(); err != nil {
			reply.Message += "; but it will not outlive a restart: " + err.Error()
		}
	}
	return reply, nil
}

func (c *controller) execute(cmd control.Command) (control.Reply, error) {
	v := c.v
	switch {
	case cmd.Verb == control.Resign || (cmd.Verb == control.Ready && cmd.Instance != ""):
		return c.instance(cmd.Verb, cmd.Instance, cmd)
	case cmd.Verb == control.Ready && cmd.Name != "":
		inst := v.vrrp != nil && slices.Contains(c.instanceNames(), cmd.Name)
		vs := v.lb != nil && v.lb.HasVirtualServer(cmd.Name)
		switch {
		case inst && vs:
			return control.Reply{}, control.Errorf(control.Ambiguous, "%q names a VRRP instance and a virtual server: use the API's paths, or name a real server too", cmd.Name)
		case inst:
			return c.instance(control.Ready, cmd.Name, cmd)
		case vs:
			cmd.VS = cmd.Name
		default:
			return control.Reply{}, control.Errorf(control.NotFound, "no VRRP instance or virtual server %q; VRRP instances: %s", cmd.Name, names(c.instanceNames()))
		}
	}
	if v.lb == nil {
		return control.Reply{}, control.Errorf(control.NotFound, "no virtual server %q here: this vigil runs the VRRP half only (-P)", cmd.VS)
	}
	switch cmd.Verb {
	case control.Weight:
		return v.lb.SetWeight(cmd.VS, cmd.RS, cmd.Weight, cmd.By, cmd.Reason)
	case control.Drain, control.Maint, control.Ready:
		st, _ := pool.ParseAdminState(string(cmd.Verb))
		return v.lb.SetAdmin(cmd.VS, cmd.RS, st, cmd.By, cmd.Reason)
	}
	return control.Reply{}, control.Errorf(control.Invalid, "unknown command %q", cmd.Verb)
}

// instance resigns instance name, or makes it ready, and publishes the change.
func (c *controller) instance(verb control.Verb, name string, cmd control.Command) (control.Reply, error) {
	m := c.v.vrrp
	if m == nil {
		return control.Reply{}, control.Errorf(control.NotFound, "no VRRP instance %q here: this vigil runs no VRRP half (no instance configured, or -C)", name)
	}
	var changed bool
	var err error
	if verb == control.Resign {
		changed, err = m.Resign(name, vrrp.Resignation{By: cmd.By, Reason: cmd.Reason, Since: c.now()})
	} else {
		changed, err = m.Ready(name)
	}
	if errors.Is(err, vrrp.ErrNoInstance) {
		return control.Reply{}, control.Errorf(control.NotFound, "no VRRP instance %q; VRRP instances: %s", name, names(c.instanceNames()))
	}
	if err != nil {
		return control.Reply{}, err
	}
	what := "resigned: priority 0 if master, BACKUP until ready"
	if verb == control.Ready {
		what = "ready: back in the election"
	}
	if !changed {
		what = "already " + map[control.Verb]string{control.Resign: "resigned", control.Ready: "ready"}[verb]
		return control.Reply{Message: fmt.Sprintf("%s: %s", name, what)}, nil
	}
	msg := string(verb) + " by " + cmd.By
	if cmd.Reason != "" {
		msg += ": " + cmd.Reason
	}
	c.hub.Publish(pool.AdminChanged.String(), name, msg)
	return control.Reply{Changed: true, Message: fmt.Sprintf("%s: %s", name, what)}, nil
}

func (c *controller) instanceNames() []string {
	if c.v.vrrp == nil {
		return nil
	}
	var out []string
	for _, s := range c.v.vrrp.Snapshot() {
		out = append(out, s.Name)
	}
	return out
}

func names(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// state is what the halves hold now, with what is carried for a half that does not run.
func (c *controller) state() control.State {
	st := c.carried
	if c.v.lb != nil {
		st.RealServers = c.v.lb.AdminStates()
	}
	if c.v.vrrp != nil {
		st.VRRPInstances = nil
		for name, r := range c.v.vrrp.Resignations() {
			st.VRRPInstances = append(st.VRRPInstances, control.ResignationState{Name: name, By: r.By, Reason: r.Reason, Since: r.Since})
		}
		slices.SortFunc(st.VRRPInstances, func(a, b control.ResignationState) int { return strings.Compare(a.Name, b.Name) })
	}
	return st
}

func (c *controller) saveLocked() error {
	if err := control.Save(c.path, c.state()); err != nil {
		c.log.Error("admin states not saved: a restart will not keep them", "err", err)
		return err
	}
	return nil
}

// save writes the state file again (after a reload).
func (c *controller) save() {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.saveLocked()
}

// restore puts back what the state file holds, before the halves run, and says in one line
// what it restored and what it dropped (servers and instances no longer configured).
func (c *controller) restore() {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := control.Load(c.path)
	if err != nil {
		c.log.Error("admin states not restored: the state file cannot be read; every real server starts ready", "err", err)
		return
	}
	if st.Empty() {
		return
	}
	var restored, dropped []string
	if c.v.lb != nil {
		restored, dropped = c.v.lb.RestoreAdmin(st.RealServers)
	} else {
		c.carried.RealServers = st.RealServers
	}
	if c.v.vrrp != nil {
		saved := map[string]vrrp.Resignation{}
		for _, r := range st.VRRPInstances {
			saved[r.Name] = vrrp.Resignation{By: r.By, Reason: r.Reason, Since: r.Since}
		}
		in, out := c.v.vrrp.RestoreResignations(saved)
		for _, n := range in {
			restored = append(restored, "vrrp_instance "+n+" resigned")
		}
		for _, n := range out {
			dropped = append(dropped, "vrrp_instance "+n)
		}
	} else {
		c.carried.VRRPInstances = st.VRRPInstances
	}
	c.log.Info("admin states restored from the state file", "path", c.path, "restored", strings.Join(restored, "; "), "dropped", strings.Join(dropped, "; "))
	if len(dropped) > 0 {
		c.log.Warn("admin states dropped: no longer in the configuration", "path", c.path, "dropped", strings.Join(dropped, "; "))
		_ = c.saveLocked()
	}
}
