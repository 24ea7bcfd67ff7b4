package supervisor

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// -P, -C and status_listen off change what is reserved: a part that does not run has no share.
func TestBuildBudgetsWhatThePartsItMakesNeed(t *testing.T) {
	cfg := everyPartConfig(t)
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"both halves", Options{}, "limit 1024: reserved 137 [base 32, checks 1, vrrp 20, bgp 18, status 65, listeners 1], data planes 887, maxconn 443"},
		{"-P", Options{VRRPOnly: true}, "limit 1024: reserved 117 [base 32, vrrp 20, status 65], data planes 907, maxconn 453"},
		{"-C without a status page", Options{CheckOnly: true, StatusListen: "off"}, "limit 1024: reserved 52 [base 32, checks 1, bgp 18, listeners 1], data planes 972, maxconn 486"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.StatusListen == "" {
				tc.opts.StatusListen = "127.0.0.1:0"
			}
			var logs testenv.Buffer
			tc.opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			tc.opts.FileLimit = 1024
			v, err := Build(cfg, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			var got []string
			for _, r := range v.Budget().Reserved {
				got = append(got, fmt.Sprintf("%s %d", r.For, r.N))
			}
			b := v.Budget()
			if s := fmt.Sprintf("limit %d: reserved %d [%s], data planes %d, maxconn %d", b.Limit, b.ReservedTotal(), strings.Join(got, ", "), b.Dataplane, b.MaxConn); s != tc.want {
				t.Errorf("budget\n got %s\nwant %s", s, tc.want)
			}
			if !strings.Contains(logs.String(), `msg="descriptor budget" limit=1024`) {
				t.Errorf("the budget is not logged at start:\n%s", logs.String())
			}
		})
	}
}

func TestMetricsShowTheBudgetAndTheConnections(t *testing.T) {
	b1 := testenv.StartBackend(t)
	port := testenv.FreePort(t, "127.0.0.1", false)
	v := runVigil(t, loadText(t, webConfig(port, b1)), Options{FileLimit: 1024})
	var addr net.Addr
	testenv.WaitFor(t, 3*time.Second, "status server listening", func() bool { addr = v.StatusAddr(); return addr != nil })
	client := &http.Client{Timeout: 2 * time.Second}
	vs := fmt.Sprintf("[127.0.0.1]:tcp:%d", port)
	testenv.WaitFor(t, 5*time.Second, "the virtual server serving", func() bool {
		_, err := get(client, fmt.Sprintf("http://127.0.0.1:%d/", port))
		return err == nil
	})
	m := scrapeMetrics(t, client, "http://"+addr.String()+"/metrics")
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"vigil_descriptors_limit", nil, 1024},
		{"vigil_descriptors_reserved", labels("part", "status"), 65},
		{"vigil_descriptors_reserved", labels("part", "checks"), 1},
		{"vigil_descriptors_dataplane", nil, 925},
		{"vigil_connections_max", nil, 462},
		{"vigil_connections_refused_total", labels("virtual_server", vs, "reason", "overloaded"), 0},
		{"vigil_connections_paused_total", labels("virtual_server", vs), 0},
	} {
		if got, ok := m.value(c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if n, ok := m.value("vigil_descriptors_in_use", nil); !ok || n < 5 || n > 1024 {
		t.Errorf("vigil_descriptors_in_use = %v (found %v), want the process's count", n, ok)
	}
	if _, ok := m.value("vigil_connections_open", labels("virtual_server", vs)); !ok {
		t.Errorf("no vigil_connections_open for %s", vs)
	}
}

func TestGlobalMaxConnIsKeptOrLoweredToWhatTheLimitHolds(t *testing.T) {
	vs := webConfig(testenv.FreePort(t, "127.0.0.1", false), testenv.StartBackend(t))
	for _, tc := range []struct {
		maxconn, want int
		warn          string
	}{
		{100, 100, ""},
		{5000, 462, "maxconn 5000 needs 10000 descriptors and 925 are left"},
	} {
		var logs testenv.Buffer
		cfg := loadText(t, fmt.Sprintf("global_defs {\n  maxconn %d\n}\n%s", tc.maxconn, vs))
		v, err := Build(cfg, Options{StatusListen: "127.0.0.1:0", FileLimit: 1024, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		v.Close()
		if got := v.Budget().MaxConn; got != tc.want {
			t.Errorf("maxconn %d under 1024 descriptors: %d, want %d", tc.maxconn, got, tc.want)
		}
		if tc.warn != "" && !strings.Contains(logs.String(), "level=WARN msg=\""+tc.warn) {
			t.Errorf("maxconn %d: no warning %q:\n%s", tc.maxconn, tc.warn, logs.String())
		}
	}
}

// A HTTP_GET with reuse_connection holds its connection between probes: one descriptor more.
func TestBudgetCountsKeptConnections(t *testing.T) {
	cfg := loadText(t, `virtual_server 127.0.0.1 8080 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 127.0.0.1 9001 {
    HTTP_GET {
      http_protocol 1.1
      reuse_connection
      url {
        path /health
      }
    }
  }
  real_server 127.0.0.1 9002 {
    HTTP_GET {
      http_protocol 1.1
      url {
        path /health
      }
    }
  }
}
`)
	n := needs(cfg, Options{CheckOnly: true}, 0)
	if n.KeptConns != 1 || n.Probes != 2 {
		t.Errorf("needs: %d kept connections, %d probes; want 1 and 2", n.KeptConns, n.Probes)
	}
}

// Each address of a virtual_server_group is a listener of its own; firewall marks are none.
func TestBudgetCountsAListenerPerGroupAddress(t *testing.T) {
	cfg := loadText(t, `virtual_server_group web {
  192.0.2.10 80
  192.0.2.20-22 443
  fwmark 7 inet
}
virtual_server group web {
  protocol TCP
  lb_algo rr
  lb_kind NAT
  real_server 198.51.100.1 80 {
    TCP_CHECK {
    }
  }
}
virtual_server 192.0.2.30 80 {
  protocol TCP
  lb_algo rr
  lb_kind NAT
  self_probe 1
  real_server 198.51.100.1 80 {
    TCP_CHECK {
    }
  }
}
`)
	// Four addresses in the group, one virtual server with its self probe.
	if got := needs(cfg, Options{}, 0).Listeners; got != 6 {
		t.Errorf("listeners %d, want 6", got)
	}
}
