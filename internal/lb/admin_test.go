package lb

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/control"
	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/dataplane/userspace"
	"github.com/vigil-lb/vigil/internal/pool"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/testenv"
)

func realServerStatus(t *testing.T, d *Half, addr string) status.RealServer {
	t.Helper()
	rs, ok := d.Snapshot().RealServer(addr)
	if !ok {
		t.Fatalf("no real server %s", addr)
	}
	return rs
}

// A drain is in the data plane when SetAdmin returns: not one new connection reaches the
// drained server afterwards, while a connection it already had goes on being served.
func TestDrainIsAppliedBeforeItReturnsAndSparesEstablishedConnections(t *testing.T) {
	b1, b2 := startBackend(t), startBackend(t)
	port := testenv.FreePort(t, "127.0.0.1", false)
	d := runDaemon(t, loadText(t, webConfig(t, port, b1, b2)))
	vs := fmt.Sprintf("127.0.0.1:%d", port)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	url := "http://" + vs + "/"
	testenv.WaitFor(t, 5*time.Second, "both servers up and served", func() bool {
		_, err := get(client, url)
		return err == nil && realServerStatus(t, d, b1.addr).Up && realServerStatus(t, d, b2.addr).Up
	})
	// A keep-alive connection that landed on b1.
	var held *testenv.KeepAlive
	for i := 0; i < 10 && held == nil; i++ {
		k := testenv.DialKeepAlive(t, vs)
		if body, err := k.Get("/", 2*time.Second); err == nil && body == b1.addr {
			held = k
		}
	}
	if held == nil {
		t.Fatal("no connection of ten reached b1")
	}

	reply, err := d.SetAdmin(vs, b1.addr, pool.AdminDrain, "socket uid 0", "disk swap")
	if err != nil || !reply.Changed {
		t.Fatalf("SetAdmin = %+v, %v", reply, err)
	}
	before := b1.served.Load()
	for i := range 40 {
		if body, err := get(client, url); err != nil || body != b2.addr {
			t.Fatalf("request %d after the drain: %q, %v", i, body, err)
		}
	}
	if body, err := held.Get("/", 2*time.Second); err != nil || body != b1.addr {
		t.Errorf("the established connection to b1 after the drain: %q, %v", body, err)
	}
	if got := b1.served.Load() - before; got != 1 {
		t.Errorf("b1 served %d requests after the drain, want the held connection's one", got)
	}
	rs := realServerStatus(t, d, b1.addr)
	if rs.AdminState != "drain" || rs.AdminBy != "socket uid 0" || rs.AdminReason != "disk swap" || rs.AdminSince.IsZero() || rs.EffectiveWeight != 0 || !rs.Up {
		t.Errorf("status of the drained server: %+v", rs)
	}
	if reply, err := d.SetAdmin(vs, b1.addr, pool.AdminDrain, "socket uid 0", ""); err != nil || reply.Changed || !strings.Contains(reply.Message, "already drain") {
		t.Errorf("drain twice: %+v, %v", reply, err)
	}

	// maint every server: nothing is served; ready: both again.
	if reply, err := d.SetAdmin(vs, "", pool.AdminMaint, "op", ""); err != nil || !strings.Contains(reply.Message, "maint, 2 of its 2 real servers changed") {
		t.Fatalf("maint all: %+v, %v", reply, err)
	}
	if _, err := get(client, url); err == nil {
		t.Error("a request was served with every server in maintenance")
	}
	if vs := d.Snapshot().VirtualServers[0]; vs.Serving || !strings.Contains(vs.ServingReason, "2 of 2 up, 2 drained or in maintenance by an operator") {
		t.Errorf("every server in maintenance: serving %v, %q", vs.Serving, vs.ServingReason)
	}
	d.SetAdmin(vs, "", pool.AdminReady, "op", "")
	reached := map[string]bool{}
	for range 10 {
		body, _ := get(client, url)
		reached[body] = true
	}
	if !reached[b1.addr] || !reached[b2.addr] {
		t.Errorf("after ready, requests reached %v", reached)
	}

	if reply, err := d.SetWeight(vs, b2.addr, 3, "op", "bigger box"); err != nil || reply.Message != b2.addr+" of [127.0.0.1]:tcp:"+fmt.Sprint(port)+": weight 3" {
		t.Errorf("SetWeight: %+v, %v", reply, err)
	}
	if rs := realServerStatus(t, d, b2.addr); rs.WeightOverride == nil || *rs.WeightOverride != 3 || rs.EffectiveWeight != 3 {
		t.Errorf("status after the weight override: %+v", rs)
	}
	if reply, err := d.SetWeight(vs, b2.addr, control.ResetWeight, "op", ""); err != nil || !strings.HasSuffix(reply.Message, "the configured weight") {
		t.Errorf("SetWeight reset: %+v, %v", reply, err)
	}
}

// openNothing gives New a userspace data plane, which opens nothing until Listen.
func openNothing(string) (dataplane.Dataplane, error) {
	return userspace.New(nil, userspace.Options{}), nil
}

