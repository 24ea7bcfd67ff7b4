package check

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/probe"
)

// ScriptRunner runs external programs; *notify.Runner is the one vigil uses.
type ScriptRunner interface {
	Run(ctx context.Context, s notify.Script) notify.Outcome
}

// MiscOptions configure a MISC_CHECK.
type MiscOptions struct {
	// Path is the command line (misc_path), as written; Args is it split into words, the
	// program first.
	Path string   `json:"misc_path"`
	Args []string `json:"args"`
	// Timeout is misc_timeout (default: the virtual server's delay loop).
	Timeout syntax.Duration `json:"misc_timeout"`
	// Dynamic is misc_dynamic: exit status 2 to 255 is a success that sets the weight to
	// status - 2.
	Dynamic bool `json:"misc_dynamic"`
	// User is the "user [group]" to run the script as; empty: the global script_user.
	User string `json:"user,omitempty"`
	// PathPos and UserPos are where misc_path and user were written.
	PathPos, UserPos syntax.Pos `json:"-"`

	// Script is what runs: New makes it from Path, Timeout and User. Script.Timeout, when
	// zero, leaves the probe's deadline (the scheduler's Job.Timeout) to bound the run.
	Script notify.Script `json:"-"`
	// Target names the real server checked, for logs and status ("192.0.2.10:80").
	Target string `json:"-"`
}

// MiscKind is MISC_CHECK's block.
var MiscKind = Kind{Name: "MISC_CHECK", JSON: "misc", Shared: Timing,
	Defaults: func(time.Duration) (uint32, time.Duration) { return 0, time.Second },
	Block:    miscBlock}

func miscBlock(b *Block) Options {
	o := &MiscOptions{}
	k := b.Keywords
	k["misc_path"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		// Keepalived takes the first word only (quote it to pass arguments) and splits it.
		if len(l.Words) >= 2 {
			o.Path, o.PathPos = l.Words[1], l.Pos
			o.Args = strings.Fields(o.Path)
		}
	}}
	k["misc_timeout"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		v, ok := p.Unsigned(l.Pos, l.Words[1], 0, maxUint32/1_000_000)
		if !ok {
			p.Diags.Warnf(l.Pos, "Invalid misc_timeout value '%s'", l.Words[1])
			return
		}
		o.Timeout = syntax.Duration(time.Duration(v) * time.Second)
	}}
	k["misc_dynamic"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { o.Dynamic = true }}
	k["user"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) < 2 {
			p.Diags.Warnf(l.Pos, "No user specified for misc checker script %s", cmdStr(o.Path))
			return
		}
		// Whether the user exists is this machine's business: New looks it up (and so does
		// `vigil -t`, which builds the checker).
		o.User, o.UserPos = restOfLine(l), l.Pos
	}}
	b.Close = func(p *syntax.Parser, end syntax.Pos) bool {
		if len(o.Args) == 0 {
			p.Diags.Warnf(end, "No script path has been specified for MISC_CHECKER - skipping")
			return false
		}
		return true
	}
	b.Resolve = func(s Server) {
		if o.Timeout == 0 {
			// Keepalived times a script out after the virtual server's delay_loop, not the
			// checker's.
			o.Timeout = syntax.Duration(s.DelayLoop)
		}
	}
	return o
}

// ProbeTimeout is misc_timeout: it, not connect_timeout, bounds the script.
func (o MiscOptions) ProbeTimeout() time.Duration { return o.Timeout.D() }

// New builds the MISC_CHECK: the script with its user, checked as env's runner will run it.
func (o MiscOptions) New(env Env) (probe.Checker, error) {
	script := notify.Script{Command: o.Path, Timeout: o.Timeout.D()}
	if o.User != "" {
		name, group, _ := strings.Cut(o.User, " ")
		u, err := notify.LookupUser(name, strings.TrimSpace(group))
		if err != nil {
			// Keepalived's words, but vigil refuses the configuration rather than drop the
			// checker.
			return nil, syntax.ErrorAt(o.UserPos, "Failed to set uid/gid for misc checker script %s: %v", o.Path, err)
		}
		script.User = u
	}
	if env.CheckScript != nil {
		env.CheckScript(o.PathPos, "MISC_CHECK misc_path", script)
	}
	o.Script, o.Target = script, env.target()
	return NewMisc(o, env.Runner), nil
}

// MiscChecker runs a script and judges its exit status, as Keepalived's MISC_CHECK.
type MiscChecker struct {
	opts   MiscOptions
	runner ScriptRunner
	key    string
}

// NewMisc returns a MISC_CHECK that runs opts.Script with runner.
func NewMisc(opts MiscOptions, runner ScriptRunner) *MiscChecker {
	var b strings.Builder
	b.WriteString("MISC_CHECK ")
	b.WriteString(strconv.Quote(opts.Script.Command))
	for _, a := range opts.Script.Args {
		b.WriteString(" " + strconv.Quote(a))
	}
	if u := opts.Script.User; u != nil {
		b.WriteString(" uid=" + strconv.FormatUint(uint64(u.UID), 10) + " gid=" + strconv.FormatUint(uint64(u.GID), 10))
	}
	if opts.Script.Timeout > 0 {
		b.WriteString(" timeout=" + opts.Script.Timeout.String())
	}
	if opts.Dynamic {
		b.WriteString(" dynamic")
	}
	return &MiscChecker{opts: opts, runner: runner, key: b.String()}
}

// Kind is "MISC_CHECK".
func (c *MiscChecker) Kind() string { return "MISC_CHECK" }

// Target is the real server the script checks.
func (c *MiscChecker) Target() string { return c.opts.Target }

// Key is the script line, its user, timeout and whether it is dynamic: two real servers with
// the same line run it once.
func (c *MiscChecker) Key() string { return c.key }

// Check runs the script once. Exit 0 is healthy with the configured weight (Weight -1). With
// misc_dynamic, exit 2..255 is healthy with weight status-2. Anything else is unhealthy: exit
// 1 (or, without misc_dynamic, any non-zero status), a signal, and a script killed at its
// timeout ("timed out after 5s"), which Keepalived also counts as a failure.
func (c *MiscChecker) Check(ctx context.Context) probe.Result {
	s := c.opts.Script
	if s.Timeout <= 0 {
		if dl, ok := ctx.Deadline(); ok {
			s.Timeout = time.Until(dl).Round(time.Millisecond)
		}
	}
	o := c.runner.Run(ctx, s)
	res := probe.Result{Weight: -1, Latency: o.Duration}
	switch {
	case o.Err != nil:
		res.Reason = o.Err.Error()
	case o.TimedOut || (o.Cancelled && errors.Is(context.Cause(ctx), context.DeadlineExceeded)):
		limit := s.Timeout
		if limit <= 0 {
			limit = o.Duration.Round(time.Millisecond)
		}
		res.Reason = "timed out after " + limit.String()
	case o.Cancelled:
		res.Reason = "cancelled"
	case o.Signal != 0:
		res.Reason = "killed by signal " + o.Signal.String()
	case o.ExitCode == 0:
		res.Healthy, res.Reason = true, "exit status 0"
	case c.opts.Dynamic && o.ExitCode >= 2 && o.ExitCode <= 255:
		res.Healthy, res.Weight = true, o.ExitCode-2
		res.Reason = "exit status " + strconv.Itoa(o.ExitCode) + ", weight " + strconv.Itoa(res.Weight)
	default:
		res.Reason = "exit status " + strconv.Itoa(o.ExitCode)
	}
	return res
}
