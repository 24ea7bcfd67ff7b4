package lb

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// groupConfig is virtual_server group web over the group's address lines, balancing b1 and b2.
func groupConfig(t *testing.T, lines []string, b1, b2 *testBackend) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("virtual_server_group web {\n")
	for _, l := range lines {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	b.WriteString("}\nvirtual_server group web {\n  delay_loop 0.2\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n")
	for _, be := range []*testBackend{b1, b2} {
		h, p := hostPort(t, be.addr)
		fmt.Fprintf(&b, "  real_server %s %s {\n    weight 1\n    HTTP_GET {\n      url {\n        path /health\n        status_code 200\n      }\n      connect_timeout 1\n    }\n  }\n", h, p)
	}
	b.WriteString("}\n")
	return b.String()
}

// Every address of a virtual_server_group serves the one pool, the status adds up their
// traffic, and a reload that drops an address closes it while the others serve on.
func TestAVirtualServerGroupServesEachOfItsAddresses(t *testing.T) {
	b1, b2 := startBackend(t), startBackend(t)
	p1, p2 := testenv.FreePort(t, "127.0.0.1", false), testenv.FreePort(t, "127.0.0.2", false)
	lines := []string{fmt.Sprintf("127.0.0.1 %d", p1), fmt.Sprintf("127.0.0.2-3 %d", p2)}
	d := runDaemon(t, loadText(t, groupConfig(t, lines, b1, b2)))
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	urls := []string{fmt.Sprintf("http://127.0.0.1:%d/", p1), fmt.Sprintf("http://127.0.0.2:%d/", p2), fmt.Sprintf("http://127.0.0.3:%d/", p2)}
	testenv.WaitFor(t, 5*time.Second, "every address of the group serving", func() bool {
		for _, u := range urls {
			if _, err := get(client, u); err != nil {
				return false
			}
		}
		return true
	})
	vs := d.Snapshot().VirtualServers[0]
	want := fmt.Sprintf("group web: 127.0.0.1:%d, 127.0.0.2:%d, 127.0.0.3:%d", p1, p2, p2)
	if vs.Name != "[web]:0" || vs.Listen != want || !vs.Serving {
		t.Errorf("status: name %q listen %q serving %v (%s), want [web]:0 on %q, served", vs.Name, vs.Listen, vs.Serving, vs.ServingReason, want)
	}
	testenv.WaitFor(t, 5*time.Second, "the requests counted", func() bool {
		vs = d.Snapshot().VirtualServers[0]
		return vs.Traffic.TotalConns >= uint64(len(urls)) && vs.Traffic.ActiveConns == 0
	})
	var total uint64
	for _, rs := range vs.RealServers {
		total += rs.TotalConns
	}
	if total != vs.Traffic.TotalConns {
		t.Errorf("the group's total %d is not its servers' %d", vs.Traffic.TotalConns, total)
	}
	if stats := d.DataplaneStats(); len(stats) != 1 || stats[0].Name != "[web]:0" || stats[0].Total != vs.Traffic.TotalConns {
		t.Errorf("data plane stats by virtual server: %+v", stats)
	}

	// A reload that keeps only the first address closes the others.
	if err := d.Reload(loadText(t, groupConfig(t, lines[:1], b1, b2))); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, "the dropped addresses closed", func() bool {
		for _, u := range urls[1:] {
			if c, err := net.DialTimeout("tcp", strings.TrimSuffix(strings.TrimPrefix(u, "http://"), "/"), time.Second); err == nil {
				c.Close()
				return false
			}
		}
		return true
	})
	if _, err := get(client, urls[0]); err != nil {
		t.Errorf("the address the reload kept: %v", err)
	}
	if vs := d.Snapshot().VirtualServers[0]; vs.Listen != fmt.Sprintf("group web: 127.0.0.1:%d", p1) || !vs.Serving {
		t.Errorf("after the reload: listen %q serving %v (%s)", vs.Listen, vs.Serving, vs.ServingReason)
	}
}
