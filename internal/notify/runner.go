package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Script is one program to run.
type Script struct {
	// Command is the line as configured (misc_path, notify_up, script, ...), in Keepalived's
	// syntax: see SplitCommand and NeedsShell.
	Command string
	// Args are appended to the command line: the arguments Keepalived gives notify scripts
	// ("INSTANCE" "VI_1" "MASTER" "100").
	Args []string
	// User is who the program runs as; nil runs it as vigil itself.
	User *User
	// Timeout bounds the run; 0 leaves only the context to stop it.
	Timeout time.Duration
}

// User is a resolved script user (Keepalived's "user USERNAME [GROUPNAME]").
type User struct {
	Name   string
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups; empty clears them
}

// LookupUser resolves Keepalived's "user NAME [GROUP]": the user's uid and primary group, or
// GROUP when given. A GROUP starting with ':' also sets the user's supplementary groups, as in
// Keepalived.
func LookupUser(name, group string) (*User, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("script user %q: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("script user %q: non-numeric uid %q or gid %q", name, u.Uid, u.Gid)
	}
	out := &User{Name: name, UID: uint32(uid), GID: uint32(gid)}
	supplementary := strings.HasPrefix(group, ":")
	group = strings.TrimPrefix(group, ":")
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("script group %q: %w", group, err)
		}
		gid, err := strconv.ParseUint(g.Gid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("script group %q: non-numeric gid %q", group, g.Gid)
		}
		out.GID = uint32(gid)
	}
	if supplementary {
		ids, err := u.GroupIds()
		if err != nil {
			return nil, fmt.Errorf("script user %q: supplementary groups: %w", name, err)
		}
		for _, s := range ids {
			if g, err := strconv.ParseUint(s, 10, 32); err == nil {
				out.Groups = append(out.Groups, uint32(g))
			}
		}
	}
	return out, nil
}

// Outcome is what happened to one run.
type Outcome struct {
	// Err is set when the program could not be run at all: refused by script security, not
	// found, no free slot before ctx ended. The other fields are then zero.
	Err error
	// ExitCode is the exit status, or -1 when the program was killed by a signal.
	ExitCode int
	// Signal is the signal that ended the program, 0 if it exited.
	Signal syscall.Signal
	// TimedOut says the runner killed the program at Script.Timeout.
	TimedOut bool
	// Cancelled says the runner killed the program because ctx ended.
	Cancelled bool
	// Duration is from start to exit.
	Duration time.Duration
	// Output is the combined stdout and stderr, at most RunnerOptions.OutputLimit bytes.
	Output []byte
	// Truncated says the program wrote more than Output holds.
	Truncated bool
}

// Success reports a run that exited with status 0.
func (o Outcome) Success() bool { return o.Err == nil && o.Signal == 0 && o.ExitCode == 0 }

// String says what happened, for logs and check reasons: "exit status 1", "killed by signal
// terminated", "timed out after 200ms".
func (o Outcome) String() string {
	switch {
	case o.Err != nil:
		return o.Err.Error()
	case o.TimedOut:
		return "timed out after " + o.Duration.Round(time.Millisecond).String()
	case o.Cancelled:
		return "cancelled after " + o.Duration.Round(time.Millisecond).String()
	case o.Signal != 0:
		return "killed by signal " + o.Signal.String()
	}
	return "exit status " + strconv.Itoa(o.ExitCode)
}

// DefaultMaxConcurrent is how many programs a Runner runs at once unless told otherwise.
const DefaultMaxConcurrent = 64

// RunnerOptions configures a Runner; zero fields take the defaults named.
type RunnerOptions struct {
	// MaxConcurrent bounds the programs running at once (DefaultMaxConcurrent). Run waits
	// for a slot.
	MaxConcurrent int
	// OutputLimit bounds the output kept per run (default 4096 bytes); the rest is discarded.
	OutputLimit int
	// KillGrace is how long a program has between SIGTERM and SIGKILL (default 1s; Keepalived
	// waits 2s).
	KillGrace time.Duration
	// ScriptSecurity is Keepalived's enable_script_security: refuse programs that run with root
	// privileges from a path a non-root user could change. Without it such programs run and a
	// warning is logged once per program.
	ScriptSecurity bool
	// Shell runs lines that need one (default /bin/sh).
	Shell string
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger
}

// Runner runs Scripts. It is safe for concurrent use.
type Runner struct {
	opts   RunnerOptions
	slots  chan struct{}
	ourUID uint32
	ourGID uint32
	log    *slog.Logger

	mu     sync.Mutex
	warned map[string]bool
}

