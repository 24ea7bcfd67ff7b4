package track

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
)

// Process tracking (vrrp_track_process). Keepalived learns of forks, execs, exits and name
// changes from the kernel's process-events connector and scans /proc only at start-up and
// after lost events. vigil scans /proc every poll instead (1s by default): the connector
// only works in the initial network namespace and needs CAP_NET_ADMIN, and a scan is what
// Keepalived itself falls back on. The price is that a process living less than one poll can
// go unseen, and a change is seen up to one poll late. The debouncing follows Keepalived's
// events: a change of state caused by more processes (a fork or exec, whether it gains the
// quorum or passes quorum_max) waits fork_delay, one caused by fewer (an exit) waits
// terminate_delay, and a count that moves back before the delay ends changes nothing.

// ProcessMatcher decides whether one process is what a vrrp_track_process looks for.
type ProcessMatcher struct {
	name    string
	full    bool   // match argv[0] of /proc/PID/cmdline, not the process name
	params  []byte // the configured parameters, each followed by a NUL, as in cmdline
	match   string // "", "exact", "initial" or "partial"
	noParam bool   // no parameters configured
}

// NewProcessMatcher returns the matcher for cfg.
func NewProcessMatcher(cfg *vrrpd.TrackProcess) ProcessMatcher {
	m := ProcessMatcher{name: cfg.Process, full: cfg.FullCommand, match: cfg.ParamMatch, noParam: len(cfg.Params) == 0}
	for _, p := range cfg.Params {
		m.params = append(append(m.params, p...), 0)
	}
	if m.match != "" {
		m.full = true
	}
	return m
}

// FullCommand reports whether the matcher reads /proc/PID/cmdline (else /proc/PID/stat).
func (m ProcessMatcher) FullCommand() bool { return m.full }

// MatchComm reports whether a process named comm (the Name: of /proc/PID/status, at most 15
// bytes) matches. The comparison is exact, as Keepalived's: a configured name longer than 15
// bytes never matches without full_command.
func (m ProcessMatcher) MatchComm(comm string) bool { return !m.full && comm == m.name }

// MatchCmdline reports whether a process whose /proc/PID/cmdline is cmdline matches: argv[0]
// must equal the configured process exactly; then, by param_match, the parameters (the bytes
// after argv[0]'s NUL) must equal the configured ones ("exact", also used when parameters are
// given without param_match; with no parameters configured it means the process has none),
// begin with them ("partial": the first n parameters match exactly, more may follow) or begin
// with them less the last one's end ("initial": the last configured parameter may be a prefix
// of the process's). Without param_match any parameters match.
func (m ProcessMatcher) MatchCmdline(cmdline []byte) bool {
	if !m.full {
		return false
	}
	argv0, params, _ := bytes.Cut(cmdline, []byte{0})
	if string(argv0) != m.name {
		return false
	}
	switch m.match {
	case "exact":
		return bytes.Equal(params, m.params)
	case "partial":
		return bytes.HasPrefix(params, m.params)
	case "initial":
		if m.noParam {
			return true
		}
		return bytes.HasPrefix(params, m.params[:len(m.params)-1])
	}
	return true
}

// CountProcesses counts the processes under procRoot (normally /proc) that m matches.
// Zombies do not count. A process that exits during the scan is skipped; only a procRoot that
// cannot be listed is an error.
func CountProcesses(procRoot string, m ProcessMatcher) (int, error) {
	d, err := os.Open(procRoot)
	if err != nil {
		return 0, fmt.Errorf("track_process: list %s: %w", procRoot, err)
	}
	defer d.Close()
	// Enough for a stat line's name and state, or for argv[0] and the parameters plus one
	// byte (to see that a process has more than an exact match allows).
	buf := make([]byte, max(512, len(m.name)+len(m.params)+2))
	n := 0
	for {
		names, err := d.Readdirnames(256)
		for _, pid := range names {
			if pid == "" || pid[0] < '1' || pid[0] > '9' {
				continue
			}
			if m.matchPID(procRoot+"/"+pid, buf) {
				n++
			}
		}
		if err != nil {
			break
		}
	}
	return n, nil
}

func (m ProcessMatcher) matchPID(dir string, buf []byte) bool {
	if m.full {
		// A zombie's cmdline is empty, so it never matches.
		b, ok := readHead(dir+"/cmdline", buf[:len(m.name)+len(m.params)+2])
		return ok && m.MatchCmdline(b)
	}
	// comm is far cheaper for the kernel to produce than stat; stat only confirms a match
	// is not a zombie.
	b, ok := readHead(dir+"/comm", buf)
	if !ok || !m.MatchComm(string(bytes.TrimSuffix(b, []byte{'\n'}))) {
		return false
	}
	b, ok = readHead(dir+"/stat", buf)
	if !ok {
		return false
	}
	comm, state, ok := parseStat(b)
	return ok && state != 'Z' && m.MatchComm(comm)
}

