package vrrp

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	"go.uber.org/goleak"
)

// poolVS is a virtual server for the instances to track; the VRRP half only needs its name.
const poolVS = `virtual_server 192.0.2.100 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 192.0.2.50 80 {
  }
}
`

// poolName is poolVS's name as the checker half reports it (lvs.VirtualServer.Name).
const poolName = "[192.0.2.100]:tcp:80"

func poolConf(name string, prio int, iface, track string) string {
	c := vrrpConf(name, 3, prio, "0.2", "192.0.2.100/24", track) + poolVS
	return strings.Replace(c, "interface eth0", "interface "+iface, 1)
}

// feedPools is the wire helper's stand-in for the checker half: every line "NAME=up|down" of
// the file at path is reported through PoolHealth (again at every tick: repeats are harmless).
func feedPools(m *Manager, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, st, ok := strings.Cut(line, "="); ok {
			m.PoolHealth(name, st == "up")
		}
	}
}

// setPool makes the helper report the pool name as up or down.
func (p *vigilProc) setPool(t *testing.T, name string, up bool) {
	t.Helper()
	st := "down"
	if up {
		st = "up"
	}
	if err := os.WriteFile(p.conf+".pools", []byte(name+"="+st+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPoolTrackWeighsLikeATrackScript(t *testing.T) {
	tests := []struct {
		name      string
		ref       trackRef
		up        bool
		wantFault bool
		wantDelta int
	}{
		{"no weight: below quorum faults", trackRef{kind: poolKind}, false, true, 0},
		{"no weight: quorum is fine", trackRef{kind: poolKind}, true, false, 0},
		{"reverse: quorum faults", trackRef{kind: poolKind, reverse: true}, true, true, 0},
		{"positive weight added while the pool has quorum", trackRef{kind: poolKind, weight: 20}, true, false, 20},
		{"positive weight nothing below quorum", trackRef{kind: poolKind, weight: 20}, false, false, 0},
		{"negative weight added below quorum", trackRef{kind: poolKind, weight: -60}, false, false, -60},
		{"negative weight nothing with quorum", trackRef{kind: poolKind, weight: -60}, true, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, d := tc.ref.effect(trackUpdate{key: tc.ref.key(), up: tc.up})
			if f != tc.wantFault || d != tc.wantDelta {
				t.Errorf("effect = fault %v delta %d, want fault %v delta %d", f, d, tc.wantFault, tc.wantDelta)
			}
		})
	}
}

func TestInstanceTracksTheConfiguredPools(t *testing.T) {
	cfg := loadConf(t, poolConf("x", 100, "eth0", "track_virtual_server {\n    192.0.2.100 80 weight -60 reverse\n  }"))
	m, err := NewManager(cfg, ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := trackRef{kind: poolKind, name: poolName, weight: -60, reverse: true}
	found := false
	for _, tr := range m.specs[0].tracks {
		found = found || tr == want
	}
	if !found {
		t.Errorf("tracks %+v, want one %+v", m.specs[0].tracks, want)
	}
	if want.key() != "vs:"+poolName {
		t.Errorf("key %q", want.key())
	}
}

// PoolHealth before Run is the state the instances start with; during Run it never waits for
// the instances (here one that waits for its interface and reads nothing); a reload keeps
// what is known of pools still configured and forgets the others.
func TestPoolHealthNeverBlocksAndSurvivesReload(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	track := "track_virtual_server {\n    192.0.2.100 80\n  }"
	m, err := NewManager(loadConf(t, poolConf("x", 100, "vgl-missing0", track)), ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key := poolKind + ":" + poolName
	known := func() (trackUpdate, bool) {
		m.mu.Lock()
		defer m.mu.Unlock()
		u, ok := m.last[key]
		return u, ok
	}
	if _, ok := known(); ok {
		t.Fatal("a pool is known before any report")
	}
	m.PoolHealth(poolName, false)
	if u, ok := known(); !ok || u.up {
		t.Fatalf("before Run: %+v %v, want known and down", u, ok)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5s of cancel")
		}
	}()
	testenv.WaitFor(t, 5*time.Second, "the instance waiting for its interface", func() bool {
		s := m.Snapshot()
		return len(s) == 1 && strings.Contains(s[0].Error, "vgl-missing0")
	})
	// Far more reports than the instance's queue holds, which nobody reads.
	const reports = 1000
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		for i := range reports {
			m.PoolHealth(poolName, i%2 == 1)
		}
	}()
	select {
	case <-returned:
	case <-time.After(2 * time.Second):
		t.Fatalf("%d PoolHealth calls did not return within 2s: PoolHealth blocks", reports)
	}
	testenv.WaitFor(t, 2*time.Second, "a report delivered", func() bool { u, ok := known(); return ok && u.up })

	// A reload that keeps the virtual server keeps its state; one without it forgets it.
	if err := m.Reload(loadConf(t, poolConf("x", 90, "vgl-missing0", track))); err != nil {
		t.Fatal(err)
	}
	if u, ok := known(); !ok || !u.up {
		t.Errorf("after a reload that kept the virtual server: %+v %v, want known and up", u, ok)
	}
	other := strings.Replace(poolConf("x", 90, "vgl-missing0", ""), "192.0.2.100 80 {", "192.0.2.101 80 {", 1)
	if err := m.Reload(loadConf(t, other)); err != nil {
		t.Fatal(err)
	}
	if u, ok := known(); ok {
		t.Errorf("after a reload without the virtual server its state is still known: %+v", u)
	}
}

// A pool losing quorum moves the virtual address to the backup: A tracks the pool, B (priority
// 100) does not. Without a weight A goes to FAULT; with weight -60 its priority drops from 150
// to 90; with weight 40 a priority of 80 becomes 120 while the pool has quorum. Before the
// checker half's first report the pool has no effect (not even a positive weight's).
func TestPoolQuorumMovesTheVIP(t *testing.T) {
	t.Parallel()
	type step struct {
		report  string // "" (nothing reported yet), "up" or "down"
		state   string // A's state
		prio    int    // A's effective priority (not checked in FAULT)
		aHasVIP bool
	}
	tests := []struct {
		name, weight string
		prio         int
		steps        []step
	}{
		{"no weight faults", "", 150, []step{{"", "MASTER", 150, true}, {"down", "FAULT", 0, false}, {"up", "MASTER", 150, true}}},
		{"weight -60 lowers the priority", "weight -60", 150, []step{{"", "MASTER", 150, true}, {"down", "BACKUP", 90, false}, {"up", "MASTER", 150, true}}},
		{"weight 40 raises the priority", "weight 40", 80, []step{{"", "BACKUP", 80, false}, {"up", "MASTER", 120, true}, {"down", "BACKUP", 80, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nsA, nsB := pair(t, "192.0.2.1/24", "192.0.2.2/24")
			vip := netip.MustParseAddr("192.0.2.100")
			track := fmt.Sprintf("track_virtual_server {\n    192.0.2.100 80 %s\n  }", tc.weight)
			a := startVigil(t, nsA, poolConf("a", tc.prio, "eth0", track))
			b := startVigil(t, nsB, poolConf("b", 100, "eth0", ""))
			for i, s := range tc.steps {
				if s.report != "" {
					a.setPool(t, poolName, s.report == "up")
				}
				bState := "MASTER"
				if s.aHasVIP {
					bState = "BACKUP"
				}
				what := fmt.Sprintf("step %d, pool %q: A %s at %d, B %s", i, cmp.Or(s.report, "not reported"), s.state, s.prio, bState)
				took := testenv.WaitFor(t, 10*time.Second, what, func() bool {
					st, _ := a.instance("VI_1")
					return st.State == s.state && (s.state == "FAULT" || st.EffectivePriority == s.prio) && b.state("VI_1") == bState &&
						hasAddr(t, nsA, "eth0", vip) == s.aHasVIP && hasAddr(t, nsB, "eth0", vip) == !s.aHasVIP
				})
				t.Logf("%s: after %v", what, took)
			}
		})
	}
}
