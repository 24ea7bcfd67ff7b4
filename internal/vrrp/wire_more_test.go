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

func TestUnicastPeersAndPasswordRefusals(t *testing.T) {
	t.Parallel()
	nsA, nsB := pair(t, "192.0.2.1/24", "192.0.2.2/24")
	vip := netip.MustParseAddr("192.0.2.100")
	unicast := func(src, peer string) string {
		return fmt.Sprintf("unicast_src_ip %s\n  unicast_peer {\n    %s\n  }", src, peer)
	}
	// A and B are unicast peers of each other: A (150) is master, B backup.
	// VRRPv3 with short adverts for the unicast part; the password part needs VRRPv2.
	a := startVigil(t, nsA, vrrpConf("a", 3, 150, "0.2", "192.0.2.100/24", unicast("192.0.2.1", "192.0.2.2")))
	b := startVigil(t, nsB, vrrpConf("b", 3, 100, "0.2", "192.0.2.100/24", unicast("192.0.2.2", "192.0.2.1")))
	testenv.WaitFor(t, 10*time.Second, "unicast: A master, B backup", func() bool {
		return a.state("VI_1") == "MASTER" && b.state("VI_1") == "BACKUP" && hasAddr(t, nsA, "eth0", vip) && !hasAddr(t, nsB, "eth0", vip)
	})
	testenv.WaitFor(t, 5*time.Second, "B naming A as master", func() bool {
		st, _ := b.instance("VI_1")
		return st.MasterAddr == netip.MustParseAddr("192.0.2.1")
	})

	// B reloaded to accept only a peer that is not A: it drops A's adverts as unknown and
	// takes the VIP.
	b.reload(t, vrrpConf("b", 3, 100, "0.2", "192.0.2.100/24", unicast("192.0.2.2", "192.0.2.9")))
	testenv.WaitFor(t, 10*time.Second, "B ignoring A (not a peer) and becoming master", func() bool {
		st, _ := b.instance("VI_1")
		return st.State == "MASTER" && st.Dropped["unknown_peer"] > 0
	})

	// B accepts A again, but only with a TTL A's adverts (255) do not have.
	b.reload(t, vrrpConf("b", 3, 100, "0.2", "192.0.2.100/24", unicast("192.0.2.2", "192.0.2.1 min_ttl 1 max_ttl 254")))
	testenv.WaitFor(t, 10*time.Second, "B refusing A's TTL 255 against max_ttl 254", func() bool {
		st, _ := b.instance("VI_1")
		return st.State == "MASTER" && st.Dropped["bad_ttl"] > 0
	})

	// B back to multicast with another password: A's multicast... A is unicast to B, so
	// switch A to multicast too and give B a different password: B counts auth failures.
	a.reload(t, vrrpConf("a", 2, 150, "1", "192.0.2.100/24", ""))
	b.reload(t, strings.Replace(vrrpConf("b", 2, 100, "1", "192.0.2.100/24", ""), "s3cret", "other", 1))
	testenv.WaitFor(t, 10*time.Second, "B refusing A's password", func() bool {
		st, _ := b.instance("VI_1")
		return st.State == "MASTER" && st.Dropped["auth_failure"] > 0
	})
	if st, _ := a.instance("VI_1"); st.Dropped["auth_failure"] == 0 {
		// A hears B's adverts too (B is master with the other password).
		testenv.WaitFor(t, 5*time.Second, "A refusing B's password", func() bool {
			st, _ := a.instance("VI_1")
			return st.Dropped["auth_failure"] > 0
		})
	}
}

