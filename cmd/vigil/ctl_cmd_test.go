package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/supervisor"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// ctlDaemon runs vigil in this process on a configuration with a control socket, a status
// token, a virtual server over two backends (and a UDP one on the same port, so that its bare
// IP:PORT is ambiguous), another over a third, and a VRRP instance on an interface that does
// not exist; it returns the configuration's path and the status server's URL.
func ctlDaemon(t *testing.T) (conf, statusURL string, b1, b2 *testenv.Backend) {
	t.Helper()
	b1, b2, b3 := testenv.StartBackend(t), testenv.StartBackend(t), testenv.StartBackend(t)
	dir := t.TempDir()
	port, other := testenv.FreePort(t, "127.0.0.1", false), testenv.FreePort(t, "127.0.0.1", false)
	rs := func(b *testenv.Backend) string {
		h, p := b.HostPort()
		return fmt.Sprintf("    real_server %s %s {\n        TCP_CHECK {\n            connect_timeout 1\n        }\n    }\n", h, p)
	}
	vs := func(port int, proto string, servers ...*testenv.Backend) string {
		s := fmt.Sprintf("virtual_server 127.0.0.1 %d {\n    delay_loop 0.2\n    lb_algo rr\n    lb_kind NAT\n    protocol %s\n", port, proto)
		for _, b := range servers {
			s += rs(b)
		}
		return s + "}\n"
	}
	conf = writeConf(t, testenv.ControlConfig(dir, fmt.Sprintf("    status_listen 127.0.0.1:%d\n", testenv.FreePort(t, "127.0.0.1", false)))+
		vs(port, "TCP", b1, b2)+vs(port, "UDP", b1)+vs(other, "TCP", b3))
	cfg, diags, err := config.Load(conf, config.Options{})
	if err != nil || diags.HasErrors() {
		t.Fatalf("%v %v", err, diags.List)
	}
	v, err := supervisor.Build(cfg, supervisor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Bind(); err != nil {
		t.Fatal(err)
	}
	testenv.RunUntilCleanup(t, "vigil", v.Run)
	return conf, "http://" + v.StatusAddr().String(), b1, b2
}

func ctl(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(append([]string{"ctl"}, args...), &out, &errb)
	return code, strings.TrimSpace(out.String()), strings.TrimSpace(errb.String())
}

func TestCtlCarriesEachCommandToTheRunningDaemonBySocketOrHTTP(t *testing.T) {
	conf, url, b1, b2 := ctlDaemon(t)
	cfg, _, _ := config.Load(conf, config.Options{})
	vs := cfg.VirtualServers[0].Name()
	bare := fmt.Sprintf("127.0.0.1:%d", cfg.VirtualServers[2].Port)
	other := cfg.VirtualServers[2].Name()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-f", conf, "drain", vs, b1.Addr, "--reason", "disk", "swap"}, b1.Addr + " of " + vs + ": drain"},
		{[]string{"-f", conf, "drain", vs, b1.Addr}, b1.Addr + " of " + vs + " was already drain"},
		{[]string{"-f", conf, "maint", bare}, other + ": maint, 1 of its 1 real servers changed"},
		{[]string{"-f", conf, "ready", bare}, other + ": ready, 1 of its 1 real servers changed"},
		{[]string{"-f", conf, "weight", vs, b2.Addr, "5"}, b2.Addr + " of " + vs + ": weight 5"},
		{[]string{"-f", conf, "weight", vs, b2.Addr, "reset"}, b2.Addr + " of " + vs + ": the configured weight"},
		{[]string{"-f", conf, "resign", "VI_1", "--reason", "kernel"}, "VI_1: resigned: priority 0 if master, BACKUP until ready"},
		{[]string{"-f", conf, "ready", "VI_1"}, "VI_1: ready: back in the election"},
		{[]string{"-f", conf, "ready", vs, b1.Addr}, b1.Addr + " of " + vs + ": ready"},
		// The same over HTTP, the token read from the file.
		{[]string{"-f", conf, "--url", url, "maint", vs, b2.Addr, "--reason", "over http"}, b2.Addr + " of " + vs + ": maint"},
		{[]string{"--url", url, "--token", testenv.ControlToken, "weight", vs, b2.Addr, "2"}, b2.Addr + " of " + vs + ": weight 2"},
		{[]string{"--url", url + "/", "--token", testenv.ControlToken, "ready", vs}, vs + ": ready, 1 of its 2 real servers changed"},
		{[]string{"--url", url, "--token", testenv.ControlToken, "resign", "VI_1"}, "VI_1: resigned: priority 0 if master, BACKUP until ready"},
		{[]string{"--url", url, "--token", testenv.ControlToken, "ready", "VI_1"}, "VI_1: ready: back in the election"},
		{[]string{"--url", url, "--token", testenv.ControlToken, "weight", vs, b2.Addr, "reset"}, b2.Addr + " of " + vs + ": the configured weight"},
	}
	for _, tc := range tests {
		code, out, errOut := ctl(tc.args...)
		if code != 0 || out != tc.want {
			t.Errorf("vigil ctl %s: exit %d, %q, %q; want %q", strings.Join(tc.args, " "), code, out, errOut, tc.want)
		}
	}
}

func TestCtlSaysWhatIsWrong(t *testing.T) {
	conf, url, b1, _ := ctlDaemon(t)
	cfg, _, _ := config.Load(conf, config.Options{})
	vs := cfg.VirtualServers[0].Name()
	ambiguous := fmt.Sprintf("127.0.0.1:%d", cfg.VirtualServers[0].Port)
	noSocket := writeConf(t, "global_defs {\n    router_id x\n}\n")
	gone := filepath.Join(t.TempDir(), "gone.sock")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-f", conf, "drain", "192.0.2.99:80", b1.Addr}, 1, `no virtual server "192.0.2.99:80"; virtual servers: ` + vs},
		{[]string{"-f", conf, "drain", vs, "127.0.0.1:1"}, 1, `virtual server ` + vs + ` has no real server "127.0.0.1:1"`},
		{[]string{"-f", conf, "drain", ambiguous, b1.Addr}, 1, fmt.Sprintf("%q names 2 virtual servers", ambiguous)},
		{[]string{"-f", conf, "resign", "VI_9"}, 1, `no VRRP instance "VI_9"; VRRP instances: VI_1`},
		{[]string{"-f", conf, "ready", "nothing"}, 1, `no VRRP instance or virtual server "nothing"`},
		{[]string{"-f", conf, "weight", vs, b1.Addr, "heavy"}, 2, `weight "heavy": expected a number from 0 to 2147483647, or reset`},
		{[]string{"-f", conf, "disable", vs}, 2, `unknown command "disable"`},
		{[]string{"--url", url, "--token", "wrong", "drain", vs, b1.Addr}, 1, "token refused: a valid bearer token is required"},
		{[]string{"--url", url, "--token", testenv.ControlToken, "drain", "nope", b1.Addr}, 1, `no virtual server "nope"`},
		{[]string{"--socket", gone, "drain", vs, b1.Addr}, 1, "is vigil running"},
		{[]string{"--url", "http://127.0.0.1:1", "drain", vs, b1.Addr}, 1, "is vigil running"},
		{[]string{"-f", noSocket, "drain", vs, b1.Addr}, 1, "has no control_socket in global_defs: add `control_socket /run/vigil/control.sock`"},
	}
	for _, tc := range tests {
		code, out, errOut := ctl(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("vigil ctl %s: exit %d, %q, %q; want exit %d and %q", strings.Join(tc.args, " "), code, out, errOut, tc.code, tc.want)
		}
	}
}
