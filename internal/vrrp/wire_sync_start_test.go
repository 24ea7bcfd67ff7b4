package vrrp

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// ownerGroupConf is a sync group of an address owner (VI_1, priority 255, on eth0) and an
// ordinary member (VI_2, priority 100, on eth1).
// VI_1's generic notify script is notify.
func ownerGroupConf(notify string) string {
	return `vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  version 3
  priority 255
  advert_int 0.2
  notify ` + notify + `
  virtual_ipaddress {
    192.0.2.100/24
  }
}
vrrp_instance VI_2 {
  interface eth1
  virtual_router_id 52
  version 3
  priority 100
  advert_int 0.2
  virtual_ipaddress {
    198.51.100.100/24
  }
}
`
}

// A sync group goes MASTER as a whole at start, even with an address owner in it, and a
// member that cannot run (its interface down or missing) keeps the whole group in FAULT, the
// owner included, until it can. As in Keepalived.
func TestSyncGroupStartsTogetherAndWaitsForEveryMember(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// before prepares eth1 in nsA before vigil starts; heal makes it usable. Both nil:
		// eth1 is up from the start.
		before, heal func(t *testing.T, nsA, nsB *testenv.Namespace)
	}{
		{name: "all interfaces up"},
		{name: "member interface down at start",
			before: func(t *testing.T, nsA, nsB *testenv.Namespace) {
				testenv.Veth(t, nsA, "eth1", nsB, "eth1")
				nsA.Addr(t, "eth1", "198.51.100.1/24")
				testenv.Run(t, "ip", "-n", nsA.Name, "link", "set", "eth1", "down")
			},
			heal: func(t *testing.T, nsA, nsB *testenv.Namespace) {
				testenv.Run(t, "ip", "-n", nsA.Name, "link", "set", "eth1", "up")
			}},
		{name: "member interface missing at start",
			before: func(t *testing.T, nsA, nsB *testenv.Namespace) {},
			heal: func(t *testing.T, nsA, nsB *testenv.Namespace) {
				testenv.Veth(t, nsA, "eth1", nsB, "eth1")
				nsA.Addr(t, "eth1", "198.51.100.1/24")
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nsA, nsB := pair(t, "192.0.2.1/24", "192.0.2.2/24")
			vip1, vip2 := netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("198.51.100.100")
			if tc.before != nil {
				tc.before(t, nsA, nsB)
			} else {
				testenv.Veth(t, nsA, "eth1", nsB, "eth1")
				nsA.Addr(t, "eth1", "198.51.100.1/24")
			}
			dir := t.TempDir()
			os.Chmod(dir, 0o755)
			log := filepath.Join(dir, "notify.log")
			a := startVigil(t, nsA, ownerGroupConf(script(t, dir, "notify.sh", `echo "$*" >> `+log)))
			if tc.heal != nil {
				// However long it waits, the owner must not take its address alone.
				testenv.WaitFor(t, 5*time.Second, "the whole group FAULT", func() bool {
					return a.state("VI_1") == "FAULT" && a.state("VI_2") == "FAULT"
				})
				for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
					if hasAddr(t, nsA, "eth0", vip1) || a.state("VI_1") != "FAULT" || a.state("VI_2") != "FAULT" {
						t.Fatalf("group left FAULT while a member cannot run: VI_1 %s (holds %v: %v), VI_2 %s",
							a.state("VI_1"), vip1, hasAddr(t, nsA, "eth0", vip1), a.state("VI_2"))
					}
				}
				// The notify script hears every state VI_1 went through, however brief.
				if l := readLines(log); containsLine(l, "INSTANCE VI_1 MASTER 255") {
					t.Fatalf("VI_1 was MASTER while a member could not run: %v", l)
				}
				tc.heal(t, nsA, nsB)
			}
			testenv.WaitFor(t, 10*time.Second, "the group MASTER with both addresses", func() bool {
				return a.state("VI_1") == "MASTER" && a.state("VI_2") == "MASTER" &&
					hasAddr(t, nsA, "eth0", vip1) && hasAddr(t, nsA, "eth1", vip2)
			})
			testenv.WaitFor(t, 5*time.Second, "VI_1's notify for MASTER", func() bool {
				return containsLine(readLines(log), "INSTANCE VI_1 MASTER 255")
			})
			if l := readLines(log); strings.Count(strings.Join(l, "\n"), "MASTER") != 1 {
				t.Errorf("VI_1 went MASTER more than once: %v", l)
			}
			st1, _ := a.instance("VI_1")
			st2, _ := a.instance("VI_2")
			t.Logf("members master %v apart; VI_1 %d transitions", st1.Since.Sub(st2.Since).Abs(), st1.Transitions)
			if d := st1.Since.Sub(st2.Since).Abs(); d > 100*time.Millisecond {
				t.Errorf("the owner went master %v apart from its group, want together", d)
			}
		})
	}
}
