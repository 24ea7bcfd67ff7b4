package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/testenv"
	"github.com/vigil-lb/vigil/internal/vrrp/packet"
	"github.com/vigil-lb/vigil/internal/vrrp/vrrptest"
)

// runMainEnv, set in the environment of this test binary, makes it run vigil itself with its
// arguments, so that a test can run the whole daemon inside a network namespace.
const runMainEnv = "VIGIL_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) != "" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// dropsConf is vigil in namespace a: a VRRPv2 instance with a password over IPv4 and a VRRPv3
// instance over IPv6, the status server on a's loopback.
const dropsConf = `global_defs {
  router_id a
  status_listen 127.0.0.1:9080
  dataplane userspace
}
vrrp_instance VI_4 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  version 2
  priority 100
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass s3cret
  }
  virtual_ipaddress {
    192.0.2.100/24
  }
}
vrrp_instance VI_6 {
  state BACKUP
  interface eth0
  virtual_router_id 61
  version 3
  priority 100
  advert_int 1
  virtual_ipaddress {
    2001:db8::100/64
  }
}
`

// Adverts a peer should never send, each wrong in one way, arrive from namespace b: each is
// counted under its reason, and the counts are the same in the status JSON, in /metrics and in
// the SIGUSR2 dump.
func TestHostileAdvertsShowInStatusMetricsAndStatsDump(t *testing.T) {
	a, b := testenv.NewNamespace(t, "drpa"), testenv.NewNamespace(t, "drpb")
	testenv.Veth(t, a, "eth0", b, "eth0")
	a.Addr(t, "eth0", "192.0.2.1/24")
	b.Addr(t, "eth0", "192.0.2.2/24")
	b.Addr(t, "eth0", "2001:db8::2/64")
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(dropsConf), 0o644); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// ip netns exec execs vigil: the command's process is vigil's, which SIGUSR2 goes to.
	cmd := a.Command(self, "-f", conf, "-n", "-D")
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "TMPDIR="+dir)
	testenv.StartCmd(t, cmd)

	client := a.HTTPClient(5 * time.Second)
	get := func(path string) (string, error) {
		resp, err := client.Get("http://127.0.0.1:9080" + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}
	instances := func() map[string]status.VRRPInstance {
		body, err := get("/api/v1/status")
		if err != nil {
			return nil
		}
		var snap status.Snapshot
		if json.Unmarshal([]byte(body), &snap) != nil {
			return nil
		}
		out := map[string]status.VRRPInstance{}
		for _, vi := range snap.VRRPInstances {
			out[vi.Name] = vi
		}
		return out
	}
	// Alone on the link, both become master; an advert of priority 200 that was not refused
	// would make them backups.
	testenv.WaitFor(t, 15*time.Second, "both instances master", func() bool {
		in := instances()
		return in["VI_4"].State == "MASTER" && in["VI_6"].State == "MASTER"
	})

	group4, group6 := packet.GroupIPv4(), packet.GroupIPv6()
	j4 := vrrptest.NewInjector(t, b, "eth0", netip.MustParseAddr("192.0.2.2"))
	j6 := vrrptest.NewInjector(t, b, "eth0", netip.MustParseAddr("2001:db8::2"))
	v2 := packet.Advert{Version: 2, VRID: 51, Priority: 200, Interval: 1, AuthType: packet.AuthPass,
		AuthData: packet.PassData("s3cret"), Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
	wrongPass, wrongInterval := v2, v2
	wrongPass.AuthData = packet.PassData("guess")
	wrongInterval.Interval = 3
	v6 := packet.Advert{Version: 3, VRID: 61, Priority: 200, Interval: 100, Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::100")}}
	brokenSum := j4.Marshal(t, v2, group4)
	brokenSum[len(brokenSum)-1] ^= 0xff
	tooLong := append(j4.Marshal(t, v2, group4), 0, 0, 0, 0)

	const n = 3
	for range n {
		j4.Send(t, v2, group4, 254)             // TTL not 255
		j4.SendBytes(t, brokenSum, group4, 255) // checksum broken
		j4.Send(t, wrongPass, group4, 255)      // another password
		j4.Send(t, wrongInterval, group4, 255)  // another advert_int
		j4.SendBytes(t, tooLong, group4, 255)   // longer than its address count says
		j6.Send(t, v6, group6, 255)             // IPv6 multicast from a global address
		time.Sleep(20 * time.Millisecond)
	}
	want := map[string]map[string]uint64{
		"VI_4": {"bad_ttl": n, "bad_checksum": n, "auth_failure": n, "interval_mismatch": n, "long": n},
		"VI_6": {"source_not_link_local": n},
	}
	var got map[string]status.VRRPInstance
	testenv.WaitFor(t, 10*time.Second, "every hostile advert counted in the status JSON", func() bool {
		got = instances()
		for name, counts := range want {
			if len(got[name].Dropped) != len(counts) {
				return false
			}
			for r, c := range counts {
				if got[name].Dropped[r] != c {
					return false
				}
			}
		}
		return true
	})
	for name := range want {
		if got[name].State != "MASTER" {
			t.Errorf("%s is %s after hostile adverts of priority 200, want MASTER (they must all be refused)", name, got[name].State)
		}
	}

	metrics, err := get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for name, counts := range want {
		for r, c := range counts {
			line := fmt.Sprintf("vigil_vrrp_adverts_dropped_total{instance=%q,reason=%q} %d\n", name, r, c)
			if !strings.Contains(metrics, line) {
				t.Errorf("/metrics lacks %s", strings.TrimSpace(line))
			}
		}
	}

	stats := filepath.Join(dir, "keepalived.stats")
	if err := cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	var dump string
	testenv.WaitFor(t, 5*time.Second, "the SIGUSR2 dump in $TMPDIR", func() bool {
		b, err := os.ReadFile(stats)
		dump = string(b)
		return err == nil && strings.Contains(dump, "VRRP Instance: VI_6")
	})
	for _, section := range []string{
		"  Packet Errors:\n    Length: 3\n    TTL: 3\n    Invalid Type: 0\n    Advertisement Interval: 3\n",
		"    Checksum: 3\n",
		"  Authentication Errors:\n    Type Mismatch: 0\n    Failure: 3\n",
		"    Source Not Link-Local: 3\n",
	} {
		if !strings.Contains(dump, section) {
			t.Errorf("the SIGUSR2 dump lacks\n%s\nit is:\n%s", section, dump)
		}
	}
}
