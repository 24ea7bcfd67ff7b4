package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/examples"
	"github.com/vigil-lb/vigil/internal/supervisor"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// busyPort holds a loopback port for the test's life.
func busyPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// A port vigil cannot bind at start is one clear error, printed first, and a non-zero exit;
// the warnings that came before it follow.
func TestStartThatCannotBindSaysWhyFirstAndFails(t *testing.T) {
	busy := busyPort(t)
	conf := writeConf(t, fmt.Sprintf(`global_defs {
    status_listen %s
    bogus_keyword 1
}
virtual_server 127.0.0.1 %d {
    protocol TCP
    lb_algo rr
    lb_kind NAT
    real_server 127.0.0.1 %d {
        TCP_CHECK {
        }
    }
}
`, busy, testenv.FreePort(t, "127.0.0.1", false), testenv.FreePort(t, "127.0.0.1", false)))
	var out, errb bytes.Buffer
	if code := run([]string{"-f", conf, "-n"}, &out, &errb); code == 0 {
		t.Fatalf("vigil started with its status port taken; stderr:\n%s", errb.String())
	}
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	if !strings.Contains(lines[0], "cannot start") || !strings.Contains(lines[0], "address already in use") {
		t.Fatalf("first line %q, want the reason vigil cannot start; all:\n%s", lines[0], errb.String())
	}
	if !strings.Contains(errb.String(), "bogus_keyword") {
		t.Errorf("the configuration's warning was lost:\n%s", errb.String())
	}
}

// The demo prints its instructions only once it runs: with its status port taken, the reason
// is the first thing printed and stdout stays empty.
func TestDemoThatCannotBindPrintsTheReasonFirstAndNoInstructions(t *testing.T) {
	busy := busyPort(t)
	src := strings.Replace(string(examples.WebCluster), "status_listen 127.0.0.1:9080", "status_listen "+busy, 1)
	if src == string(examples.WebCluster) {
		t.Fatal("test bug: the demo configuration's status_listen line changed")
	}
	conf := writeConf(t, src)
	var out, errb bytes.Buffer
	if code := run([]string{"demo", "-f", conf}, &out, &errb); code == 0 {
		t.Fatal("the demo ran with its status port taken")
	}
	if out.Len() != 0 {
		t.Errorf("the demo printed its instructions although it could not start:\n%s", out.String())
	}
	first, _, _ := strings.Cut(errb.String(), "\n")
	if !strings.Contains(first, "cannot start") || !strings.Contains(first, busy) {
		t.Fatalf("first line %q, want why the demo cannot start; all:\n%s", first, errb.String())
	}
}

// Every reload is recorded once, whatever its outcome: a refused one is counted, published and
// shown with its reason, and the running configuration stays.
func TestReloadRecordsEveryOutcomeAndRefusesATypoThatRemovesAService(t *testing.T) {
	port1, port2 := testenv.FreePort(t, "127.0.0.1", false), testenv.FreePort(t, "127.0.0.1", false)
	backend := testenv.FreePort(t, "127.0.0.1", false)
	vs := func(addr string, port int) string {
		return fmt.Sprintf("virtual_server %s %d {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    real_server 127.0.0.1 %d {\n        TCP_CHECK {\n            connect_timeout 1\n        }\n    }\n}\n", addr, port, backend)
	}
	good := vs("127.0.0.1", port1) + vs("127.0.0.1", port2)
	path := writeConf(t, good)
	o := options{configFile: path, configID: "test"}
	cfg, diags, err := loadConfig(o)
	if err != nil || len(diags.List) > 0 {
		t.Fatalf("load: %v %v", err, diags.List)
	}
	log := slog.New(slog.DiscardHandler)
	opts := supervisorOptions(o, log)
	opts.StatusListen = "127.0.0.1:0"
	d, err := supervisor.Build(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Bind(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	write := func(text string) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name, text, outcome, reason string
		services                    int
	}{
		{"unchanged", good, "applied", "", 2},
		{"a typo in an address skips a running block", vs("127.0.0.1", port1) + vs("127.0.0.300", port2), "refused", "would remove running virtual_server", 2},
		{"random bytes", "\x00\x13garbage{{ \xff\xfe\n;;;\n", "refused", "would remove running", 2},
		{"an error", good + "vrrp_instance VI_9 {\n  interface eth0\n  priority 100\n}\n", "refused", "error(s), the first at " + path, 2},
		{"a block deleted from a clean file", vs("127.0.0.1", port1), "applied", "", 1},
	}
	for _, s := range steps {
		write(s.text)
		reload(o, d, log)
		snap := d.Snapshot()
		r := snap.LastReload
		if r == nil || r.Outcome != s.outcome || !strings.Contains(r.Reason, s.reason) {
			t.Fatalf("%s: last reload %+v, want %s with %q", s.name, r, s.outcome, s.reason)
		}
		if len(snap.VirtualServers) != s.services {
			t.Fatalf("%s: %d virtual servers run, want %d", s.name, len(snap.VirtualServers), s.services)
		}
		found := false
		for _, ev := range snap.Events {
			found = found || (ev.Kind == "reload" && ev.Subject == s.outcome && ev.Message == r.Reason)
		}
		if !found {
			t.Errorf("%s: no reload event on the stream", s.name)
		}
	}
	resp, err := http.Get("http://" + d.StatusAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`vigil_reloads_total{outcome="applied"} 2`, `vigil_reloads_total{outcome="refused"} 3`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