// script writes an executable shell script and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func readLines(path string) []string {
	b, _ := os.ReadFile(path)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func TestTrackScriptMovesMasterAndNotifyScriptsRun(t *testing.T) {
	t.Parallel()
	nsA, nsB := pair(t, "192.0.2.1/24", "192.0.2.2/24")
	vip := netip.MustParseAddr("192.0.2.100")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	flag := filepath.Join(dir, "maintenance")
	log := filepath.Join(dir, "notify.log")
	notifyScript := script(t, dir, "notify.sh", `echo "$*" >> `+log)
	masterScript := script(t, dir, "master.sh", `echo master >> `+log)
	confA := fmt.Sprintf(`vrrp_script chk {
  script "/usr/bin/test ! -e %s"
  interval 1
  fall 1
  rise 1
  weight -60
}
`, flag) + vrrpConf("a", 3, 150, "0.2", "192.0.2.100/24",
		fmt.Sprintf("track_script {\n    chk\n  }\n  notify %s\n  notify_master %s\n  notify_priority_changes", notifyScript, masterScript))
	a := startVigil(t, nsA, confA)
	b := startVigil(t, nsB, vrrpConf("b", 3, 100, "0.2", "192.0.2.100/24", ""))
	testenv.WaitFor(t, 10*time.Second, "A master", func() bool {
		return a.state("VI_1") == "MASTER" && b.state("VI_1") == "BACKUP" && hasAddr(t, nsA, "eth0", vip)
	})
	testenv.WaitFor(t, 5*time.Second, "notify scripts for MASTER", func() bool {
		l := readLines(log)
		return containsLine(l, "INSTANCE VI_1 MASTER 150") && containsLine(l, "master")
	})

	// The script fails: A's priority drops to 90, below B's 100, and B preempts.
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, "B preempting A whose script failed", func() bool {
		st, _ := a.instance("VI_1")
		return st.EffectivePriority == 90 && st.State == "BACKUP" && b.state("VI_1") == "MASTER" &&
			hasAddr(t, nsB, "eth0", vip) && !hasAddr(t, nsA, "eth0", vip)
	})
	testenv.WaitFor(t, 5*time.Second, "notify of the priority change, then of BACKUP", func() bool {
		l := readLines(log)
		return containsLine(l, "INSTANCE VI_1 MASTER 90") && containsLine(l, "INSTANCE VI_1 BACKUP 90")
	})

	// The script recovers: A is back at 150 and preempts.
	os.Remove(flag)
	testenv.WaitFor(t, 5*time.Second, "A preempting back", func() bool {
		st, _ := a.instance("VI_1")
		return st.EffectivePriority == 150 && st.State == "MASTER" && b.state("VI_1") == "BACKUP" && hasAddr(t, nsA, "eth0", vip)
	})
	a.stop(t, 10*time.Second)
	if l := readLines(log); !containsLine(l, "INSTANCE VI_1 STOP 150") {
		t.Errorf("no notify for STOP at shutdown; notify log:\n%s", strings.Join(l, "\n"))
	}
}

func TestTrackInterfaceFaultsTheWholeSyncGroup(t *testing.T) {
	t.Parallel()
	nsA, nsB := pair(t, "192.0.2.1/24", "192.0.2.2/24")
	// A second link, only tracked.
	testenv.Veth(t, nsA, "eth1", nsB, "eth1")
	vip1, vip2 := netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("192.0.2.101")
	confA := `vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  version 3
  priority 150
  advert_int 0.2
  virtual_ipaddress {
    192.0.2.100/24
  }
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 52
  version 3
  priority 150
  advert_int 0.2
  track_interface {
    eth1
  }
  virtual_ipaddress {
    192.0.2.101/24 label eth0:vip2
  }
  virtual_ipaddress_excluded {
    198.51.100.1/32
  }
}
`
	a := startVigil(t, nsA, confA)
	b := startVigil(t, nsB, vrrpConf("b", 3, 100, "0.2", "192.0.2.100/24", ""))
	testenv.WaitFor(t, 10*time.Second, "A master of both", func() bool {
		return a.state("VI_1") == "MASTER" && a.state("VI_2") == "MASTER" && b.state("VI_1") == "BACKUP" &&
			hasAddr(t, nsA, "eth0", vip1) && hasAddr(t, nsA, "eth0", vip2) && hasAddr(t, nsA, "eth0", netip.MustParseAddr("198.51.100.1"))
	})

	// eth1 goes down: VI_2 faults on its tracked interface, and VI_1 with it (same sync
	// group), so B takes VI_1's address.
	testenv.Run(t, "ip", "-n", nsA.Name, "link", "set", "eth1", "down")
	testenv.WaitFor(t, 5*time.Second, "the sync group in fault and B master", func() bool {
		return a.state("VI_1") == "FAULT" && a.state("VI_2") == "FAULT" && b.state("VI_1") == "MASTER" &&
			!hasAddr(t, nsA, "eth0", vip1) && !hasAddr(t, nsA, "eth0", vip2) && hasAddr(t, nsB, "eth0", vip1)
	})

	testenv.Run(t, "ip", "-n", nsA.Name, "link", "set", "eth1", "up")
	testenv.WaitFor(t, 5*time.Second, "A master again after the fault cleared", func() bool {
		return a.state("VI_1") == "MASTER" && a.state("VI_2") == "MASTER" && b.state("VI_1") == "BACKUP" &&
			hasAddr(t, nsA, "eth0", vip1) && hasAddr(t, nsA, "eth0", vip2)
	})
}

