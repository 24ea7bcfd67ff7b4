//go:build linux

package userspace

import (
	"net"

	"golang.org/x/sys/unix"
)

// serverReset reports whether the backend reset c: the kernel moves a socket that received a
// reset to TCP_CLOSE, while one whose client side failed stays established (and one the
// session already closed has no descriptor to ask).
func serverReset(c *net.TCPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	reset := false
	_ = rc.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.SOL_TCP, unix.TCP_INFO)
		reset = err == nil && info.State == tcpClose
	})
	return reset
}

// tcpClose is TCP_CLOSE of the kernel's tcp_states.h, as tcpi_state reports it.
const tcpClose = 7