// NewRunner returns a Runner with opts.
func NewRunner(opts RunnerOptions) *Runner {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.OutputLimit <= 0 {
		opts.OutputLimit = 4096
	}
	if opts.KillGrace <= 0 {
		opts.KillGrace = time.Second
	}
	if opts.Shell == "" {
		opts.Shell = "/bin/sh"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	uid, gid := ourIDs()
	return &Runner{opts: opts, slots: make(chan struct{}, opts.MaxConcurrent), ourUID: uid, ourGID: gid, log: log, warned: map[string]bool{}}
}

// Prepare resolves s into the argv it will run, applying script security, without running it.
// Run calls it on every run, since files change; Check says beforehand what it would say.
func (r *Runner) Prepare(s Script) ([]string, error) {
	return r.prepare(s, func(w scriptWarning) { r.warnOnce(w.key, w.msg, w.args...) })
}

// Check says what Prepare would make of s, without running it: the error that would keep it
// from running (not found, not executable, refused by script security, a user vigil cannot
// switch to), and the warnings Prepare would log for a script it runs anyway (unsafe
// permissions without enable_script_security, a program found by searching PATH). The daemon
// and the VRRP half call it when they build what a configuration asks for, and so does
// `vigil -t`.
func (r *Runner) Check(s Script) (warnings []string, err error) {
	_, err = r.prepare(s, func(w scriptWarning) { warnings = append(warnings, w.text) })
	return warnings, err
}

// scriptWarning is something Prepare says of a script it runs anyway: msg and args for the
// log (once per key), text for Check.
type scriptWarning struct {
	key, msg string
	args     []any
	text     string
	insecure bool // unsafe permissions, tolerated without enable_script_security
}

func (r *Runner) prepare(s Script, warn func(scriptWarning)) ([]string, error) {
	words, err := SplitCommand(s.Command)
	if err != nil {
		return nil, err
	}
	if s.User != nil && s.User.UID != r.ourUID && r.ourUID != 0 {
		return nil, fmt.Errorf("script %s: cannot run as uid %d: vigil runs as uid %d, not root", words[0], s.User.UID, r.ourUID)
	}
	syntax := ShellSyntax(s.Command)
	shell := syntax != ""
	if shell && r.opts.ScriptSecurity && r.privileged(s.User) {
		return nil, &ShellSyntaxError{Command: s.Command, Syntax: syntax}
	}
	prog := words[0]
	if shell && (strings.ContainsAny(prog, "|&;<>()$`*?[]#~=") || prog == "") {
		prog = "" // the line starts with shell syntax; only the shell itself is checked
	}
	if prog != "" && !strings.Contains(prog, "/") {
		p, err := exec.LookPath(prog)
		if err != nil {
			if !shell {
				return nil, fmt.Errorf("script %s: %w", prog, err)
			}
			p = "" // maybe a shell builtin
		} else if !shell {
			warn(scriptWarning{key: prog, msg: "script resolved by path search; give its full path", args: []any{"script", prog, "path", p},
				text: fmt.Sprintf("script %s resolved by path search to %s; give its full path", prog, p)})
			words[0] = p
		}
		prog = p
	}
	if !shell && isShell(prog) {
		// A shell named as the program runs what its arguments say: a command line (-c),
		// held to the rule of lines with shell syntax, or a script file, checked as the
		// program is.
		file, cmdLine := shellOperand(words[1:])
		if cmdLine && r.opts.ScriptSecurity && r.privileged(s.User) {
			return nil, &ShellSyntaxError{Command: s.Command, Syntax: fmt.Sprintf("%s -c (a command line for the shell)", prog)}
		}
		if file != "" && !filepath.IsAbs(file) {
			file = filepath.Join("/", file) // scripts run in /
		}
		if _, serr := os.Stat(file); file != "" && serr == nil {
			if err := checkSecure(file, s.User, r.ourUID, r.ourGID, false); err != nil && !r.tolerated(err, warn) {
				return nil, err
			}
		}
	}
	for _, p := range []string{prog, r.shellIf(shell)} {
		if p == "" {
			continue
		}
		if err := CheckSecure(p, s.User, r.ourUID, r.ourGID); err != nil {
			if !r.tolerated(err, warn) {
				return nil, err
			}
		}
	}
	if shell {
		line := s.Command
		for _, a := range s.Args {
			line += " " + shellQuote(a)
		}
		return []string{r.opts.Shell, "-c", line}, nil
	}
	return append(words, s.Args...), nil
}

// tolerated reports whether err, from a security check, lets the script run anyway: it is
// about unsafe permissions and enable_script_security is off. Then it warns of it.
func (r *Runner) tolerated(err error, warn func(scriptWarning)) bool {
	var insecure *InsecureError
	if !errors.As(err, &insecure) || r.opts.ScriptSecurity {
		return false
	}
	p := insecure.Script
	warn(scriptWarning{key: p, msg: "unsafe permissions for script; enable_script_security would refuse it", args: []any{"script", p, "error", err},
		text: fmt.Sprintf("unsafe permissions found for script %s (%s: %s); enable_script_security would refuse it", p, insecure.Path, insecure.Why), insecure: true})
	return true
}

// privileged reports whether a script run as user (nil: as vigil) has root's privileges, the
// case in which script security applies.
func (r *Runner) privileged(user *User) bool {
	uid, gid := r.ourUID, r.ourGID
	if user != nil {
		uid, gid = user.UID, user.GID
	}
	return uid == 0 || gid == 0
}

func (r *Runner) shellIf(shell bool) string {
	if shell {
		return r.opts.Shell
	}
	return ""
}

func (r *Runner) warnOnce(key, msg string, args ...any) {
	r.mu.Lock()
	seen := r.warned[key+msg]
	r.warned[key+msg] = true
	r.mu.Unlock()
	if !seen {
		r.log.Warn(msg, args...)
	}
}

// Run runs s and waits for it. The program runs in its own process group; at s.Timeout or when
// ctx ends, the whole group gets SIGTERM, then SIGKILL after KillGrace, and once the program
// has gone any process left in its group gets SIGKILL, so a script's children die with it.
func (r *Runner) Run(ctx context.Context, s Script) Outcome {
	argv, err := r.Prepare(s)
	if err != nil {
		return Outcome{Err: err, ExitCode: -1}
	}
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return Outcome{Err: fmt.Errorf("script %s: not started: %w", argv[0], context.Cause(ctx)), ExitCode: -1}
	}
	defer func() { <-r.slots }()

	out := &boundedBuffer{limit: r.opts.OutputLimit}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = scriptEnv()
	cmd.Dir = "/"
	// A background child that keeps the output pipe open must not hold Wait forever.
	cmd.WaitDelay = 500 * time.Millisecond
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if u := s.User; u != nil && r.ourUID == 0 && (u.UID != 0 || u.GID != r.ourGID || len(u.Groups) > 0) {
		attr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: u.Groups, NoSetGroups: false}
	}
	cmd.SysProcAttr = attr

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Outcome{Err: fmt.Errorf("script %s: %w", argv[0], err), ExitCode: -1}
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var timeout <-chan time.Time
	if s.Timeout > 0 {
		t := time.NewTimer(s.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	o := Outcome{}
	var waitErr error
	select {
	case waitErr = <-done:
	case <-timeout:
		o.TimedOut = true
		waitErr = r.kill(pgid, done)
	case <-ctx.Done():
		o.Cancelled = true
		waitErr = r.kill(pgid, done)
	}
	o.Duration = time.Since(start)
	if o.TimedOut || o.Cancelled {
		// The leader is gone; its children may not be.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	o.Output, o.Truncated = out.result()
	o.ExitCode = -1
	if st, ok := processStatus(cmd); ok {
		switch {
		case st.Exited():
			o.ExitCode = st.ExitStatus()
		case st.Signaled():
			o.Signal = st.Signal()
		}
	} else if waitErr != nil {
		o.Err = fmt.Errorf("script %s: %w", argv[0], waitErr)
	}
	return o
}

func processStatus(cmd *exec.Cmd) (syscall.WaitStatus, bool) {
	if cmd.ProcessState == nil {
		return 0, false
	}
	st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return st, ok
}

// kill ends the process group pgid: SIGTERM, then SIGKILL after the grace, and returns Wait's
// error.
func (r *Runner) kill(pgid int, done <-chan error) error {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(r.opts.KillGrace)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return <-done
}

// scriptEnv is vigil's environment without the variables Keepalived also drops before running
// a script: IFS, LD_PRELOAD, LD_LIBRARY_PATH.
func scriptEnv() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, kv := range env {
		if strings.HasPrefix(kv, "IFS=") || strings.HasPrefix(kv, "LD_PRELOAD=") || strings.HasPrefix(kv, "LD_LIBRARY_PATH=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// boundedBuffer keeps the first limit bytes written and counts the rest.
type boundedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	limit     int
	truncated bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.limit - b.buf.Len()
	if room < len(p) {
		b.truncated = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	b.buf.Write(p)
	return len(p), nil
}

func (b *boundedBuffer) result() ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes()), b.truncated
}

// DefaultUser is the user scripts run as when their own configuration names none, as Keepalived
// decides it: global_defs script_user (scriptUser, scriptGroup) when set; otherwise the user
// keepalived_script if it exists; otherwise vigil's own user (nil), except that with
// enable_script_security a missing keepalived_script is an error and such scripts must not run.
func DefaultUser(scriptUser, scriptGroup string, scriptSecurity bool) (*User, error) {
	if scriptUser != "" {
		return LookupUser(scriptUser, scriptGroup)
	}
	u, err := LookupUser("keepalived_script", "")
	if err == nil {
		return u, nil
	}
	if scriptSecurity {
		return nil, fmt.Errorf("enable_script_security without script_user needs the user keepalived_script: %w", err)
	}
	return nil, nil
}
