package testenv

import (
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"testing"
)

// Ports for the tests' servers come from below the kernel's ephemeral range (32768-60999 by
// default): a port picked with ":0" is an ephemeral one, and between the pick and the server's
// bind a client connection of a parallel test may take it as its local port, which makes the
// bind fail. Below that range only servers bind, and each pick is checked free first. Each test
// binary starts at a place set by its pid, so that packages tested in parallel rarely meet.
var nextPort atomic.Int32

const (
	firstPort = 20000
	lastPort  = 32000
)

// FreePort returns a port on host that is free for TCP, and for UDP too when udp is set.
func FreePort(t testing.TB, host string, udp bool) int {
	t.Helper()
	nextPort.CompareAndSwap(0, int32(firstPort+os.Getpid()%10000))
	for range lastPort - firstPort {
		port := int(nextPort.Add(1))
		if port >= lastPort {
			nextPort.Store(firstPort)
			continue
		}
		if portFree(host, port, udp) {
			return port
		}
	}
	t.Fatalf("no free port on %s between %d and %d", host, firstPort, lastPort)
	return 0
}

func portFree(host string, port int, udp bool) bool {
	addr := net.JoinHostPort(host, fmt.Sprint(port))
	tl, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer tl.Close()
	if !udp {
		return true
	}
	ul, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	ul.Close()
	return true
}
