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
	subscribe := func(ch chan<- netlink.LinkUpdate, done <-chan struct{}, onErr func(error)) error {
		return netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{ListExisting: true, ErrorCallback: onErr})
	}
	return watch(ctx, "link changes", subscribe, func(u netlink.LinkUpdate) {
		switch {
		case u.Link == nil:
		case u.Header.Type == unix.RTM_DELLINK:
			fn(LinkState{Name: u.Link.Attrs().Name, Index: u.Link.Attrs().Index})
		default:
			fn(linkState(u.Link))
		}
	})
}
