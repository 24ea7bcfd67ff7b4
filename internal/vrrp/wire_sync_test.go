package vrrp

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// syncGroupConf is B's configuration: VI_1 and VI_2 in sync group G with group notify
// scripts; VI_2 tracks a script (weight 0: a failure is a fault) that fails while flag exists.
// Keepalived ignores a weighted script in a sync group without sync_group_tracking_weight, and
// so does vigil's configuration.
func syncGroupConf(flag, notifyScript, masterScript string) string {
	return fmt.Sprintf(`vrrp_script chk {
  script "/usr/bin/test ! -e %s"
  interval 1
  fall 1
  rise 1
}
vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
  notify %s
  notify_master %s
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  version 3
  priority 100
  advert_int 0.2
  virtual_ipaddress {
    192.0.2.100/24
  }
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 52
  version 3
  priority 100
  advert_int 0.2
  track_script {
    chk
  }
  virtual_ipaddress {
    192.0.2.101/24
  }
}
`, flag, notifyScript, masterScript)
}

// The same scenario runs with vigil and with Keepalived as B (A is vigil): both must move the
// group the same way. Keepalived's states are read from its addresses.
func TestSyncGroupMembersChangeStateTogether(t *testing.T) {
	t.Parallel()
	for _, impl := range []string{"vigil", "keepalived"} {
		t.Run(impl, func(t *testing.T) {
			t.Parallel()
			syncGroupScenario(t, impl)
		})
	}
}

func syncGroupScenario(t *testing.T, impl string) {
	nsA, nsB := pair(t, "192.0.2.1/24", "192.0.2.2/24")
	vip1, vip2 := netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("192.0.2.101")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	flag := filepath.Join(dir, "maintenance")
	log := filepath.Join(dir, "notify.log")
	notifyScript := script(t, dir, "notify.sh", `echo "$*" >> `+log)
	masterScript := script(t, dir, "master.sh", `echo group-master >> `+log)
	conf := syncGroupConf(flag, notifyScript, masterScript)
	var b *vigilProc
	state := func(name string) string { return "" }
	if impl == "vigil" {
		b = startVigil(t, nsB, conf)
		state = b.state
	} else {
		startKeepalived(t, nsB, conf)
	}
	both := func(st string, has bool) func() bool {
		return func() bool {
			return (b == nil || state("VI_1") == st && state("VI_2") == st) &&
				hasAddr(t, nsB, "eth0", vip1) == has && hasAddr(t, nsB, "eth0", vip2) == has
		}
	}
	testenv.WaitFor(t, 10*time.Second, "B alone: the group MASTER with both addresses", both("MASTER", true))
	testenv.WaitFor(t, 5*time.Second, "group notify scripts for MASTER", func() bool {
		l := readLines(log)
		return containsLine(l, "GROUP G MASTER 0") && containsLine(l, "group-master")
	})

	// A master of VI_1 only, at a higher priority: B's VI_1 goes BACKUP and takes VI_2 with
	// it. VI_2 hears no master, but its group prefers BACKUP while VI_1 hears one, so it stays
	// BACKUP well past its master down interval (3×0.2 s + skew).
	a := startVigil(t, nsA, vrrpConf("a", 3, 150, "0.2", "192.0.2.100/24", ""))
	testenv.WaitFor(t, 10*time.Second, "A master of VI_1, B's whole group BACKUP", func() bool {
		return a.state("VI_1") == "MASTER" && both("BACKUP", false)()
	})
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if !both("BACKUP", false)() {
			t.Fatalf("B's group left BACKUP while VI_1 hears A: VI_1 %s, VI_2 %s (VIPs %v %v)", state("VI_1"), state("VI_2"),
				hasAddr(t, nsB, "eth0", vip1), hasAddr(t, nsB, "eth0", vip2))
		}
	}
	testenv.WaitFor(t, 5*time.Second, "group notify for BACKUP", func() bool { return containsLine(readLines(log), "GROUP G BACKUP 0") })

	// A resigns: B's VI_1 wants master after its skew time and VI_2 already does: the group
	// goes MASTER together.
	start := time.Now()
	a.stop(t, 10*time.Second)
	testenv.WaitFor(t, 3*time.Second, "B's group MASTER after A resigned", both("MASTER", true))
	if b != nil {
		st1, _ := b.instance("VI_1")
		st2, _ := b.instance("VI_2")
		t.Logf("B's group master %v after A's resignation; members %v apart", st1.Since.Sub(start), st2.Since.Sub(st1.Since).Abs())
		if d := st2.Since.Sub(st1.Since).Abs(); d > 100*time.Millisecond {
			t.Errorf("members became master %v apart, want together", d)
		}
	}

	// VI_2's track_script fails: VI_2 faults, and VI_1 with it.
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, "the whole group FAULT without addresses", both("FAULT", false))
	testenv.WaitFor(t, 5*time.Second, "group notify for FAULT", func() bool { return containsLine(readLines(log), "GROUP G FAULT 0") })
	os.Remove(flag)
	testenv.WaitFor(t, 10*time.Second, "the group MASTER again once the script passes", both("MASTER", true))
	testenv.WaitFor(t, 5*time.Second, "three group MASTER notifications (start, after A, after the fault)", func() bool {
		return strings.Count(strings.Join(readLines(log), "\n"), "GROUP G MASTER 0") >= 3
	})
}

