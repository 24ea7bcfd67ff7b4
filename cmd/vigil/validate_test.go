package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/dataplane"
	"github.com/vigil-lb/vigil/internal/dataplane/userspace"
	"github.com/vigil-lb/vigil/internal/supervisor"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// vsWith is global, then a virtual server (on the line after global) whose real server (two
// lines further) holds body (from the line after it).
func vsWith(global, body string) string {
	return global + "virtual_server 127.0.0.1 8080 {\n  protocol TCP\n  real_server 127.0.0.2 8080 {\n" + body + "  }\n}\n"
}

// instanceWith is an instance on this host's first interface but the loopback, or on iface,
// with extra lines from line 4 after global.
func instanceWith(t *testing.T, global, iface, extra string) string {
	t.Helper()
	if iface == "" {
		ifaces, err := os.ReadDir("/sys/class/net")
		if err != nil {
			t.Skip("no /sys/class/net:", err)
		}
		for _, i := range ifaces {
			if i.Name() != "lo" {
				iface = i.Name()
				break
			}
		}
	}
	return global + "vrrp_instance VI_1 {\n  interface " + iface + "\n  virtual_router_id 51\n" + extra + "\n  virtual_ipaddress {\n    192.0.2.100/24\n  }\n}\n"
}

// TestConfigTestReportsWhatStartRefuses: each of these files is refused (or warned of) when
// vigil starts, and `vigil -t` says so at the line. Before -t built the parts, it called every
// one of them usable without a word, except the last two, which the parser already catches
// (Keepalived's warnings): daemon's TestValidateReportsWhatNewRefusesAtItsLine shows that the
// build refuses them too, on a model the parser does not make.
func TestConfigTestReportsWhatStartRefuses(t *testing.T) {
	security := "global_defs {\n  enable_script_security\n}\n"
	tests := []struct {
		name     string
		conf     func(t *testing.T) string
		args     []string
		wantExit int
		want     string // "LINE: level: message" within the output
	}{
		{"a regex RE2 cannot compile", func(t *testing.T) string {
			return vsWith("", "    HTTP_GET {\n      url {\n        path /\n        regex \"(?<=a)b\"\n      }\n    }\n")
		}, nil, 1, `:7: error: regex "(?<=a)b": error parsing regexp`},
		{"a TCP_CHECK step vigil cannot read", func(t *testing.T) string {
			return vsWith("", "    TCP_CHECK {\n      send \"PING\\q\"\n    }\n")
		}, nil, 1, `:5: error: send "PING\\q": unknown escape \q`},
		{"a missing MISC_CHECK script", func(t *testing.T) string {
			return vsWith("", "    MISC_CHECK {\n      misc_path /nonexistent/vigil-check.sh\n    }\n")
		}, nil, 0, ":5: warning: MISC_CHECK misc_path: script /nonexistent/vigil-check.sh cannot be accessed"},
		{"a missing vrrp_script", func(t *testing.T) string {
			return "vrrp_script chk {\n  script /nonexistent/vigil-chk.sh\n}\n" + instanceWith(t, "", "", "  track_script {\n    chk\n  }")
		}, nil, 0, ":2: warning: vrrp_script chk: script /nonexistent/vigil-chk.sh cannot be accessed"},
		{"a missing notify script", func(t *testing.T) string {
			return instanceWith(t, "", "", "  notify_master /nonexistent/vigil-master.sh")
		}, nil, 0, ":4: warning: (VI_1) notify_master: script /nonexistent/vigil-master.sh cannot be accessed"},
		{"an insecure script with enable_script_security", func(t *testing.T) string {
			return vsWith(security, "    notify_up "+testenv.InsecureScript(t)+"\n")
		}, nil, 0, ":7: warning: notify_up: script "},
		{"an insecure script without enable_script_security", func(t *testing.T) string {
			return vsWith("", "    notify_up "+testenv.InsecureScript(t)+"\n")
		}, nil, 0, ":4: warning: notify_up: unsafe permissions found for script "},
		{"a script_user that does not exist", func(t *testing.T) string {
			return instanceWith(t, "global_defs {\n  script_user vigil-no-such-user\n}\n", "", "")
		}, nil, 0, ":2: warning: Error setting global script uid/gid: "},
		{"a MISC_CHECK user that does not exist", func(t *testing.T) string {
			return vsWith("", "    MISC_CHECK {\n      misc_path /bin/true\n      user vigil-no-such-user\n    }\n")
		}, nil, 1, ":6: error: Failed to set uid/gid for misc checker script /bin/true: "},
		{"an interface this host does not have", func(t *testing.T) string {
			return instanceWith(t, "", "vgl-nosuch0", "")
		}, nil, 0, ":2: warning: WARNING - interface vgl-nosuch0 for vrrp_instance VI_1 doesn't exist"},
		{"an unknown --dataplane", func(t *testing.T) string {
			return vsWith("", "    TCP_CHECK {\n    }\n")
		}, []string{"--dataplane", "bogus"}, 1, `-: error: --dataplane: data plane "bogus" unknown`},
		{"a BGP hold time the speaker refuses", func(t *testing.T) string {
			return "bgp {\n  local_as 65001\n  router_id 192.0.2.1\n  neighbor 192.0.2.254 {\n    remote_as 65000\n    hold_time 2\n  }\n}\n"
		}, nil, 1, ":4: error: bgp: neighbor 192.0.2.254: hold_time 2s"},
		{"a virtual server written twice", func(t *testing.T) string {
			return vsWith("", "    TCP_CHECK {\n    }\n") + vsWith("", "    TCP_CHECK {\n    }\n")
		}, nil, 1, ":8: error: virtual server [127.0.0.1]:tcp:8080 defined twice"},
		{"an unknown DNS type (the parser's warning)", func(t *testing.T) string {
			return vsWith("", "    DNS_CHECK {\n      type BOGUS\n    }\n")
		}, nil, 0, ":5: warning: Unknown DNS check type BOGUS - ignoring"},
		{"an undefined track_file (the parser's warning)", func(t *testing.T) string {
			return vsWith("", "    FILE_CHECK {\n      track_file nosuch\n    }\n")
		}, nil, 0, ":5: warning: track_file nosuch not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConf(t, tc.conf(t))
			var out, errb bytes.Buffer
			if got := run(append([]string{"-t", "-i", "test", "-f", path}, tc.args...), &out, &errb); got != tc.wantExit {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", got, tc.wantExit, out.String(), errb.String())
			}
			if want := strings.TrimPrefix(tc.want, "-"); !strings.Contains(out.String(), want) ||
				!strings.HasPrefix(tc.want, "-") && !strings.Contains(out.String(), path+tc.want) {
				t.Fatalf("stdout %q lacks %q at its line", out.String(), tc.want)
			}
			// What -t says is what start does.
			if err := startWithoutNetwork(t, options{configFile: path, configID: "test", dataplane: flagValue(tc.args, "--dataplane")}); (err == nil) != (tc.wantExit == 0) {
				t.Fatalf("-t exit %d, but building the parts: %v", tc.wantExit, err)
			}
		})
	}
}

