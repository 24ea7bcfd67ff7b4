package status

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// runServer binds srv and runs it until the test ends.
func runServer(t *testing.T, srv *Server) {
	t.Helper()
	if err := srv.Bind(); err != nil {
		t.Fatal(err)
	}
	testenv.RunUntilCleanup(t, "the status server", srv.Run)
}

// keepAlive opens a connection to addr, asks for /healthz on it and leaves it open and idle,
// as a keep-alive client does.
func keepAlive(t *testing.T, addr string) *testenv.KeepAlive {
	t.Helper()
	k := testenv.DialKeepAlive(t, addr)
	if _, err := k.Get("/healthz", time.Second); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestStatusServerClosesIdleKeepAliveConnections(t *testing.T) {
	srv := NewServer("127.0.0.1:0", NewHandler(&fixedSource{}, NewHub(1, time.Now), nil), ServerOptions{IdleTimeout: 200 * time.Millisecond})
	runServer(t, srv)
	k := keepAlive(t, srv.Addr().String())
	start := time.Now()
	k.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := k.Conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read %v, want EOF (closed by the server)", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("idle connection closed after %v, want about the idle timeout (200ms)", took)
	}
}

func TestStatusServerCapsItsConnections(t *testing.T) {
	srv := NewServer("127.0.0.1:0", NewHandler(&fixedSource{}, NewHub(1, time.Now), nil), ServerOptions{MaxConns: 3})
	runServer(t, srv)
	addr := srv.Addr().String()
	var held []*testenv.KeepAlive
	for range 3 {
		held = append(held, keepAlive(t, addr))
	}
	// The fourth connection waits in the listen backlog: its request is not answered...
	waiting := testenv.DialKeepAlive(t, addr)
	if err := waiting.Send("/healthz"); err != nil {
		t.Fatal(err)
	}
	if _, err := waiting.Read(300 * time.Millisecond); err == nil {
		t.Fatal("a fourth connection was answered beside three held ones; want it to wait (MaxConns 3)")
	}
	// ...until one of the three closes; then it is.
	held[0].Conn.Close()
	if _, err := waiting.Read(5 * time.Second); err != nil {
		t.Fatalf("the waiting connection, once a slot was free: %v", err)
	}
}

func TestEventStreamOutlivesTheWriteTimeout(t *testing.T) {
	hub := NewHub(10, time.Now)
	srv := NewServer("127.0.0.1:0", NewHandler(&fixedSource{}, hub, nil), ServerOptions{WriteTimeout: 200 * time.Millisecond})
	runServer(t, srv)
	resp, err := http.Get("http://" + srv.Addr().String() + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.Sleep(600 * time.Millisecond) // three write timeouts
	hub.Publish("reload", "x", "late event")
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended before the late event: the write timeout cut it")
			}
			if strings.Contains(l, "late event") {
				return
			}
		case <-deadline:
			t.Fatal("no late event within 5 s")
		}
	}
}

// flakyListener fails its first Accept with a temporary error, as accept(2) does when the
// process is out of descriptors, then waits to be closed.
type flakyListener struct {
	net.Listener
	once sync.Once
}

func (l *flakyListener) Accept() (net.Conn, error) {
	failed := false
	l.once.Do(func() { failed = true })
	if failed {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

func TestNetHTTPErrorsAreLoggedThroughSlog(t *testing.T) {
	var buf testenv.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	srv := NewServer("127.0.0.1:0", NewHandler(&fixedSource{}, NewHub(1, time.Now), nil), ServerOptions{Logger: log})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.ln = &flakyListener{Listener: ln}
	runServer(t, srv)
	testenv.WaitFor(t, 5*time.Second, "net/http's accept error logged", func() bool {
		return strings.Contains(buf.String(), "http: Accept error")
	})
	for _, line := range bytes.Split(bytes.TrimSpace([]byte(buf.String())), []byte("\n")) {
		if !bytes.HasPrefix(line, []byte("{")) {
			t.Errorf("a line not in JSON: %s", line)
		}
		if bytes.Contains(line, []byte("Accept error")) && (!bytes.Contains(line, []byte(`"level":"WARN"`)) || !bytes.Contains(line, []byte(`"part":"status"`))) {
			t.Errorf("net/http's line %s: want level WARN and part status", line)
		}
	}
}
