package ctsync

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Runner runs one conntrackd client command (the arguments after -C conf) against the running
// daemon and returns what it printed.
type Runner interface {
	Run(ctx context.Context, args ...string) (string, error)
}

// Options are what a Daemon needs besides its Config.
type Options struct {
	Logger *slog.Logger
	// Runner runs the client commands; nil runs the conntrackd binary.
	Runner Runner
	// OnCommands, if set, hears each batch of commands run for a state, from Daemon's
	// goroutine: the state, the commands, how long they took and the first error.
	OnCommands func(state string, cmds []Command, took time.Duration, err error)
	// CommandTimeout bounds each client command (default 30 s: a commit of a large external
	// cache takes a while).
	CommandTimeout time.Duration
}

// Command is one conntrackd client command and what it is for.
type Command struct {
	Flag string // "-c"
	What string // "commit the external cache"
}

// The commands of each transition (see the package doc).
var (
	cmdCommit = Command{"-c", "commit the external cache into the kernel table"}
	cmdFlush  = Command{"-f", "flush the internal and external caches"}
	cmdResync = Command{"-R", "resync the internal cache with the kernel table"}
	cmdBulk   = Command{"-B", "send a bulk update to the peer"}
	cmdPurge  = Command{"-t", "schedule the purge of zombie entries from the kernel table"}
	cmdAsk    = Command{"-n", "ask the peer for a resync"}
)

// CommandsFor returns the conntrackd commands for a VRRP state ("MASTER", "BACKUP", "FAULT";
// others have none), or, active-active, those that follow conntrackd's (re)start.
func CommandsFor(c Config, state string) []Command {
	switch {
	case c.ActiveActive():
		return []Command{cmdAsk}
	case c.ExternalCache:
		switch state {
		case "MASTER":
			return []Command{cmdCommit, cmdFlush, cmdResync, cmdBulk}
		case "BACKUP":
			return []Command{cmdPurge, cmdAsk}
		case "FAULT":
			return []Command{cmdPurge}
		}
		return nil
	}
	// The peer's entries are in the kernel table already: nothing to commit, and nothing to
	// purge (the purge would take them out of the kernel too).
	switch state {
	case "MASTER":
		return []Command{cmdFlush, cmdResync, cmdBulk}
	case "BACKUP":
		return []Command{cmdAsk}
	}
	return nil
}

// Daemon runs (or drives) conntrackd for one conntrack_sync block.
type Daemon struct {
	cfg    Config
	opts   Options
	log    *slog.Logger
	paths  Paths
	runner Runner

	mu      sync.Mutex
	state   string // the instance's latest state ("" before the first)
	pending bool   // state's commands are still to run
	ready   bool   // conntrackd answers
	wake    chan struct{}
}

// New returns a Daemon for cfg; Run starts it.
func New(cfg Config, opts Options) *Daemon {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 30 * time.Second
	}
	if cfg.Binary == "" {
		cfg.Binary = "conntrackd"
	}
	d := &Daemon{cfg: cfg, opts: opts, log: opts.Logger, paths: PathsOf(cfg), wake: make(chan struct{}, 1)}
	if cfg.ConfPath != "" {
		d.paths.Conf = cfg.ConfPath
	}
	d.runner = opts.Runner
	if d.runner == nil {
		d.runner = execRunner{bin: cfg.Binary, conf: d.paths.Conf}
	}
	if cfg.ActiveActive() {
		d.state, d.pending = "ACTIVE", true
	}
	return d
}

// Transition records a state change of the instance conntrack_sync follows; the commands run
// on Run's goroutine. It never blocks. Other instances' changes are ignored.
func (d *Daemon) Transition(instance, state string) {
	if instance != d.cfg.Instance || d.cfg.ActiveActive() {
		return
	}
	d.mu.Lock()
	if state == d.state && !d.pending {
		d.mu.Unlock()
		return
	}
	d.state, d.pending = state, true
	d.mu.Unlock()
	d.poke()
}

func (d *Daemon) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run runs conntrackd (unless Config.ConfPath names one the administrator runs) until ctx
// ends, starting it again when it exits, and runs the commands of each state once it answers.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.commands(ctx) }()
	var err error
	if d.cfg.ConfPath == "" {
		err = d.supervise(ctx)
	} else {
		d.log.Info("conntrack sync: driving the conntrackd of " + d.cfg.ConfPath)
		err = d.await(ctx)
		if err == nil {
			<-ctx.Done()
		}
	}
	cancel()
	wg.Wait()
	return err
}

