package userspace

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// freebind lets a listener bind an address this host does not have yet (IP_FREEBIND,
// IPV6_FREEBIND; HAProxy's "freebind", what Keepalived users get from
// net.ipv4.ip_nonlocal_bind): a VRRP backup listens on the virtual address before it owns it,
// and serves the moment it becomes master.
func freebind(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if network == "tcp6" || network == "udp6" {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
