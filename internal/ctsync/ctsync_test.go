package ctsync

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

func primaryBackup() Config {
	return Config{Instance: "VI_1", Interface: "eth1", Peer: netip.MustParseAddr("192.0.2.2"), Port: 3780, RuntimeDir: "/run/vigil", ExternalCache: true}
}

func TestRenderFollowsTheMode(t *testing.T) {
	pb := primaryBackup()
	pb.ExternalCache = false
	conf := Render(pb, netip.MustParseAddr("192.0.2.1"), PathsOf(pb))
	for _, want := range []string{
		"Mode FTFW {\n\t\tDisableExternalCache on",
		"IPv4_address 192.0.2.1\n", "IPv4_Destination_Address 192.0.2.2\n", "Port 3780\n", "Interface eth1\n",
		"LockFile /run/vigil/conntrackd-eth1.lock\n", "Path /run/vigil/conntrackd-eth1.ctl\n",
		"Protocol Accept {\n\t\t\tTCP\n\t\t\tUDP\n",
		"IPv4_address 127.0.0.1\n", "IPv6_address ::1\n",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("primary-backup conntrackd.conf lacks %q:\n%s", want, conf)
		}
	}
	ext := pb
	ext.ExternalCache = true
	if conf := Render(ext, netip.MustParseAddr("192.0.2.1"), PathsOf(ext)); !strings.Contains(conf, "DisableExternalCache off") {
		t.Errorf("external_cache: conntrackd.conf keeps no external cache:\n%s", conf)
	}
	aa := pb
	aa.Instance = ""
	aa.Peer = netip.MustParseAddr("2001:db8::2")
	conf = Render(aa, netip.MustParseAddr("2001:db8::1"), PathsOf(aa))
	for _, want := range []string{"DisableExternalCache on", "IPv6_address 2001:db8::1\n", "IPv6_Destination_Address 2001:db8::2\n"} {
		if !strings.Contains(conf, want) {
			t.Errorf("active-active conntrackd.conf lacks %q:\n%s", want, conf)
		}
	}
}

func TestCommandsFollowPrimaryBackupScriptOrTheInjectedEntries(t *testing.T) {
	flags := func(cs []Command) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Flag)
		}
		return strings.Join(out, " ")
	}
	pb := primaryBackup()
	for state, want := range map[string]string{"MASTER": "-c -f -R -B", "BACKUP": "-t -n", "FAULT": "-t", "INIT": "", "STOP": ""} {
		if got := flags(CommandsFor(pb, state)); got != want {
			t.Errorf("%s: commands %q, want %q", state, got, want)
		}
	}
	aa := pb
	aa.Instance = ""
	if got := flags(CommandsFor(aa, "")); got != "-n" {
		t.Errorf("active-active: commands %q, want -n", got)
	}
	injected := pb
	injected.ExternalCache = false
	for state, want := range map[string]string{"MASTER": "-f -R -B", "BACKUP": "-n", "FAULT": "", "INIT": ""} {
		if got := flags(CommandsFor(injected, state)); got != want {
			t.Errorf("entries in the kernel, %s: commands %q, want %q", state, got, want)
		}
	}
}

// fakeConntrackd answers client commands as a running conntrackd would, or fails them all
// while down, and records the commands other than -s.
type fakeConntrackd struct {
	mu    sync.Mutex
	up    bool
	slow  time.Duration // each command's time
	fail  string        // a flag that fails
	calls []string
}

func (f *fakeConntrackd) Run(ctx context.Context, args ...string) (string, error) {
	f.mu.Lock()
	up, slow := f.up, f.slow
	if up && args[0] != "-s" {
		f.calls = append(f.calls, args[0])
	}
	fail := f.fail == args[0]
	f.mu.Unlock()
	if !up {
		return "", errors.New("connect: no such file or directory")
	}
	select {
	case <-time.After(slow):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if fail {
		return "ERROR", errors.New("exit status 1")
	}
	return "", nil
}

func (f *fakeConntrackd) set(up bool) { f.mu.Lock(); f.up = up; f.mu.Unlock() }

func (f *fakeConntrackd) got() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, " ")
}

