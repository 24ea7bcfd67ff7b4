package vrrp

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// The resignations' bookkeeping, before Run: names checked against the configuration, one
// record per instance, restored from a state file, forgotten when a reload removes the instance.
func TestResignationsAreKeptByInstanceNameAndDroppedWithTheInstance(t *testing.T) {
	conf := strings.Replace(vrrpConf("x", 3, 100, "1", "192.0.2.100/24", ""), "interface eth0", "interface vgl-missing0", 1)
	m, err := NewManager(loadConf(t, conf), ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Resign("VI_9", Resignation{}); !errors.Is(err, ErrNoInstance) || !strings.Contains(err.Error(), `"VI_9"`) {
		t.Fatalf("Resign of an unknown instance: %v", err)
	}
	since := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	if changed, err := m.Resign("VI_1", Resignation{By: "socket uid 0", Reason: "kernel", Since: since}); !changed || err != nil {
		t.Fatalf("Resign: %v %v", changed, err)
	}
	if changed, _ := m.Resign("VI_1", Resignation{By: "someone else"}); changed {
		t.Error("a second Resign changed something")
	}
	s := m.Snapshot()
	if r := s[0].Resignation; r == nil || r.By != "socket uid 0" || r.Reason != "kernel" || !r.Since.Equal(since) {
		t.Errorf("snapshot's resignation %+v", r)
	}
	if changed, _ := m.Ready("VI_1"); !changed {
		t.Error("Ready of a resigned instance changed nothing")
	}
	if changed, _ := m.Ready("VI_1"); changed || len(m.Resignations()) != 0 {
		t.Errorf("Ready twice: changed %v, resignations %v", changed, m.Resignations())
	}
	restored, dropped := m.RestoreResignations(map[string]Resignation{"VI_1": {By: "a"}, "VI_OLD": {By: "b"}})
	if !slices.Equal(restored, []string{"VI_1"}) || !slices.Equal(dropped, []string{"VI_OLD"}) {
		t.Errorf("restored %v, dropped %v", restored, dropped)
	}
	renamed := strings.Replace(conf, "vrrp_instance VI_1", "vrrp_instance VI_2", 1)
	if err := m.Reload(loadConf(t, renamed)); err != nil {
		t.Fatal(err)
	}
	if r := m.Resignations(); len(r) != 0 {
		t.Errorf("a removed instance's resignation outlived the reload: %v", r)
	}
}
