package supervisor

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// GoBGP's server loop outlives Stop (see internal/bgp's TestMain); every other goroutine must
// end with its part.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/osrg/gobgp/v3/pkg/server.(*BgpServer).Serve"))
}

// webConfig is a virtual server on 127.0.0.1:vsPort over the backends, checked with HTTP_GET
// every 200 ms with one retry 100 ms later.
func webConfig(vsPort int, backends ...*testenv.Backend) string {
	var b strings.Builder
	fmt.Fprintf(&b, "virtual_server 127.0.0.1 %d {\n  delay_loop 0.2\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  retry 1\n  delay_before_retry 0.1\n", vsPort)
	for _, be := range backends {
		h, p := be.HostPort()
		fmt.Fprintf(&b, "  real_server %s %s {\n    weight 1\n    HTTP_GET {\n      url {\n        path /health\n        status_code 200\n      }\n      connect_timeout 1\n    }\n  }\n", h, p)
	}
	b.WriteString("}\n")
	return b.String()
}

// everyPartConfig asks for every part: a bgp block, a VRRP instance and a virtual server on a
// port of its own over a backend.
func everyPartConfig(t *testing.T) *config.Config {
	t.Helper()
	return loadText(t, fmt.Sprintf(`bgp {
  local_as 65001
  router_id 192.0.2.1
  neighbor 192.0.2.254 {
    remote_as 65000
  }
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  priority 100
  virtual_ipaddress {
    192.0.2.10/32
  }
}
%s`, webConfig(testenv.FreePort(t, "127.0.0.1", false), testenv.StartBackend(t))))
}

// loadText loads text as a configuration file that must have no complaints.
func loadText(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, diags := loadWithDiags(t, text)
	if len(diags.List) > 0 {
		t.Fatalf("test configuration has problems: %v", diags.List)
	}
	return cfg
}

func loadWithDiags(t *testing.T, text string) (*config.Config, *config.Diagnostics) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags, err := config.Load(path, config.Options{ConfigID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, diags
}

// runVigil builds cfg's parts with the status server on a port of its own, runs them until
// the test ends, and checks that Run returns cleanly within 10 s of the stop.
func runVigil(t *testing.T, cfg *config.Config, opts Options) *Vigil {
	t.Helper()
	v, _ := startVigil(t, cfg, opts)
	return v
}

// startVigil is runVigil with a stop that ends the run before the test does (a restart); the
// test's end calls it if the test did not.
func startVigil(t *testing.T, cfg *config.Config, opts Options) (v *Vigil, stop func()) {
	t.Helper()
	if opts.StatusListen == "" {
		opts.StatusListen = "127.0.0.1:0"
	}
	v, err := Build(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Bind(); err != nil {
		t.Fatal(err)
	}
	return v, testenv.RunUntilCleanup(t, "vigil", v.Run)
}

// statusURL is the base URL of v's status server.
func statusURL(v *Vigil) string { return "http://" + v.StatusAddr().String() }

func get(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// serverUp says whether the real server at addr is up, and whether it is known.
func serverUp(v *Vigil, addr string) (up, known bool) {
	rs, ok := v.Snapshot().RealServer(addr)
	return rs.Up, ok
}