// A vigil sync group (priority 150) against a Keepalived one (100) with the same members:
// the groups move between the hosts as wholes, and no address is held on both sides for
// longer than an advert interval.
func TestSyncGroupAgainstKeepalivedGroup(t *testing.T) {
	t.Parallel()
	nsV, nsK := pair(t, "192.0.2.1/24", "192.0.2.2/24")
	vip1, vip2 := netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("192.0.2.101")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	flag := filepath.Join(dir, "maintenance")
	logV, logK := filepath.Join(dir, "v.log"), filepath.Join(dir, "k.log")
	notifyV := script(t, dir, "notify-v.sh", `echo "$*" >> `+logV)
	notifyK := script(t, dir, "notify-k.sh", `echo "$*" >> `+logK)
	noop := script(t, dir, "noop.sh", "true")
	dual1 := watchTwoMasters(t, nsV, nsK, vip1)
	dual2 := watchTwoMasters(t, nsV, nsK, vip2)
	v := startVigil(t, nsV, strings.ReplaceAll(syncGroupConf(flag, notifyV, noop), "priority 100", "priority 150"))
	// Keepalived's script checks a file that never exists.
	startKeepalived(t, nsK, syncGroupConf(filepath.Join(dir, "absent"), notifyK, noop))
	holds := func(ns *testenv.Namespace) bool { return hasAddr(t, ns, "eth0", vip1) && hasAddr(t, ns, "eth0", vip2) }
	none := func(ns *testenv.Namespace) bool {
		return !hasAddr(t, ns, "eth0", vip1) && !hasAddr(t, ns, "eth0", vip2)
	}
	testenv.WaitFor(t, 15*time.Second, "vigil's group MASTER, Keepalived's BACKUP", func() bool {
		return v.state("VI_1") == "MASTER" && v.state("VI_2") == "MASTER" && holds(nsV) && none(nsK) &&
			containsLine(readLines(logK), "GROUP G BACKUP 0")
	})

	// vigil's VI_2 script fails: its whole group faults and Keepalived's takes both addresses.
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, "vigil's group FAULT, Keepalived's MASTER", func() bool {
		return v.state("VI_1") == "FAULT" && v.state("VI_2") == "FAULT" && none(nsV) && holds(nsK)
	})
	// The script passes again: vigil's group preempts back as a whole.
	os.Remove(flag)
	testenv.WaitFor(t, 10*time.Second, "vigil's group MASTER again, Keepalived's BACKUP", func() bool {
		return v.state("VI_1") == "MASTER" && v.state("VI_2") == "MASTER" && holds(nsV) && none(nsK)
	})
	for _, l := range []struct {
		path string
		want []string
	}{
		{logV, []string{"GROUP G MASTER 0", "GROUP G FAULT 0"}},
		{logK, []string{"GROUP G BACKUP 0", "GROUP G MASTER 0"}},
	} {
		testenv.WaitFor(t, 5*time.Second, "group notifications in "+filepath.Base(l.path), func() bool {
			got := readLines(l.path)
			for _, w := range l.want {
				if !containsLine(got, w) {
					return false
				}
			}
			return true
		})
	}
	dual1.check(200 * time.Millisecond)
	dual2.check(200 * time.Millisecond)
}
