package vrrp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/lb"
)

// checkerMarker in a helper's configuration makes the helper run the checker half too, wired
// to the Manager as cmd/vigil wires it: both halves in one process.
const checkerMarker = "# test: run the checker half"

// startChecker runs the load-balancing half (internal/lb) beside m when the configuration at
// path asks for it, its states reaching m as the supervisor wires them (track_virtual_server),
// and returns a function that waits for it to stop once ctx ends. It is created and bound
// before m runs, as the supervisor does.
func startChecker(ctx context.Context, path string, cfg *config.Config, m *Manager, log *slog.Logger) (wait func(), err error) {
	raw, err := os.ReadFile(path)
	if err != nil || !bytes.Contains(raw, []byte(checkerMarker)) {
		return func() {}, err
	}
	d, err := lb.New(cfg, lb.Options{Logger: log.With("half", "lb")})
	if err != nil {
		return nil, err
	}
	d.Events().Subscribe("vrrp", func(ev lb.Event) {
		if ev.State != nil {
			m.PoolHealth(ev.VS, ev.State.CanServe())
		}
	})
	if err := d.Listen(); err != nil {
		return nil, err
	}
	if err := d.Events().Sync(ctx); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			log.Error("checker half", "error", err)
		}
	}()
	return func() { <-done }, nil
}

// Both halves in one process: a real check fails, the pool loses quorum, the instance that
// tracks it goes to FAULT and the backup takes the virtual address; the check recovers and the
// address comes back.
func TestCheckerHalfLosingQuorumMovesTheVIP(t *testing.T) {
	t.Parallel()
	nsA, nsB := pair(t, "192.0.2.1/24", "192.0.2.2/24")
	vip := netip.MustParseAddr("192.0.2.100")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	flag := filepath.Join(dir, "backend-down")
	vs := fmt.Sprintf(`%s
virtual_server 127.0.0.1 8080 {
  delay_loop 0.2
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 127.0.0.1 8081 {
    MISC_CHECK {
      misc_path "/usr/bin/test ! -e %s"
      misc_timeout 1
    }
  }
}
`, checkerMarker, flag)
	a := startVigil(t, nsA, vrrpConf("a", 3, 150, "0.2", "192.0.2.100/24", "track_virtual_server {\n    127.0.0.1 8080\n  }")+vs)
	b := startVigil(t, nsB, vrrpConf("b", 3, 100, "0.2", "192.0.2.100/24", ""))
	aMaster := func() bool {
		return a.state("VI_1") == "MASTER" && b.state("VI_1") == "BACKUP" && hasAddr(t, nsA, "eth0", vip) && !hasAddr(t, nsB, "eth0", vip)
	}
	testenv.WaitFor(t, 10*time.Second, "A master while its pool has quorum", aMaster)

	start := time.Now()
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "A in FAULT and B holding the VIP once the check fails", func() bool {
		return a.state("VI_1") == "FAULT" && b.state("VI_1") == "MASTER" && hasAddr(t, nsB, "eth0", vip) && !hasAddr(t, nsA, "eth0", vip)
	})
	t.Logf("the VIP moved %v after the backend started failing its check (delay_loop 0.2 s, advert 0.2 s)", time.Since(start))

	os.Remove(flag)
	testenv.WaitFor(t, 10*time.Second, "A master again once the check passes", aMaster)
}
