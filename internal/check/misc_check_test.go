package check

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/probe"
	"github.com/vigil-lb/vigil/internal/testenv"
)

type miscFakeRunner struct {
	out  notify.Outcome
	seen notify.Script
}

func (r *miscFakeRunner) Run(ctx context.Context, s notify.Script) notify.Outcome {
	r.seen = s
	return r.out
}

func TestMiscCheckJudgesExitStatusAsKeepalived(t *testing.T) {
	tests := []struct {
		name        string
		dynamic     bool
		out         notify.Outcome
		wantHealthy bool
		wantWeight  int
		wantReason  string
	}{
		{"exit 0 is healthy with the configured weight", false, notify.Outcome{ExitCode: 0}, true, -1, "exit status 0"},
		{"exit 1 is unhealthy", false, notify.Outcome{ExitCode: 1}, false, -1, "exit status 1"},
		{"exit 2 without misc_dynamic is unhealthy", false, notify.Outcome{ExitCode: 2}, false, -1, "exit status 2"},
		{"dynamic exit 0 keeps the configured weight", true, notify.Outcome{ExitCode: 0}, true, -1, "exit status 0"},
		{"dynamic exit 1 is unhealthy", true, notify.Outcome{ExitCode: 1}, false, -1, "exit status 1"},
		{"dynamic exit 2 sets weight 0", true, notify.Outcome{ExitCode: 2}, true, 0, "exit status 2, weight 0"},
		{"dynamic exit 12 sets weight 10", true, notify.Outcome{ExitCode: 12}, true, 10, "exit status 12, weight 10"},
		{"dynamic exit 255 sets weight 253", true, notify.Outcome{ExitCode: 255}, true, 253, "exit status 255, weight 253"},
		{"timeout is unhealthy", true, notify.Outcome{ExitCode: -1, Signal: syscall.SIGTERM, TimedOut: true, Duration: 5 * time.Second}, false, -1, "timed out after 5s"},
		{"a signal is unhealthy", false, notify.Outcome{ExitCode: -1, Signal: syscall.SIGSEGV}, false, -1, "killed by signal segmentation fault"},
		{"a script that cannot run is unhealthy", false, notify.Outcome{ExitCode: -1, Err: errors.New("script /x: refused")}, false, -1, "script /x: refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &miscFakeRunner{out: tt.out}
			c := NewMisc(MiscOptions{Script: notify.Script{Command: "/x", Timeout: 5 * time.Second}, Dynamic: tt.dynamic, Target: "192.0.2.1:80"}, r)
			got := c.Check(context.Background())
			if got.Healthy != tt.wantHealthy || got.Weight != tt.wantWeight || got.Reason != tt.wantReason {
				t.Fatalf("Check = %+v, want healthy=%v weight=%d reason %q", got, tt.wantHealthy, tt.wantWeight, tt.wantReason)
			}
		})
	}
}

func TestMiscCheckTakesItsTimeoutFromTheProbeDeadline(t *testing.T) {
	r := &miscFakeRunner{}
	c := NewMisc(MiscOptions{Script: notify.Script{Command: "/x"}}, r)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c.Check(ctx)
	if r.seen.Timeout <= 2*time.Second || r.seen.Timeout > 3*time.Second {
		t.Fatalf("script timeout %v, want about the 3s deadline", r.seen.Timeout)
	}
}

func TestMiscCheckKeyTellsApartWhatChangesTheVerdict(t *testing.T) {
	base := MiscOptions{Script: notify.Script{Command: "/x a"}}
	k := NewMisc(base, nil).Key()
	variants := []MiscOptions{
		{Script: notify.Script{Command: "/x b"}},
		{Script: notify.Script{Command: "/x a"}, Dynamic: true},
		{Script: notify.Script{Command: "/x a", User: &notify.User{UID: 1, GID: 1}}},
		{Script: notify.Script{Command: "/x a", Timeout: time.Second}},
	}
	for _, v := range variants {
		if NewMisc(v, nil).Key() == k {
			t.Errorf("options %+v share key %q with %+v", v, k, base)
		}
	}
	if NewMisc(MiscOptions{Script: base.Script, Target: "other"}, nil).Key() != k {
		t.Error("the target changed the key of the same script")
	}
}

