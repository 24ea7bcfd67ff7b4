package vrrp

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// Markers in a helper's configuration: reconcileMarker followed by a duration sets
// ManagerOptions.ReconcileInterval; timerOnlyMarker leaves the kernel's change events unwatched,
// so that masters read back on their timer only.
const (
	reconcileMarker = "# test: reconcile every "
	timerOnlyMarker = "# test: reconcile on the timer only"
)

// repairRecord is one OnRepair call as the helper writes it, a JSON line to the status file's
// path with ".repairs" added.
type repairRecord struct {
	Instance string `json:"instance"`
	Drift    string `json:"drift"`
	Err      string `json:"err,omitempty"`
}

// reconcileOptions reads the markers of the helper's configuration at path into o, and makes
// o.OnRepair append each repair to repairsPath. It reports whether events are to be off.
func reconcileOptions(path string, o *ManagerOptions, repairsPath string) (timerOnly bool, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if d, ok := strings.CutPrefix(line, reconcileMarker); ok {
			if o.ReconcileInterval, err = time.ParseDuration(d); err != nil {
				return false, err
			}
		}
		timerOnly = timerOnly || line == timerOnlyMarker
	}
	f, err := os.OpenFile(repairsPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return false, err
	}
	var mu sync.Mutex // instances report from their own goroutines
	o.OnRepair = func(r Repair) {
		rec := repairRecord{Instance: r.Instance, Drift: r.Drift}
		if r.Err != nil {
			rec.Err = r.Err.Error()
		}
		b, _ := json.Marshal(rec)
		mu.Lock()
		defer mu.Unlock()
		f.Write(append(b, '\n'))
	}
	return timerOnly, nil
}

// repairs is what the helper's OnRepair has heard so far.
func (p *vigilProc) repairs(t *testing.T) []repairRecord {
	t.Helper()
	b, err := os.ReadFile(p.status + ".repairs")
	if err != nil {
		return nil
	}
	var out []repairRecord
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r repairRecord
		if line != "" && json.Unmarshal([]byte(line), &r) == nil {
			out = append(out, r)
		}
	}
	return out
}

// newDriftLab is a host A and its neighbour H on one segment (eth0 in both), A with a second
// interface eth1 for entries that can be taken away with their interface.
func newDriftLab(t *testing.T) (a, h *testenv.Namespace) {
	a, h = testenv.NewNamespace(t, "a"), testenv.NewNamespace(t, "h")
	testenv.Veth(t, a, "eth0", h, "eth0")
	a.Addr(t, "eth0", "192.0.2.1/24")
	h.Addr(t, "eth0", "192.0.2.3/24")
	addSecondLink(t, a)
	return a, h
}

// addSecondLink gives a an interface eth1, up, in 198.51.100.0/24: one end of a veth pair
// whose other end, eth1p, is in a too (test kernels may lack the dummy driver).
func addSecondLink(t *testing.T, a *testenv.Namespace) {
	a.Run(t, "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
	a.SetLink(t, "eth1p", true)
	a.SetLink(t, "eth1", true)
	a.Addr(t, "eth1", "198.51.100.1/24")
}

// driftConf is one instance holding 192.0.2.100/24 on eth0 and what extra adds, fast to take
// over (advert_int 0.1), announcing its addresses once on takeover and on repair, with the
// test markers given.
func driftConf(name string, prio int, markers, extra string) string {
	return fmt.Sprintf(`%s
global_defs {
  router_id %s
  vrrp_garp_master_delay 0
  vrrp_garp_master_repeat 1
  vrrp_garp_master_refresh 0
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  version 3
  priority %d
  advert_int 0.1
  virtual_ipaddress {
    192.0.2.100/24
  }
  %s
}
`, markers, name, prio, extra)
}

var driftVIP = netip.MustParseAddr("192.0.2.100")

// ipShows reports whether "ip ARGS" in ns prints a line containing want.
func ipShows(t *testing.T, ns *testenv.Namespace, want string, args ...string) bool {
	t.Helper()
	return strings.Contains(ns.Run(t, "ip", args...), want)
}

// masterOf waits until p's VI_1 is master with its address in ns.
func masterOf(t *testing.T, p *vigilProc, ns *testenv.Namespace, also func() bool) {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, "VI_1 master holding what it should", func() bool {
		return p.state("VI_1") == "MASTER" && hasAddr(t, ns, "eth0", driftVIP) && also()
	})
}

