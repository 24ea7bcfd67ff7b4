package supervisor

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/dataplane/ipvs"
	"github.com/vigil-lb/vigil/internal/testenv"
)

const syncInstances = `vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 42
  priority 100
  virtual_ipaddress {
    192.0.2.10
  }
}
`

// fakeSyncDaemons records the states the follower asks the kernel's daemons to follow.
type fakeSyncDaemons struct {
	mu     sync.Mutex
	states []string
	daemon ipvs.SyncDaemon
	closed bool
}

func (f *fakeSyncDaemons) Follow(state string, d ipvs.SyncDaemon) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states = append(f.states, state)
	f.daemon = d
	return nil
}

func (f *fakeSyncDaemons) Close() error { f.mu.Lock(); f.closed = true; f.mu.Unlock(); return nil }

func (f *fakeSyncDaemons) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.states)
}

// The IPVS sync daemon follows lvs_sync_daemon's instance, its sync id defaulting to the
// instance's virtual router id, and stops when vigil stops.
func TestIPVSSyncDaemonFollowsItsInstance(t *testing.T) {
	cfg, _ := loadWithDiags(t, "global_defs {\n  lvs_sync_daemon eth1 VI_1 port 8849\n}\n"+syncInstances)
	f := newIPVSSyncFollower(cfg, Options{}, "ipvs", slog.New(slog.DiscardHandler))
	if f == nil {
		t.Fatal("no follower for lvs_sync_daemon with the ipvs data plane")
	}
	fake := &fakeSyncDaemons{}
	f.open = func() (syncDaemons, error) { return fake, nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.run(ctx) }()
	f.vrrpChanged("VI_1", "BACKUP")
	testenv.WaitFor(t, 5*time.Second, "BACKUP followed", func() bool { return slices.Equal(fake.got(), []string{"BACKUP"}) })
	f.vrrpChanged("VI_OTHER", "MASTER")
	f.vrrpChanged("VI_1", "MASTER")
	testenv.WaitFor(t, 5*time.Second, "MASTER followed", func() bool { return slices.Equal(fake.got(), []string{"BACKUP", "MASTER"}) })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the follower did not stop within 5 s")
	}
	if got := fake.got(); !slices.Equal(got, []string{"BACKUP", "MASTER", "STOP"}) || !fake.closed {
		t.Errorf("states %v, closed %v; want BACKUP MASTER STOP, closed", got, fake.closed)
	}
	if want := (ipvs.SyncDaemon{Interface: "eth1", SyncID: 42, Port: 8849}); fake.daemon != want {
		t.Errorf("daemon %+v, want %+v", fake.daemon, want)
	}
}

// No follower where it could do nothing useful, and the log says why.
func TestIPVSSyncDaemonNeedsAnInstanceAndIPVS(t *testing.T) {
	for _, tc := range []struct {
		name, global, dataplane, warn string
		opts                          Options
	}{
		{"nftables", "lvs_sync_daemon eth1 VI_1", "nftables", "the data plane is not ipvs", Options{}},
		{"no instance", "lvs_sync_daemon eth1", "ipvs", "names no vrrp_instance", Options{}},
		{"no VRRP half", "lvs_sync_daemon eth1 VI_1", "ipvs", "does not run here", Options{CheckOnly: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			cfg, _ := loadWithDiags(t, "global_defs {\n  "+tc.global+"\n}\n"+syncInstances)
			if f := newIPVSSyncFollower(cfg, tc.opts, tc.dataplane, slog.New(slog.NewTextHandler(&buf, nil))); f != nil {
				t.Error("a follower was made")
			}
			if !strings.Contains(buf.String(), tc.warn) {
				t.Errorf("log %q does not say %q", buf.String(), tc.warn)
			}
		})
	}
}

// A conntrack_sync instance that preempts at once is warned about: the returning node would
// take the address before its resync.
func TestConntrackSyncWarnsOfPreemptionWithoutDelay(t *testing.T) {
	for _, tc := range []struct {
		extra string
		warn  bool
	}{{"", true}, {"  preempt_delay 5\n", false}, {"  nopreempt\n  state BACKUP\n", false}} {
		var buf bytes.Buffer
		text := "global_defs {\n  conntrack_sync {\n    instance VI_1\n    interface lo\n    peer 192.0.2.2\n  }\n}\n" +
			strings.Replace(syncInstances, "  priority 100\n", "  priority 100\n"+tc.extra, 1)
		cfg, _ := loadWithDiags(t, text)
		if d := newConntrackSync(cfg, Options{}, "nftables", nil, slog.New(slog.NewTextHandler(&buf, nil))); d == nil {
			t.Fatal("no conntrackd driver for conntrack_sync")
		}
		if got := strings.Contains(buf.String(), "preempts without preempt_delay"); got != tc.warn {
			t.Errorf("%q: warned %v, want %v (log %q)", tc.extra, got, tc.warn, buf.String())
		}
	}
}
