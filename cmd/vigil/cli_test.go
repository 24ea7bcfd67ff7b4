package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json from the current output")

func writeConf(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigTestReportsFileLineLevelMessageAndExitStatus(t *testing.T) {
	good := writeConf(t, "global_defs {\n  router_id a\n}\n")
	warned := writeConf(t, "global_defs {\n  router_id a\n  bogus_keyword 1\n}\n")
	broken := writeConf(t, "vrrp_instance VI_1 {\n  interface eth0\n  priority 100\n  virtual_ipaddress {\n    192.0.2.1\n  }\n}\n")
	// keepalived -t exits 2 (fatal) on an unnamed vrrp_script.
	fatal := writeConf(t, "vrrp_script {\n  script /bin/true\n}\n")
	cases := []struct {
		name     string
		args     []string
		wantExit int
		wantOut  string
	}{
		{"clean file", []string{"-t", "-f", good}, 0, ""},
		{"warning is usable", []string{"-t", "-f", warned}, 0, warned + ":3: warning: Unknown keyword 'bogus_keyword'"},
		{"strict fails on a warning", []string{"-t", "--strict", "-f", warned}, 1, warned + ":3: warning: Unknown keyword 'bogus_keyword'"},
		{"long flag names", []string{"--config-test", "--use-file", warned}, 0, "Unknown keyword"},
		{"error is unusable", []string{"-t", "-f", broken}, 1, "virtual router id must be set"},
		{"fatal for Keepalived is unusable", []string{"-t", "-f", fatal}, 1, fatal + ":1: error: *** Configuration line starting `vrrp_script` is missing a parameter"},
		{"missing file", []string{"-t", "-f", filepath.Join(t.TempDir(), "nope.conf")}, 1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := run(c.args, &out, &errb); got != c.wantExit {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", got, c.wantExit, out.String(), errb.String())
			}
			if c.wantOut == "" && out.Len() != 0 {
				t.Fatalf("expected no diagnostics, got %q", out.String())
			}
			if !strings.Contains(out.String(), c.wantOut) {
				t.Fatalf("stdout %q lacks %q", out.String(), c.wantOut)
			}
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if line != "" && !strings.Contains(line, ": warning: ") && !strings.Contains(line, ": error: ") {
					t.Errorf("line %q is not file:line: level: message", line)
				}
			}
		})
	}
}

func TestDumpConfigJSONIsStable(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"dump-config", "-f", filepath.Join("testdata", "small.conf"), "-i", "lb1"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var v map[string]any
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("dump-config printed invalid JSON: %v", err)
	}
	golden := filepath.Join("testdata", "small.json")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("dump-config output differs from %s (the JSON is a public interface: if the change is intended, rerun with -update and say so in docs/dump-config.md)\n%s", golden, out.String())
	}
}

func TestVersionAndUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-v"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "vigil ") {
		t.Fatalf("-v: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"frobnicate"}, &out, &errb); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
}
