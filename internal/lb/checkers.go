package lb

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vigil-lb/vigil/internal/check"
	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/lvs"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/pool"
	"github.com/vigil-lb/vigil/internal/probe"
)

// checkerFactory builds checkers from the configuration. It owns what checkers share: the
// script runner and the ICMP sockets (opened on first use, one per address family).
type checkerFactory struct {
	cfg     *config.Config
	runner  *notify.Runner
	pingers *pingers
	// warnings are what building found that runs anyway, at its line (a script with unsafe
	// permissions without enable_script_security); Validate reports them.
	warnings []config.Diagnostic
	// audit and firstScript, where the first script that will run is written, make
	// Keepalived's SECURITY VIOLATION warning (securityViolation).
	audit       notify.SecurityAudit
	firstScript *config.Pos
}

// script checks a script the checker half will run, written at pos for keyword, as the runner
// will when it runs it, and records what it finds as warnings at pos. A script that cannot run
// does not stop vigil, as it does not stop Keepalived: it fails each time it is due, with the
// reason (a MISC_CHECK's real server stays down).
func (f *checkerFactory) script(pos config.Pos, keyword string, s notify.Script) error {
	warnings, err := f.audit.Check(f.runner, s)
	for _, w := range warnings {
		f.warnings = append(f.warnings, config.Diagnostic{Pos: pos, Severity: config.Warning, Message: keyword + ": " + w})
	}
	if err != nil {
		f.warnings = append(f.warnings, config.Diagnostic{Pos: pos, Severity: config.Warning,
			Message: fmt.Sprintf("%s: %v; it will fail each time it is due", keyword, err)})
		return nil
	}
	if f.firstScript == nil {
		f.firstScript = &pos
	}
	return nil
}

// securityViolation warns, in the words of Keepalived's checker, when the checker half's
// scripts (MISC_CHECK, notify_up/down, quorum_up/down) will run without
// enable_script_security; at the first such script, since Keepalived names no line. The VRRP
// half says its own ("scripts are being executed"), as Keepalived's two processes do.
func (f *checkerFactory) securityViolation() {
	if msg := f.audit.Violation("check scripts"); msg != "" {
		f.warnings = append(f.warnings, config.Diagnostic{Pos: *f.firstScript, Severity: config.Warning, Message: msg})
	}
}

// notifyScripts checks vs's quorum_up and quorum_down and its real servers' notify_up and
// notify_down scripts.
func (f *checkerFactory) notifyScripts(vs *lvs.VirtualServer) []error {
	var errs []error
	add := func(command string, pos config.Pos, keyword string) {
		if command == "" {
			return
		}
		if err := f.script(pos, keyword, notify.Script{Command: command}); err != nil {
			errs = append(errs, err)
		}
	}
	add(vs.QuorumUp, cmp.Or(vs.QuorumUpPos, vs.Pos), "quorum_up")
	add(vs.QuorumDown, cmp.Or(vs.QuorumDownPos, vs.Pos), "quorum_down")
	for _, rs := range vs.RealServers {
		add(rs.NotifyUp, cmp.Or(rs.NotifyUpPos, rs.Pos), "notify_up")
		add(rs.NotifyDown, cmp.Or(rs.NotifyDownPos, rs.Pos), "notify_down")
	}
	return errs
}

// build returns the checker for one checker block of rs, or an error at its line saying why it
// cannot run. The block's options are the ones the configuration read, used as they are.
func (f *checkerFactory) build(rs *lvs.RealServer, c *lvs.Checker) (probe.Checker, error) {
	if c.Options == nil {
		return nil, syntax.ErrorAt(c.Pos, "%s is not supported by vigil yet", c.Kind)
	}
	env := check.Env{
		Server:      netip.AddrPortFrom(rs.Address, rs.Port),
		Weight:      int(rs.Weight),
		Runner:      f.runner,
		CheckScript: f.checkScript,
		Pinger:      f.pinger,
		TrackFile:   f.trackFile,
	}
	if conn := c.Connection; conn != nil {
		env.Conn = check.ConnOptions{
			Addr:     netip.AddrPortFrom(conn.Address, conn.Port),
			BindAddr: conn.BindAddress,
			BindPort: conn.BindPort,
			BindIf:   conn.BindIf,
			Fwmark:   conn.Fwmark,
		}
	}
	return atLine(c.Pos)(c.Options.New(env))
}

// checkScript records what checking a checker's script finds, as script does.
func (f *checkerFactory) checkScript(pos config.Pos, keyword string, s notify.Script) {
	_ = f.script(pos, keyword, s)
}

// pinger returns the shared ICMP socket of addr's family; none when nothing is opened
// (Validate).
func (f *checkerFactory) pinger(addr netip.Addr) (check.Pinger, error) {
	p, err := f.pingers.get(addr)
	if err != nil || p == nil {
		return nil, err
	}
	return p, nil
}

// trackFile returns the file of the track_file block called name.
func (f *checkerFactory) trackFile(name string) (string, bool) {
	for _, tf := range f.cfg.VRRPTrackFiles {
		if tf.Name == name {
			return tf.File, tf.File != ""
		}
	}
	return "", false
}

// atLine puts the error of a checker constructor at pos, the checker block's line, unless it
// names a line of its own.
func atLine(pos config.Pos) func(probe.Checker, error) (probe.Checker, error) {
	return func(ck probe.Checker, err error) (probe.Checker, error) {
		var pe *syntax.PosError
		switch {
		case err == nil:
			return ck, nil
		case errors.As(err, &pe):
			return nil, err
		}
		return nil, &syntax.PosError{Pos: pos, Err: err}
	}
}

// checkName names a checker in its real server's pool spec, after the earlier ones: its kind
// and target, numbered from the second when the server has several alike (Keepalived's own
// SMTP_CHECK sample checks one address twice), since the pool tells checks apart by name,
// also across reloads.
func checkName(earlier []pool.CheckSpec, ck probe.Checker) string {
	name := ck.Kind() + " " + ck.Target()
	n := 1
	for _, c := range earlier {
		if c.Name == name || strings.HasPrefix(c.Name, name+" #") {
			n++
		}
	}
	if n == 1 {
		return name
	}
	return name + " #" + strconv.Itoa(n)
}
