package control

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// clientEnv makes the test binary a client of the socket it names (a peer of another user).
const clientEnv = "VIGIL_CONTROL_TEST_CLIENT"

func TestMain(m *testing.M) {
	if path := os.Getenv(clientEnv); path != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		msg, err := Send(ctx, path, Command{Verb: Drain, VS: "vs", RS: "rs"})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("ok:", msg)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakeExecutor records the commands it is given and answers from a table.
type fakeExecutor struct {
	mu   sync.Mutex
	got  []Command
	fail map[string]error
}

func (f *fakeExecutor) Execute(c Command) (Reply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, c)
	if err := f.fail[c.VS]; err != nil {
		return Reply{}, err
	}
	return Reply{Changed: true, Message: fmt.Sprintf("%s %s %s done", c.Verb, c.VS, c.RS)}, nil
}

func (f *fakeExecutor) commands() []Command {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Command(nil), f.got...)
}

// runSocket binds and runs a socket in a directory of its own until the test ends.
func runSocket(t *testing.T, exec Executor, opts SocketOptions) *Socket {
	t.Helper()
	s := NewSocket(filepath.Join(t.TempDir(), "run", "vigil.sock"), exec, opts)
	if err := s.Bind(); err != nil {
		t.Fatal(err)
	}
	testenv.RunUntilCleanup(t, "control socket", s.Run)
	return s
}

func send(t *testing.T, path string, c Command) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return Send(ctx, path, c)
}

func TestSocketCarriesOutCommandsInTheNameOfItsPeer(t *testing.T) {
	f := &fakeExecutor{fail: map[string]error{"nope": Errorf(NotFound, "no virtual server %q", "nope")}}
	s := runSocket(t, f, SocketOptions{})
	if fi, err := os.Stat(s.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	msg, err := send(t, s.Path(), Command{Verb: Drain, VS: "FWM 5", RS: "192.0.2.1:80", Reason: "it's late"})
	if err != nil || msg != "drain FWM 5 192.0.2.1:80 done" {
		t.Fatalf("Send = %q, %v", msg, err)
	}
	got := f.commands()
	want := Command{Verb: Drain, VS: "FWM 5", RS: "192.0.2.1:80", Reason: "it's late", By: fmt.Sprintf("socket uid %d", os.Geteuid())}
	if len(got) != 1 || got[0] != want {
		t.Errorf("executor got %+v, want %+v", got, want)
	}
	if _, err := send(t, s.Path(), Command{Verb: Maint, VS: "nope"}); err == nil || err.Error() != `no virtual server "nope"` {
		t.Errorf("a failing command: %v", err)
	}
}

func TestSocketAnswersHelpAndRefusesWhatItCannotParse(t *testing.T) {
	f := &fakeExecutor{}
	s := runSocket(t, f, SocketOptions{})
	exchange := func(line string) string {
		c, err := net.Dial("unix", s.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, line)
		c.(*net.UnixConn).CloseWrite()
		b, _ := io.ReadAll(c)
		return string(b)
	}
	if got := exchange("help\n"); !strings.HasPrefix(got, "ok: commands:\n") || !strings.Contains(got, "resign INSTANCE") {
		t.Errorf("help: %q", got)
	}
	if got := exchange("drain\n"); got != "error: drain: expected VS [RS]\n" {
		t.Errorf("drain without a name: %q", got)
	}
	// A line without its newline is read to the end of the stream.
	if got := exchange("maint vs rs"); got != "ok: maint vs rs done\n" {
		t.Errorf("a line without newline: %q", got)
	}
	if n := len(f.commands()); n != 1 {
		t.Errorf("executor ran %d commands, want 1", n)
	}
}

func TestSocketRefusesAPeerItDoesNotAllow(t *testing.T) {
	f := &fakeExecutor{}
	s := runSocket(t, f, SocketOptions{Allow: func(uid uint32) bool { return false }})
	if _, err := send(t, s.Path(), Command{Verb: Drain, VS: "vs"}); err == nil || !strings.Contains(err.Error(), "may not use the control socket: only root may") {
		t.Errorf("refused peer: %v", err)
	}
	if len(f.commands()) != 0 {
		t.Error("a refused peer's command ran")
	}
}

// A user other than root is refused by the kernel's word (SO_PEERCRED), even when the
// socket's mode would let it connect.
func TestSocketRefusesANonRootPeer(t *testing.T) {
	testenv.RequireRoot(t)
	f := &fakeExecutor{}
	s := runSocket(t, f, SocketOptions{})
	dir := filepath.Dir(s.Path())
	// Let nobody reach the socket and run a copy of this binary.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	client := filepath.Join(dir, "client")
	if err := os.WriteFile(client, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Dir(filepath.Dir(dir)), filepath.Dir(dir), dir} {
		os.Chmod(p, 0o755)
	}
	os.Chmod(s.Path(), 0o666)
	cmd := exec.Command(client)
	cmd.Env = append(os.Environ(), clientEnv+"="+s.Path())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "uid 65534 may not use the control socket: only root may") {
		t.Errorf("nobody's command: %v\n%s", err, out)
	}
	if len(f.commands()) != 0 {
		t.Error("nobody's command ran")
	}
}

func TestSocketReplacesAStaleSocketButNotALiveOneOrAFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vigil.sock")
	// A socket left by a vigil that died: bound, never listened on, closed without unlinking.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	first := NewSocket(path, &fakeExecutor{}, SocketOptions{})
	if err := first.Bind(); err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	testenv.RunUntilCleanup(t, "control socket", first.Run)
	second := NewSocket(path, &fakeExecutor{}, SocketOptions{})
	if err := second.Bind(); err == nil || !strings.Contains(err.Error(), "another process listens on it") {
		t.Errorf("over a live socket: %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	if err := NewSocket(file, &fakeExecutor{}, SocketOptions{}).Bind(); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("over a file: %v", err)
	}
}

func TestSocketIsRemovedWhenItStopsAndSendSaysTheDaemonIsNotRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.sock")
	s := NewSocket(path, &fakeExecutor{}, SocketOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	testenv.WaitFor(t, 5*time.Second, "the socket", func() bool { _, err := os.Stat(path); return err == nil })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
	if _, err := send(t, path, Command{Verb: Drain, VS: "vs"}); err == nil || !strings.Contains(err.Error(), "is vigil running") {
		t.Errorf("Send to no daemon: %v", err)
	}
}
