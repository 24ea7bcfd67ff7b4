package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier sends notifications to one socket. The zero value and a nil *Notifier are valid
// and do nothing.
type Notifier struct {
	socket   string
	watchdog time.Duration
}

// New returns a Notifier for the socket path (a leading '@' names an abstract socket, as in
// $NOTIFY_SOCKET) and the watchdog interval (0 when there is none). An empty path gives a
// Notifier that does nothing.
func New(socket string, watchdog time.Duration) *Notifier {
	return &Notifier{socket: socket, watchdog: watchdog}
}

// FromEnv reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID as systemd sets them. The
// watchdog counts only when $WATCHDOG_PID is unset or names this process, so that a child
// which inherited the environment does not ping on its parent's behalf. A malformed
// $WATCHDOG_USEC is an error; the Notifier is usable without a watchdog then.
func FromEnv() (*Notifier, error) {
	n := &Notifier{socket: os.Getenv("NOTIFY_SOCKET")}
	usec := os.Getenv("WATCHDOG_USEC")
	if usec == "" {
		return n, nil
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return n, nil
	}
	v, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || v == 0 {
		return n, fmt.Errorf("sdnotify: WATCHDOG_USEC=%q is not a positive number of microseconds", usec)
	}
	n.watchdog = time.Duration(v) * time.Microsecond
	return n, nil
}

// Enabled reports whether notifications go anywhere.
func (n *Notifier) Enabled() bool { return n != nil && n.socket != "" }

// WatchdogInterval is how often systemd expects a keep-alive at the latest (WatchdogSec=), and
// false when no watchdog is armed for this process.
func (n *Notifier) WatchdogInterval() (time.Duration, bool) {
	if n == nil || n.watchdog <= 0 {
		return 0, false
	}
	return n.watchdog, true
}

// Ready says start-up or a reload has finished.
func (n *Notifier) Ready() error { return n.Notify("READY=1") }

// Reloading says a configuration reload has begun; Ready ends it. MONOTONIC_USEC is included
// because Type=notify-reload requires it.
func (n *Notifier) Reloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return n.Notify("RELOADING=1")
	}
	return n.Notify("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatInt(ts.Nano()/1000, 10))
}

// Stopping says shutdown has begun.
func (n *Notifier) Stopping() error { return n.Notify("STOPPING=1") }

// Watchdog is one keep-alive.
func (n *Notifier) Watchdog() error { return n.Notify("WATCHDOG=1") }

// Status sets the one-line status `systemctl status` shows.
func (n *Notifier) Status(text string) error {
	return n.Notify("STATUS=" + strings.ReplaceAll(text, "\n", " "))
}

// Notify sends the assignments as one datagram, one per line.
func (n *Notifier) Notify(assignments ...string) error {
	if !n.Enabled() {
		return nil
	}
	addr := &net.UnixAddr{Name: n.socket, Net: "unixgram"}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return fmt.Errorf("sdnotify: connect to %s: %w", n.socket, err)
	}
	defer conn.Close()
	msg := strings.Join(assignments, "\n") + "\n"
	if _, err := conn.Write([]byte(msg)); err != nil {
		return fmt.Errorf("sdnotify: send %q to %s: %w", strings.TrimSpace(msg), n.socket, err)
	}
	return nil
}

// KeepAlive sends a keep-alive every half watchdog interval until ctx ends, each only after
// alive returns; a daemon that hangs inside alive therefore stops pinging and systemd restarts
// it. It returns at once when no watchdog is armed. alive may be nil.
func (n *Notifier) KeepAlive(ctx context.Context, alive func()) {
	interval, ok := n.WatchdogInterval()
	if !ok || !n.Enabled() {
		return
	}
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	for {
		if alive != nil {
			alive()
		}
		if ctx.Err() != nil {
			return
		}
		_ = n.Watchdog()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
