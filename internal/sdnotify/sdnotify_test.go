package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listen creates a notify socket like systemd's and returns its name and a reader of datagrams.
func listen(t *testing.T, abstract bool) (string, func(time.Duration) (string, bool)) {
	t.Helper()
	var name string
	if abstract {
		name = fmt.Sprintf("@vigil-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	} else {
		// Not t.TempDir: its path can exceed the 108 bytes a socket path may have.
		dir, err := os.MkdirTemp("", "sdnotify")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		name = filepath.Join(dir, "notify")
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	read := func(within time.Duration) (string, bool) {
		buf := make([]byte, 4096)
		_ = conn.SetReadDeadline(time.Now().Add(within))
		n, _, err := conn.ReadFromUnix(buf)
		if err != nil {
			return "", false
		}
		return string(buf[:n]), true
	}
	return name, read
}

func TestEachNotificationIsOneDatagram(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			sock, read := listen(t, abstract)
			n := New(sock, 0)
			cases := []struct {
				send func() error
				want string
			}{
				{n.Ready, "READY=1\n"},
				{n.Stopping, "STOPPING=1\n"},
				{n.Watchdog, "WATCHDOG=1\n"},
				{func() error { return n.Status("3/4 servers up\nquorum") }, "STATUS=3/4 servers up quorum\n"},
			}
			for _, c := range cases {
				if err := c.send(); err != nil {
					t.Fatal(err)
				}
				got, ok := read(2 * time.Second)
				if !ok || got != c.want {
					t.Errorf("got %q (%v), want %q", got, ok, c.want)
				}
			}
		})
	}
}

func TestReloadingCarriesMonotonicTimestamp(t *testing.T) {
	sock, read := listen(t, false)
	if err := New(sock, 0).Reloading(); err != nil {
		t.Fatal(err)
	}
	got, ok := read(2 * time.Second)
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if !ok || len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Fatalf("got %q", got)
	}
	if v, err := strconv.ParseUint(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64); err != nil || v == 0 {
		t.Fatalf("MONOTONIC_USEC not a positive number: %q", lines[1])
	}
}

func TestWithoutSocketEverythingIsANoOp(t *testing.T) {
	var nilN *Notifier
	for _, n := range []*Notifier{nilN, {}, New("", time.Second)} {
		if n.Enabled() {
			t.Errorf("%+v claims to be enabled", n)
		}
		for _, err := range []error{n.Ready(), n.Reloading(), n.Stopping(), n.Watchdog(), n.Status("x")} {
			if err != nil {
				t.Errorf("no-op notifier returned %v", err)
			}
		}
		done := make(chan struct{})
		go func() { n.KeepAlive(context.Background(), nil); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatal("KeepAlive without a socket did not return at once")
		}
	}
}

func TestSendToMissingSocketSaysWhichSocket(t *testing.T) {
	err := New("/nonexistent/vigil-notify", 0).Ready()
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/vigil-notify") {
		t.Fatalf("err = %v", err)
	}
}

func TestFromEnvReadsSocketAndWatchdog(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	cases := []struct {
		name                 string
		socket, usec, pid    string
		wantEnabled, wantDog bool
		want                 time.Duration
		wantErr              bool
	}{
		{name: "nothing set"},
		{name: "socket only", socket: "/run/systemd/notify", wantEnabled: true},
		{name: "watchdog for this process", socket: "@n", usec: "30000000", pid: self, wantEnabled: true, wantDog: true, want: 30 * time.Second},
		{name: "watchdog without pid", socket: "@n", usec: "500000", wantEnabled: true, wantDog: true, want: 500 * time.Millisecond},
		{name: "watchdog for another process", socket: "@n", usec: "30000000", pid: "1", wantEnabled: true},
		{name: "malformed usec", socket: "@n", usec: "30s", wantEnabled: true, wantErr: true},
		{name: "zero usec", socket: "@n", usec: "0", wantEnabled: true, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", c.socket)
			t.Setenv("WATCHDOG_USEC", c.usec)
			t.Setenv("WATCHDOG_PID", c.pid)
			n, err := FromEnv()
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			d, ok := n.WatchdogInterval()
			if n.Enabled() != c.wantEnabled || ok != c.wantDog || d != c.want {
				t.Fatalf("enabled %v watchdog %v %v, want %v %v %v", n.Enabled(), ok, d, c.wantEnabled, c.wantDog, c.want)
			}
		})
	}
}

func TestKeepAlivePingsAtHalfTheIntervalUntilCancelled(t *testing.T) {
	sock, read := listen(t, false)
	n := New(sock, 40*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	var probes atomic.Int32
	done := make(chan struct{})
	go func() { n.KeepAlive(ctx, func() { probes.Add(1) }); close(done) }()
	start := time.Now()
	for i := 0; i < 4; i++ {
		if got, ok := read(2 * time.Second); !ok || got != "WATCHDOG=1\n" {
			cancel()
			t.Fatalf("keep-alive %d: got %q (%v)", i, got, ok)
		}
	}
	// Four pings: one at once and three 20 ms apart; well under the 40 ms interval each.
	if el := time.Since(start); el > time.Second {
		t.Errorf("four keep-alives took %v", el)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("KeepAlive did not return after cancel")
	}
	if probes.Load() < 4 {
		t.Errorf("alive ran %d times for 4 keep-alives", probes.Load())
	}
}

func TestKeepAliveStopsPingingWhileTheDaemonHangs(t *testing.T) {
	sock, read := listen(t, false)
	n := New(sock, 20*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	hang := make(chan struct{})
	var calls atomic.Int32
	done := make(chan struct{})
	go func() {
		n.KeepAlive(ctx, func() {
			if calls.Add(1) == 2 {
				<-hang // the second probe never finishes until the test lets it
			}
		})
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		close(hang)
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Error("KeepAlive did not return")
		}
	})
	if got, ok := read(2 * time.Second); !ok || got != "WATCHDOG=1\n" {
		t.Fatalf("first keep-alive: %q (%v)", got, ok)
	}
	if got, ok := read(200 * time.Millisecond); ok {
		t.Fatalf("a keep-alive (%q) was sent while the daemon hung", got)
	}
}
