package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/status"
)

type fixedSnapshot struct{ s status.Snapshot }

func (f fixedSnapshot) Snapshot() status.Snapshot { return f.s }

var statusAt = time.Date(2026, 11, 24, 22, 14, 5, 0, time.UTC)

var four = 4

func statusFixture() status.Snapshot {
	return status.Snapshot{
		Generated: statusAt, Version: "1.2.3", Dataplane: "userspace",
		VirtualServers: []status.VirtualServer{{
			Name: "web", Listen: "192.0.2.10:80", Protocol: "TCP", Scheduler: "wrr", Quorum: 2, QuorumUp: false,
			SorryActive: true, UpCount: 1, Total: 2, ServingReason: "data plane: listen tcp 192.0.2.10:80: bind: address already in use (retrying)",
			RealServers: []status.RealServer{
				{Name: "198.51.100.1:80", Address: "198.51.100.1:80", Up: true, Weight: 3, EffectiveWeight: 3,
					Since:  statusAt.Add(-90 * time.Minute),
					Checks: []status.Check{{Kind: "HTTP_GET", Healthy: true, Checked: true, Latency: 2500 * time.Microsecond, At: statusAt.Add(-2 * time.Second)}}},
				{Name: "198.51.100.2:80", Address: "198.51.100.2:80", Up: false, Weight: 1,
					Since: statusAt.Add(-30 * time.Second),
					Checks: []status.Check{
						{Kind: "TCP_CHECK", Checked: true, Reason: "connect: connection refused", Latency: 300 * time.Microsecond, At: statusAt.Add(-5 * time.Second)},
						{Kind: "HTTP_GET", Checked: true, Reason: "status 503, expected 200", Latency: 1200 * time.Microsecond, At: statusAt.Add(-time.Second)},
					}},
				{Name: "198.51.100.3:80", Address: "198.51.100.3:80", Weight: 1, Checks: []status.Check{{Kind: "MISC_CHECK"}},
					AdminState: status.AdminMaint, AdminBy: "socket uid 0", AdminReason: "disk swap", AdminSince: statusAt.Add(-time.Minute)},
				{Name: "198.51.100.4:80", Address: "198.51.100.4:80", Up: true, Weight: 1, AdminState: status.AdminDrain, WeightOverride: &four,
					AdminBy: "http from 192.0.2.9:4000"},
				{Name: "198.51.100.5:80", Address: "198.51.100.5:80", Up: true, Weight: 1, Since: statusAt.Add(-90 * time.Minute),
					Ejected: true, EjectedReason: "dial tcp 198.51.100.5:80: i/o timeout",
					Checks: []status.Check{{Kind: "TCP_CHECK", Healthy: true, Checked: true, Latency: 200 * time.Microsecond, At: statusAt.Add(-3 * time.Second)}}},
			},
		}},
		VRRPInstances: []status.VRRPInstance{{Name: "VI_1", Interface: "eth0", VRID: 51, State: "BACKUP", Priority: 100,
			EffectivePriority: 90, MasterAddress: "192.0.2.2", Since: statusAt.Add(-time.Hour), VirtualAddresses: []string{"192.0.2.10/24", "2001:db8::10/64"}},
			{Name: "VI_3", Interface: "eth2", VRID: 53, State: "BACKUP", Priority: 100, EffectivePriority: 100, AdminState: status.AdminResigned,
				AdminBy: "socket uid 0", AdminReason: "kernel upgrade", AdminSince: statusAt.Add(-2 * time.Minute)},
			{Name: "VI_2", Interface: "eth1", VRID: 52, State: "MASTER", Priority: 150, EffectivePriority: 150, Since: statusAt.Add(-time.Minute),
				VirtualAddresses: []string{"198.51.100.10/24"}, Repairs: 2, Problem: "tracked virtual server web is not serving: data plane: listen tcp 192.0.2.10:80: bind: address already in use (retrying)"}},
		LastReload: &status.Reload{At: statusAt.Add(-20 * time.Second), Outcome: "refused", Reason: "the new file has 1 complaint(s), the first at keepalived.conf:12 (Invalid address 127.0.0.300), and would remove running virtual_server web"},
		BGP: &status.BGP{
			Sessions: []status.BGPSession{
				{Peer: "198.51.100.254", AS: 65000, State: "ESTABLISHED", EstablishedSince: statusAt.Add(-10 * time.Minute)},
				{Peer: "198.51.100.253", AS: 65000, State: "ACTIVE"},
			},
			Prefixes: []status.BGPPrefix{{VirtualServer: "web", Prefix: "192.0.2.10/32", State: status.BGPPendingWithdraw,
				Reason: "quorum lost (1/2 up)", Held: "hold-down until 22:14:35", Since: statusAt.Add(-5 * time.Second), InRIB: true}},
		},
	}
}

