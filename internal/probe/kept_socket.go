package probe

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Why a probe may keep its connection (HTTP_GET's reuse_connection): on a near network most of
// a new-connection probe's CPU is the kernel's work for the connection itself (connect, the
// reset that gives the socket back to the pool, TCP_QUICKACK, SO_ERROR: about half of it,
// bench/checks, perf). A checker that keeps one connection to its target pays for a request
// and its answer only, at the price of no longer proving that the target accepts connections.

// KeptSocket holds the connection a checker keeps between its probes: at most one, idle,
// connected socket. A probe takes it (Take), uses it and gives it back when the connection may
// carry another request (Keep), or closes it. The zero value is empty and open; after Close
// it keeps nothing. Its methods may be called from any goroutine.
type KeptSocket struct {
	mu     sync.Mutex
	sock   *Socket
	closed bool
}

// Take returns the kept socket, which the caller now owns, or nil when there is none.
func (k *KeptSocket) Take() *Socket {
	k.mu.Lock()
	s := k.sock
	k.sock = nil
	k.mu.Unlock()
	return s
}

// Keep takes s, idle and connected, for the next probe. It leaves the poller's epoll set, where
// an idle socket would wake the poller for nothing (an answer it did not ask for, the server's
// close); once k is closed, or when it holds a socket already, s is closed instead.
func (k *KeptSocket) Keep(s *Socket) {
	if s.watching != 0 {
		if rawEpollCtl(s.epfd, unix.EPOLL_CTL_DEL, s.fd, &unix.EpollEvent{}) != nil {
			s.Close()
			return
		}
		s.watching = 0
	}
	k.mu.Lock()
	if k.closed || k.sock != nil {
		k.mu.Unlock()
		s.Close()
		return
	}
	k.sock = s
	k.mu.Unlock()
}

// Close closes the kept socket, if any; a socket given back afterwards is closed too.
func (k *KeptSocket) Close() {
	k.mu.Lock()
	s := k.sock
	k.sock, k.closed = nil, true
	k.mu.Unlock()
	if s != nil {
		s.Close()
	}
}

// Releaser is a Checker that holds something between its probes (a kept connection): the
// scheduler calls Release once no job uses the checker any more, and when it stops. A
// Releaser is a pointer: the scheduler compares checkers.
type Releaser interface {
	Release()
}

// release lets c go of what it holds between probes, if anything.
func release(c Checker) {
	if r, ok := c.(Releaser); ok {
		r.Release()
	}
}
