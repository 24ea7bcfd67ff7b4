//go:build !linux

package userspace

import "syscall"

// freebind is Linux's; elsewhere a listener binds only addresses the host has.
func freebind(network, address string, c syscall.RawConn) error { return nil }