func TestReloadKeepsUnchangedInstancesState(t *testing.T) {
	t.Parallel()
	nsA, _ := pair(t, "192.0.2.1/24", "192.0.2.2/24")
	one := vrrpConf("a", 3, 150, "0.2", "192.0.2.100/24", "")
	a := startVigil(t, nsA, one)
	testenv.WaitFor(t, 10*time.Second, "VI_1 master", func() bool { return a.state("VI_1") == "MASTER" })
	before, _ := a.instance("VI_1")

	two := one + `vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 52
  version 3
  priority 150
  advert_int 0.2
  virtual_ipaddress {
    192.0.2.101/24
  }
}
`
	a.reload(t, two)
	testenv.WaitFor(t, 10*time.Second, "VI_2 added and master", func() bool { return a.state("VI_2") == "MASTER" })
	after, _ := a.instance("VI_1")
	if after.Transitions != before.Transitions || !after.Since.Equal(before.Since) || after.State != "MASTER" {
		t.Errorf("VI_1 changed by a reload that did not touch it: before %+v, after %+v", before, after)
	}

	// Changing VI_1's priority applies in place (no new election); VI_2 is untouched.
	v2, _ := a.instance("VI_2")
	a.reload(t, strings.Replace(two, "priority 150", "priority 140", 1))
	testenv.WaitFor(t, 10*time.Second, "VI_1 still master with priority 140", func() bool {
		st, _ := a.instance("VI_1")
		return st.Priority == 140 && st.State == "MASTER"
	})
	if got, _ := a.instance("VI_1"); got.Transitions != before.Transitions {
		t.Errorf("VI_1 transitions %d -> %d across a priority change", before.Transitions, got.Transitions)
	}
	// Its VRID changing makes it another router: it restarts.
	a.reload(t, strings.Replace(strings.Replace(two, "priority 150", "priority 140", 1), "virtual_router_id 51", "virtual_router_id 53", 1))
	testenv.WaitFor(t, 10*time.Second, "VI_1 restarted as VRID 53", func() bool {
		st, _ := a.instance("VI_1")
		return st.VRID == 53 && st.State == "MASTER"
	})
	if got, _ := a.instance("VI_2"); got.Transitions != v2.Transitions {
		t.Errorf("VI_2 transitions %d -> %d across a reload that did not change it", v2.Transitions, got.Transitions)
	}
	if !hasAddr(t, nsA, "eth0", netip.MustParseAddr("192.0.2.100")) {
		t.Error("VI_1's VIP missing after the reloads")
	}
}

func TestMasterRestoresIPv6AddressesAfterALinkFlap(t *testing.T) {
	t.Parallel()
	nsA, nsB := pair(t, "2001:db8::1/64", "2001:db8::2/64")
	testenv.Veth(t, nsA, "eth1", nsB, "eth1")
	vip, other := netip.MustParseAddr("2001:db8::100"), netip.MustParseAddr("2001:db8:1::100")
	a := startVigil(t, nsA, `vrrp_instance VI_6 {
  interface eth0
  virtual_router_id 61
  priority 150
  advert_int 0.2
  virtual_ipaddress {
    2001:db8::100/64
  }
  virtual_ipaddress_excluded {
    2001:db8:1::100/64 dev eth1
  }
}
`)
	testenv.WaitFor(t, 10*time.Second, "A master with both addresses", func() bool {
		return a.state("VI_6") == "MASTER" && hasAddr(t, nsA, "eth0", vip) && hasAddr(t, nsA, "eth1", other)
	})
	// The kernel drops IPv6 addresses of a link that goes down; the master hears it and puts
	// them back at once (the kernel takes an address on a link that is down), so they are
	// there when the link comes up.
	testenv.Run(t, "ip", "-n", nsA.Name, "link", "set", "eth1", "down")
	testenv.WaitFor(t, 3*time.Second, "the address dropped by the kernel and put back", func() bool {
		st, _ := a.instance("VI_6")
		return st.Repairs == 1 && hasAddr(t, nsA, "eth1", other)
	})
	testenv.Run(t, "ip", "-n", nsA.Name, "link", "set", "eth1", "up")
	testenv.WaitFor(t, 3*time.Second, "the address back on eth1", func() bool { return hasAddr(t, nsA, "eth1", other) })
	if s := a.state("VI_6"); s != "MASTER" {
		t.Errorf("A %s after an untracked link flapped, want MASTER", s)
	}
}

func TestTrackFileValueTimesWeightSetsPriority(t *testing.T) {
	t.Parallel()
	nsA, _ := pair(t, "192.0.2.1/24", "192.0.2.2/24")
	file := filepath.Join(t.TempDir(), "weight")
	if err := os.WriteFile(file, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startVigil(t, nsA, fmt.Sprintf("track_file tf {\n  file %s\n  weight -10\n}\n", file)+
		vrrpConf("a", 3, 150, "0.2", "192.0.2.100/24", "track_file {\n    tf\n  }"))
	prio := func(want int) func() bool {
		return func() bool {
			st, _ := a.instance("VI_1")
			return st.EffectivePriority == want && st.State == "MASTER"
		}
	}
	testenv.WaitFor(t, 10*time.Second, "A master at 150 with the file at 0", prio(150))
	if err := os.WriteFile(file, []byte("3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, "priority 150 - 3×10", prio(120))
	if err := os.WriteFile(file, []byte("30\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// 30×-10 is below -253: Keepalived's fault threshold for track files.
	testenv.WaitFor(t, 5*time.Second, "fault at a weighted value below -253", func() bool { return a.state("VI_1") == "FAULT" })
	if err := os.WriteFile(file, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, "master again at 140 once the fault cleared", prio(140))
}
