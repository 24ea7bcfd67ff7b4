// Command connload opens TCP connections to one address as fast as it can, for the new
// connections mode of bench/userspace: each of -c workers connects, half-closes its side at
// once, waits for the other side's close (through a balancer, that is the backend's) and
// closes, so that every connection made went the whole way through the balancer and back.
// It prints the connections completed per second and the failures.
//
//	connload -addr 127.0.0.1:18091 -c 64 -d 10s
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to connect to")
	conns := flag.Int("c", 64, "connections in flight")
	dur := flag.Duration("d", 10*time.Second, "how long to run")
	flag.Parse()
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil || !ap.Addr().Is4() {
		fmt.Fprintf(os.Stderr, "connload: -addr %q: want IPv4 ADDR:PORT\n", *addr)
		os.Exit(2)
	}
	sa := &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	var done, failed atomic.Uint64
	stop := time.Now().Add(*dur)
	var wg sync.WaitGroup
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Blocking calls on a thread of its own: the client should cost as little as
			// the system calls, since it shares its CPU with the backends.
			runtime.LockOSThread()
			buf := make([]byte, 512)
			for time.Now().Before(stop) {
				if one(sa, buf) {
					done.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	secs := time.Since(start).Seconds()
	fmt.Printf("Connections/sec: %.2f\nConnections: %d\nFailed: %d\n", float64(done.Load())/secs, done.Load(), failed.Load())
}

// one makes one connection: connect, shut the write side, read until the peer closes, close.
func one(sa *syscall.SockaddrInet4, buf []byte) bool {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		time.Sleep(time.Millisecond)
		return false
	}
	defer syscall.Close(fd)
	if syscall.Connect(fd, sa) != nil {
		return false
	}
	if syscall.Shutdown(fd, syscall.SHUT_WR) != nil {
		return false
	}
	for {
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return false
		}
		if n == 0 {
			return true
		}
	}
}