// supervise writes conntrackd.conf and runs conntrackd, again after each exit (at most once a
// second), until ctx ends; then it stops it (SIGTERM, SIGKILL after 5 s).
func (d *Daemon) supervise(ctx context.Context) error {
	local := d.cfg.Local
	if !local.IsValid() {
		var err error
		if local, err = localAddr(d.cfg.Interface, d.cfg.Peer); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(d.cfg.RuntimeDir, 0o755); err != nil {
		return fmt.Errorf("conntrack sync: runtime directory: %w", err)
	}
	if err := os.WriteFile(d.paths.Conf, []byte(Render(d.cfg, local, d.paths)), 0o644); err != nil {
		return fmt.Errorf("conntrack sync: write %s: %w", d.paths.Conf, err)
	}
	d.log.Info("conntrack sync: conntrackd.conf written", "conf", d.paths.Conf, "local", local, "peer", d.cfg.Peer,
		"interface", d.cfg.Interface, "mode", d.mode())
	for ctx.Err() == nil {
		started := time.Now()
		if err := d.runOnce(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("conntrack sync: conntrackd", "err", err)
		}
		d.setReady(false)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second - time.Since(started)):
		}
	}
	return nil
}

func (d *Daemon) mode() string {
	if d.cfg.ActiveActive() {
		return "active-active"
	}
	return "primary-backup following " + d.cfg.Instance
}

// runOnce runs conntrackd in the foreground until it exits or ctx ends. It dies with vigil
// (Pdeathsig): a node whose vigil is killed is a node that failed, and its peer must not hear
// from it.
func (d *Daemon) runOnce(ctx context.Context) error {
	// A lock left by a conntrackd that was killed would stop the new one from starting;
	// nothing else uses this one (it is vigil's, in vigil's directory).
	_ = os.Remove(d.paths.Lock)
	// Pdeathsig follows the thread that started the child, not the process: keep this one
	// until the child has exited, so that only vigil's death (or Run's end) ends conntrackd.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.Command(d.cfg.Binary, "-C", d.paths.Conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", d.cfg.Binary, err)
	}
	d.log.Info("conntrack sync: conntrackd started", "pid", cmd.Process.Pid)
	logged := make(chan struct{})
	go func() { defer close(logged); d.logOutput(out) }()
	exited := make(chan error, 1)
	go func() { <-logged; exited <- cmd.Wait() }()
	readyCtx, stopReady := context.WithCancel(ctx)
	defer stopReady()
	go func() {
		if d.await(readyCtx) == nil {
			d.log.Info("conntrack sync: conntrackd answers")
		}
	}()
	select {
	case err := <-exited:
		return fmt.Errorf("exited: %v", err)
	case <-ctx.Done():
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	d.log.Info("conntrack sync: conntrackd stopped")
	return nil
}

func (d *Daemon) logOutput(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			d.log.Info("conntrackd: " + line)
		}
	}
}

// await waits until conntrackd answers a statistics request (-s), then marks it ready.
func (d *Daemon) await(ctx context.Context) error {
	for delay := 20 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		cctx, cancel := context.WithTimeout(ctx, d.opts.CommandTimeout)
		_, err := d.runner.Run(cctx, "-s")
		cancel()
		if err == nil {
			d.setReady(true)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// setReady records whether conntrackd answers; a conntrackd that answers anew (a new one) must
// hear the current state's commands again.
func (d *Daemon) setReady(ready bool) {
	d.mu.Lock()
	was := d.ready
	d.ready = ready
	if ready && !was && d.state != "" {
		d.pending = true
	}
	d.mu.Unlock()
	if ready {
		d.poke()
	}
}

// commands runs the latest state's commands whenever there are some and conntrackd answers.
func (d *Daemon) commands(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		}
		for {
			d.mu.Lock()
			if !d.pending || !d.ready {
				d.mu.Unlock()
				break
			}
			state := d.state
			d.pending = false
			d.mu.Unlock()
			d.runState(ctx, state)
		}
	}
}

// runState runs state's commands in order; a failed one is logged and the rest still run, as
// primary-backup.sh does (a failed commit must not keep the node from sending its bulk).
func (d *Daemon) runState(ctx context.Context, state string) {
	cmds := CommandsFor(d.cfg, state)
	if len(cmds) == 0 {
		return
	}
	start := time.Now()
	var first error
	for _, c := range cmds {
		cctx, cancel := context.WithTimeout(ctx, d.opts.CommandTimeout)
		out, err := d.runner.Run(cctx, c.Flag)
		cancel()
		if err != nil {
			err = fmt.Errorf("conntrackd %s (%s): %w: %s", c.Flag, c.What, err, strings.TrimSpace(out))
			d.log.Error("conntrack sync", "state", state, "err", err)
			first = cmpErr(first, err)
		}
	}
	took := time.Since(start)
	flags := make([]string, len(cmds))
	for i, c := range cmds {
		flags[i] = c.Flag
	}
	d.log.Info("conntrack sync: state applied", "instance", d.cfg.Instance, "state", state, "commands", strings.Join(flags, " "), "took", took)
	if d.opts.OnCommands != nil {
		d.opts.OnCommands(state, cmds, took, first)
	}
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// execRunner runs the conntrackd binary in client mode.
type execRunner struct{ bin, conf string }

func (r execRunner) Run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, r.bin, append([]string{"-C", r.conf}, args...)...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return string(out), nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), fmt.Errorf("exit status %d", ee.ExitCode())
	}
	return string(out), err
}