func statusServer(t *testing.T, s status.Snapshot) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(status.NewHandler(fixedSnapshot{s}, status.NewHub(10, time.Now), nil))
	t.Cleanup(srv.Close)
	return srv
}

func TestStatusPrintsServersStatesWeightsChecksAndVRRP(t *testing.T) {
	srv := statusServer(t, statusFixture())
	var out, errb bytes.Buffer
	if code := statusCommand(options{}, []string{"--status-url", srv.URL}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	got := out.String()
	t.Logf("output:\n%s", got)
	lineWith := func(prefix string) string {
		for _, l := range strings.Split(got, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), prefix) {
				return strings.Join(strings.Fields(l), " ")
			}
		}
		t.Fatalf("no line starts with %q", prefix)
		return ""
	}
	cases := []struct{ prefix, want string }{
		{"vigil", "vigil 1.2.3, data plane userspace, at 2026-11-24 22:14:05 UTC"},
		{"last reload", "last reload 22:13:45 (20s ago) REFUSED: the new file has 1 complaint(s), the first at keepalived.conf:12 (Invalid address 127.0.0.300), and would remove running virtual_server web"},
		{"VIRTUAL SERVER", "VIRTUAL SERVER SERVING UP QUORUM WHY NOT SERVING"},
		{"web ", "web NO 1/2 2 LOST data plane: listen tcp 192.0.2.10:80: bind: address already in use (retrying)"},
		{"virtual server web", "virtual server web (tcp 192.0.2.10:80, wrr): NOT SERVING (data plane: listen tcp 192.0.2.10:80: bind: address already in use (retrying)), 1/2 up, QUORUM 2 LOST, sorry server active"},
		{"REAL SERVER", "REAL SERVER STATE ADMIN WEIGHT SINCE LAST CHECK REASON"},
		{"198.51.100.1:80", "198.51.100.1:80 up - 3/3 20:44:05 (1h30m ago) HTTP_GET ok 2.5ms 2s ago -"},
		// The newest check is the one shown; the reason is the first failing check's.
		{"198.51.100.2:80", "198.51.100.2:80 DOWN - 0/1 22:13:35 (30s ago) HTTP_GET failed 1.2ms 1s ago connect: connection refused"},
		// An operator's state beside the health, and first in the reason.
		{"198.51.100.3:80", "198.51.100.3:80 DOWN MAINT 0/1 - pending maint by socket uid 0: disk swap"},
		{"198.51.100.4:80", "198.51.100.4:80 up DRAIN 0/1 (set 4) - - drain, weight 4 by http from 192.0.2.9:4000"},
		// Passive health's ejection, until the next check verdict.
		{"198.51.100.5:80", "198.51.100.5:80 EJECTED - 0/1 20:44:05 (1h30m ago) TCP_CHECK ok 0.2ms 3s ago ejected: dial tcp 198.51.100.5:80: i/o timeout"},
		{"VRRP INSTANCE", "VRRP INSTANCE INTERFACE VRID STATE PRIORITY MASTER SINCE ADDRESSES REPAIRS"},
		{"VI_1", "VI_1 eth0 51 BACKUP 90/100 192.0.2.2 21:14:05 (1h ago) 192.0.2.10/24 2001:db8::10/64 0"},
		{"VI_2", "VI_2 eth1 52 MASTER (PROBLEM) 150/150 - 22:13:05 (1m ago) 198.51.100.10/24 2"},
		{"VI_3", "VI_3 eth2 53 BACKUP (RESIGNED) 100/100 - - - 0"},
		{"PROBLEM", "PROBLEM VI_2: tracked virtual server web is not serving: data plane: listen tcp 192.0.2.10:80: bind: address already in use (retrying)"},
		{"RESIGNED", "RESIGNED VI_3 since 22:12:05 (2m ago) by socket uid 0: kernel upgrade (vigil ctl ready to end it)"},
		{"BGP NEIGHBOR", "BGP NEIGHBOR AS STATE SINCE"},
		{"198.51.100.254", "198.51.100.254 65000 ESTABLISHED 22:04:05 (10m ago)"},
		{"198.51.100.253", "198.51.100.253 65000 ACTIVE -"},
		{"BGP PREFIX", "BGP PREFIX VIRTUAL SERVER STATE IN RIB SINCE REASON"},
		{"192.0.2.10/32", "192.0.2.10/32 web pending-withdraw yes 22:14:00 (5s ago) quorum lost (1/2 up) (waiting: hold-down until 22:14:35)"},
	}
	for _, c := range cases {
		if l := lineWith(c.prefix); l != c.want {
			t.Errorf("line %q\n got: %s\nwant: %s", c.prefix, l, c.want)
		}
	}
}

