package vrrp

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/globaldefs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
	"github.com/vigil-lb/vigil/internal/netif"
	"github.com/vigil-lb/vigil/internal/notify"
)

// built is what build makes of a configuration: the instances to run, the user scripts run as
// when their own configuration names none, and what runs anyway but deserves a warning.
type built struct {
	specs    []*spec
	user     *notify.User
	warnings []config.Diagnostic
}

// build checks cfg and resolves it for a Manager: NewManager and Reload run it, and so does
// Validate. Every instance, static rule, script and script user the VRRP half cannot run is an
// error at its line (a *syntax.PosError; they are joined). runner checks the scripts as it will
// run them (nil: no script runs, none is checked); exists says whether this host has an
// interface, and one it lacks is a warning, since a file is often tested on another host and
// an instance waits in FAULT for its interface.
func build(cfg *config.Config, runner *notify.Runner, exists func(ifname string) bool) (*built, error) {
	b := &built{}
	var errs []error
	seen := map[[2]any]string{}
	for _, v := range cfg.VRRPInstances {
		s, err := newSpec(cfg, v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		k := [2]any{s.ifname + "/" + v.Family, s.vrid}
		if other, dup := seen[k]; dup {
			errs = append(errs, syntax.ErrorAt(v.Pos, "vrrp %s: virtual_router_id %d on %s is already used by %s", s.name, s.vrid, s.ifname, other))
			continue
		}
		seen[k] = s.name
		b.specs = append(b.specs, s)
	}
	if _, err := staticRules(cfg); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, b.checkScripts(cfg, runner)...)
	b.warnings = append(b.warnings, missingInterfaces(cfg, exists)...)
	return b, errors.Join(errs...)
}

// Validate says what NewManager would refuse in cfg, and what it would only warn of, each at
// its line, without opening anything: it runs the build NewManager runs, with the script
// runner cmd/vigil gives it (enable_script_security as cfg says). `vigil -t` reports what it
// returns.
func Validate(cfg *config.Config) []config.Diagnostic {
	runner := notify.NewRunner(notify.RunnerOptions{ScriptSecurity: cfg.Global.EnableScriptSecurity})
	b, err := build(cfg, runner, interfaceExists)
	return append(b.warnings, syntax.ErrorDiagnostics(err, cfg.Global.Pos)...)
}

func interfaceExists(name string) bool {
	_, err := netif.Interface(name)
	return err == nil
}

// scriptUse is one script the VRRP half runs.
type scriptUse struct {
	pos     config.Pos
	what    string // how diagnostics name it: "vrrp_script chk", "(VI_1) notify_master"
	command string
	// user and group are its own "user [group]"; userPos where they were written.
	user, group string
	userPos     config.Pos
	// badUser says, in Keepalived's words, that its user or group does not exist.
	badUser string
}

// Scripts is the number of scripts the VRRP half may run for cfg (scriptUses): the descriptor
// budget reserves for as many running at once, up to the runner's bound.
func Scripts(cfg *config.Config) int { return len(scriptUses(cfg)) }

// scriptUses lists the scripts the VRRP half runs: every vrrp_script (as Keepalived, vigil
// checks the unused ones too), the notify scripts of instances and sync groups, and the notify
// fifos' scripts. notify_deleted, startup_script and shutdown_script are not run by vigil.
func scriptUses(cfg *config.Config) []scriptUse {
	var out []scriptUse
	for _, s := range cfg.VRRPScripts {
		if s.Script == nil {
			continue
		}
		out = append(out, scriptUse{pos: s.Script.Pos, what: "vrrp_script " + s.Name, command: s.Script.Command,
			user: s.User, group: s.Group, userPos: cmp.Or(s.UserPos, s.Pos),
			badUser: fmt.Sprintf("vrrp_script %s: Unable to set uid/gid for script %s", s.Name, s.Script.Command)})
	}
	notifies := func(owner string, scripts []*syntax.Script, keywords []string) {
		for i, s := range scripts {
			if s == nil {
				continue
			}
			out = append(out, scriptUse{pos: s.Pos, what: owner + " " + keywords[i], command: s.Command,
				user: s.User, group: s.Group, userPos: s.Pos,
				badUser: fmt.Sprintf("%s Invalid user/group for %s script %s", owner, keywords[i], s.Command)})
		}
	}
	for _, v := range cfg.VRRPInstances {
		notifies("("+v.Name+")", []*syntax.Script{v.NotifyMaster, v.NotifyBackup, v.NotifyFault, v.NotifyStop, v.Notify, v.NotifyMasterRxLowerPri},
			[]string{"notify_master", "notify_backup", "notify_fault", "notify_stop", "notify", "notify_master_rx_lower_pri"})
	}
	for _, g := range cfg.VRRPSyncGroups {
		notifies("("+g.Name+")", []*syntax.Script{g.NotifyMaster, g.NotifyBackup, g.NotifyFault, g.NotifyStop, g.Notify},
			[]string{"notify_master", "notify_backup", "notify_fault", "notify_stop", "notify"})
	}
	for _, f := range []struct {
		fifo    *globaldefs.Fifo
		keyword string
	}{{cfg.Global.NotifyFifo, "notify_fifo_script"}, {cfg.Global.VRRPNotifyFifo, "vrrp_notify_fifo_script"}} {
		if f.fifo != nil && f.fifo.Path != "" && f.fifo.Script != nil {
			notifies("global_defs", []*syntax.Script{f.fifo.Script}, []string{f.keyword})
		}
	}
	return out
}

