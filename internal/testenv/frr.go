package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// FRR is FRRouting's zebra and other daemons (bgpd, vrrpd...) running in a namespace, with
// their sockets, pid files and configuration in a directory of their own. FRR drops its
// privileges to the frr user, which must be able to write there, so it is not t.TempDir.
// Every path is given explicitly (-N would make FRR create a directory under /var/run/frr);
// there is no TCP vty (-P 0).
type FRR struct {
	ns    *Namespace
	dir   string
	vtysh string
	procs map[string]*frrDaemon
	uid   int
	gid   int
}

type frrDaemon struct {
	cmd  *exec.Cmd
	out  *Buffer
	done chan struct{}
}

// frrBin is where Debian's frr package installs the daemons.
const frrBin = "/usr/lib/frr"

// RequireFRR skips t (fails it under CI) unless FRR's zebra, the named daemons, vtysh and the
// frr user are there (Debian's package frr).
func RequireFRR(t testing.TB, daemons ...string) {
	t.Helper()
	RequireRoot(t)
	for _, d := range append([]string{"zebra"}, daemons...) {
		if _, err := os.Stat(filepath.Join(frrBin, d)); err != nil {
			Unavailable(t, "needs FRR's "+d+" (apt-get install frr)")
		}
	}
	RequireTool(t, "vtysh")
	if _, err := user.Lookup("frr"); err != nil {
		Unavailable(t, "needs the frr user (apt-get install frr)")
	}
}

// StartFRR runs zebra in ns and waits until its socket is there. Daemons are added with Start.
// Everything is stopped, and the directory removed, when the test ends.
func StartFRR(t testing.TB, ns *Namespace) *FRR {
	t.Helper()
	RequireFRR(t)
	u, err := user.Lookup("frr")
	if err != nil {
		t.Fatal(err)
	}
	r := &FRR{ns: ns, vtysh: RequireTool(t, "vtysh"), procs: map[string]*frrDaemon{}}
	r.uid, _ = strconv.Atoi(u.Uid)
	r.gid, _ = strconv.Atoi(u.Gid)
	if r.dir, err = os.MkdirTemp("", "vigil-frr-"); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(r.dir, r.uid, r.gid); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, name := range []string{"vrrpd", "bgpd", "zebra"} { // zebra last
			r.Stop(name)
		}
		for name := range r.procs {
			r.Stop(name)
		}
		if t.Failed() {
			t.Logf("FRR in %s:\n%s", ns.Name, r.Logs())
		}
		os.RemoveAll(r.dir)
	})
	r.Start(t, "zebra", "hostname "+ns.Name+"\nlog stdout informational\n", func() bool {
		_, err := os.Stat(r.ZebraSocket())
		return err == nil
	})
	return r
}

// Dir is the directory of the daemons' sockets, pid files and configuration.
func (r *FRR) Dir() string { return r.dir }

// ZebraSocket is zebra's API socket, which the other daemons are given with -z.
func (r *FRR) ZebraSocket() string { return filepath.Join(r.dir, "zserv.api") }

// Start runs daemon (zebra, bgpd, vrrpd...) with conf and waits, at most 10 s, until ready
// holds (nil: until its vty socket is there).
func (r *FRR) Start(t testing.TB, daemon, conf string, ready func() bool) {
	t.Helper()
	confPath := filepath.Join(r.dir, daemon+".conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(confPath, r.uid, r.gid); err != nil {
		t.Fatal(err)
	}
	cmd := r.ns.Command(filepath.Join(frrBin, daemon), "-P", "0", "--vty_socket", r.dir,
		"-i", filepath.Join(r.dir, daemon+".pid"), "-z", r.ZebraSocket(), "--log", "stdout", "-f", confPath)
	d := &frrDaemon{cmd: cmd, out: &Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", daemon, err)
	}
	go func() { _ = cmd.Wait(); close(d.done) }()
	r.procs[daemon] = d
	if ready == nil {
		ready = func() bool {
			_, err := os.Stat(filepath.Join(r.dir, daemon+".vty"))
			return err == nil
		}
	}
	if _, ok := Eventually(10*time.Second, func() bool {
		select {
		case <-d.done:
			return true
		default:
		}
		return ready()
	}); !ok {
		t.Fatalf("%s in %s not ready within 10s:\n%s", daemon, r.ns.Name, d.out.String())
	}
	select {
	case <-d.done:
		t.Fatalf("%s in %s exited at start:\n%s", daemon, r.ns.Name, d.out.String())
	default:
	}
}

// Stop stops daemon with SIGTERM (SIGKILL after 5 s) and waits for it; a daemon not running
// is left alone.
func (r *FRR) Stop(daemon string) { r.signal(daemon, syscall.SIGTERM) }

// Kill kills daemon with SIGKILL, as a crash would (no last words on the wire).
func (r *FRR) Kill(daemon string) { r.signal(daemon, syscall.SIGKILL) }

func (r *FRR) signal(daemon string, sig syscall.Signal) {
	d := r.procs[daemon]
	if d == nil {
		return
	}
	// "ip netns exec" runs the daemon in its own process (it execs), so the signal reaches it.
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	delete(r.procs, daemon)
}

// Vty runs one vtysh command against the daemons and returns its output.
func (r *FRR) Vty(cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, r.vtysh, "--vty_socket", r.dir, "-c", cmd).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("vtysh -c %q: %v: %s", cmd, err, out)
	}
	return string(out), nil
}

// Logs is what the daemons said so far.
func (r *FRR) Logs() string {
	var b strings.Builder
	for name, d := range r.procs {
		fmt.Fprintf(&b, "%s:\n%s\n", name, d.out.String())
	}
	return b.String()
}
