package testenv

import (
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FullListener listens on loopback with a backlog of 0 and fills its accept queue, so that the
// kernel drops every further SYN and a connect to it hangs, as to a host that went silent. It
// returns the listener's descriptor, its address and how many connections wait in its queue
// (at least 1). Everything is closed when the test ends.
func FullListener(t testing.TB) (fd int, ap netip.AddrPort, queued int) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	ap = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*syscall.SockaddrInet4).Port))
	// Fill the queue: with a backlog of 0 the kernel queues one connection, then drops SYNs.
	for range 3 {
		c, err := net.DialTimeout("tcp", ap.String(), 200*time.Millisecond)
		if err != nil {
			break
		}
		queued++
		t.Cleanup(func() { c.Close() })
	}
	if queued == 0 {
		t.Fatal("could not fill the accept queue")
	}
	return fd, ap, queued
}

// ServeTCP listens on a loopback port and runs serve on every connection it accepts, each on a
// goroutine of its own, closing the connection when serve returns. When the test ends it stops
// listening and waits for every serve to return.
func ServeTCP(t testing.TB, serve func(c net.Conn)) netip.AddrPort {
	t.Helper()
	ap, _ := ServeTCPOn(t, "127.0.0.1:0", serve)
	return ap
}

// ServeTCPOn is ServeTCP on addr ("127.0.0.1:0" for any port), with stop, which stops
// listening and waits for every serve to return, at once rather than when the test ends (a
// server that goes away and comes back on its port with another ServeTCPOn).
func ServeTCPOn(t testing.TB, addr string, serve func(c net.Conn)) (netip.AddrPort, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var once sync.Once
	stop := func() { once.Do(func() { ln.Close(); wg.Wait() }) }
	t.Cleanup(stop)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), stop
}

// SilentServer accepts connections on a loopback port and holds them open without reading or
// writing, as a server whose workers hang; they are closed when the test ends.
func SilentServer(t testing.TB) netip.AddrPort {
	t.Helper()
	hold := make(chan struct{})
	ap := ServeTCP(t, func(net.Conn) { <-hold })
	// Cleanups run last-registered first: the holds end before ServeTCP waits for them.
	t.Cleanup(func() { close(hold) })
	return ap
}