func flagValue(args []string, name string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name {
			return args[i+1]
		}
	}
	return ""
}

// startWithoutNetwork builds every part serve builds from o's file, as serve builds it
// (supervisor.Build), and releases them without binding or running any: the load-balancing
// half with a data plane that opens nothing (the userspace balancer, which listens only when a
// service is applied), no status server, the VRRP Manager, the BGP speaker. The error is the first refusal; a configuration with errors
// is refused before anything is built, as runDaemon refuses it.
func startWithoutNetwork(t *testing.T, o options) error {
	t.Helper()
	cfg, diags, err := loadConfig(o)
	if err != nil {
		return err
	}
	if diags.HasErrors() {
		return errors.New("the configuration has errors")
	}
	discard := slog.New(slog.DiscardHandler)
	opts := supervisorOptions(o, discard)
	opts.StatusListen = "off"
	opts.OpenDataplane = func(string) (dataplane.Dataplane, error) { return userspace.New(discard, userspace.Options{}), nil }
	v, err := supervisor.Build(cfg, opts)
	if err != nil {
		return err
	}
	v.Close()
	return nil
}

// propertyConfigs lists the configurations the property is checked on, with the config id
// each is read with: Keepalived's samples and the real-world corpus beside the repository
// (read as on the host the oracles were made on), the examples, cmd/vigil's testdata, and the
// config package's lexer fuzz seeds (decoded into files under dir).
func propertyConfigs(t *testing.T, dir string) map[string]string {
	t.Helper()
	shared := filepath.Join("..", "..", "..", "shared")
	if s := os.Getenv("VIGIL_SHARED"); s != "" {
		shared = s
	}
	out := map[string]string{}
	add := func(id string, pattern string, min int) {
		files, err := filepath.Glob(pattern)
		if err != nil || len(files) < min {
			if strings.Contains(pattern, shared) {
				testenv.Unavailable(t, fmt.Sprintf("shared/ beside the repository has %d files at %s (set VIGIL_SHARED)", len(files), pattern))
			}
			t.Fatalf("%s: %d files (%v), want at least %d", pattern, len(files), err, min)
		}
		for _, f := range files {
			out[f] = id
		}
	}
	add("vm", filepath.Join(shared, "samples", "*"), 20)
	add("vm", filepath.Join(shared, "corpus", "*.conf"), 80)
	add("example", filepath.Join("..", "..", "examples", "*.conf"), 4)
	add("test", filepath.Join("testdata", "*.conf"), 1)
	seeds, err := filepath.Glob(filepath.Join("..", "..", "internal", "config", "testdata", "fuzz", "*", "*"))
	if err != nil || len(seeds) == 0 {
		t.Fatalf("fuzz seeds: %v", err)
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		// "go test fuzz v1\n[]byte(QUOTED)\n"
		lit := strings.TrimSpace(strings.TrimPrefix(string(b), "go test fuzz v1\n"))
		lit = strings.TrimSuffix(strings.TrimPrefix(lit, "[]byte("), ")")
		text, err := strconv.Unquote(lit)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		p := filepath.Join(dir, "fuzz-"+filepath.Base(s)+".conf")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out[p] = "vm"
	}
	return out
}

// TestConfigTestPredictsStart is the property -t exists for: on every configuration we have,
// `vigil -t` says usable exactly when building every part of vigil from it, without touching
// the network, succeeds. The host decides some of it (scripts, users, ICMP sockets): both
// sides run on this host, as root, as the daemon does.
func TestConfigTestPredictsStart(t *testing.T) {
	testenv.RequireRoot(t) // PING_CHECK's ICMP socket, scripts run with root's privileges
	files := propertyConfigs(t, t.TempDir())
	usable := 0
	for path, id := range files {
		o := options{configFile: path, configID: id}
		var out bytes.Buffer
		ok := configTest(o, &out, io.Discard) == 0
		err := startWithoutNetwork(t, o)
		if ok {
			usable++
		}
		if ok != (err == nil) {
			t.Errorf("%s: -t says usable=%v, but building the parts: %v\n-t said:\n%s", path, ok, err, out.String())
		}
	}
	t.Logf("%d configurations checked: %d usable, %d not usable (samples, corpus, examples, cmd/vigil/testdata, config fuzz seeds)",
		len(files), usable, len(files)-usable)
}