func TestStatusJSONIsTheDaemonsDocument(t *testing.T) {
	srv := statusServer(t, statusFixture())
	var out, errb bytes.Buffer
	if code := statusCommand(options{}, []string{"--json", "--status-url", srv.URL + "/"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var got status.Snapshot
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.VirtualServers) != 1 || len(got.VirtualServers[0].RealServers) != 5 || !got.VirtualServers[0].RealServers[4].Ejected || got.VRRPInstances[0].Name != "VI_1" {
		t.Fatalf("got %+v", got)
	}
}

func TestStatusFindsTheDaemonFromStatusListenInTheConfig(t *testing.T) {
	var gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		status.NewHandler(fixedSnapshot{statusFixture()}, status.NewHub(1, time.Now), nil).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	conf := filepath.Join(t.TempDir(), "keepalived.conf")
	// Listening on every address: the client must reach it on loopback.
	body := "global_defs {\n  status_listen 0.0.0.0:" + port + "\n  status_token s3cret\n}\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := statusCommand(options{}, []string{"-f", conf}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "virtual server web") {
		t.Errorf("output lacks the virtual server:\n%s", out.String())
	}
	if gotAuth != "Bearer s3cret" {
		t.Errorf("Authorization = %q, want the configured status_token", gotAuth)
	}
}

func TestStatusFailsClearlyWhenNothingListens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // now nothing listens there
	cases := []struct {
		name string
		url  string
		want string
	}{
		{"connection refused", "http://" + addr, "is vigil running"},
		{"not a status server", "", "404"},
		{"malformed URL", "http://%zz", "status URL"},
	}
	notStatus := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notStatus.Close)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := c.url
			if url == "" {
				url = notStatus.URL
			}
			var out, errb bytes.Buffer
			if code := statusCommand(options{}, []string{"--status-url", url}, &out, &errb); code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			if !strings.Contains(errb.String(), c.want) {
				t.Errorf("stderr %q lacks %q", errb.String(), c.want)
			}
		})
	}
}

func TestStatusRefusesStrayArguments(t *testing.T) {
	var out, errb bytes.Buffer
	if code := statusCommand(options{}, []string{"web"}, &out, &errb); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
}

func TestDialableReachesWildcardListenersOnLoopback(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:9080":  "127.0.0.1:9080",
		":9080":         "127.0.0.1:9080",
		"[::]:9080":     "[::1]:9080",
		"10.0.0.1:9080": "10.0.0.1:9080",
		"[::1]:9100":    "[::1]:9100",
	} {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
}
