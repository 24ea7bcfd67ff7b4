package notify

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Fifo writes Keepalived's notify_fifo lines (notify_fifo, vrrp_notify_fifo, lvs_notify_fifo):
//
//	INSTANCE "VI_1" MASTER 100
//	GROUP "VG_1" BACKUP 0
//	VS [192.0.2.15]:tcp:80 UP
//	RS [198.51.100.4]:tcp:80 [192.0.2.15]:tcp:80 DOWN
//
// Writes never block: the fifo is open for reading and writing, so a missing reader costs
// nothing, and a line that does not fit because the reader has stopped reading is dropped with
// an error. Keepalived writes a NUL byte after the newline of VS and RS lines (a quirk of its
// buffer sizes); vigil does not.
type Fifo struct {
	path    string
	created bool

	mu sync.Mutex
	fd int
}

// OpenFifo opens the fifo at path, creating it (mode 0644, owned by owner when given) if it
// does not exist. Like Keepalived it refuses a path that is not a fifo owned by vigil or by
// owner, since an existing file there may have been planted.
func OpenFifo(path string, owner *User) (*Fifo, error) {
	created := false
	if err := syscall.Mkfifo(path, 0o644); err == nil {
		created = true
		if owner != nil {
			if err := os.Lchown(path, int(owner.UID), int(owner.GID)); err != nil {
				_ = os.Remove(path)
				return nil, fmt.Errorf("notify fifo %s: %w", path, err)
			}
		}
	} else if !errors.Is(err, syscall.EEXIST) {
		return nil, fmt.Errorf("notify fifo %s: create: %w", path, err)
	}
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_NONBLOCK|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		if created {
			_ = os.Remove(path)
		}
		return nil, fmt.Errorf("notify fifo %s: open: %w", path, err)
	}
	var st syscall.Stat_t
	ourUID := uint32(os.Geteuid())
	if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO ||
		(st.Uid != ourUID && (owner == nil || st.Uid != owner.UID)) {
		_ = syscall.Close(fd)
		if created {
			_ = os.Remove(path)
		}
		return nil, fmt.Errorf("notify fifo %s: not a fifo owned by uid %d", path, ourUID)
	}
	return &Fifo{path: path, created: created, fd: fd}, nil
}

// Path is where the fifo is.
func (f *Fifo) Path() string { return f.path }

// Instance writes a VRRP instance's state: MASTER, BACKUP, FAULT, STOP, DELETED, or the events
// MASTER_RX_LOWER_PRI, MASTER_PRIORITY, BACKUP_PRIORITY; priority is its effective priority.
func (f *Fifo) Instance(name, state string, priority int) error {
	return f.write("INSTANCE " + strconv.Quote(name) + " " + state + " " + strconv.Itoa(priority) + "\n")
}

// Group writes a sync group's state; Keepalived writes priority 0 for groups.
func (f *Fifo) Group(name, state string) error {
	return f.write("GROUP " + strconv.Quote(name) + " " + state + " 0\n")
}

// VirtualServer writes a virtual server's quorum state; vs is formatted as FormatService does.
func (f *Fifo) VirtualServer(vs string, up bool) error {
	return f.write("VS " + vs + " " + upDown(up) + "\n")
}

// RealServer writes a real server's state within its virtual server.
func (f *Fifo) RealServer(rs, vs string, up bool) error {
	return f.write("RS " + rs + " " + vs + " " + upDown(up) + "\n")
}

// FormatService renders an address as Keepalived does in fifo lines and logs:
// "[192.0.2.15]:tcp:80".
func FormatService(addr netip.AddrPort, protocol string) string {
	return "[" + addr.Addr().String() + "]:" + strings.ToLower(protocol) + ":" + strconv.Itoa(int(addr.Port()))
}

func upDown(up bool) string {
	if up {
		return "UP"
	}
	return "DOWN"
}

func (f *Fifo) write(line string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fd < 0 {
		return fmt.Errorf("notify fifo %s: closed", f.path)
	}
	// One write of at most PIPE_BUF bytes is atomic: readers never see half a line.
	n, err := syscall.Write(f.fd, []byte(line))
	if err != nil {
		if errors.Is(err, syscall.EAGAIN) {
			return fmt.Errorf("notify fifo %s: full, reader not reading: dropped %q", f.path, strings.TrimSpace(line))
		}
		return fmt.Errorf("notify fifo %s: write: %w", f.path, err)
	}
	if n != len(line) {
		return fmt.Errorf("notify fifo %s: short write (%d of %d bytes)", f.path, n, len(line))
	}
	return nil
}

// Close closes the fifo and, if OpenFifo created it, removes it first so that a reader that
// reopens in a loop cannot find it again (as Keepalived does).
func (f *Fifo) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fd < 0 {
		return nil
	}
	var errRemove error
	if f.created {
		errRemove = os.Remove(f.path)
	}
	err := syscall.Close(f.fd)
	f.fd = -1
	return errors.Join(errRemove, err)
}

// InstanceArgs are the arguments Keepalived appends to a VRRP instance's generic notify script:
// INSTANCE NAME STATE PRIORITY.
func InstanceArgs(name, state string, priority int) []string {
	return []string{"INSTANCE", name, state, strconv.Itoa(priority)}
}

// GroupArgs are the arguments Keepalived appends to a sync group's generic notify script:
// GROUP NAME STATE 0.
func GroupArgs(name, state string) []string {
	return []string{"GROUP", name, state, "0"}
}
