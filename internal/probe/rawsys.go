package probe

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The probes' own system calls on their non-blocking sockets, made with RawSyscall, that is
// without telling Go's scheduler that the goroutine is in a system call. Why: none of them
// blocks, but on loopback or a LAN connect, write and close do the network stack's work for
// both ends of the connection and take tens of microseconds; the runtime's sysmon sees a
// goroutine that long in an ordinary Syscall, takes its P away and wakes another thread to run
// it, and the caller must then win a P back. At thousands of probes a second those thread
// wake-ups cost more CPU than the probes' user-space work (bench/checks, perf). A raw call keeps
// the P, as a function that computes for as long would. Only calls that cannot block belong
// here; bind, SO_BINDTODEVICE and SO_MARK, made once per socket and only when configured, go
// through x/sys/unix as before.

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func rawSetsockoptInt(fd, level, opt, value int) error {
	v := int32(value)
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&v)), 4, 0)
	return errnoErr(e)
}

func rawSetLingerZero(fd int) error {
	l := unix.Linger{Onoff: 1, Linger: 0}
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_LINGER, uintptr(unsafe.Pointer(&l)), unsafe.Sizeof(l), 0)
	return errnoErr(e)
}

func rawGetsockoptInt(fd, level, opt int) (int, error) {
	var v int32
	n := uint32(4)
	_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&n)), 0)
	return int(v), errnoErr(e)
}

func rawConnect(fd int, sa *rawSockaddr) error {
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa.buf)), uintptr(sa.len))
	return errnoErr(e)
}

func rawWrite(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawRead(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawClose(fd int) {
	_, _, _ = unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

// rawPollOut polls fd for writability without waiting.
func rawPollOut(fd int) (revents int16, err error) {
	pfd := unix.PollFd{Fd: int32(fd), Events: unix.POLLOUT}
	for {
		var ts unix.Timespec
		n, _, e := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return 0, e
		case n == 0:
			return 0, nil
		}
		return pfd.Revents, nil
	}
}

func rawEpollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return errnoErr(e)
}

// rawSockaddr is a socket address as connect takes it, built once per checker rather than per
// probe.
type rawSockaddr struct {
	buf unix.RawSockaddrInet6 // or a RawSockaddrInet4 at its start
	len uint32
}

// setInet4 and setInet6 fill sa; the port goes in network byte order.
func (sa *rawSockaddr) setInet4(addr [4]byte, port uint16) {
	r := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sa.buf))
	*r = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: addr}
	p := (*[2]byte)(unsafe.Pointer(&r.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	sa.len = unix.SizeofSockaddrInet4
}

func (sa *rawSockaddr) setInet6(addr [16]byte, port uint16, scope uint32) {
	r := (*unix.RawSockaddrInet6)(unsafe.Pointer(&sa.buf))
	*r = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: addr, Scope_id: scope}
	p := (*[2]byte)(unsafe.Pointer(&r.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	sa.len = unix.SizeofSockaddrInet6
}
