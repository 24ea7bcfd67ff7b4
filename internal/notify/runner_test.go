package notify

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.sh")
	must(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	return p
}

func TestRunReportsExitStatusAndOutput(t *testing.T) {
	r := NewRunner(RunnerOptions{})
	tests := []struct {
		cmd      string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"/bin/true", nil, 0, ""},
		{"/bin/false", nil, 1, ""},
		{"/bin/echo a 'b c'", []string{"INSTANCE", "VI_1"}, 0, "a b c INSTANCE VI_1\n"},
		{"echo found-by-path", nil, 0, "found-by-path\n"},
		{"/bin/echo x; exit 7", nil, 7, "x\n"},
		{"/bin/echo a|/usr/bin/tr a b", nil, 0, "b\n"},
		{"/bin/echo shell", []string{"it's"}, 0, "shell it's\n"},
		{"/bin/sh -c 'exit 3'", nil, 3, ""},
	}
	for _, tt := range tests {
		o := r.Run(context.Background(), Script{Command: tt.cmd, Args: tt.args, Timeout: 5 * time.Second})
		if o.Err != nil || o.ExitCode != tt.wantCode || string(o.Output) != tt.wantOut {
			t.Errorf("Run(%q %q) = err %v code %d out %q, want code %d out %q", tt.cmd, tt.args, o.Err, o.ExitCode, o.Output, tt.wantCode, tt.wantOut)
		}
	}
}

func TestRunKeepsOnlyTheOutputLimit(t *testing.T) {
	r := NewRunner(RunnerOptions{OutputLimit: 10})
	o := r.Run(context.Background(), Script{Command: "/usr/bin/seq 1 1000", Timeout: 5 * time.Second})
	if len(o.Output) != 10 || !o.Truncated || o.ExitCode != 0 {
		t.Fatalf("output %q truncated %v code %d, want 10 bytes, truncated, exit 0", o.Output, o.Truncated, o.ExitCode)
	}
}

func TestRunReportsSignal(t *testing.T) {
	r := NewRunner(RunnerOptions{})
	o := r.Run(context.Background(), Script{Command: "kill -USR1 $$", Timeout: 5 * time.Second})
	if o.Signal != syscall.SIGUSR1 || o.ExitCode != -1 || o.String() != "killed by signal user defined signal 1" {
		t.Fatalf("outcome %+v (%s), want killed by SIGUSR1", o, o)
	}
}

func TestRunRefusesMissingProgram(t *testing.T) {
	r := NewRunner(RunnerOptions{})
	o := r.Run(context.Background(), Script{Command: "/nonexistent/check arg"})
	if o.Err == nil || !strings.Contains(o.Err.Error(), "/nonexistent/check") {
		t.Fatalf("Err = %v, want one naming /nonexistent/check", o.Err)
	}
}

// pidAlive reports whether pid exists and is not a zombie.
func pidAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for pidAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive 5s after the run ended", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHungScriptIsKilledAtTimeoutWithItsChild(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	script := writeScript(t, "sleep 1000 &\necho $! > "+pidFile+"\nwait")
	r := NewRunner(RunnerOptions{})
	start := time.Now()
	o := r.Run(context.Background(), Script{Command: script, Timeout: 200 * time.Millisecond})
	elapsed := time.Since(start)
	if !o.TimedOut || o.Success() {
		t.Fatalf("outcome %+v, want timed out", o)
	}
	if elapsed > 2*time.Second {
		t.Fatalf("Run took %v for a 200ms timeout", elapsed)
	}
	if !strings.HasPrefix(o.String(), "timed out after 2") {
		t.Fatalf("String() = %q, want \"timed out after 2..ms\"", o)
	}
	b, err := os.ReadFile(pidFile)
	must(t, err)
	child, err := strconv.Atoi(strings.TrimSpace(string(b)))
	must(t, err)
	waitGone(t, child)
}

func TestScriptIgnoringSIGTERMIsKilledAfterGrace(t *testing.T) {
	script := writeScript(t, "trap '' TERM\nwhile :; do sleep 0.05; done")
	r := NewRunner(RunnerOptions{KillGrace: 100 * time.Millisecond})
	start := time.Now()
	o := r.Run(context.Background(), Script{Command: script, Timeout: 100 * time.Millisecond})
	if !o.TimedOut || o.Signal != syscall.SIGKILL {
		t.Fatalf("outcome %+v, want timed out by SIGKILL", o)
	}
	if e := time.Since(start); e > 3*time.Second {
		t.Fatalf("took %v", e)
	}
}