// An address deleted on the master comes back at once (the address watcher, not the periodic
// read-back, whose interval is far longer), is counted and reported, and is announced again:
// a neighbour whose cache had been pointed elsewhere learns the master's MAC from it.
func TestMasterPutsBackADeletedAddressAtOnceAndAnnouncesIt(t *testing.T) {
	t.Parallel()
	a, h := newDriftLab(t)
	// Linux's default, set because it decides whether H takes the announcement.
	h.Run(t, "sysctl", "-qw", "net.ipv4.conf.all.drop_gratuitous_arp=0", "net.ipv4.conf.eth0.drop_gratuitous_arp=0")
	const interval = 10 * time.Second
	p := startVigil(t, a, driftConf("a", 150, reconcileMarker+interval.String(), ""))
	masterOf(t, p, a, func() bool { return true })
	macA := mac(t, a)
	// Let the takeover's own announcement pass first.
	time.Sleep(200 * time.Millisecond)

	// H has the address cached at a MAC that is not A's: only a new announcement corrects it
	// (an unsolicited ARP updates an entry that exists; H sends nothing).
	h.Run(t, "ip", "neigh", "replace", driftVIP.String(), "lladdr", "02:00:5e:00:53:99", "dev", "eth0", "nud", "stale")
	start := time.Now()
	a.Run(t, "ip", "addr", "del", "192.0.2.100/24", "dev", "eth0")
	took := testenv.WaitSince(t, start, 5*time.Second, "the address back on A", func() bool { return hasAddr(t, a, "eth0", driftVIP) })
	t.Logf("address deleted on the master: back after %v (read-back interval %v)", took.Round(time.Millisecond), interval)
	if took > 2*time.Second {
		t.Errorf("address back after %v: want well under the %v interval (the address watcher)", took, interval)
	}
	testenv.WaitFor(t, 3*time.Second, "H's entry at A's MAC again", func() bool {
		ll, _ := neighbour(t, h, driftVIP)
		return ll == macA
	})
	testenv.WaitFor(t, 2*time.Second, "the repair counted and reported", func() bool {
		st, _ := p.instance("VI_1")
		return st.Repairs == 1 && len(p.repairs(t)) == 1
	})
	want := repairRecord{Instance: "VI_1", Drift: "address 192.0.2.100/24 dev eth0"}
	if got := p.repairs(t)[0]; got != want {
		t.Errorf("OnRepair heard %+v, want %+v", got, want)
	}
	if st, _ := p.instance("VI_1"); st.NotInPlace != "" || st.State != "MASTER" {
		t.Errorf("after the repair: state %s, not in place %q; want MASTER with everything in place", st.State, st.NotInPlace)
	}
}

// With the kernel's events unwatched, the periodic read-back alone puts back an address, a
// route and a rule within one interval.
func TestMasterReadsBackOnItsTimerWithoutEvents(t *testing.T) {
	t.Parallel()
	a, _ := newDriftLab(t)
	const interval = time.Second
	extra := `virtual_routes {
    203.0.113.0/24 via 192.0.2.254 dev eth0
  }
  virtual_rules {
    from 192.0.2.0/24 table 7 priority 100
  }`
	p := startVigil(t, a, driftConf("a", 150, reconcileMarker+interval.String()+"\n"+timerOnlyMarker, extra))
	route := func() bool { return ipShows(t, a, "via 192.0.2.254", "route", "show", "203.0.113.0/24") }
	rule := func() bool { return ipShows(t, a, "lookup 7", "rule", "show", "pref", "100") }
	masterOf(t, p, a, func() bool { return route() && rule() })

	start := time.Now()
	a.Run(t, "ip", "addr", "del", "192.0.2.100/24", "dev", "eth0")
	a.Run(t, "ip", "route", "del", "203.0.113.0/24")
	a.Run(t, "ip", "rule", "del", "pref", "100")
	// The next read-back is due within one interval; a loaded machine gets a second more.
	took := testenv.WaitSince(t, start, interval+time.Second, "address, route and rule back", func() bool {
		return hasAddr(t, a, "eth0", driftVIP) && route() && rule()
	})
	t.Logf("address, route and rule deleted with events off: back after %v (interval %v)", took.Round(time.Millisecond), interval)
	testenv.WaitFor(t, 2*time.Second, "three repairs counted and reported", func() bool {
		st, _ := p.instance("VI_1")
		return st.Repairs == 3 && len(p.repairs(t)) == 3
	})
}

