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
	m.ServerUp.WithLabelValues("web", "127.0.0.1:9001").Set(1)
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
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
