package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	"go.uber.org/goleak"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/supervisor"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// slack covers polling (10 ms), goroutine scheduling and -race on a loaded 2-core machine with
// the package's tests running in parallel.
const slack = 500 * time.Millisecond

// timing is a checker's timing as the configuration states it.
type timing struct {
	D, B, T time.Duration // delay_loop, delay_before_retry, timeout
	R       int           // retry
	Rise    int           // rise; 0 means the default, 1
	// Early is how long before a repair the probe that first succeeds after it may have
	// started; 0 means 50 ms (a fast probe). Rise is checked from below only when
	// (Rise-1)·0.95·D exceeds it.
	Early time.Duration
	// Settle is added to the comeback bound for a repair the network needs time to see
	// (a link that comes up must resolve its neighbour again).
	Settle time.Duration
}

// removal is the longest a failed server may stay in its pool (see the package comment).
func (tm timing) removal() time.Duration {
	j := func(d time.Duration) time.Duration { return d + d/20 }
	return j(tm.D) + time.Duration(tm.R)*(j(tm.B)+tm.T) + tm.T + slack
}

// comeback is the longest a repaired server may stay out of its pool.
func (tm timing) comeback() time.Duration {
	n := max(tm.Rise, 1)
	return time.Duration(n)*(tm.D+tm.D/20) + tm.T + tm.Settle + slack
}

func (tm timing) String() string {
	return fmt.Sprintf("delay_loop %v, retry %d, delay_before_retry %v, timeout %v, rise %d", tm.D, tm.R, tm.B, tm.T, max(tm.Rise, 1))
}

// loadConfig writes text to a file and loads it as vigil does, failing on any diagnostic.
func loadConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags, err := config.Load(path, config.Options{ConfigID: "e2e"})
	if err != nil {
		t.Fatalf("load:\n%s\n%v", text, err)
	}
	if diags.HasErrors() || len(diags.List) > 0 {
		t.Fatalf("configuration has problems: %v\n%s", diags.List, text)
	}
	return cfg
}

// runDaemon builds vigil's parts for cfg as the binary does (without a status server), runs
// them, and stops them at cleanup, checking that Run returns cleanly.
func runDaemon(t *testing.T, cfg *config.Config) *supervisor.Vigil {
	t.Helper()
	d, err := supervisor.Build(cfg, supervisor.Options{StatusListen: "off"})
	if err != nil {
		t.Fatal(err)
	}
	testenv.RunUntilCleanup(t, "vigil", d.Run)
	return d
}

// realServer finds the real server with address addr in the daemon's snapshot.
func realServer(d *supervisor.Vigil, addr string) (status.RealServer, bool) {
	return d.Snapshot().RealServer(addr)
}

// virtualServer finds the virtual server that listens on listen ("127.0.0.1:8080").
func virtualServer(d *supervisor.Vigil, listen string) (status.VirtualServer, bool) {
	for _, vs := range d.Snapshot().VirtualServers {
		if vs.Listen == listen {
			return vs, true
		}
	}
	return status.VirtualServer{}, false
}

// checkedUp waits until every check of the real server at addr has run and the server is up.
func checkedUp(t *testing.T, d *supervisor.Vigil, addr string, within time.Duration) {
	t.Helper()
	testenv.WaitFor(t, within, addr+" checked and up", func() bool {
		rs, ok := realServer(d, addr)
		if !ok || !rs.Up || len(rs.Checks) == 0 {
			return false
		}
		for _, c := range rs.Checks {
			if !c.Checked || !c.Healthy {
				return false
			}
		}
		return true
	})
}

// expectRemoval waits for the server at addr to leave its pool within tm's removal bound of
// since, the moment the failure began, and logs the measured time against the bound.
func expectRemoval(t *testing.T, d *supervisor.Vigil, addr string, tm timing, since time.Time, how string) time.Duration {
	t.Helper()
	bound := tm.removal()
	took := waitSince(t, since, bound, fmt.Sprintf("%s removed after %s (bound %v for %v)", addr, how, bound, tm), func() bool {
		rs, ok := realServer(d, addr)
		return ok && !rs.Up
	})
	rs, _ := realServer(d, addr)
	t.Logf("%s: removed %v after %s; bound %v = 1.05·D + R·(1.05·B+T) + T + %v slack (%v); reason %q",
		addr, took.Round(time.Millisecond), how, bound, slack, tm, rs.Reason)
	return took
}

// expectReturn waits for the server at addr to be back within tm's comeback bound of since,
// the moment of the repair.
func expectReturn(t *testing.T, d *supervisor.Vigil, addr string, tm timing, since time.Time, how string) time.Duration {
	t.Helper()
	bound := tm.comeback()
	took := waitSince(t, since, bound, fmt.Sprintf("%s back after %s (bound %v for %v)", addr, how, bound, tm), func() bool {
		rs, ok := realServer(d, addr)
		return ok && rs.Up
	})
	t.Logf("%s: back %v after %s; bound %v = rise·1.05·D + T + %v settle + %v slack (%v)", addr, took.Round(time.Millisecond), how, bound, tm.Settle, slack, tm)
	// rise N needs N successes in a row, their probes starting 0.95·D apart at least: coming
	// back sooner means the extra successes were not waited for. The first of them may have
	// started up to Early before the repair.
	early := tm.Early
	if early == 0 {
		early = 50 * time.Millisecond
	}
	if tm.Rise > 1 {
		if floor := time.Duration(tm.Rise-1)*(tm.D-tm.D/20) - early; floor > 0 && took < floor {
			t.Errorf("%s came back %v after %s, sooner than rise %d allows (%v)", addr, took, how, tm.Rise, floor)
		}
	}
	return took
}

// waitSince is waitFor with the clock started at since.
func waitSince(t *testing.T, since time.Time, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	for {
		if cond() {
			return time.Since(since)
		}
		if time.Since(since) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// process is a peer program the test runs and can stop and start again.
type process struct {
	t    *testing.T
	name string
	args []string
	cmd  *exec.Cmd
	done chan struct{}
	out  *testenv.Buffer
}

func newProcess(t *testing.T, name string, args ...string) *process {
	p := &process{t: t, name: name, args: args, out: &testenv.Buffer{}}
	t.Cleanup(p.stop)
	return p
}

// start runs the program and waits until ready holds (bounded by 10 s).
func (p *process) start(ready func() bool) {
	p.t.Helper()
	p.cmd = exec.Command(p.name, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.done = done
	cmd := p.cmd
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for !ready() {
		select {
		case <-done:
			p.t.Fatalf("%s exited before it was ready: %s", p.name, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s not ready within 10s: %s", p.name, p.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop ends the program (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (p *process) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

// tcpReady reports whether something accepts connections on addr.
func tcpReady(addr string) func() bool {
	return func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
}

func splitAddr(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// vsHeader opens a virtual_server block on 127.0.0.1:port with the common settings.
func vsHeader(b *strings.Builder, port int, extra string) {
	fmt.Fprintf(b, "virtual_server 127.0.0.1 %d {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n%s", port, extra)
}
