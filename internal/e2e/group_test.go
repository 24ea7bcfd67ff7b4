package e2e

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// The ports of a virtual_server_group on the VIP, beside the lab's own virtual server.
const groupPortA, groupPortB = 8181, 8182

// TestAVirtualServerGroupIsServedOnEachAddressThroughNftables runs the lab on the nftables data
// plane with a virtual_server_group of two addresses over the web hosts: a client reaches both
// real servers through each address, the status shows the group served, and after a flush of
// the master's ruleset every address of the group is put back.
func TestAVirtualServerGroupIsServedOnEachAddressThroughNftables(t *testing.T) {
	testenv.RequireTool(t, "nft")
	group := fmt.Sprintf("virtual_server_group VSG_WEB {\n    %s %d\n    %s %d\n}\n", labVIP, groupPortA, labVIP, groupPortB) +
		labPool("group VSG_WEB", labWebPort, "", "")
	l := newVRRPLabConf(t, func(string) labConfig { return labConfig{dataplane: "nftables", extra: group} }, nil)
	master, _ := l.master()
	client := l.client.HTTPClient(time.Second)
	// servedBy asks each address of the group a few times and returns the real servers that
	// answered, or the first error.
	servedBy := func() (map[string]bool, error) {
		seen := map[string]bool{}
		for _, port := range []int{groupPortA, groupPortB} {
			for range 4 {
				resp, err := client.Get(fmt.Sprintf("http://%s:%d/", labVIP, port))
				if err != nil {
					return nil, err
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				seen[fmt.Sprintf("%d via %s", port, strings.Split(string(b), ":")[0])] = true
			}
		}
		return seen, nil
	}
	var seen map[string]bool
	testenv.WaitFor(t, 10*time.Second, "both real servers through both addresses of the group", func() bool {
		var err error
		seen, err = servedBy()
		return err == nil && len(seen) == 4
	})
	s, err := master.status()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, vs := range s.VirtualServers {
		if vs.Name != "[VSG_WEB]:0" {
			continue
		}
		found = true
		want := fmt.Sprintf("group VSG_WEB: %s:%d, %s:%d", labVIP, groupPortA, labVIP, groupPortB)
		if vs.Listen != want || !vs.Serving || vs.Traffic.TotalConns == 0 {
			t.Errorf("the group's status: listen %q serving %v (%s), %d connections; want %q, served, counted", vs.Listen, vs.Serving, vs.ServingReason, vs.Traffic.TotalConns, want)
		}
	}
	if !found {
		t.Fatalf("no [VSG_WEB]:0 in the status: %+v", s.VirtualServers)
	}

	flushed := time.Now()
	master.ns.Run(t, "nft", "flush", "ruleset")
	back := testenv.WaitFor(t, 5*time.Second, "both addresses of the group served again", func() bool {
		seen, err := servedBy()
		return err == nil && len(seen) == 4
	})
	t.Logf("the group served on both addresses again %v after the flush (%v after it)", back.Round(time.Millisecond), time.Since(flushed).Round(time.Millisecond))
}
