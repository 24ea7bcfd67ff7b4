package track

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/testenv"
)

func TestReadValueReadsKeepalivedsNumbers(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		content string
		want    int
	}{
		{"0\n", 0}, {"12", 12}, {"  -5 \n", -5}, {"+7", 7}, {"3abc", 3}, {"abc", 0}, {"", 0},
	}
	for _, tc := range tests {
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := ReadValue(p); got != tc.want {
			t.Errorf("ReadValue(%q) = %d, want %d", tc.content, got, tc.want)
		}
	}
	if got := ReadValue(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("missing file: %d, want 0", got)
	}
}

// recorder collects reports in order.
type recorder[T any] struct {
	mu  sync.Mutex
	got []T
}

func (r *recorder[T]) add(v T) { r.mu.Lock(); r.got = append(r.got, v); r.mu.Unlock() }
func (r *recorder[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.got...)
}

func waitLen[T any](t *testing.T, r *recorder[T], n int) []T {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if g := r.all(); len(g) >= n {
			return g
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("got %v, want %d reports", r.all(), n)
	return nil
}

func TestFileReportsInitialValueAndChanges(t *testing.T) {
	p := filepath.Join(t.TempDir(), "weight")
	clk := clock.NewFake(time.Unix(0, 0))
	f := NewFile(&vrrpd.TrackFile{Name: "f", File: p, InitFile: true, InitValue: 4}, clk, time.Second, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var r recorder[int]
	go func() { defer close(done); f.Run(ctx, r.add) }()
	defer func() { cancel(); <-done }()
	waitLen(t, &r, 1)
	if err := os.WriteFile(p, []byte("-2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := clk.WaitPending(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	got := waitLen(t, &r, 2)
	if got[0] != 4 || got[1] != -2 {
		t.Errorf("reports %v, want [4 -2] (init_file value, then the new one)", got)
	}
}

// runScript runs a vrrp_script of command, every second of a fake clock with rise 1 and fall,
// through a runner with opts, until the test ends; it returns its reports, the clock and the
// context it runs under.
func runScript(t *testing.T, command string, fall int, opts notify.RunnerOptions, log *slog.Logger) (*recorder[bool], *clock.Fake, context.Context) {
	t.Helper()
	clk := clock.NewFake(time.Unix(0, 0))
	sc := &vrrpd.Script{Name: "chk", Script: &syntax.Script{Command: command}, Interval: syntax.Duration(time.Second), Rise: 1, Fall: fall}
	s := NewScript(sc, notify.NewRunner(opts), nil, clk, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r := &recorder[bool]{}
	go func() { defer close(done); s.Run(ctx, r.add) }()
	t.Cleanup(func() { cancel(); <-done })
	return r, clk, ctx
}

func TestScriptReportsAfterFallFailures(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "down")
	r, clk, ctx := runScript(t, "/usr/bin/test ! -e "+flag, 2, notify.RunnerOptions{}, nil)
	if got := waitLen(t, r, 1); !got[0] {
		t.Fatalf("first report %v, want up", got)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// One failure is not enough with fall 2.
	for i := 0; i < 2; i++ {
		if err := clk.WaitPending(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if g := r.all(); len(g) != 1 {
				t.Fatalf("reports %v after one failure, want still only the first", g)
			}
		}
		clk.Advance(time.Second)
	}
	if got := waitLen(t, r, 2); got[1] {
		t.Errorf("reports %v, want down after two failures", got)
	}
}

func TestScriptRefusedByScriptSecuritySaysWhy(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root: script security guards scripts that run as root")
	}
	var logs testenv.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	r, clk, ctx := runScript(t, "/bin/true && /bin/true", 1, notify.RunnerOptions{ScriptSecurity: true}, log)
	if got := waitLen(t, r, 1); got[0] {
		t.Fatalf("reports %v, want down", got)
	}
	for range 2 { // two more runs: the reason is logged once, not at every run
		if err := clk.WaitPending(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	if err := clk.WaitPending(ctx, 1); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if n := strings.Count(out, `"msg":"vrrp_script cannot run; it counts as failing"`); n != 1 {
		t.Errorf("logged the refusal %d times, want once:\n%s", n, out)
	}
	for _, want := range []string{`refused by script security`, `\"&&\" (a command list)`, `"up":false,"reason":"script`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}
