package supervisor

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/bgp"
	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// fakeAnnouncer records what the BGP policy asks the speaker for, per key.
type fakeAnnouncer struct {
	mu    sync.Mutex
	state map[string]string // key → "announced" / "withdrawn" / "removed"
	route map[string]bgp.Route
}

func (f *fakeAnnouncer) Announce(key string, r bgp.Route, why string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state[key], f.route[key] = "announced", r
	return nil
}

func (f *fakeAnnouncer) Withdraw(key string, prefix netip.Prefix, why string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state[key] = "withdrawn"
	return nil
}

func (f *fakeAnnouncer) Remove(key, why string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state[key] = "removed"
}

func (f *fakeAnnouncer) get(key string) (string, bgp.Route) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state[key], f.route[key]
}

// runAnnouncing runs cfg's parts with the BGP policy's decisions going to fa instead of the
// speaker.
func runAnnouncing(t *testing.T, cfg *config.Config, fa *fakeAnnouncer) *Vigil {
	t.Helper()
	v, err := Build(cfg, Options{StatusListen: "off"})
	if err != nil {
		t.Fatal(err)
	}
	v.announcer.routes = fa
	if err := v.Bind(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return v
}

// testBGPBlock is a bgp block with one neighbor that never answers: the tests see the policy's
// decisions, not a session.
const testBGPBlock = `bgp {
  local_as 65001
  router_id 192.0.2.1
  neighbor 192.0.2.254 {
    remote_as 65000
  }
}
`

// healthCheckedServer is a real_server block for host and port with an HTTP_GET of /health.
func healthCheckedServer(host, port string) string {
	return fmt.Sprintf(`  real_server %s %s {
    HTTP_GET {
      url {
        path /health
        status_code 200
      }
      connect_timeout 1
    }
  }
`, host, port)
}

func TestAnnouncementFollowsQuorum(t *testing.T) {
	b1 := testenv.StartBackend(t)
	vsPort := testenv.FreePort(t, "127.0.0.1", false)
	h, p := b1.HostPort()
	text := fmt.Sprintf(`%svirtual_server 127.0.0.1 %d {
  delay_loop 0.2
  lb_algo rr
  lb_kind NAT
  protocol TCP
  announce {
    community 65001:100
    med 10
  }
%s}
`, testBGPBlock, vsPort, healthCheckedServer(h, p))
	cfg := loadText(t, text)
	fa := &fakeAnnouncer{state: map[string]string{}, route: map[string]bgp.Route{}}
	d := runAnnouncing(t, cfg, fa)
	key := cfg.VirtualServers[0].Name()

	state := func() string { s, _ := fa.get(key); return s }
	testenv.WaitFor(t, 3*time.Second, "announced while the pool has quorum", func() bool { return state() == "announced" })
	_, r := fa.get(key)
	if r.Prefix != netip.MustParsePrefix("127.0.0.1/32") || len(r.Communities) != 1 || r.MED == nil || *r.MED != 10 {
		t.Fatalf("route %+v", r)
	}
	b1.Failing.Store(true)
	testenv.WaitFor(t, 3*time.Second, "withdrawn when quorum is lost", func() bool { return state() == "withdrawn" })
	b1.Failing.Store(false)
	testenv.WaitFor(t, 3*time.Second, "announced again when the pool recovers", func() bool { return state() == "announced" })

	// A reload without the announce block takes the route away.
	if err := d.Reload(loadText(t, strings.Replace(text, "  announce {\n    community 65001:100\n    med 10\n  }\n", "", 1)), nil); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 3*time.Second, "removed after a reload without announce", func() bool { return state() == "removed" })
}

