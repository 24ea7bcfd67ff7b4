package netif

import (
	"context"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LinkState is what track_interface cares about in a link.
type LinkState struct {
	Name  string
	Index int
	// Up is true when the link is administratively up and has carrier (IFF_UP and
	// IFF_RUNNING), as Keepalived judges an interface.
	Up bool
}

func linkState(l netlink.Link) LinkState {
	a := l.Attrs()
	return LinkState{Name: a.Name, Index: a.Index, Up: a.RawFlags&unix.IFF_UP != 0 && a.RawFlags&unix.IFF_RUNNING != 0}
}

// Link returns the state of the named interface.
func (h *Host) Link(name string) (LinkState, error) {
	l, err := h.link(name)
	if err != nil {
		return LinkState{}, err
	}
	return linkState(l), nil
}

// Interface returns the named interface as the net package describes it (index, MTU, hardware
// address).
func Interface(name string) (*net.Interface, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("netif: interface %q: %w", name, err)
	}
	return ifi, nil
}

// WatchLinks calls fn with the state of every link that changes in the calling process's
// network namespace until ctx ends, starting with the current state of every link. It returns
// when ctx ends or the netlink subscription fails.
func WatchLinks(ctx context.Context, fn func(LinkState)) error {
	ch := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	errc := make(chan error, 1)
	err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{
		ListExisting: true,
		ErrorCallback: func(err error) {
			select {
			case errc <- err:
			default:
			}
		},
	})
	if err != nil {
		close(done)
		return fmt.Errorf("netif: subscribe to link changes: %w", err)
	}
	// Closing done closes the socket; the library's reader then closes ch. Waiting for that
	// means no goroutine outlives the call.
	defer func() {
		close(done)
		for range ch {
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return fmt.Errorf("netif: link changes: %w", err)
		case u, ok := <-ch:
			if !ok {
				return fmt.Errorf("netif: link change subscription closed")
			}
			if u.Link == nil || u.Header.Type == unix.RTM_DELLINK {
				if u.Link != nil {
					fn(LinkState{Name: u.Link.Attrs().Name, Index: u.Link.Attrs().Index})
				}
				continue
			}
			fn(linkState(u.Link))
		}
	}
}
