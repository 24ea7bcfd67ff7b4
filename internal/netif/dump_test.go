package netif

import (
	"errors"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestDumpAgainRetriesAnInterruptedDumpThreeTimesAtMost(t *testing.T) {
	tests := []struct {
		name        string
		interrupted int // dumps the kernel interrupts before one that is whole
		wantTries   int
		wantErr     bool
	}{
		{"whole at once", 0, 1, false},
		{"whole at the third", 2, 3, false},
		{"never whole", 5, 3, true},
	}
	for _, tc := range tests {
		tries := 0
		list, err := dumpAgain(func() ([]int, error) {
			tries++
			if tries <= tc.interrupted {
				return []int{-1}, netlink.ErrDumpInterrupted
			}
			return []int{tries}, nil
		})
		if tries != tc.wantTries || errors.Is(err, netlink.ErrDumpInterrupted) != tc.wantErr {
			t.Errorf("%s: %d tries, error %v; want %d tries, error %v", tc.name, tries, err, tc.wantTries, tc.wantErr)
		}
		if !tc.wantErr && (len(list) != 1 || list[0] != tries) {
			t.Errorf("%s: list %v, want the last dump's", tc.name, list)
		}
	}
}