// start runs a Daemon that drives the fake (Config.ConfPath: vigil starts no conntrackd).
func start(t *testing.T, cfg Config, f *fakeConntrackd) (*Daemon, func() []string) {
	t.Helper()
	cfg.ConfPath = "/etc/conntrackd/conntrackd.conf"
	var mu sync.Mutex
	var states []string
	d := New(cfg, Options{Runner: f, OnCommands: func(state string, _ []Command, _ time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		s := state
		if err != nil {
			s += " (failed)"
		}
		states = append(states, s)
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5 s of its context's end")
		}
	})
	return d, func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(states) }
}

func TestTransitionsRunOnceConntrackdAnswers(t *testing.T) {
	f := &fakeConntrackd{}
	d, _ := start(t, primaryBackup(), f)
	d.Transition("VI_1", "BACKUP")
	d.Transition("VI_OTHER", "MASTER") // not the instance conntrack_sync follows
	time.Sleep(50 * time.Millisecond)
	if got := f.got(); got != "" {
		t.Fatalf("commands before conntrackd answered: %q", got)
	}
	f.set(true)
	testenv.WaitFor(t, 5*time.Second, "BACKUP's commands", func() bool { return f.got() == "-t -n" })
	d.Transition("VI_1", "MASTER")
	testenv.WaitFor(t, 5*time.Second, "MASTER's commands", func() bool { return f.got() == "-t -n -c -f -R -B" })
}

// A state that comes while commands run replaces any still waiting: a flapping instance ends
// with its last state's commands, not with every step's.
func TestTransitionsWhileCommandsRunKeepOnlyTheLatest(t *testing.T) {
	f := &fakeConntrackd{up: true, slow: 50 * time.Millisecond}
	d, _ := start(t, primaryBackup(), f)
	d.Transition("VI_1", "BACKUP")
	testenv.WaitFor(t, 5*time.Second, "BACKUP's first command running", func() bool { return f.got() == "-t" })
	d.Transition("VI_1", "MASTER")
	d.Transition("VI_1", "FAULT")
	d.Transition("VI_1", "MASTER")
	testenv.WaitFor(t, 5*time.Second, "the last state's commands", func() bool { return strings.HasSuffix(f.got(), "-c -f -R -B") })
	time.Sleep(200 * time.Millisecond)
	if got := f.got(); got != "-t -n -c -f -R -B" {
		t.Errorf("commands %q, want BACKUP's then MASTER's only", got)
	}
}

// A failed command is reported and the others still run, as primary-backup.sh does.
func TestAFailedCommandDoesNotStopTheOthers(t *testing.T) {
	f := &fakeConntrackd{up: true, fail: "-c"}
	d, states := start(t, primaryBackup(), f)
	d.Transition("VI_1", "MASTER")
	testenv.WaitFor(t, 5*time.Second, "MASTER's commands", func() bool { return f.got() == "-c -f -R -B" })
	testenv.WaitFor(t, 5*time.Second, "the report", func() bool { return slices.Equal(states(), []string{"MASTER (failed)"}) })
}

// A conntrackd that starts again has empty caches: the current state's commands run again, and
// active-active asks its peers for their connections at each start.
func TestANewConntrackdHearsTheCurrentStateAgain(t *testing.T) {
	f := &fakeConntrackd{up: true}
	d, _ := start(t, primaryBackup(), f)
	d.Transition("VI_1", "BACKUP")
	testenv.WaitFor(t, 5*time.Second, "BACKUP's commands", func() bool { return f.got() == "-t -n" })
	d.setReady(false)
	d.setReady(true)
	testenv.WaitFor(t, 5*time.Second, "BACKUP's commands again", func() bool { return f.got() == "-t -n -t -n" })

	aa := primaryBackup()
	aa.Instance = ""
	g := &fakeConntrackd{up: true}
	e, _ := start(t, aa, g)
	e.Transition("", "MASTER") // active-active follows no instance
	testenv.WaitFor(t, 5*time.Second, "the resync request", func() bool { return g.got() == "-n" })
	time.Sleep(50 * time.Millisecond)
	if got := g.got(); got != "-n" {
		t.Errorf("active-active commands %q, want -n once", got)
	}
}