func TestNamesResolveAsTheStatusAPIGivesThemAndSayWhatIsWrong(t *testing.T) {
	conf := `virtual_server 127.0.0.1 8080 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  sorry_server 127.0.0.1 9999
  real_server 127.0.0.1 8081 {
  }
  real_server 127.0.0.1 8082 {
  }
}
virtual_server 127.0.0.1 8080 {
  lb_algo rr
  lb_kind NAT
  protocol UDP
  real_server 127.0.0.1 8081 {
  }
}
virtual_server 192.0.2.1 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 192.0.2.11 80 {
  }
}
virtual_server fwmark 5 {
  lb_algo rr
  lb_kind NAT
  real_server 192.0.2.12 80 {
  }
}
`
	d, err := New(loadText(t, conf), Options{OpenDataplane: openNothing})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tests := []struct {
		vs, rs string
		kind   control.Kind
		want   string // the reply's message, or the error's
	}{
		{"[127.0.0.1]:tcp:8080", "127.0.0.1:8081", -1, "127.0.0.1:8081 of [127.0.0.1]:tcp:8080: drain"},
		{"192.0.2.1:80", "192.0.2.11:80", -1, "192.0.2.11:80 of [192.0.2.1]:tcp:80: drain"},
		{"[127.0.0.1]:udp:8080", "127.0.0.1", -1, "127.0.0.1:8081 of [127.0.0.1]:udp:8080: drain"},
		{"fwmark 5", "192.0.2.12:80", -1, "192.0.2.12:80 of FWM 5: drain"},
		{"127.0.0.1:8080", "127.0.0.1:8081", control.Ambiguous, `"127.0.0.1:8080" names 2 virtual servers: [127.0.0.1]:tcp:8080, [127.0.0.1]:udp:8080; name one of them`},
		{"[127.0.0.1]:tcp:8080", "127.0.0.1", control.Ambiguous, `"127.0.0.1" names 2 real servers of [127.0.0.1]:tcp:8080: 127.0.0.1:8081, 127.0.0.1:8082; name one with its port`},
		{"nope", "127.0.0.1:8081", control.NotFound, `no virtual server "nope"; virtual servers: [127.0.0.1]:tcp:8080, [127.0.0.1]:udp:8080, [192.0.2.1]:tcp:80, FWM 5`},
		{"192.0.2.1:80", "192.0.2.99:80", control.NotFound, `virtual server [192.0.2.1]:tcp:80 has no real server "192.0.2.99:80"; its real servers: 192.0.2.11:80`},
		{"[127.0.0.1]:tcp:8080", "127.0.0.1:9999", control.Invalid, "is the sorry server of [127.0.0.1]:tcp:8080"},
	}
	for _, tc := range tests {
		t.Run(tc.vs+" "+tc.rs, func(t *testing.T) {
			reply, err := d.SetAdmin(tc.vs, tc.rs, pool.AdminDrain, "op", "")
			if tc.kind < 0 {
				if err != nil || reply.Message != tc.want {
					t.Errorf("SetAdmin = %+v, %v; want %q", reply, err, tc.want)
				}
				return
			}
			if err == nil || control.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("SetAdmin = %+v, %v; want a %v error with %q", reply, err, tc.kind, tc.want)
			}
		})
	}
	if !d.HasVirtualServer("192.0.2.1:80") || d.HasVirtualServer("127.0.0.1:8080") {
		t.Error("HasVirtualServer disagrees with SetAdmin")
	}
}

// The admin states an operator set are handed to the next run, which takes back those of the
// servers it still has and names the others.
func TestAdminStatesOfOneRunAreRestoredInTheNext(t *testing.T) {
	conf := `virtual_server 192.0.2.1 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 192.0.2.11 80 {
  }
  real_server 192.0.2.12 80 {
  }
  real_server 192.0.2.13 80 {
  }
}
`
	first, err := New(loadText(t, conf), Options{OpenDataplane: openNothing})
	if err != nil {
		t.Fatal(err)
	}
	first.SetAdmin("192.0.2.1:80", "192.0.2.11:80", pool.AdminDrain, "socket uid 0", "disk")
	first.SetAdmin("192.0.2.1:80", "192.0.2.13:80", pool.AdminMaint, "socket uid 0", "")
	first.SetWeight("192.0.2.1:80", "192.0.2.12:80", 5, "socket uid 0", "")
	saved := first.AdminStates()
	first.Close()
	if len(saved) != 3 {
		t.Fatalf("saved %+v", saved)
	}
	saved = append(saved, control.RealServerState{VirtualServer: "[192.0.2.2]:tcp:80", RealServer: "192.0.2.21:80", Admin: pool.Admin{State: pool.AdminMaint}})

	next, err := New(loadText(t, strings.Replace(conf, "  real_server 192.0.2.13 80 {\n  }\n", "", 1)), Options{OpenDataplane: openNothing})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	restored, dropped := next.RestoreAdmin(saved)
	wantRestored := "[192.0.2.1]:tcp:80 192.0.2.11:80 drain; [192.0.2.1]:tcp:80 192.0.2.12:80 ready weight 5"
	wantDropped := "[192.0.2.1]:tcp:80 192.0.2.13:80; [192.0.2.2]:tcp:80 192.0.2.21:80"
	if got := strings.Join(restored, "; "); got != wantRestored {
		t.Errorf("restored %q, want %q", got, wantRestored)
	}
	if got := strings.Join(dropped, "; "); got != wantDropped {
		t.Errorf("dropped %q, want %q", got, wantDropped)
	}
	if rs := realServerStatus(t, next, "192.0.2.11:80"); rs.AdminState != "drain" || rs.AdminReason != "disk" || rs.AdminBy != "socket uid 0" {
		t.Errorf("restored server: %+v", rs)
	}
}
