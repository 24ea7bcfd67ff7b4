package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Reply is what an Executor says of a command it carried out.
type Reply struct {
	// Changed is false when everything the command named was already as it asked.
	Changed bool `json:"changed"`
	// Message says what was done, for the operator.
	Message string `json:"message"`
}

// Executor carries commands out. It must be safe to call from any goroutine.
type Executor interface {
	Execute(c Command) (Reply, error)
}

// DefaultSocketConns is how many clients the control socket serves at once; more wait in the
// kernel's backlog.
const DefaultSocketConns = 8

// socketTimeout bounds one exchange on the control socket: the request line, the command and
// the reply.
const socketTimeout = 10 * time.Second

// maxLine is the longest request line the socket reads.
const maxLine = 8 << 10

// SocketOptions are a Socket's settings besides its path and executor.
type SocketOptions struct {
	Logger *slog.Logger
	// MaxConns bounds the clients served at once (0: DefaultSocketConns).
	MaxConns int
	// Allow says whether a peer's user may send commands; nil allows root and the user vigil
	// runs as.
	Allow func(uid uint32) bool
}

// Socket is the control socket: a Unix stream socket, mode 0600, on which each connection
// sends one line, a command as Parse reads it (or "help"), and reads the answer: "ok: MESSAGE"
// or "error: MESSAGE", then the socket closes it. The peer's user is read from the kernel
// (SO_PEERCRED), checked, and named in each change ("socket uid 0").
type Socket struct {
	path string
	exec Executor
	opts SocketOptions
	log  *slog.Logger

	ln    *net.UnixListener
	slots chan struct{}
	wg    sync.WaitGroup
}

// NewSocket returns a control socket at path that hands commands to exec. It opens nothing.
func NewSocket(path string, exec Executor, opts SocketOptions) *Socket {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultSocketConns
	}
	if opts.Allow == nil {
		self := uint32(os.Geteuid())
		opts.Allow = func(uid uint32) bool { return uid == 0 || uid == self }
	}
	return &Socket{path: path, exec: exec, opts: opts, log: opts.Logger, slots: make(chan struct{}, opts.MaxConns)}
}

// Path is where the socket is.
func (s *Socket) Path() string { return s.path }

// Bind makes the socket: its directory if missing (0755), a socket left by a vigil that died
// removed, and the new one made mode 0600. A socket another process listens on is left alone
// and refused, and so is a file that is not a socket.
func (s *Socket) Bind() error {
	if s.ln != nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("control socket %s: %w", s.path, err)
	}
	if fi, err := os.Lstat(s.path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return fmt.Errorf("control socket %s: exists and is not a socket", s.path)
		}
		if c, err := net.DialTimeout("unix", s.path, time.Second); err == nil {
			c.Close()
			return fmt.Errorf("control socket %s: another process listens on it (another vigil?)", s.path)
		}
		if err := os.Remove(s.path); err != nil {
			return fmt.Errorf("control socket %s: remove the stale socket: %w", s.path, err)
		}
		s.log.Info("control socket: removed a stale socket", "path", s.path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("control socket %s: %w", s.path, err)
	}
	// Go's listener unlinks the path when closed, which is what a stop should do.
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(s.path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("control socket %s: %w", s.path, err)
	}
	s.ln = ln
	return nil
}

// Run serves the socket until ctx ends, then closes it (removing its path) and waits for the
// exchanges in progress. Run binds first if Bind was not called.
func (s *Socket) Run(ctx context.Context) error {
	if err := s.Bind(); err != nil {
		return err
	}
	s.log.Info("control socket listening", "path", s.path)
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	defer s.wg.Wait()
	defer s.ln.Close()
	for {
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		c, err := s.ln.AcceptUnix()
		if err != nil {
			<-s.slots
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("control socket %s: closed", s.path)
			}
			s.log.Warn("control socket: accept", "err", err)
			time.Sleep(100 * time.Millisecond) // do not spin on a broken listener
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.slots }()
			s.serve(c)
		}()
	}
}

// serve answers one connection's command.
func (s *Socket) serve(c *net.UnixConn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(socketTimeout))
	// The line is read before anything is answered, so that a refusal is not lost to a reset
	// for unread data.
	line, readErr := bufio.NewReader(io.LimitReader(c, maxLine)).ReadString('\n')
	uid, err := peerUID(c)
	if err != nil {
		s.log.Warn("control socket: peer unknown; refused", "err", err)
		fmt.Fprintf(c, "error: who you are is unknown: %v\n", err)
		return
	}
	if !s.opts.Allow(uid) {
		s.log.Warn("control socket: refused a peer that is not root", "uid", uid)
		fmt.Fprintf(c, "error: uid %d may not use the control socket: only root may\n", uid)
		return
	}
	if readErr != nil && (!errors.Is(readErr, io.EOF) || line == "") {
		fmt.Fprintf(c, "error: no command read: %v\n", readErr)
		return
	}
	words, err := Split(line)
	if err == nil && len(words) == 1 && words[0] == "help" {
		fmt.Fprintf(c, "ok: commands:\n%s\n", Usage)
		return
	}
	var cmd Command
	if err == nil {
		cmd, err = Parse(words)
	}
	var reply Reply
	if err == nil {
		cmd.By = "socket uid " + strconv.FormatUint(uint64(uid), 10)
		reply, err = s.exec.Execute(cmd)
	}
	if err != nil {
		fmt.Fprintf(c, "error: %s\n", err)
		return
	}
	fmt.Fprintf(c, "ok: %s\n", reply.Message)
}

// peerUID is the user of the process at the other end of c, as the kernel says (SO_PEERCRED).
func peerUID(c *net.UnixConn) (uint32, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := rc.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, credErr
	}
	return cred.Uid, nil
}

// Send sends c to the control socket at path and returns the daemon's message. A refusal or a
// failure of the command is an error with the daemon's words; a daemon that does not answer
// is an error that says so.
func Send(ctx context.Context, path string, c Command) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
			return "", fmt.Errorf("control socket %s: %w (is vigil running, with control_socket %s in global_defs?)", path, err, path)
		case errors.Is(err, fs.ErrPermission):
			return "", fmt.Errorf("control socket %s: %w (only root may use it)", path, err)
		}
		return "", fmt.Errorf("control socket %s: %w", path, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := io.WriteString(conn, c.String()+"\n"); err != nil {
		return "", fmt.Errorf("control socket %s: send: %w", path, err)
	}
	_ = conn.(*net.UnixConn).CloseWrite()
	b, err := io.ReadAll(io.LimitReader(conn, 1<<20))
	if err != nil {
		return "", fmt.Errorf("control socket %s: read the answer: %w", path, err)
	}
	answer := strings.TrimRight(string(b), "\n")
	switch {
	case strings.HasPrefix(answer, "ok: "):
		return strings.TrimPrefix(answer, "ok: "), nil
	case strings.HasPrefix(answer, "error: "):
		return "", errors.New(strings.TrimPrefix(answer, "error: "))
	}
	return "", fmt.Errorf("control socket %s: no answer (%q)", path, answer)
}
