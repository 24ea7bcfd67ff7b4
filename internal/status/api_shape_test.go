package status

import (
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
	for _, want := range []string{`"events": []`, `"checks": []`, `"virtual_addresses": []`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	if src.snap.VirtualServers[0].RealServers[0].Checks != nil {
		t.Error("the source's snapshot was modified")
	}
}
