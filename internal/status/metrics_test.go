package status

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMetricsExposeCheckResultsByKindAndOutcome(t *testing.T) {
	m := NewMetrics()
	m.ObserveCheck("TCP_CHECK", true, 2*time.Millisecond)
	m.ObserveCheck("TCP_CHECK", false, 5*time.Millisecond)
	m.SetRealServerSource([]string{"ready", "drain"}, func(yield func(RealServerSample)) {
		yield(RealServerSample{VirtualServer: "web", RealServer: "127.0.0.1:9001", Up: true, Weight: 3, Admin: 1})
	})
	srv := httptest.NewServer(NewHandler(&fixedSource{}, NewHub(1, time.Now), m.Handler()))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`vigil_check_results_total{kind="TCP_CHECK",outcome="success"} 1`,
		`vigil_check_results_total{kind="TCP_CHECK",outcome="failure"} 1`,
		`vigil_check_duration_seconds_count{kind="TCP_CHECK"} 2`,
		`vigil_real_server_up{real_server="127.0.0.1:9001",virtual_server="web"} 1`,
		`vigil_real_server_weight{real_server="127.0.0.1:9001",virtual_server="web"} 3`,
		`vigil_real_server_admin_state{real_server="127.0.0.1:9001",state="ready",virtual_server="web"} 0`,
		`vigil_real_server_admin_state{real_server="127.0.0.1:9001",state="drain",virtual_server="web"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// scrape serves m and returns the body of /metrics, failing on anything but 200 (a registry
// that collects two series with the same labels answers 500).
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, b)
	}
	return string(b)
}

func TestMetricsExportBGPSessionsAndPrefixesAtScrapeTime(t *testing.T) {
	since := time.Unix(1764032523, 0)
	var calls int
	b := &BGP{
		Sessions: []BGPSession{
			{Peer: "192.0.2.254", AS: 65000, State: "ESTABLISHED", EstablishedSince: since},
			{Peer: "2001:db8::1", AS: 65000, State: "ACTIVE"},
		},
		// Two virtual servers on one address: offered once, so one vigil_bgp_prefix_announced.
		Prefixes: []BGPPrefix{
			{VirtualServer: "[192.0.2.10]:tcp:443", Prefix: "192.0.2.10/32", State: BGPAnnounced, InRIB: true},
			{VirtualServer: "[192.0.2.10]:tcp:80", Prefix: "192.0.2.10/32", State: BGPAnnounced, InRIB: true},
			{VirtualServer: "dns", Prefix: "192.0.2.53/32", State: BGPPendingWithdraw},
		},
	}
	m := NewMetrics()
	if body := scrape(t, m); strings.Contains(body, "vigil_bgp_") {
		t.Errorf("BGP series without a BGP source:\n%s", grepLines(body, "vigil_bgp_"))
	}
	m.SetBGPSource(func() *BGP { calls++; return b })
	body := scrape(t, m)
	for _, want := range []string{
		`vigil_bgp_session_up{peer="192.0.2.254"} 1`,
		`vigil_bgp_session_up{peer="2001:db8::1"} 0`,
		`vigil_bgp_session_state{peer="192.0.2.254",state="ESTABLISHED"} 1`,
		`vigil_bgp_session_state{peer="192.0.2.254",state="IDLE"} 0`,
		`vigil_bgp_session_state{peer="2001:db8::1",state="ACTIVE"} 1`,
		`vigil_bgp_session_state{peer="2001:db8::1",state="ESTABLISHED"} 0`,
		`vigil_bgp_session_established_timestamp_seconds{peer="192.0.2.254"} 1.764032523e+09`,
		`vigil_bgp_prefix_announced{prefix="192.0.2.10/32"} 1`,
		`vigil_bgp_prefix_announced{prefix="192.0.2.53/32"} 0`,
		`vigil_bgp_prefix_state{prefix="192.0.2.10/32",state="announced",virtual_server="[192.0.2.10]:tcp:80"} 1`,
		`vigil_bgp_prefix_state{prefix="192.0.2.53/32",state="pending-withdraw",virtual_server="dns"} 1`,
		`vigil_bgp_prefix_state{prefix="192.0.2.53/32",state="announced",virtual_server="dns"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, `vigil_bgp_session_established_timestamp_seconds{peer="2001:db8::1"}`) {
		t.Error("a session that is down has an established timestamp")
	}
	if n := strings.Count(body, "vigil_bgp_prefix_announced{"); n != 2 {
		t.Errorf("%d vigil_bgp_prefix_announced series, want 2 (one per prefix):\n%s", n, grepLines(body, "vigil_bgp_prefix_announced"))
	}

	// The state is read again at every scrape: a session that drops shows at the next one.
	b = &BGP{Sessions: []BGPSession{{Peer: "192.0.2.254", AS: 65000, State: "IDLE"}}}
	body = scrape(t, m)
	if !strings.Contains(body, `vigil_bgp_session_up{peer="192.0.2.254"} 0`) {
		t.Errorf("after the session dropped, metrics say:\n%s", grepLines(body, "vigil_bgp_session_up"))
	}
	if strings.Contains(body, "vigil_bgp_prefix_") || strings.Contains(body, "2001:db8::1") {
		t.Errorf("series of a prefix or neighbor that is gone remain:\n%s", grepLines(body, "vigil_bgp_"))
	}
	if calls != 2 {
		t.Errorf("the source was called %d times for 2 scrapes", calls)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