// A deleted virtual route, one replaced by another with the same key, and a deleted virtual
// rule come back at once (the route and rule watchers). Entries Keepalived does not track are
// left alone: those with no_track, and a route that names no interface (the configuration
// warns that it is not tracked).
func TestMasterPutsBackRoutesAndRules(t *testing.T) {
	t.Parallel()
	a, _ := newDriftLab(t)
	const interval = 10 * time.Second
	extra := `virtual_routes {
    203.0.113.0/25 via 192.0.2.254 dev eth0
    198.51.100.128/25 via 192.0.2.254 dev eth0 no_track
    blackhole 203.0.113.128/25
  }
  virtual_rules {
    from 192.0.2.0/24 table 7 priority 100
    to 198.51.100.0/24 table 8 priority 101 no_track
  }`
	p := startVigil(t, a, driftConf("a", 150, reconcileMarker+interval.String(), extra))
	viaRoute := func() bool { return ipShows(t, a, "via 192.0.2.254", "route", "show", "203.0.113.0/25") }
	blackhole := func() bool { return ipShows(t, a, "blackhole", "route", "show", "203.0.113.128/25") }
	untrackedRoute := func() bool { return ipShows(t, a, "via", "route", "show", "198.51.100.128/25") }
	rule := func() bool { return ipShows(t, a, "lookup 7", "rule", "show", "pref", "100") }
	untrackedRule := func() bool { return ipShows(t, a, "lookup 8", "rule", "show", "pref", "101") }
	masterOf(t, p, a, func() bool { return viaRoute() && blackhole() && untrackedRoute() && rule() && untrackedRule() })

	steps := []struct {
		what   string
		change []string
		back   func() bool
	}{
		{"route deleted", []string{"route", "del", "203.0.113.0/25"}, viaRoute},
		{"route replaced", []string{"route", "replace", "203.0.113.0/25", "via", "192.0.2.253", "dev", "eth0"}, viaRoute},
		{"rule deleted", []string{"rule", "del", "pref", "100"}, rule},
	}
	for _, s := range steps {
		start := time.Now()
		a.Run(t, "ip", s.change...)
		took := testenv.WaitSince(t, start, 5*time.Second, s.what+": put back", s.back)
		t.Logf("%s on the master: back after %v (read-back interval %v)", s.what, took.Round(time.Millisecond), interval)
		if took > 2*time.Second {
			t.Errorf("%s: back after %v, want well under the %v interval (the watchers)", s.what, took, interval)
		}
	}

	// The untracked entries go with a tracked one; once the tracked one is back, a read-back
	// has run, and they are still gone.
	a.Run(t, "ip", "route", "del", "198.51.100.128/25")
	a.Run(t, "ip", "rule", "del", "pref", "101")
	a.Run(t, "ip", "route", "del", "blackhole", "203.0.113.128/25")
	a.Run(t, "ip", "route", "del", "203.0.113.0/25")
	testenv.WaitFor(t, 5*time.Second, "the tracked route put back", viaRoute)
	if untrackedRoute() || untrackedRule() || blackhole() {
		t.Errorf("an untracked entry was put back: no_track route %v, no_track rule %v, blackhole route %v",
			untrackedRoute(), untrackedRule(), blackhole())
	}
	testenv.WaitFor(t, 2*time.Second, "four repairs counted and reported", func() bool {
		st, _ := p.instance("VI_1")
		return st.Repairs == 4 && len(p.repairs(t)) == 4
	})
	var drifts []string
	for _, r := range p.repairs(t) {
		drifts = append(drifts, r.Drift)
	}
	want := []string{"route 203.0.113.0/25 via 192.0.2.254 dev eth0", "route 203.0.113.0/25 via 192.0.2.254 dev eth0",
		"rule from 192.0.2.0/24 pref 100 table 7", "route 203.0.113.0/25 via 192.0.2.254 dev eth0"}
	if strings.Join(drifts, "|") != strings.Join(want, "|") {
		t.Errorf("OnRepair heard %q, want %q", drifts, want)
	}
}

// A backup does not take an address someone deletes (it has none) or adds: it never adds or
// removes anything. The master beside it, told of the same kind of change, repairs: the
// watchers were running.
func TestBackupLeavesItsAddressesAlone(t *testing.T) {
	t.Parallel()
	a, b := newDriftLab(t) // the neighbour plays the backup
	const interval = 300 * time.Millisecond
	pa := startVigil(t, a, driftConf("a", 150, reconcileMarker+interval.String(), ""))
	pb := startVigil(t, b, driftConf("b", 100, reconcileMarker+interval.String(), ""))
	masterOf(t, pa, a, func() bool { return pb.state("VI_1") == "BACKUP" })

	b.Run(t, "ip", "addr", "add", "192.0.2.100/24", "dev", "eth0")
	time.Sleep(3 * interval)
	if !hasAddr(t, b, "eth0", driftVIP) {
		t.Errorf("the backup removed an address someone added")
	}
	b.Run(t, "ip", "addr", "del", "192.0.2.100/24", "dev", "eth0")
	time.Sleep(3 * interval)
	if hasAddr(t, b, "eth0", driftVIP) {
		t.Errorf("the backup put back an address it does not hold")
	}
	st, _ := pb.instance("VI_1")
	if st.State != "BACKUP" || st.Repairs != 0 || st.NotInPlace != "" || len(pb.repairs(t)) != 0 {
		t.Errorf("backup: state %s, repairs %d, not in place %q, OnRepair %v; want BACKUP with none",
			st.State, st.Repairs, st.NotInPlace, pb.repairs(t))
	}

	a.Run(t, "ip", "addr", "del", "192.0.2.100/24", "dev", "eth0")
	testenv.WaitFor(t, 5*time.Second, "the master putting its address back", func() bool {
		st, _ := pa.instance("VI_1")
		return hasAddr(t, a, "eth0", driftVIP) && st.Repairs == 1
	})
}

