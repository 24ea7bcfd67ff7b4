package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/vrrp/packet"
)

// dumpSnapshot has one virtual server with a healthy, a failing and a never-checked real
// server, a second virtual server the data plane does not steer, and two VRRP instances.
func dumpSnapshot() status.Snapshot {
	at := time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC)
	return status.Snapshot{
		Generated: at.Add(time.Minute), Version: "1.2.3", Dataplane: "userspace",
		VirtualServers: []status.VirtualServer{
			{
				Name: "[192.0.2.10]:tcp:80", Listen: "192.0.2.10:80", Protocol: "TCP", Scheduler: "wrr",
				Quorum: 1, QuorumUp: true, UpCount: 1, Total: 3,
				RealServers: []status.RealServer{
					{Name: "198.51.100.1:8080", Address: "198.51.100.1:8080", Up: true, Weight: 3, EffectiveWeight: 3, Since: at,
						ActiveConns: 2, TotalConns: 140,
						Checks: []status.Check{{Kind: "HTTP_GET", Target: "198.51.100.1:8080", Healthy: true, Latency: 1500 * time.Microsecond, At: at.Add(50 * time.Second), Checked: true}}},
					{Name: "198.51.100.2:8080", Address: "198.51.100.2:8080", Weight: 2, Since: at.Add(10 * time.Second),
						Reason: "connect: connection refused", TotalConns: 7,
						Checks: []status.Check{
							{Kind: "TCP_CHECK", Target: "198.51.100.2:8080", Reason: "connect: connection refused", Latency: 300 * time.Microsecond, At: at.Add(55 * time.Second), Checked: true},
							{Kind: "MISC_CHECK", Target: "/usr/local/bin/probe", Healthy: true, Latency: 20 * time.Millisecond, At: at.Add(54 * time.Second), Checked: true},
						}},
					{Name: "[2001:db8::5]:8080", Address: "[2001:db8::5]:8080", Weight: 1,
						Checks: []status.Check{{Kind: "TCP_CHECK", Target: "[2001:db8::5]:8080"}}},
				},
			},
			{
				Name: "FWM 7", Listen: "FWM 7 (not steered by userspace)", Protocol: "TCP", Scheduler: "rr",
				Quorum: 1, Total: 0,
			},
		},
		VRRPInstances: []status.VRRPInstance{
			{Name: "VI_1", Interface: "eth0", VRID: 51, State: "MASTER", Priority: 150, EffectivePriority: 140,
				MasterAddress: "192.0.2.2", Transitions: 3, Since: at.Add(20 * time.Second),
				VirtualAddresses: []string{"192.0.2.100/24", "2001:db8::100/64"},
				Dropped: map[string]uint64{"short": 2, "long": 1, "bad_ttl": 10, "address_count_mismatch": 1,
					"address_list_mismatch": 2, "source_not_link_local": 4, "auth_failure": 5, "a_newer_reason": 6}},
			{Name: "VI_2", Interface: "eth1", VRID: 52, State: "BACKUP", Priority: 100, EffectivePriority: 100},
		},
		Events: []status.Event{
			{Seq: 4, Kind: "server-down", Subject: "[192.0.2.10]:tcp:80 198.51.100.2:8080"},
			{Seq: 3, Kind: "vrrp", Subject: "VI_1"},
			{Seq: 2, Kind: "server-up", Subject: "[192.0.2.10]:tcp:80 198.51.100.1:8080"},
			{Seq: 1, Kind: "server-up", Subject: "[192.0.2.10]:tcp:80 198.51.100.2:8080"},
		},
	}
}

func TestDumpsMatchGoldenFiles(t *testing.T) {
	cases := []struct {
		golden string
		write  func(io.Writer, status.Snapshot) error
		snap   status.Snapshot
	}{
		{"dump_state.golden", writeStateDump, dumpSnapshot()},
		{"dump_stats.golden", writeStatsDump, dumpSnapshot()},
		{"dump_state_empty.golden", writeStateDump, status.Snapshot{Version: "dev", Dataplane: "userspace"}},
		{"dump_stats_empty.golden", writeStatsDump, status.Snapshot{Version: "dev", Dataplane: "userspace"}},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			var got bytes.Buffer
			if err := c.write(&got, c.snap); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", c.golden)
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("dump differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got.Bytes(), want)
			}
		})
	}
}

