package fdbudget

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

func TestComputeGivesTheDataPlanesWhatTheReservationsLeave(t *testing.T) {
	parts := func(ns ...int) []Reservation {
		names := []string{"base", "checks", "scripts", "vrrp", "status"}
		var out []Reservation
		for i, n := range ns {
			out = append(out, Reservation{For: names[i], N: n})
		}
		return out
	}
	tests := []struct {
		name          string
		limit         int
		reserved      []Reservation
		maxconn       int
		wantDataplane int
		wantMaxConn   int
		wantProblem   string // "" = none
	}{
		{"the default maxconn is half of what is left", 1024, parts(32, 514, 384, 20, 65), 0, 9, 4, "leaves 9 descriptors"},
		{"a roomy limit", 20000, parts(32, 514, 384, 20, 65), 0, 18985, 9492, ""},
		{"an odd share rounds down", 1001, parts(100), 0, 901, 450, ""},
		{"a configured maxconn that fits is kept", 20000, parts(32, 514), 5000, 19454, 5000, ""},
		{"a configured maxconn that does not fit is lowered", 4096, parts(32, 514, 384, 20, 65), 4000, 3081, 1540, "maxconn 4000 needs 8000 descriptors and 3081 are left"},
		{"reservations past the limit leave nothing, and one connection", 512, parts(32, 514), 0, 0, 1, "leaves 0 descriptors"},
		{"a configured maxconn past nothing is one", 512, parts(32, 514), 100, 0, 1, "maxconn lowered to 1"},
		{"no reservation at all", 64, nil, 0, 64, 32, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := Compute(tc.limit, tc.reserved, tc.maxconn)
			if b.Dataplane != tc.wantDataplane || b.MaxConn != tc.wantMaxConn {
				t.Errorf("Compute: data planes %d, maxconn %d; want %d, %d (%s)", b.Dataplane, b.MaxConn, tc.wantDataplane, tc.wantMaxConn, b)
			}
			if (b.Problem == "") != (tc.wantProblem == "") || !strings.Contains(b.Problem, tc.wantProblem) {
				t.Errorf("Problem %q, want one containing %q", b.Problem, tc.wantProblem)
			}
			if b.ReservedTotal()+b.MaxConn*DescriptorsPerConn > tc.limit && b.Dataplane > 0 {
				t.Errorf("the budget overdraws the limit: %s", b)
			}
		})
	}
}

func TestBudgetSaysEachReservation(t *testing.T) {
	b := Compute(1024, []Reservation{{For: "checks", N: 514, Why: "512 probes in flight + 2 ICMP sockets"}, {For: "status", N: 65}}, 0)
	want := "limit 1024: reserved 579 [checks 514 (512 probes in flight + 2 ICMP sockets), status 65], data planes 445, maxconn 222"
	if got := b.String(); got != want {
		t.Errorf("String:\n got %s\nwant %s", got, want)
	}
	if b.Reservation("status") != 65 || b.Reservation("bgp") != 0 {
		t.Errorf("Reservation: status %d, bgp %d", b.Reservation("status"), b.Reservation("bgp"))
	}
}

func TestInUseCountsOpenDescriptors(t *testing.T) {
	before, err := InUse()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	after, err := InUse()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if after != before+1 {
		t.Errorf("InUse: %d before opening a file, %d after; want one more", before, after)
	}
}

func TestRaiseLeavesTheSoftLimitAtTheHardOne(t *testing.T) {
	l, err := Raise()
	if err != nil {
		t.Fatal(err)
	}
	if l.Soft != l.Hard || l.Was > l.Soft {
		t.Errorf("Raise: %+v, want the soft limit at the hard one", l)
	}
}

func TestReserveCountsEachPartThatRuns(t *testing.T) {
	tests := []struct {
		name  string
		needs Needs
		want  string // the reservations as Budget.String lists them
	}{
		{"nothing but the process", Needs{}, "base 32"},
		{"the VRRP lab's node", Needs{Probes: 2, VRRP: true, VRRPInstances: 1, StatusConns: 64, Listeners: 2},
			"base 32, checks 2, vrrp 20, status 65, listeners 2"},
		{"checks, pings and scripts", Needs{Probes: 512, ICMP: 2, Scripts: 64}, "base 32, checks 514, scripts 384"},
		{"BGP with two neighbors", Needs{BGP: true, BGPNeighbors: 2}, "base 32, bgp 20"},
		{"conntrack_sync and lvs_sync_daemon", Needs{ConntrackSync: true, IPVSSync: true}, "base 32, sync 18"},
		{"the control socket beside the status server", Needs{StatusConns: 64, ControlConns: 8, Listeners: 1}, "base 32, status 65, control 11, listeners 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range Reserve(tc.needs) {
				got = append(got, r.For+" "+strconv.Itoa(r.N))
			}
			if s := strings.Join(got, ", "); s != tc.want {
				t.Errorf("Reserve(%+v) = %s, want %s", tc.needs, s, tc.want)
			}
		})
	}
}

func TestWatchWarnsNearTheLimitAtMostOncePerQuietPeriod(t *testing.T) {
	var logs testenv.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	b := Compute(1000, Reserve(Needs{}), 0)
	var inUse atomic.Int64
	inUse.Store(899)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Watch(ctx, 5*time.Millisecond, time.Hour, func() (int, error) { return int(inUse.Load()), nil }, log)
	}()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond)
	if logs.Len() != 0 {
		t.Fatalf("warned below nine tenths of the limit:\n%s", logs.String())
	}
	inUse.Store(900)
	testenv.WaitFor(t, 5*time.Second, "a warning at nine tenths of the limit", func() bool {
		return strings.Contains(logs.String(), "file descriptors near the limit")
	})
	time.Sleep(50 * time.Millisecond)
	if n := strings.Count(logs.String(), "near the limit"); n != 1 {
		t.Fatalf("%d warnings within the quiet period, want 1:\n%s", n, logs.String())
	}
}
