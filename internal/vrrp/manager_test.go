package vrrp

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/config"
	"go.uber.org/goleak"
)

func loadConf(t *testing.T, text string) *config.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "k.conf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags, err := config.Load(p, config.Options{ConfigID: "test"})
	if err != nil || diags.HasErrors() {
		t.Fatalf("load: %v %v", err, diags)
	}
	return cfg
}

func TestNewManagerRefusesWhatItCannotRun(t *testing.T) {
	tests := []struct {
		name, conf, want string
	}{
		{"IPVLAN", vrrpConf("x", 3, 100, "1", "192.0.2.100/24", "use_ipvlan"), "use_ipvlan"},
		{"IPv6 over VRRPv2", vrrpConf("x", 2, 100, "1", "2001:db8::100/64", ""), "version 2 cannot carry IPv6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewManager(loadConf(t, tc.conf), ManagerOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewManager error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// An instance whose interface does not exist waits for it, reports why in its status, and
// stops with everything else when the context ends. No root needed: nothing is sent.
func TestManagerWaitsForAMissingInterfaceAndStopsCleanly(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	conf := strings.Replace(vrrpConf("x", 3, 100, "1", "192.0.2.100/24", ""), "interface eth0", "interface vgl-missing0", 1)
	m, err := NewManager(loadConf(t, conf), ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Snapshot(); len(s) != 1 || s[0].Name != "VI_1" || s[0].State != "INIT" || s[0].VRID != 51 {
		t.Fatalf("snapshot before Run: %+v", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := m.Snapshot()
		if len(s) == 1 && strings.Contains(s[0].Error, "vgl-missing0") {
			// Keepalived's state for an instance whose interface is missing.
			if s[0].State != "FAULT" {
				t.Errorf("state %s while the interface is missing, want FAULT", s[0].State)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no error naming the missing interface in %+v", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
	if err := m.Run(context.Background()); err == nil {
		t.Error("a second Run was accepted")
	}
}

func TestStartupDelayHoldsInstancesBack(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	conf := strings.Replace(vrrpConf("x", 3, 100, "1", "192.0.2.100/24", ""), "interface eth0", "interface vgl-missing0", 1)
	conf = strings.Replace(conf, "global_defs {", "global_defs {\n  vrrp_startup_delay 5", 1)
	clk := clock.NewFake(time.Unix(1000, 0))
	m, err := NewManager(loadConf(t, conf), ManagerOptions{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if err := clk.WaitPending(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(4 * time.Second)
	time.Sleep(50 * time.Millisecond)
	if s := m.Snapshot(); len(s) != 1 || s[0].Error != "" {
		t.Fatalf("instance started before vrrp_startup_delay: %+v", s)
	}
	clk.Advance(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s := m.Snapshot(); len(s) == 1 && strings.Contains(s[0].Error, "vgl-missing0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance not started after the delay: %+v", m.Snapshot())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
