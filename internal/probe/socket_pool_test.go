package probe

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPooledSocketIsResetThenConnectsAgain: giving a socket back resets its connection (the
// server reads ECONNRESET, as from a close with SO_LINGER 0), and the same socket then connects
// again, from another port, with no error left over from the reset.
func TestPooledSocketIsResetThenConnectsAgain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	target := NewEndpoint(netip.MustParseAddrPort(ln.Addr().String()), SocketOptions{})
	var pool SocketPool
	var ports []string
	var fds []int
	for round := range 2 {
		fd, reused, err := pool.get(target.family)
		if err != nil {
			t.Fatal(err)
		}
		if reused != (round == 1) {
			t.Fatalf("round %d: reused %t", round, reused)
		}
		fds = append(fds, fd)
		if err := rawConnect(fd, target.sockaddr()); err != nil && err != unix.EINPROGRESS {
			t.Fatalf("round %d: connect: %v", round, err)
		}
		s := &Socket{fd: fd}
		deadline := time.Now().Add(5 * time.Second)
		for {
			done, err := s.connected()
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if done {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: not connected within 5s", round)
			}
			time.Sleep(time.Millisecond)
		}
		var srv net.Conn
		select {
		case srv = <-accepted:
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: the server accepted nothing", round)
		}
		ports = append(ports, srv.RemoteAddr().String())
		pool.put(fd, target.family)
		_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = srv.Read(make([]byte, 1))
		srv.Close()
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("round %d: the server read %v after the socket went back to the pool, want a reset (not %v)", round, err, io.EOF)
		}
	}
	if fds[0] != fds[1] {
		t.Errorf("the second probe got socket %d, not the pooled %d", fds[1], fds[0])
	}
	if ports[0] == ports[1] {
		t.Errorf("both connections came from %s; a reused socket takes a new port", ports[0])
	}
	for _, fd := range pool.idle[familyIndex(target.family)] {
		rawClose(fd)
	}
}

// TestProbeWithStickyOptionsDoesNotPool: bind, interface and mark options stay on a socket, so
// such a probe's socket is its own and is closed after it.
func TestProbeWithStickyOptionsDoesNotPool(t *testing.T) {
	for _, o := range []SocketOptions{
		{BindIf: "lo"}, {Fwmark: 3}, {BindPort: 4000},
	} {
		if NewEndpoint(netip.MustParseAddrPort("127.0.0.1:80"), o).pooled {
			t.Errorf("%+v: pooled", o)
		}
	}
	if !NewEndpoint(netip.MustParseAddrPort("127.0.0.1:80"), SocketOptions{}).pooled {
		t.Error("a probe with no options does not pool its socket")
	}
}

// TestClosedPoolKeepsNoSocket: a Scheduler closes its pool when Run returns; the idle sockets
// are closed then, and so is a socket given back later, as one given back to no pool at all.
func TestClosedPoolKeepsNoSocket(t *testing.T) {
	inodes := map[int]uint64{} // a closed descriptor's number may be taken again meanwhile
	open := func() int {
		fd, err := newProbeSocket(unix.AF_INET)
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		inodes[fd] = st.Ino
		return fd
	}
	isOpen := func(fd int) bool {
		var st unix.Stat_t
		return unix.Fstat(fd, &st) == nil && st.Ino == inodes[fd]
	}
	var pool SocketPool
	idle, late, unpooled := open(), open(), open()
	pool.put(idle, unix.AF_INET)
	pool.Close()
	pool.put(late, unix.AF_INET)
	(*SocketPool)(nil).put(unpooled, unix.AF_INET)
	for name, fd := range map[string]int{"idle": idle, "given back after Close": late, "given back to no pool": unpooled} {
		if isOpen(fd) {
			t.Errorf("the socket %s is still open", name)
			rawClose(fd)
		}
	}
}
