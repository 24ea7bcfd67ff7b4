//go:build !linux

package userspace

import (
	"net"
	"sync/atomic"
)

// pipeReady needs recvmmsg(2); elsewhere pipeCopy does the work.
func (s *service) pipeReady(*tcpSession, int, *net.TCPConn, *net.TCPConn, *atomic.Uint64) bool {
	return false
}

// serverReset needs TCP_INFO's state; elsewhere a reset before the first byte is not counted.
func serverReset(*net.TCPConn) bool { return false }