func TestStateDumpSaysWhatFailedAndWhatNeverRan(t *testing.T) {
	var b bytes.Buffer
	if err := writeStateDump(&b, dumpSnapshot()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"RIP = 198.51.100.2, RPORT = 8080, WEIGHT = 2 EFF WEIGHT = 0",
		"RIP = 2001:db8::5, RPORT = 8080",
		" [192.0.2.10]:tcp:80 -> TCP_CHECK 198.51.100.2:8080\n   Has run = yes\n   Last result = failure\n   Last reason = connect: connection refused",
		" [192.0.2.10]:tcp:80 -> TCP_CHECK [2001:db8::5]:8080\n   Has run = no\n",
		" VS = FWM 7\n",
		" VRRP Instance = VI_1\n   State = MASTER",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("state dump lacks %q", want)
		}
	}
}

// writeFailing fails every write after the first n bytes.
type writeFailing struct{ n int }

func (w *writeFailing) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, os.ErrClosed
	}
	w.n -= len(p)
	return len(p), nil
}

func TestDumpReportsWriteErrors(t *testing.T) {
	for name, write := range map[string]func(io.Writer, status.Snapshot) error{"state": writeStateDump, "stats": writeStatsDump} {
		if err := write(&writeFailing{n: 10}, dumpSnapshot()); err == nil {
			t.Errorf("%s dump: a failed write was not reported", name)
		}
	}
}

func TestDumpToFileWritesAndRefusesSymlinks(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	path := filepath.Join(dir, "keepalived.data")
	dumpToFile(log, path, writeStateDump, dumpSnapshot())
	got, err := os.ReadFile(path)
	if err != nil || !strings.HasPrefix(string(got), "------< Global definitions >------\n") {
		t.Fatalf("dump file: %v %q", err, got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("dump file mode %v, want 0600", st.Mode().Perm())
	}

	target := filepath.Join(dir, "precious")
	os.WriteFile(target, []byte("keep"), 0o644)
	link := filepath.Join(dir, "keepalived.stats")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	logs.Reset()
	dumpToFile(log, link, writeStatsDump, dumpSnapshot())
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("dump followed a symbolic link and overwrote its target: %q", b)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), link) {
		t.Errorf("refused dump not logged with its path: %s", logs.String())
	}
}

// Every reason the VRRP half counts has its line in the SIGUSR2 dump, so that none ends up
// under "Other Errors" but one added later.
func TestStatsDumpHasALineForEveryVRRPDropReason(t *testing.T) {
	reasons := []string{"unknown_peer"}
	for r := packet.ReasonNone + 1; r < packet.NumReasons; r++ {
		reasons = append(reasons, r.String())
	}
	for _, r := range reasons {
		var b bytes.Buffer
		snap := status.Snapshot{VRRPInstances: []status.VRRPInstance{{Name: "VI_1", Dropped: map[string]uint64{r: 7}}}}
		if err := writeStatsDump(&b, snap); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), ": 7\n") || strings.Contains(b.String(), "Other Errors") {
			t.Errorf("reason %s has no line of its own:\n%s", r, b.String())
		}
	}
}

func TestDumpsGoToTMPDIRWhenItIsADirectoryAsKeepalivedDoes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ tmpdir, want string }{
		{dir, filepath.Join(dir, "keepalived.stats")},
		{"", "/tmp/keepalived.stats"},
		{"relative/dir", "/tmp/keepalived.stats"},
		{filepath.Join(dir, "missing"), "/tmp/keepalived.stats"},
	} {
		t.Setenv("TMPDIR", tc.tmpdir)
		if got := dumpPath(dumpStatsFile); got != tc.want {
			t.Errorf("TMPDIR=%q: dump at %s, want %s", tc.tmpdir, got, tc.want)
		}
	}
}