// A repair that cannot succeed, its interface gone or down, shows in NotInPlace with the
// reason, is logged and reported once, and is retried at the interval, not in a loop; once the
// interface is back, so is the entry.
func TestRepairThatCannotSucceedIsReportedOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		drift      string // what NotInPlace names, and why
		take, give func(t *testing.T, a *testenv.Namespace)
		back       func(t *testing.T, a *testenv.Namespace) bool
	}{
		{
			name:  "interface deleted",
			drift: "address 198.51.100.100/24 dev eth1: netif: interface \"eth1\"",
			take:  func(t *testing.T, a *testenv.Namespace) { a.Run(t, "ip", "link", "del", "eth1") },
			give:  addSecondLink,
			back: func(t *testing.T, a *testenv.Namespace) bool {
				return hasAddr(t, a, "eth1", netip.MustParseAddr("198.51.100.100"))
			},
		},
		{
			name:  "interface down",
			drift: "route 203.0.113.0/24 dev eth1: netif: add route 203.0.113.0/24 dev eth1: network is down",
			take:  func(t *testing.T, a *testenv.Namespace) { a.SetLink(t, "eth1", false) },
			give:  func(t *testing.T, a *testenv.Namespace) { a.SetLink(t, "eth1", true) },
			back: func(t *testing.T, a *testenv.Namespace) bool {
				return ipShows(t, a, "dev eth1", "route", "show", "203.0.113.0/24")
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, _ := newDriftLab(t)
			const interval = 200 * time.Millisecond
			extra := `virtual_ipaddress_excluded {
    198.51.100.100/24 dev eth1
  }
  virtual_routes {
    203.0.113.0/24 dev eth1
  }`
			p := startVigil(t, a, driftConf("a", 150, reconcileMarker+interval.String(), extra))
			masterOf(t, p, a, func() bool { return tc.back(t, a) })

			tc.take(t, a)
			testenv.WaitFor(t, 5*time.Second, "NotInPlace naming "+tc.drift, func() bool {
				st, _ := p.instance("VI_1")
				return strings.Contains(st.NotInPlace, tc.drift)
			})
			// Ten intervals of retries.
			time.Sleep(10 * interval)
			st, _ := p.instance("VI_1")
			if st.State != "MASTER" || st.Repairs != 0 {
				t.Errorf("state %s, repairs %d; want MASTER with none", st.State, st.Repairs)
			}
			drift, _, _ := strings.Cut(tc.drift, ": ")
			failures := 0
			for _, r := range p.repairs(t) {
				if r.Drift == drift {
					failures++
					if r.Err == "" {
						t.Errorf("OnRepair heard %+v without an error", r)
					}
				}
			}
			log, err := os.ReadFile(p.log)
			if err != nil {
				t.Fatal(err)
			}
			kind, what, _ := strings.Cut(drift, " ")
			logged, retried := 0, 0
			for _, line := range strings.Split(string(log), "\n") {
				if !strings.Contains(line, kind+"=\""+what+"\"") && !strings.Contains(line, kind+"="+what) {
					continue
				}
				if strings.Contains(line, "missing and not put back") {
					logged++
				}
				if strings.Contains(line, "still not in place") {
					retried++
				}
			}
			t.Logf("%s: OnRepair told %d times, logged %d times, retried %d times in %v", drift, failures, logged, retried, 10*interval)
			if failures != 1 || logged != 1 {
				t.Errorf("%s: reported %d and logged %d times, want once each", drift, failures, logged)
			}
			// Retried on the timer: one read-back an interval, and one for each event.
			if retried < 3 || retried > 20 {
				t.Errorf("%s retried %d times in %v: want about one an interval (%v)", drift, retried, 10*interval, interval)
			}

			tc.give(t, a)
			testenv.WaitFor(t, 5*time.Second, "the entry back and nothing left out", func() bool {
				st, _ := p.instance("VI_1")
				return tc.back(t, a) && st.NotInPlace == ""
			})
		})
	}
}