// checkScripts resolves the default script user into b.user and checks every script the VRRP
// half runs as runner will run it, with the user it will run as.
func (b *built) checkScripts(cfg *config.Config, runner *notify.Runner) []error {
	g := &cfg.Global
	var errs []error
	def, defErr := notify.DefaultUser(g.ScriptUser, g.ScriptGroup, g.EnableScriptSecurity)
	// Keepalived goes on without a script it cannot run (it disables it), so these are
	// warnings: vigil starts too, and such a script fails each time it is due, with the reason.
	warn := func(pos config.Pos, format string, args ...any) {
		b.warnings = append(b.warnings, config.Diagnostic{Pos: pos, Severity: config.Warning, Message: fmt.Sprintf(format, args...)})
	}
	if defErr != nil && g.ScriptUser != "" {
		warn(cmp.Or(g.ScriptUserPos, g.Pos), "Error setting global script uid/gid: %v", defErr)
	}
	b.user = def
	if runner == nil {
		return errs
	}
	warnedDefault := false
	var audit notify.SecurityAudit
	var first *scriptUse // the first script that will run, where audit's warning goes
	uses := scriptUses(cfg)
	for i, u := range uses {
		user := def
		switch {
		case u.user != "":
			own, err := notify.LookupUser(u.user, u.group)
			if err != nil {
				warn(u.userPos, "%s: %v", u.badUser, err)
				continue
			}
			user = own
		case defErr != nil && g.ScriptUser == "" && !warnedDefault:
			// Keepalived drops such scripts; vigil runs them as itself, as it always has.
			warnedDefault = true
			b.warnings = append(b.warnings, config.Diagnostic{Pos: u.pos, Severity: config.Warning,
				Message: fmt.Sprintf("Unable to set default user keepalived_script for script %s: enable_script_security without script_user needs that user; scripts without a user run as vigil's own user", u.command)})
		}
		warnings, err := audit.Check(runner, notify.Script{Command: u.command, User: user})
		for _, w := range warnings {
			b.warnings = append(b.warnings, config.Diagnostic{Pos: u.pos, Severity: config.Warning, Message: u.what + ": " + w})
		}
		if err != nil {
			warn(u.pos, "%s: %v; it will fail each time it is due", u.what, err)
			continue
		}
		if first == nil {
			first = &uses[i]
		}
	}
	// Keepalived's words when scripts will run without enable_script_security (its -t then
	// exits 6); at the first such script, since Keepalived names no line.
	if msg := audit.Violation("scripts"); msg != "" {
		warn(first.pos, "%s", msg)
	}
	return errs
}

// missingInterfaces warns, in Keepalived's words, of each interface an instance (its own, a
// virtual address's or route's dev, a tracked one) or sync group names that this host does not
// have (none with dynamic_interfaces, where Keepalived waits for
// them too).
func missingInterfaces(cfg *config.Config, exists func(string) bool) []config.Diagnostic {
	if cfg.Global.DynamicInterfaces || exists == nil {
		return nil
	}
	known := map[string]bool{}
	has := func(name string) bool {
		ok, seen := known[name]
		if !seen {
			ok = exists(name)
			known[name] = ok
		}
		return ok
	}
	var out []config.Diagnostic
	warn := func(pos config.Pos, format string, args ...any) {
		out = append(out, config.Diagnostic{Pos: pos, Severity: config.Warning, Message: fmt.Sprintf(format, args...)})
	}
	tracked := func(owner string, tis []*vrrpd.TrackedInterface) {
		for _, ti := range tis {
			if !has(ti.Name) {
				warn(ti.Pos, "(%s) tracked interface %s doesn't exist", owner, ti.Name)
			}
		}
	}
	for _, v := range cfg.VRRPInstances {
		if v.Interface != "" && !has(v.Interface) {
			warn(cmp.Or(v.InterfacePos, v.Pos), "WARNING - interface %s for vrrp_instance %s doesn't exist", v.Interface, v.Name)
		}
		vmac := ""
		if v.UseVMAC {
			vmac = vmacName(cfg, v) // created by vigil
		}
		for _, list := range [][]*vrrpd.VirtualIP{v.VirtualIPAddresses, v.VirtualIPAddressesExcluded} {
			for _, vip := range list {
				if vip.Dev != "" && vip.Dev != vmac && !has(vip.Dev) {
					warn(vip.Pos, "WARNING - interface %s for ip address %s doesn't exist", vip.Dev, vip.Prefix)
				}
			}
		}
		for _, r := range v.VirtualRoutes {
			if r.Dev != "" && !has(r.Dev) {
				warn(r.Pos, "WARNING - interface %s for VROUTE nexthop doesn't exist", r.Dev)
			}
		}
		tracked(v.Name, v.TrackInterfaces)
	}
	for _, g := range cfg.VRRPSyncGroups {
		tracked(g.Name, g.TrackInterfaces)
	}
	return out
}
