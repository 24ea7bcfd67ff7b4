package check

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/probe"
)

// ScriptRunner runs external programs; *notify.Runner is the one vigil uses.
type ScriptRunner interface {
	Run(ctx context.Context, s notify.Script) notify.Outcome
}

// MiscOptions configure a MISC_CHECK.
type MiscOptions struct {
	// Script is misc_path with its user; Script.Timeout is misc_timeout, and when zero the
	// probe's deadline (the scheduler's Job.Timeout) bounds the run.
	Script notify.Script
	// Dynamic is misc_dynamic: exit status 2 to 255 is a success that sets the weight to
	// status - 2.
	Dynamic bool
	// Target names the real server checked, for logs and status ("192.0.2.10:80").
	Target string
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
