package vrrp

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// processConf is an instance on iface tracking the vrrp_track_process "proc", which looks for
// a sleep with the single argument arg; track is the weight part of the track_process entry.
func processConf(name string, prio int, iface, arg, track string) string {
	extra := ""
	if track != "-" {
		extra = fmt.Sprintf("track_process {\n    proc %s\n  }", track)
	}
	c := vrrpConf(name, 3, prio, "0.2", "192.0.2.100/24", extra)
	c = strings.Replace(c, "interface eth0", "interface "+iface, 1)
	// Defined before the instance that names it, as Keepalived requires.
	return fmt.Sprintf("vrrp_track_process proc {\n  process sleep %s\n}\n", arg) + c
}

func TestInstanceTracksItsAndItsSyncGroupsProcesses(t *testing.T) {
	group := func(track string) string {
		return "vrrp_sync_group G {\n  group {\n    VI_1\n  }\n  track_process {\n    proc " + track + "\n  }\n}\n"
	}
	tests := []struct {
		name, track, group string
		want               []trackRef
	}{
		{"the instance's entry", "weight -60 reverse", "",
			[]trackRef{{kind: processKind, name: "proc", weight: -60, reverse: true}}},
		{"none", "-", "", nil},
		{"the sync group's entry", "-", "weight 20",
			[]trackRef{{kind: processKind, name: "proc", weight: 20}}},
		{"both: the group's weight", "weight -60", "weight 20",
			[]trackRef{{kind: processKind, name: "proc", weight: 20}}},
		{"both: an unweighted instance entry stays unweighted", "weight 0", "weight 20",
			[]trackRef{{kind: processKind, name: "proc"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conf := processConf("x", 100, "eth0", "1", tc.track)
			if tc.group != "" {
				conf += group(tc.group)
			}
			m, err := NewManager(loadConf(t, conf), ManagerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got []trackRef
			for _, tr := range m.specs[0].tracks {
				if tr.kind == processKind {
					got = append(got, tr)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("process tracks %+v, want %+v", got, tc.want)
			}
		})
	}
	// A reload that changes only the group's entry must reach the instance.
	key := func(g string) string {
		m, err := NewManager(loadConf(t, processConf("x", 100, "eth0", "1", "-")+group(g)), ManagerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return m.specs[0].key
	}
	if key("weight 20") == key("weight 30") {
		t.Error("the instance's reload key ignores its sync group's track_process weight")
	}
	if (trackRef{kind: processKind, name: "proc"}).key() != "process:proc" {
		t.Error("tracked object key is not process:NAME")
	}
}

// sleeper runs a sleep with argument arg until stopped (or the test ends).
type sleeper struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func startSleeper(t *testing.T, arg string) *sleeper {
	t.Helper()
	s := &sleeper{cmd: exec.Command("sleep", arg), exited: make(chan struct{})}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start sleep %s: %v", arg, err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(s.stop)
	return s
}

func (s *sleeper) stop() { s.cmd.Process.Kill(); <-s.exited }

// The tracked process dying moves the virtual address to the backup and its return brings it
// back: A tracks the process, B (priority 100) does not. Without a weight A goes to FAULT;
// with weight -60 its priority drops from 150 to 90.
func TestTrackedProcessExitMovesTheVIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, weight string
		downState    string
		downPrio     int
	}{
		{"no weight faults", "", "FAULT", 0},
		{"weight -60 lowers the priority", "weight -60", "BACKUP", 90},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nsA, nsB := pair(t, "192.0.2.1/24", "192.0.2.2/24")
			vip := netip.MustParseAddr("192.0.2.100")
			// An argument no other process has: sleep takes fractional seconds.
			arg := fmt.Sprintf("%d.%d%d", 3600+i, os.Getpid(), time.Now().UnixNano()%1000000)
			proc := startSleeper(t, arg)
			a := startVigil(t, nsA, processConf("a", 150, "eth0", arg, tc.weight))
			b := startVigil(t, nsB, processConf("b", 100, "eth0", arg, "-"))
			check := func(what, aState string, aPrio int, aHasVIP bool) {
				t.Helper()
				bState := "MASTER"
				if aHasVIP {
					bState = "BACKUP"
				}
				took := testenv.WaitFor(t, 10*time.Second, what, func() bool {
					st, _ := a.instance("VI_1")
					return st.State == aState && (aState == "FAULT" || st.EffectivePriority == aPrio) && b.state("VI_1") == bState &&
						hasAddr(t, nsA, "eth0", vip) == aHasVIP && hasAddr(t, nsB, "eth0", vip) == !aHasVIP
				})
				t.Logf("%s: after %v", what, took)
			}
			check("process running: A master at 150", "MASTER", 150, true)
			proc.stop()
			check(fmt.Sprintf("process gone: A %s at %d", tc.downState, tc.downPrio), tc.downState, tc.downPrio, false)
			startSleeper(t, arg)
			check("process back: A master at 150", "MASTER", 150, true)
		})
	}
}
