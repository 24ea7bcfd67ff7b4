package status

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestStatusJSONHasArraysWhereTheSnapshotHasNoList(t *testing.T) {
	src := &fixedSource{snap: Snapshot{Version: "test",
		VirtualServers: []VirtualServer{{Name: "web", RealServers: []RealServer{{Name: "a"}}}},
		VRRPInstances:  []VRRPInstance{{Name: "VI_1"}}}}
	srv := httptest.NewServer(NewHandler(src, NewHub(1, time.Now), nil))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(b), "null") {
		t.Errorf("JSON has a null list:\n%s", b)
	}
	for _, want := range []string{`"events": []`, `"checks": []`, `"virtual_addresses": []`, `"dropped": {}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	if src.snap.VirtualServers[0].RealServers[0].Checks != nil {
		t.Error("the source's snapshot was modified")
	}
}

// getJSON fetches path from a handler serving snap and decodes it into a generic map, so that
// the test sees field names as clients do.
func getJSON(t *testing.T, snap Snapshot) (map[string]any, string) {
	t.Helper()
	srv := httptest.NewServer(NewHandler(&fixedSource{snap: snap}, NewHub(1, time.Now), nil))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	return readJSON(t, resp)
}

// readJSON reads resp's body as a JSON object, as a client sees it, and closes it.
func readJSON(t *testing.T, resp *http.Response) (map[string]any, string) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %s is not JSON: %v\n%s", resp.Request.Method, resp.Request.URL.Path, resp.Status, err, b)
	}
	return m, string(b)
}

func TestStatusJSONOmitsBGPWithoutASpeaker(t *testing.T) {
	m, body := getJSON(t, Snapshot{Version: "test"})
	if _, ok := m["bgp"]; ok {
		t.Errorf("JSON has a bgp section though the snapshot has none:\n%s", body)
	}
}

func TestStatusJSONNamesEveryBGPField(t *testing.T) {
	since := time.Date(2026, 11, 25, 1, 2, 3, 0, time.UTC)
	snap := Snapshot{Version: "test", BGP: &BGP{
		Sessions: []BGPSession{{Peer: "192.0.2.254", AS: 65000, State: "ESTABLISHED", EstablishedSince: since}},
		Prefixes: []BGPPrefix{{VirtualServer: "[192.0.2.10]:tcp:80", Prefix: "192.0.2.10/32", State: BGPPendingWithdraw,
			Reason: "quorum lost", Held: "hold-down", Since: since, Due: since.Add(5 * time.Second), InRIB: true, Error: "boom"}},
	}}
	m, body := getJSON(t, snap)
	b, ok := m["bgp"].(map[string]any)
	if !ok {
		t.Fatalf("JSON has no bgp object:\n%s", body)
	}
	sessions, _ := b["sessions"].([]any)
	prefixes, _ := b["prefixes"].([]any)
	if len(sessions) != 1 || len(prefixes) != 1 {
		t.Fatalf("bgp has %d sessions and %d prefixes, want 1 and 1:\n%s", len(sessions), len(prefixes), body)
	}
	want := map[string]map[string]any{
		"session": {"peer": "192.0.2.254", "as": 65000.0, "state": "ESTABLISHED", "established_since": "2026-11-25T01:02:03Z"},
		"prefix": {"virtual_server": "[192.0.2.10]:tcp:80", "prefix": "192.0.2.10/32", "state": "pending-withdraw",
			"reason": "quorum lost", "held": "hold-down", "since": "2026-11-25T01:02:03Z", "due": "2026-11-25T01:02:08Z",
			"in_rib": true, "error": "boom"},
	}
	got := map[string]map[string]any{"session": sessions[0].(map[string]any), "prefix": prefixes[0].(map[string]any)}
	for kind, fields := range want {
		for k, v := range fields {
			if got[kind][k] != v {
				t.Errorf("%s field %q = %#v, want %#v", kind, k, got[kind][k], v)
			}
		}
		if len(got[kind]) != len(fields) {
			t.Errorf("%s has fields %v, want exactly %d (document new ones in docs/status-api.md and here)", kind, got[kind], len(fields))
		}
	}
}

func TestStatusJSONHasBGPArraysWhenTheSpeakerHasNothing(t *testing.T) {
	src := Snapshot{BGP: &BGP{}}
	_, body := getJSON(t, src)
	for _, want := range []string{`"sessions": []`, `"prefixes": []`} {
		if !strings.Contains(body, want) {
			t.Errorf("JSON lacks %s:\n%s", want, body)
		}
	}
	if src.BGP.Sessions != nil {
		t.Error("the source's BGP state was modified")
	}
}

func TestSnapshotFindsARealServerByItsAddress(t *testing.T) {
	snap := Snapshot{VirtualServers: []VirtualServer{
		{Name: "a", RealServers: []RealServer{{Address: "192.0.2.11:80", Up: true}}},
		{Name: "b", RealServers: []RealServer{{Address: "192.0.2.12:80"}, {Address: "192.0.2.11:80"}}},
	}}
	for _, tc := range []struct {
		addr   string
		found  bool
		wantUp bool
	}{
		{"192.0.2.11:80", true, true}, // the first listed wins
		{"192.0.2.12:80", true, false},
		{"192.0.2.13:80", false, false},
		{"192.0.2.11", false, false},
	} {
		rs, ok := snap.RealServer(tc.addr)
		if ok != tc.found || rs.Up != tc.wantUp || (ok && rs.Address != tc.addr) {
			t.Errorf("RealServer(%q) = %+v, %v; want found %v, up %v", tc.addr, rs, ok, tc.found, tc.wantUp)
		}
	}
}
