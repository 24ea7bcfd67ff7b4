package netif

import (
	"errors"

	"github.com/vishvananda/netlink"
)

// dumpAgain runs a netlink dump again, up to twice, while the kernel reports it interrupted
// (what it lists changed meanwhile, which a busy host does often): a read-back must not take
// an inconsistent list for the truth, nor fail for a change that has nothing to do with it.
func dumpAgain[T any](dump func() ([]T, error)) ([]T, error) {
	for tries := 1; ; tries++ {
		list, err := dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) || tries == 3 {
			return list, err
		}
	}
}
