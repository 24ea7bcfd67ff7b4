package supervisor

import (
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// scrape is one parse of /metrics.
type scrape map[string]*dto.MetricFamily

func scrapeMetrics(t *testing.T, client *http.Client, url string) scrape {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: not Prometheus text: %v", url, err)
	}
	return mfs
}

// value is the value of the series of family name whose labels include want, and whether it
// exists. Counters and gauges give their value, histograms their sample count.
func (s scrape) value(name string, want map[string]string) (float64, bool) {
	mf, ok := s[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// vigilMetrics are the families internal/status/metrics.go defines.
var vigilMetrics = []string{
	"vigil_check_duration_seconds", "vigil_check_results_total", "vigil_real_server_up", "vigil_real_server_weight",
	"vigil_pool_servers_up", "vigil_pool_servers", "vigil_pool_quorum_up", "vigil_real_server_transitions_total",
	"vigil_vrrp_state", "vigil_vrrp_transitions_total", "vigil_check_lateness_seconds",
	// vigil_reloads_total appears with the first reload; the reload subtest checks it.
}

func TestMetricsAreServedAndMoveWithTheDaemon(t *testing.T) {
	b1, b2 := testenv.StartBackend(t), testenv.StartBackend(t)
	closedPort := testenv.FreePort(t, "127.0.0.1", false) // a TCP_CHECK against it fails
	vsPort := testenv.FreePort(t, "127.0.0.1", false)
	h1, p1 := b1.HostPort()
	h2, p2 := b2.HostPort()
	text := fmt.Sprintf(`virtual_server 127.0.0.1 %d {
  delay_loop 0.2
  lb_algo rr
  lb_kind NAT
  protocol TCP
  retry 1
  delay_before_retry 0.1
  real_server %s %s {
    weight 3
    HTTP_GET {
      url {
        path /health
        status_code 200
      }
      connect_timeout 1
    }
  }
  real_server %s %s {
    weight 2
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 127.0.0.1 %d {
    weight 1
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
`, vsPort, h1, p1, h2, p2, closedPort)
	d := runVigil(t, loadText(t, text), Options{})
	var url string
	testenv.WaitFor(t, 3*time.Second, "status server listening", func() bool {
		if a := d.StatusAddr(); a != nil {
			url = "http://" + a.String() + "/metrics"
			return true
		}
		return false
	})
	client := &http.Client{Timeout: 2 * time.Second}
	closed := fmt.Sprintf("127.0.0.1:%d", closedPort)
	var vs string
	testenv.WaitFor(t, 5*time.Second, "first checks of every server", func() bool {
		s := d.Snapshot()
		if len(s.VirtualServers) != 1 {
			return false
		}
		vs = s.VirtualServers[0].Name
		for _, rs := range s.VirtualServers[0].RealServers {
			if len(rs.Checks) == 0 || !rs.Checks[0].Checked {
				return false
			}
		}
		return true
	})
	d.vrrpChanged("VI_1", "INIT", "BACKUP", 100)
	d.vrrpChanged("VI_1", "BACKUP", "MASTER", 100)

	var m scrape
	testenv.WaitFor(t, 3*time.Second, "results of both kinds and outcomes", func() bool {
		m = scrapeMetrics(t, client, url)
		for _, kv := range [][2]string{{"HTTP_GET", "success"}, {"TCP_CHECK", "success"}, {"TCP_CHECK", "failure"}} {
			if v, _ := m.value("vigil_check_results_total", labels("kind", kv[0], "outcome", kv[1])); v < 1 {
				return false
			}
		}
		return true
	})

	expect := func(m scrape, name string, l map[string]string, want float64) {
		t.Helper()
		got, ok := m.value(name, l)
		if !ok {
			t.Errorf("%s%v: missing", name, l)
		} else if got != want {
			t.Errorf("%s%v = %v, want %v", name, l, got, want)
		}
	}
	atLeast := func(m scrape, name string, l map[string]string, want float64) {
		t.Helper()
		got, ok := m.value(name, l)
		if !ok {
			t.Errorf("%s%v: missing", name, l)
		} else if got < want {
			t.Errorf("%s%v = %v, want at least %v", name, l, got, want)
		}
	}

	t.Run("every family is served", func(t *testing.T) {
		m := scrapeMetrics(t, client, url)
		var missing []string
		for _, name := range vigilMetrics {
			if _, ok := m[name]; !ok {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			t.Errorf("missing after checks, a VRRP change and no reload yet: %s", strings.Join(missing, ", "))
		}
		for _, name := range []string{"go_goroutines", "process_open_fds"} {
			if _, ok := m[name]; !ok {
				t.Errorf("runtime collector %s missing", name)
			}
		}
	})

	atLeast(m, "vigil_check_duration_seconds", labels("kind", "HTTP_GET"), 1)
	atLeast(m, "vigil_check_duration_seconds", labels("kind", "TCP_CHECK"), 2)
	expect(m, "vigil_real_server_up", labels("virtual_server", vs, "real_server", b1.Addr), 1)
	expect(m, "vigil_real_server_up", labels("virtual_server", vs, "real_server", b2.Addr), 1)
	expect(m, "vigil_real_server_up", labels("virtual_server", vs, "real_server", closed), 0)
	expect(m, "vigil_real_server_weight", labels("virtual_server", vs, "real_server", b1.Addr), 3)
	expect(m, "vigil_real_server_weight", labels("virtual_server", vs, "real_server", b2.Addr), 2)
	expect(m, "vigil_real_server_weight", labels("virtual_server", vs, "real_server", closed), 0)
	expect(m, "vigil_pool_servers", labels("virtual_server", vs), 3)
	expect(m, "vigil_pool_servers_up", labels("virtual_server", vs), 2)
	expect(m, "vigil_pool_quorum_up", labels("virtual_server", vs), 1)
	expect(m, "vigil_vrrp_state", labels("instance", "VI_1", "state", "MASTER"), 1)
	expect(m, "vigil_vrrp_state", labels("instance", "VI_1", "state", "BACKUP"), 0)
	expect(m, "vigil_vrrp_transitions_total", labels("instance", "VI_1", "to", "MASTER"), 1)
	expect(m, "vigil_vrrp_transitions_total", labels("instance", "VI_1", "to", "BACKUP"), 1)
	downBefore, _ := m.value("vigil_real_server_transitions_total", labels("virtual_server", vs, "real_server", b1.Addr, "to", "down"))
	upBefore, _ := m.value("vigil_real_server_transitions_total", labels("virtual_server", vs, "real_server", b1.Addr, "to", "up"))
	httpFailBefore, _ := m.value("vigil_check_results_total", labels("kind", "HTTP_GET", "outcome", "failure"))

	t.Run("a failing server goes to 0 and back to 1, counting both transitions", func(t *testing.T) {
		b1.Failing.Store(true)
		testenv.WaitFor(t, 3*time.Second, "real_server_up 0", func() bool {
			v, _ := scrapeMetrics(t, client, url).value("vigil_real_server_up", labels("real_server", b1.Addr))
			return v == 0
		})
		m := scrapeMetrics(t, client, url)
		expect(m, "vigil_real_server_transitions_total", labels("virtual_server", vs, "real_server", b1.Addr, "to", "down"), downBefore+1)
		expect(m, "vigil_pool_servers_up", labels("virtual_server", vs), 1)
		expect(m, "vigil_real_server_weight", labels("virtual_server", vs, "real_server", b1.Addr), 0)
		atLeast(m, "vigil_check_results_total", labels("kind", "HTTP_GET", "outcome", "failure"), httpFailBefore+1)

		b1.Failing.Store(false)
		testenv.WaitFor(t, 3*time.Second, "real_server_up 1", func() bool {
			v, _ := scrapeMetrics(t, client, url).value("vigil_real_server_up", labels("real_server", b1.Addr))
			return v == 1
		})
		m = scrapeMetrics(t, client, url)
		expect(m, "vigil_real_server_transitions_total", labels("virtual_server", vs, "real_server", b1.Addr, "to", "up"), upBefore+1)
		expect(m, "vigil_pool_servers_up", labels("virtual_server", vs), 2)
		expect(m, "vigil_real_server_weight", labels("virtual_server", vs, "real_server", b1.Addr), 3)
	})

	t.Run("reloads are counted by outcome and pool gauges follow", func(t *testing.T) {
		// The same virtual server without the failing TCP_CHECK server.
		good := strings.Replace(text, fmt.Sprintf("  real_server 127.0.0.1 %d {\n    weight 1\n    TCP_CHECK {\n      connect_timeout 1\n    }\n  }\n", closedPort), "", 1)
		if good == text {
			t.Fatal("test bug: the reload configuration equals the running one")
		}
		if err := d.Reload(loadText(t, good), nil); err != nil {
			t.Fatal(err)
		}
		broken := fmt.Sprintf("virtual_server 127.0.0.1 %d {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  real_server %s %s {\n    MISC_CHECK {\n      misc_path /bin/true\n      user no-such-user-vigil\n    }\n  }\n}\n", vsPort, h1, p1)
		err := d.Reload(loadText(t, broken), nil)
		if err == nil {
			t.Fatal("reload with an unbuildable MISC_CHECK was accepted")
		}
		if r := d.Snapshot().LastReload; r == nil || r.Outcome != "refused" || !strings.Contains(r.Reason, "no-such-user-vigil") {
			t.Errorf("last reload %+v, want the refusal and its reason", r)
		}
		m := scrapeMetrics(t, client, url)
		expect(m, "vigil_reloads_total", labels("outcome", "applied"), 1)
		expect(m, "vigil_reloads_total", labels("outcome", "refused"), 1)
		expect(m, "vigil_pool_servers", labels("virtual_server", vs), 2)
		expect(m, "vigil_pool_servers_up", labels("virtual_server", vs), 2)
	})

	t.Run("check lateness", func(t *testing.T) {
		m := scrapeMetrics(t, client, url)
		n, ok := m.value("vigil_check_lateness_seconds", nil)
		if !ok {
			t.Fatal("vigil_check_lateness_seconds missing")
		}
		if n == 0 {
			t.Fatal("vigil_check_lateness_seconds has no observations after checks ran")
		}
	})
}

// A real server or virtual server removed by reload must leave the metrics: a stale
// vigil_real_server_up 0 reads as "down" to every alert on it.
func TestReloadForgetsMetricsOfRemovedServers(t *testing.T) {
	b1, b2, b3 := testenv.StartBackend(t), testenv.StartBackend(t), testenv.StartBackend(t)
	port1, port2 := testenv.FreePort(t, "127.0.0.1", false), testenv.FreePort(t, "127.0.0.1", false)
	d := runVigil(t, loadText(t, webConfig(port1, b1, b2)+webConfig(port2, b3)), Options{})
	var url string
	testenv.WaitFor(t, 3*time.Second, "status server listening", func() bool {
		if a := d.StatusAddr(); a != nil {
			url = "http://" + a.String() + "/metrics"
			return true
		}
		return false
	})
	client := &http.Client{Timeout: 2 * time.Second}
	testenv.WaitFor(t, 3*time.Second, "every server up", func() bool {
		for _, b := range []*testenv.Backend{b1, b2, b3} {
			if up, _ := serverUp(d, b.Addr); !up {
				return false
			}
		}
		return true
	})
	var gone string // the second virtual server's name
	for _, vs := range d.Snapshot().VirtualServers {
		if strings.Contains(vs.Name, fmt.Sprint(port2)) {
			gone = vs.Name
		}
	}
	if err := d.Reload(loadText(t, webConfig(port1, b1)), nil); err != nil {
		t.Fatal(err)
	}
	m := scrapeMetrics(t, client, url)
	if v, ok := m.value("vigil_real_server_up", labels("real_server", b1.Addr)); !ok || v != 1 {
		t.Errorf("kept server %s: vigil_real_server_up %v (present %v), want 1", b1.Addr, v, ok)
	}
	for _, c := range []struct{ name, label, value string }{
		{"vigil_real_server_up", "real_server", b2.Addr},
		{"vigil_real_server_weight", "real_server", b2.Addr},
		{"vigil_real_server_up", "real_server", b3.Addr},
		{"vigil_real_server_weight", "real_server", b3.Addr},
		{"vigil_pool_servers", "virtual_server", gone},
		{"vigil_pool_servers_up", "virtual_server", gone},
		{"vigil_pool_quorum_up", "virtual_server", gone},
	} {
		if v, ok := m.value(c.name, labels(c.label, c.value)); ok {
			t.Errorf("%s{%s=%q} = %v after the reload removed it", c.name, c.label, c.value, v)
		}
	}
}

func TestStatusServerServesSnapshotAndMetrics(t *testing.T) {
	b1 := testenv.StartBackend(t)
	d := runVigil(t, loadText(t, webConfig(testenv.FreePort(t, "127.0.0.1", false), b1)), Options{})
	var addr net.Addr
	testenv.WaitFor(t, 3*time.Second, "status server listening", func() bool { addr = d.StatusAddr(); return addr != nil })
	client := &http.Client{Timeout: 2 * time.Second}
	testenv.WaitFor(t, 3*time.Second, "metrics show a check result", func() bool {
		body, err := get(client, "http://"+addr.String()+"/metrics")
		return err == nil && strings.Contains(body, `vigil_check_results_total{kind="HTTP_GET",outcome="success"}`)
	})
	body, err := get(client, "http://"+addr.String()+"/api/v1/status")
	if err != nil || !strings.Contains(body, b1.Addr) {
		t.Fatalf("status API: %v %s", err, body)
	}
}