func TestCancelledContextKillsScript(t *testing.T) {
	r := NewRunner(RunnerOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	o := r.Run(ctx, Script{Command: "/usr/bin/sleep 1000"})
	if !o.Cancelled || o.TimedOut {
		t.Fatalf("outcome %+v, want cancelled", o)
	}
}

func TestRunBoundsScriptsRunningAtOnce(t *testing.T) {
	r := NewRunner(RunnerOptions{MaxConcurrent: 2})
	dir := t.TempDir()
	// Each script records the number of scripts running beside it.
	script := writeScript(t, "d="+dir+"\ntouch $d/$$\nls $d | wc -l >> $d.count\nsleep 0.2\nrm $d/$$")
	done := make(chan Outcome)
	for range 6 {
		go func() { done <- r.Run(context.Background(), Script{Command: script, Timeout: 5 * time.Second}) }()
	}
	for range 6 {
		if o := <-done; !o.Success() {
			t.Fatalf("run failed: %v", o)
		}
	}
	b, err := os.ReadFile(dir + ".count")
	must(t, err)
	for _, n := range strings.Fields(string(b)) {
		if v, _ := strconv.Atoi(n); v > 2 {
			t.Fatalf("saw %d scripts at once with MaxConcurrent 2 (counts %q)", v, b)
		}
	}
}

func TestRunWaitingForASlotGivesUpWithContext(t *testing.T) {
	r := NewRunner(RunnerOptions{MaxConcurrent: 1})
	release := make(chan struct{})
	go func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { <-release; cancel() }()
		r.Run(ctx, Script{Command: "/usr/bin/sleep 1000"})
	}()
	defer close(release)
	deadline := time.Now().Add(5 * time.Second)
	for len(r.slots) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	o := r.Run(ctx, Script{Command: "/bin/true"})
	if o.Err == nil || !errors.Is(o.Err, context.DeadlineExceeded) {
		t.Fatalf("Err = %v, want not started: deadline exceeded", o.Err)
	}
}

func TestRunAsUserSetsCredentials(t *testing.T) {
	testenv.RequireRoot(t)
	r := NewRunner(RunnerOptions{})
	o := r.Run(context.Background(), Script{Command: "/usr/bin/id -u", User: &User{UID: 65534, GID: 65534}, Timeout: 5 * time.Second})
	if got := strings.TrimSpace(string(o.Output)); got != "65534" || !o.Success() {
		t.Fatalf("id -u printed %q (%v), want 65534", got, o)
	}
}

func TestScriptSecurityRefusesWritableScriptNamingItsPath(t *testing.T) {
	testenv.RequireRoot(t)
	_, script := secureTree(t)
	must(t, os.Chmod(script, 0o777))
	o := NewRunner(RunnerOptions{ScriptSecurity: true}).Run(context.Background(), Script{Command: script})
	var insecure *InsecureError
	if !errors.As(o.Err, &insecure) || !strings.Contains(o.Err.Error(), script) {
		t.Fatalf("Err = %v, want a script security refusal naming %s", o.Err, script)
	}
	// Without enable_script_security it runs (with a warning), as in Keepalived.
	if o := NewRunner(RunnerOptions{}).Run(context.Background(), Script{Command: script}); !o.Success() {
		t.Fatalf("without script security: %v", o)
	}
}

func TestDefaultUserFollowsKeepalived(t *testing.T) {
	u, err := DefaultUser("nobody", "", true)
	if err != nil || u == nil || u.Name != "nobody" {
		t.Fatalf("script_user nobody: %+v, %v", u, err)
	}
	if _, err := LookupUser("keepalived_script", ""); err == nil {
		t.Skip("this machine has a keepalived_script user; the fallback cases do not apply")
	}
	if u, err := DefaultUser("", "", false); u != nil || err != nil {
		t.Fatalf("no script_user, no keepalived_script, no security: %+v, %v; want vigil's own user (nil)", u, err)
	}
	if _, err := DefaultUser("", "", true); err == nil || !strings.Contains(err.Error(), "keepalived_script") {
		t.Fatalf("with script security: %v, want an error naming keepalived_script", err)
	}
}

func TestCheckSaysWhatPrepareWouldRefuseAndWarnOf(t *testing.T) {
	testenv.RequireRoot(t)
	dir, secure := secureTree(t)
	insecure := filepath.Join(dir, "insecure.sh")
	must(t, os.WriteFile(insecure, []byte("#!/bin/sh\nexit 0\n"), 0o777))
	must(t, os.Chmod(insecure, 0o777)) // past the umask
	tests := []struct {
		name     string
		security bool
		command  string
		wantErr  string // "" = runs
		wantWarn string // "" = no warning
	}{
		{"a secure script runs", true, secure, "", ""},
		{"a missing script is refused", false, "/nonexistent/vigil-check.sh", "cannot be accessed", ""},
		{"an unknown program is refused", false, "vigil-no-such-program", "executable file not found", ""},
		{"an insecure script is refused with script security", true, insecure, "writable by everyone", ""},
		{"an insecure script runs with a warning without it", false, insecure, "", "enable_script_security would refuse it"},
		{"a program found in PATH runs with a warning", false, "true", "", "resolved by path search"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRunner(RunnerOptions{ScriptSecurity: tc.security})
			warnings, err := r.Check(Script{Command: tc.command})
			if (err != nil) != (tc.wantErr != "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Check: %v, want an error containing %q", err, tc.wantErr)
			}
			if got := strings.Join(warnings, "; "); (got != "") != (tc.wantWarn != "") || !strings.Contains(got, tc.wantWarn) {
				t.Fatalf("warnings %q, want one containing %q", got, tc.wantWarn)
			}
			// Prepare says the same: Check is no second copy of its rules.
			if _, perr := r.Prepare(Script{Command: tc.command}); (perr == nil) != (err == nil) {
				t.Fatalf("Prepare: %v, Check: %v", perr, err)
			}
		})
	}
}
