package track

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
)

// fakeProc is a /proc tree in a temporary directory: one directory per process with its stat
// and cmdline files.
type fakeProc string

func newFakeProc(t *testing.T) fakeProc {
	t.Helper()
	root := t.TempDir()
	// Not processes: they must be ignored.
	for _, d := range []string{"self", "sys", "0"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return fakeProc(root)
}

// add makes process pid named comm in state with argv (joined by NULs, NUL-terminated).
func (f fakeProc) add(t *testing.T, pid int, comm string, state byte, argv ...string) {
	t.Helper()
	dir := filepath.Join(string(f), fmt.Sprint(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stat := fmt.Sprintf("%d (%s) %c 1 %d %d 0 -1\n", pid, comm, state, pid, pid)
	var cmdline string
	for _, a := range argv {
		cmdline += a + "\x00"
	}
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cmdline"), []byte(cmdline), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "comm"), []byte(comm+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f fakeProc) remove(t *testing.T, pid int) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(string(f), fmt.Sprint(pid))); err != nil {
		t.Fatal(err)
	}
}

func TestProcessMatchFollowsParamMatch(t *testing.T) {
	tests := []struct {
		name    string
		cfg     vrrpd.TrackProcess
		comm    string
		cmdline []string
		want    bool
	}{
		{"name matches comm exactly", vrrpd.TrackProcess{Process: "nginx"}, "nginx", nil, true},
		{"name is not a prefix (pgrep ^ssh$)", vrrpd.TrackProcess{Process: "ssh"}, "sshd", nil, false},
		{"name longer than comm never matches", vrrpd.TrackProcess{Process: "a-very-long-daemon-name"}, "a-very-long-dae", nil, false},
		{"full_command matches argv[0] with any parameters", vrrpd.TrackProcess{Process: "/usr/sbin/haproxy", FullCommand: true},
			"haproxy", []string{"/usr/sbin/haproxy", "-f", "/etc/haproxy.cfg"}, true},
		{"full_command ignores comm", vrrpd.TrackProcess{Process: "haproxy", FullCommand: true},
			"haproxy", []string{"/usr/sbin/haproxy"}, false},
		{"exact parameters", vrrpd.TrackProcess{Process: "sleep", Params: []string{"10", "x"}, ParamMatch: "exact"},
			"sleep", []string{"sleep", "10", "x"}, true},
		{"exact refuses an extra parameter", vrrpd.TrackProcess{Process: "sleep", Params: []string{"10"}, ParamMatch: "exact"},
			"sleep", []string{"sleep", "10", "x"}, false},
		{"exact refuses a longer parameter", vrrpd.TrackProcess{Process: "sleep", Params: []string{"10"}, ParamMatch: "exact"},
			"sleep", []string{"sleep", "100"}, false},
		{"exact with no parameters wants none", vrrpd.TrackProcess{Process: "sleep", ParamMatch: "exact"},
			"sleep", []string{"sleep"}, true},
		{"exact with no parameters refuses some", vrrpd.TrackProcess{Process: "sleep", ParamMatch: "exact"},
			"sleep", []string{"sleep", "1"}, false},
		{"partial: first parameters exact, more may follow", vrrpd.TrackProcess{Process: "app", Params: []string{"-c", "a.conf"}, ParamMatch: "partial"},
			"app", []string{"app", "-c", "a.conf", "-d"}, true},
		{"partial refuses a longer last parameter", vrrpd.TrackProcess{Process: "app", Params: []string{"-c", "a"}, ParamMatch: "partial"},
			"app", []string{"app", "-c", "a.conf"}, false},
		{"partial refuses fewer parameters", vrrpd.TrackProcess{Process: "app", Params: []string{"-c", "a"}, ParamMatch: "partial"},
			"app", []string{"app", "-c"}, false},
		{"initial: last parameter may be longer", vrrpd.TrackProcess{Process: "app", Params: []string{"-c", "a"}, ParamMatch: "initial"},
			"app", []string{"app", "-c", "a.conf"}, true},
		{"initial: earlier parameters stay exact", vrrpd.TrackProcess{Process: "app", Params: []string{"-", "a"}, ParamMatch: "initial"},
			"app", []string{"app", "-c", "a"}, false},
		{"initial without parameters matches any", vrrpd.TrackProcess{Process: "app", ParamMatch: "initial"},
			"app", []string{"app", "x"}, true},
		{"param_match reads cmdline even without full_command", vrrpd.TrackProcess{Process: "/bin/app", ParamMatch: "partial"},
			"app", []string{"/bin/app", "x"}, true},
		{"argv[0] must match exactly", vrrpd.TrackProcess{Process: "app", ParamMatch: "partial"},
			"app", []string{"/bin/app"}, false},
		{"a parameter with a space", vrrpd.TrackProcess{Process: "/tmp/a b", Params: []string{"param 2"}, ParamMatch: "exact"},
			"a b", []string{"/tmp/a b", "param 2"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeProc(t)
			f.add(t, 42, tc.comm, 'S', tc.cmdline...)
			n, err := CountProcesses(string(f), NewProcessMatcher(&tc.cfg))
			if err != nil {
				t.Fatal(err)
			}
			if got := n == 1; got != tc.want {
				t.Errorf("matched %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCountProcessesSkipsZombiesAndNonProcesses(t *testing.T) {
	f := newFakeProc(t)
	f.add(t, 10, "nginx", 'S', "nginx: master process")
	f.add(t, 11, "nginx", 'R', "nginx: worker process")
	f.add(t, 12, "nginx", 'Z') // zombie: exited, not reaped
	f.add(t, 13, "nginx)x", 'S', "x")
	f.add(t, 14, "other", 'S', "nginx")
	// A process that vanished between listing and reading: a directory without files.
	if err := os.MkdirAll(filepath.Join(string(f), "15"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cfg  vrrpd.TrackProcess
		want int
	}{
		{vrrpd.TrackProcess{Process: "nginx"}, 2},
		{vrrpd.TrackProcess{Process: "nginx)x"}, 1},
		{vrrpd.TrackProcess{Process: "nginx", FullCommand: true}, 1},
		{vrrpd.TrackProcess{Process: "nginx: worker process", FullCommand: true}, 1},
	}
	for _, tc := range tests {
		n, err := CountProcesses(string(f), NewProcessMatcher(&tc.cfg))
		if err != nil {
			t.Fatal(err)
		}
		if n != tc.want {
			t.Errorf("%+v: %d processes, want %d", tc.cfg, n, tc.want)
		}
	}
	if _, err := CountProcesses(filepath.Join(string(f), "missing"), NewProcessMatcher(&tests[0].cfg)); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing proc root: error %v, want one naming it", err)
	}
}

func TestProcessQuorumDelaysByWhetherTheCountRoseOrFell(t *testing.T) {
	type obs struct {
		at      time.Duration
		count   int
		up      bool
		changed bool
	}
	tests := []struct {
		name        string
		quorum, max int
		fork, term  time.Duration
		steps       []obs
	}{
		{"first count decides at once", 1, 65535, time.Second, time.Second,
			[]obs{{0, 0, false, true}, {time.Second, 0, false, false}}},
		{"no delay: changes at once", 2, 3, 0, 0,
			[]obs{{0, 1, false, true}, {1, 2, true, true}, {2, 3, true, false}, {3, 4, false, true}, {4, 3, true, true}, {5, 1, false, true}}},
		{"quorum_max 0: up while none runs", 0, 0, 0, 0,
			[]obs{{0, 0, true, true}, {1, 1, false, true}, {2, 0, true, true}}},
		{"fork_delay holds an up", 1, 65535, 2 * time.Second, 0,
			[]obs{{0, 0, false, true}, {time.Second, 1, false, false}, {2 * time.Second, 1, false, false}, {3 * time.Second, 1, true, true}}},
		{"terminate_delay holds a down", 1, 65535, 0, 2 * time.Second,
			[]obs{{0, 1, true, true}, {time.Second, 0, true, false}, {3 * time.Second, 0, false, true}}},
		{"a restart within terminate_delay changes nothing", 1, 65535, 0, 2 * time.Second,
			[]obs{{0, 1, true, true}, {time.Second, 0, true, false}, {2 * time.Second, 1, true, false}, {4 * time.Second, 1, true, false}}},
		{"a fork over quorum_max within fork_delay changes nothing", 1, 1, time.Second, 0,
			[]obs{{0, 1, true, true}, {time.Second, 2, true, false}, {1500 * time.Millisecond, 1, true, false}, {3 * time.Second, 1, true, false}}},
		{"an exit is not held by fork_delay", 1, 65535, time.Second, 0,
			[]obs{{0, 1, true, true}, {time.Second, 0, false, true}}},
		{"a fork over quorum_max after fork_delay is down", 1, 1, time.Second, 0,
			[]obs{{0, 1, true, true}, {time.Second, 2, true, false}, {2 * time.Second, 2, false, true}}},
		{"the delay restarts after a bounce", 1, 65535, 0, 2 * time.Second,
			[]obs{{0, 1, true, true}, {time.Second, 0, true, false}, {2 * time.Second, 1, true, false}, {3 * time.Second, 0, true, false}, {4 * time.Second, 0, true, false}, {5 * time.Second, 0, false, true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &ProcessQuorum{Quorum: tc.quorum, QuorumMax: tc.max, ForkDelay: tc.fork, TerminateDelay: tc.term}
			start := time.Unix(1000, 0)
			for i, s := range tc.steps {
				up, changed := q.Observe(s.count, start.Add(s.at))
				if up != s.up || changed != s.changed {
					t.Errorf("step %d (%d processes at %v): up %v changed %v, want up %v changed %v", i, s.count, s.at, up, changed, s.up, s.changed)
				}
			}
		})
	}
}

// Run scans at once, rescans every poll and wakes up when terminate_delay ends.
func TestProcessRunReportsChangesAfterTheDelay(t *testing.T) {
	f := newFakeProc(t)
	f.add(t, 100, "haproxy", 'S', "haproxy")
	clk := clock.NewFake(time.Unix(0, 0))
	cfg := &vrrpd.TrackProcess{Name: "hap", Process: "haproxy", Quorum: 1, QuorumMax: 65535,
		TerminateDelay: syntax.Duration(1500 * time.Millisecond)}
	p := NewProcess(cfg, clk, time.Second, string(f), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var r recorder[bool]
	go func() { defer close(done); p.Run(ctx, r.add) }()
	defer func() { cancel(); <-done }()
	if got := waitLen(t, &r, 1); !got[0] {
		t.Fatalf("first report %v, want up", got)
	}
	f.remove(t, 100)
	step := func(d time.Duration) {
		t.Helper()
		if err := clk.WaitPending(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clk.Advance(d)
	}
	step(time.Second) // scan sees none: the terminate delay starts, due at 2.5s
	step(time.Second) // 2s: still within the delay
	if err := clk.WaitPending(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := r.all(); len(got) != 1 {
		t.Fatalf("reports %v within terminate_delay, want only the first", got)
	}
	clk.Advance(500 * time.Millisecond) // 2.5s: due
	if got := waitLen(t, &r, 2); got[1] {
		t.Errorf("reports %v, want up then down", got)
	}
}

// The real /proc: a sleep with an argument no other process has is counted while it runs and
// not after it is killed.
func TestCountProcessesSeesARealProcessComeAndGo(t *testing.T) {
	arg := fmt.Sprintf("%d.%d", 3600+os.Getpid()%1000, time.Now().UnixNano()%1000000)
	cmd := exec.Command("sleep", arg)
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	tests := []struct {
		name string
		cfg  vrrpd.TrackProcess
		want int
	}{
		{"exact parameters", vrrpd.TrackProcess{Process: "sleep", Params: []string{arg}, ParamMatch: "exact"}, 1},
		{"initial parameter", vrrpd.TrackProcess{Process: "sleep", Params: []string{arg[:3]}, ParamMatch: "initial"}, 1},
		{"partial refuses a prefix", vrrpd.TrackProcess{Process: "sleep", Params: []string{arg[:3]}, ParamMatch: "partial"}, 0},
	}
	count := func(cfg *vrrpd.TrackProcess) int {
		n, err := CountProcesses("/proc", NewProcessMatcher(cfg))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The child may not have exec'd sleep yet.
	deadline := time.Now().Add(5 * time.Second)
	for count(&tests[0].cfg) != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	for _, tc := range tests {
		if n := count(&tc.cfg); n != tc.want {
			t.Errorf("%s: %d processes, want %d", tc.name, n, tc.want)
		}
	}
	if n := count(&vrrpd.TrackProcess{Process: "sleep"}); n < 1 {
		t.Errorf("by name: %d sleep processes, want at least 1", n)
	}
	cmd.Process.Kill()
	<-exited
	if n := count(&tests[0].cfg); n != 0 {
		t.Errorf("after kill: %d processes, want 0", n)
	}
}

// One scan of this machine's /proc by name (the cost each vrrp_track_process pays every poll).
func BenchmarkCountProcessesByName(b *testing.B) {
	m := NewProcessMatcher(&vrrpd.TrackProcess{Process: "sleep"})
	for b.Loop() {
		if _, err := CountProcesses("/proc", m); err != nil {
			b.Fatal(err)
		}
	}
}
