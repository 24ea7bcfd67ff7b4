//go:build !linux

package userspace

import (
	"errors"
	"net"
)

// The event loops need epoll; elsewhere every TCP connection runs on goroutines (tcp.go).

type evloop struct{}

func (b *Balancer) useLoops() bool                  { return false }
func (b *Balancer) eventLoops() ([]*evloop, error)  { return nil, errors.ErrUnsupported }
func (b *Balancer) stopLoops()                      {}
func listenLoops(*listener, *net.TCPListener) error { return errors.ErrUnsupported }
func (s *service) startLoops(*listener) error       { return errors.ErrUnsupported }