func TestMiscCheckRunsRealScripts(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "weight.sh")
	must(t, os.WriteFile(script, []byte("#!/bin/sh\nexit $1\n"), 0o755))
	runner := notify.NewRunner(notify.RunnerOptions{})
	for code, want := range map[int]probe.Result{0: {Healthy: true, Weight: -1}, 1: {Weight: -1}, 12: {Healthy: true, Weight: 10}} {
		c := NewMisc(MiscOptions{Script: notify.Script{Command: script + " " + strconv.Itoa(code), Timeout: 5 * time.Second}, Dynamic: true}, runner)
		got := c.Check(context.Background())
		if got.Healthy != want.Healthy || got.Weight != want.Weight {
			t.Errorf("exit %d: %+v, want healthy=%v weight=%d", code, got, want.Healthy, want.Weight)
		}
	}
}

func TestHungMiscScriptIsKilledAtTimeoutWithItsChild(t *testing.T) {
	script, pidFile := hungScript(t)
	c := NewMisc(MiscOptions{Script: notify.Script{Command: script}}, notify.NewRunner(notify.RunnerOptions{}))
	ctx, cancel := context.WithTimeout(context.Background(), hungScriptTimeout)
	defer cancel()
	start := time.Now()
	got := c.Check(ctx)
	if e := time.Since(start); e > hungScriptTimeout+2*time.Second {
		t.Fatalf("Check took %v with a %v deadline", e, hungScriptTimeout)
	}
	if got.Healthy || !strings.HasPrefix(got.Reason, "timed out after ") {
		t.Fatalf("Check = %+v, want unhealthy, timed out", got)
	}
	childGone(t, pidFile)
}

func TestSchedulerOnRealClockReportsHungScriptTimedOutAndKillsItsGroup(t *testing.T) {
	script, pidFile := hungScript(t)
	reports := make(chan probe.Report, 4)
	s := probe.NewScheduler(clock.Real(), 4, nil, func(r probe.Report) { reports <- r })
	c := NewMisc(MiscOptions{Script: notify.Script{Command: script}}, notify.NewRunner(notify.RunnerOptions{}))
	must(t, s.Add(probe.Job{ID: "rs", Checker: c, Interval: time.Minute, Timeout: hungScriptTimeout, Warmup: -1}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
		goleak.VerifyNone(t)
	}()
	select {
	case r := <-reports:
		limit, err := time.ParseDuration(strings.TrimPrefix(r.Result.Reason, "timed out after "))
		if r.Result.Healthy || r.Up || err != nil || limit < hungScriptTimeout/2 || limit > hungScriptTimeout {
			t.Fatalf("report %+v, want down, \"timed out after %v\" (less the time to start the probe)", r, hungScriptTimeout)
		}
		if r.Result.Latency > hungScriptTimeout+2*time.Second {
			t.Fatalf("probe took %v with a %v timeout", r.Result.Latency, hungScriptTimeout)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no report within 10s")
	}
	childGone(t, pidFile)
}

// hungScriptTimeout is the hung scripts' timeout: long enough for the shell to start its
// child and write the pid file even on a loaded machine, so that the kill is what is tested.
const hungScriptTimeout = time.Second

// hungScript writes a script that starts a child that sleeps, writes the child's pid to the
// file it returns, and waits for it.
func hungScript(t *testing.T) (script, pidFile string) {
	dir := t.TempDir()
	pidFile = filepath.Join(dir, "child.pid")
	script = filepath.Join(dir, "hang.sh")
	must(t, os.WriteFile(script, []byte("#!/bin/sh\nsleep 1000 &\necho $! > "+pidFile+"\nwait\n"), 0o755))
	return script, pidFile
}

// childGone waits up to 5 s for the child named in pidFile to be gone (or a zombie waiting
// for init) once its script timed out.
func childGone(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	must(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	must(t, err)
	testenv.WaitFor(t, 5*time.Second, fmt.Sprintf("child sleep %d gone after its script timed out", pid), func() bool {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		return err != nil || strings.Contains(string(stat), ") Z ")
	})
}