func TestAnnouncementOnlyWhileItsVRRPInstanceIsMaster(t *testing.T) {
	b1 := testenv.StartBackend(t)
	vsPort := testenv.FreePort(t, "127.0.0.1", false)
	h, p := b1.HostPort()
	cfg := loadText(t, fmt.Sprintf(`%svirtual_server 127.0.0.1 %d {
  delay_loop 0.2
  lb_algo rr
  lb_kind NAT
  protocol TCP
  announce {
  }
%s}
`, testBGPBlock, vsPort, healthCheckedServer(h, p)))
	// Set here rather than written above: the config would need a vrrp_instance on an
	// interface this machine has (config tests check the reference).
	cfg.VirtualServers[0].Announce.OnlyWhileMaster = "VI_1"
	fa := &fakeAnnouncer{state: map[string]string{}, route: map[string]bgp.Route{}}
	d := runAnnouncing(t, cfg, fa)
	key := cfg.VirtualServers[0].Name()
	state := func() string { s, _ := fa.get(key); return s }
	testenv.WaitFor(t, 3*time.Second, "the pool to reach quorum", func() bool { return d.Snapshot().VirtualServers[0].QuorumUp })
	if s := state(); s == "announced" {
		t.Fatalf("announced with quorum before VI_1 reported any state, want withdrawn")
	}
	d.announcer.vrrpChanged("VI_1", "BACKUP")
	if s := state(); s == "announced" {
		t.Fatalf("announced while VI_1 is BACKUP")
	}
	d.announcer.vrrpChanged("VI_1", "MASTER")
	if s := state(); s != "announced" {
		t.Fatalf("VI_1 MASTER and quorum: %q, want announced", s)
	}
	b1.Failing.Store(true)
	testenv.WaitFor(t, 3*time.Second, "withdrawn when quorum is lost while master", func() bool { return state() == "withdrawn" })
	b1.Failing.Store(false)
	testenv.WaitFor(t, 3*time.Second, "announced again when the pool recovers", func() bool { return state() == "announced" })
	d.announcer.vrrpChanged("VI_1", "BACKUP")
	if s := state(); s != "withdrawn" {
		t.Fatalf("VI_1 back to BACKUP: %q, want withdrawn", s)
	}
}

// A group's virtual server announces each of its addresses, follows its pool with all of them,
// and a reload that drops an address from the group withdraws only that one's route.
func TestAGroupAnnouncesEachOfItsAddresses(t *testing.T) {
	b1 := testenv.StartBackend(t)
	p1, p2 := testenv.FreePort(t, "127.0.0.1", false), testenv.FreePort(t, "127.0.0.2", false)
	h, p := b1.HostPort()
	conf := func(lines string) string {
		return fmt.Sprintf(`%svirtual_server_group web {
%s}
virtual_server group web {
  delay_loop 0.2
  lb_algo rr
  lb_kind NAT
  protocol TCP
  announce {
    community 65001:100
  }
%s}
`, testBGPBlock, lines, healthCheckedServer(h, p))
	}
	both := fmt.Sprintf("  127.0.0.1 %d\n  127.0.0.2-3 %d\n", p1, p2)
	fa := &fakeAnnouncer{state: map[string]string{}, route: map[string]bgp.Route{}}
	d := runAnnouncing(t, loadText(t, conf(both)), fa)
	keys := []string{"[web]:0 @ 127.0.0.1", "[web]:0 @ 127.0.0.2", "[web]:0 @ 127.0.0.3"}
	all := func(want string) func() bool {
		return func() bool {
			for _, k := range keys {
				if s, _ := fa.get(k); s != want {
					return false
				}
			}
			return true
		}
	}
	testenv.WaitFor(t, 3*time.Second, "every address of the group announced", all("announced"))
	for i, k := range keys {
		if _, r := fa.get(k); r.Prefix != netip.MustParsePrefix(fmt.Sprintf("127.0.0.%d/32", i+1)) || len(r.Communities) != 1 {
			t.Errorf("%s: route %+v", k, r)
		}
	}
	b1.Failing.Store(true)
	testenv.WaitFor(t, 3*time.Second, "every address withdrawn when quorum is lost", all("withdrawn"))
	b1.Failing.Store(false)
	testenv.WaitFor(t, 3*time.Second, "announced again", all("announced"))

	if err := d.Reload(loadText(t, conf(fmt.Sprintf("  127.0.0.1 %d\n", p1))), nil); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 3*time.Second, "the addresses the reload dropped removed", func() bool {
		s2, _ := fa.get(keys[1])
		s3, _ := fa.get(keys[2])
		return s2 == "removed" && s3 == "removed"
	})
	if s, _ := fa.get(keys[0]); s != "announced" {
		t.Errorf("the address the reload kept: %s", s)
	}
}