// readHead reads at most len(buf) bytes from the start of the file at path.
func readHead(path string, buf []byte) ([]byte, bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, false
	}
	return buf[:n], true
}

// parseStat returns the name and state of a /proc/PID/stat line ("PID (NAME) S ..."). The
// name may itself hold ')' or spaces, so it ends at the last ')'.
func parseStat(b []byte) (comm string, state byte, ok bool) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open || end+2 >= len(b) {
		return "", 0, false
	}
	return string(b[open+1 : end]), b[end+2], true
}

// ProcessQuorum is the decision of one vrrp_track_process: whether the count of matching
// processes is within [Quorum, QuorumMax], with a change delayed by ForkDelay when the count
// rose or TerminateDelay when it fell. It is a pure function of counts and times.
type ProcessQuorum struct {
	Quorum, QuorumMax         int
	ForkDelay, TerminateDelay time.Duration

	known, up bool
	last      int // the count last observed
	pending   bool
	deadline  time.Time
}

// Observe records count seen at now and returns the state and whether it changed. The first
// count decides the state at once, as Keepalived's start-up scan does.
func (q *ProcessQuorum) Observe(count int, now time.Time) (up, changed bool) {
	in := count >= q.Quorum && count <= q.QuorumMax
	rose := count > q.last
	q.last = count
	switch {
	case !q.known:
		q.known, q.up = true, in
		return in, true
	case in == q.up:
		// Back where it was before the delay ended: nothing happened.
		q.pending = false
		return q.up, false
	case !q.pending:
		d := q.TerminateDelay
		if rose {
			d = q.ForkDelay
		}
		if d <= 0 {
			q.up = in
			return in, true
		}
		q.pending, q.deadline = true, now.Add(d)
		return q.up, false
	case !now.Before(q.deadline):
		q.pending, q.up = false, in
		return in, true
	}
	return q.up, false
}

// Deadline returns when a delayed change falls due, if one is pending.
func (q *ProcessQuorum) Deadline() (time.Time, bool) { return q.deadline, q.pending }

// Process watches one vrrp_track_process by scanning the process table every poll.
type Process struct {
	cfg      *vrrpd.TrackProcess
	clk      clock.Clock
	poll     time.Duration
	procRoot string
	log      *slog.Logger
}

// NewProcess returns a Process that scans procRoot ("" is /proc) for cfg's processes every
// poll (1s when poll is 0).
func NewProcess(cfg *vrrpd.TrackProcess, clk clock.Clock, poll time.Duration, procRoot string, log *slog.Logger) *Process {
	if poll <= 0 {
		poll = time.Second
	}
	if procRoot == "" {
		procRoot = "/proc"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Process{cfg: cfg, clk: clk, poll: poll, procRoot: procRoot, log: log.With("track_process", cfg.Name)}
}

// Run scans at once and reports the state, then scans every poll (and when a delayed change
// falls due) and reports each change until ctx ends. A scan that fails counts no processes.
func (p *Process) Run(ctx context.Context, report func(up bool)) {
	m := NewProcessMatcher(p.cfg)
	if !m.FullCommand() && len(p.cfg.Process) > 15 {
		p.log.Warn("process name longer than the kernel's 15-byte names never matches; use full_command", "process", p.cfg.Process)
	}
	q := &ProcessQuorum{Quorum: p.cfg.Quorum, QuorumMax: p.cfg.QuorumMax,
		ForkDelay: p.cfg.ForkDelay.D(), TerminateDelay: p.cfg.TerminateDelay.D()}
	failing := false
	for {
		n, err := CountProcesses(p.procRoot, m)
		if err != nil && !failing {
			p.log.Error("process table unreadable; counting no processes", "error", err)
		}
		failing = err != nil
		if up, changed := q.Observe(n, p.clk.Now()); changed {
			p.log.Info("track_process state changed", "up", up, "processes", n, "quorum", q.Quorum, "quorum_max", q.QuorumMax)
			report(up)
		}
		wait := p.poll
		if due, ok := q.Deadline(); ok {
			wait = min(wait, max(due.Sub(p.clk.Now()), 0))
		}
		t := p.clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}
