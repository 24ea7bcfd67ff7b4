package vrrp

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	"golang.org/x/sys/unix"
)

func TestRealtimeRefusalIsOneWarningThatSaysWhy(t *testing.T) {
	var logs testenv.Buffer
	m := &Manager{opts: ManagerOptions{RealtimePriority: 20}, log: slog.New(slog.NewTextHandler(&logs, nil))}
	calls := 0
	m.rt.threads = func() ([]int, error) { return []int{-1}, nil } // no such thread: SchedGetAttr fails, set is called
	m.rt.set = func(tid int, attr *unix.SchedAttr) error {
		calls++
		if attr.Policy != unix.SCHED_RR || attr.Priority != 20 || attr.Flags&unix.SCHED_FLAG_RESET_ON_FORK == 0 {
			t.Errorf("attr = %+v, want SCHED_RR 20 reset-on-fork", *attr)
		}
		return unix.EPERM
	}
	for i := 0; i < 3; i++ {
		m.keepRealtime(context.Background()) // returns at once: refused
	}
	out := logs.String()
	if calls != 3 {
		t.Errorf("setter called %d times, want 3", calls)
	}
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, out)
	}
	for _, want := range []string{"vrrp_rt_priority not in force", "priority 20 refused", "CAP_SYS_NICE", "operation not permitted"} {
		if !strings.Contains(out, want) {
			t.Errorf("warning lacks %q:\n%s", want, out)
		}
	}
}

func TestRealtimeOffNeverTouchesTheThreads(t *testing.T) {
	m := &Manager{log: slog.New(slog.DiscardHandler)}
	m.rt.set = func(int, *unix.SchedAttr) error { t.Error("setter called with vrrp_rt_priority unset"); return nil }
	m.keepRealtime(context.Background())
}

func TestRealtimePriorityOutOfRangeIsAWarning(t *testing.T) {
	for _, p := range []int{-1, 100} {
		var logs testenv.Buffer
		m := &Manager{opts: ManagerOptions{RealtimePriority: p}, log: slog.New(slog.NewTextHandler(&logs, nil))}
		m.rt.set = func(int, *unix.SchedAttr) error { t.Errorf("setter called for %d", p); return nil }
		m.keepRealtime(context.Background())
		if !strings.Contains(logs.String(), "want 1-99") {
			t.Errorf("priority %d: log %q, want a range warning", p, logs.String())
		}
	}
}

// threadPolicies returns the policy and priority of each of the process's threads.
func threadPolicies(t *testing.T) map[int][2]uint32 {
	t.Helper()
	tids, err := processThreads()
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][2]uint32{}
	for _, tid := range tids {
		if a, err := unix.SchedGetAttr(tid, 0); err == nil {
			out[tid] = [2]uint32{a.Policy, a.Priority}
		}
	}
	return out
}

// TestRealtimeMakesEveryThreadRoundRobinButNotChildrenAndUndoesIt makes this test process
// SCHED_RR for a moment: it needs root (CAP_SYS_NICE) and a kernel that grants real-time time.
func TestRealtimeMakesEveryThreadRoundRobinButNotChildrenAndUndoesIt(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root for SCHED_RR")
	}
	var logs testenv.Buffer
	m := &Manager{opts: ManagerOptions{RealtimePriority: 7}, log: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.keepRealtime(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })

	deadline := time.Now().Add(5 * time.Second)
	for {
		all := true
		for _, p := range threadPolicies(t) {
			all = all && p == [2]uint32{unix.SCHED_RR, 7}
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads not all SCHED_RR 7 within 5s: %v\n%s", threadPolicies(t), logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A script started now runs at normal priority (field 41 of stat is the policy).
	out, err := exec.Command("sh", "-c", "cut -d' ' -f41 /proc/$$/stat").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "0" {
		t.Errorf("child's policy = %q, want 0 (SCHED_NORMAL)", got)
	}
	cancel()
	<-done
	for tid, p := range threadPolicies(t) {
		if p[0] != unix.SCHED_NORMAL {
			t.Errorf("thread %d still policy %d priority %d after the Manager stopped", tid, p[0], p[1])
		}
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("warnings:\n%s", logs.String())
	}
}
