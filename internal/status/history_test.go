package status

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestRingKeepsTheLastValuesOldestFirst(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		pushed int
		want   []int
	}{
		{"empty", 3, 0, nil},
		{"partly filled", 3, 2, []int{1, 2}},
		{"exactly full", 3, 3, []int{1, 2, 3}},
		{"wrapped once", 3, 5, []int{3, 4, 5}},
		{"wrapped many times", 3, 10, []int{8, 9, 10}},
		{"size below one keeps one", 0, 4, []int{4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRing[int](tc.size)
			for i := 1; i <= tc.pushed; i++ {
				r.Push(i)
			}
			if got := r.Items(); !slices.Equal(got, tc.want) {
				t.Errorf("Items() = %v, want %v", got, tc.want)
			}
			last, ok := r.Last()
			if ok != (len(tc.want) > 0) || (ok && last != tc.want[len(tc.want)-1]) {
				t.Errorf("Last() = %d, %v", last, ok)
			}
			if r.Len() != len(tc.want) {
				t.Errorf("Len() = %d, want %d", r.Len(), len(tc.want))
			}
		})
	}
}

// fakeNow is a clock a test moves by hand.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

func TestTimelineRecordsOnlyChangesWithinTheHourAndTheStateBefore(t *testing.T) {
	type step struct {
		after time.Duration
		marks []ServerMark
	}
	up := ServerMark{Name: "a", Up: true}
	down := ServerMark{Name: "a"}
	drain := ServerMark{Name: "a", Up: true, AdminState: AdminDrain}
	for _, tc := range []struct {
		name  string
		steps []step
		// want are the labels of a's timeline, and wantAt the minutes (from the start) they begin.
		want   []string
		wantAt []int
	}{
		{"first state is recorded", []step{{0, []ServerMark{up}}}, []string{"up"}, []int{0}},
		{"a repeated state is not a change", []step{{0, []ServerMark{up}}, {time.Minute, []ServerMark{up}}}, []string{"up"}, []int{0}},
		{"up, down, drain", []step{{0, []ServerMark{up}}, {time.Minute, []ServerMark{down}}, {time.Minute, []ServerMark{drain}}},
			[]string{"up", "down", "drain"}, []int{0, 1, 2}},
		{"older than the hour: only the last one before it stays", []step{{0, []ServerMark{up}}, {time.Minute, []ServerMark{down}},
			{time.Minute, []ServerMark{up}}, {2 * time.Hour, []ServerMark{drain}}}, []string{"up", "drain"}, []int{2, 122}},
		{"a server no longer listed is forgotten", []step{{0, []ServerMark{up}}, {time.Minute, []ServerMark{{Name: "b", Up: true}}}}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
			clk := &fakeNow{t: start}
			h := NewHub(10, clk.now)
			for _, s := range tc.steps {
				clk.add(s.after)
				h.ServerStates("web", s.marks)
			}
			var got []string
			var at []int
			for _, c := range h.Timeline("web", "a") {
				got, at = append(got, c.Label()), append(at, int(c.At.Sub(start)/time.Minute))
			}
			if !slices.Equal(got, tc.want) || !slices.Equal(at, tc.wantAt) {
				t.Errorf("timeline %v at minutes %v, want %v at %v", got, at, tc.want, tc.wantAt)
			}
		})
	}
}

func TestTimelineIsBoundedAndForgottenWithItsVirtualServer(t *testing.T) {
	clk := &fakeNow{t: time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)}
	h := NewHub(10, clk.now)
	for i := range 3 * TimelineSize {
		clk.add(time.Second)
		h.ServerStates("web", []ServerMark{{Name: "a", Up: i%2 == 0}})
	}
	if n := len(h.Timeline("web", "a")); n != TimelineSize {
		t.Errorf("after %d flaps the timeline holds %d changes, want %d", 3*TimelineSize, n, TimelineSize)
	}
	h.ForgetVirtualServer("web")
	if tl := h.Timeline("web", "a"); tl != nil {
		t.Errorf("timeline of a removed virtual server: %v", tl)
	}
}

func TestConnectionRateFollowsTheCountOverItsSamples(t *testing.T) {
	type sample struct {
		after time.Duration
		total uint64
	}
	for _, tc := range []struct {
		name    string
		samples []sample
		want    float64
	}{
		{"one sample has no rate", []sample{{0, 100}}, 0},
		{"steady 10/s", []sample{{0, 0}, {5 * time.Second, 50}, {5 * time.Second, 100}}, 10},
		{"asked often: the rate is still over the samples", []sample{{0, 0}, {time.Second, 10}, {time.Second, 20}}, 10},
		{"the oldest samples fall out of the ring", append([]sample{{0, 0}, {5 * time.Second, 1000}},
			repeat(sample{5 * time.Second, 1000}, rateSamples)...), 0},
		{"a count that goes back restarts", []sample{{0, 500}, {5 * time.Second, 10}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m rateMeter
			now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
			var got float64
			for _, s := range tc.samples {
				now = now.Add(s.after)
				got = m.rate("web", now, s.total)
			}
			if math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("rate %v, want %v", got, tc.want)
			}
		})
	}
}

func repeat[T any](v T, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestStatusJSONCarriesTimelineRateAndProbes(t *testing.T) {
	clk := &fakeNow{t: time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)}
	snap := Snapshot{VirtualServers: []VirtualServer{{Name: "web", Traffic: Traffic{TotalConns: 100, BytesIn: 7, BytesOut: 9},
		RealServers: []RealServer{{Name: "a", Up: true, Checks: []Check{{Kind: "TCP_CHECK",
			Recent: []Probe{{At: clk.t, Latency: 2 * time.Millisecond, Healthy: true}}}}}}}}}
	src := &fixedSource{snap: snap}
	hub := NewHub(10, clk.now)
	hub.ServerStates("web", []ServerMark{{Name: "a", Up: true}})
	srv := httptest.NewServer(NewHandler(src, hub, nil))
	t.Cleanup(srv.Close)
	get := func() Snapshot {
		t.Helper()
		resp, err := http.Get(srv.URL + "/api/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var s Snapshot
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		return s
	}
	get()
	clk.add(10 * time.Second)
	snap.VirtualServers[0].Traffic.TotalConns = 300
	src.set(snap)
	got := get()
	vs := got.VirtualServers[0]
	if vs.Traffic.ConnsPerSecond != 20 || vs.Traffic.BytesIn != 7 || vs.Traffic.BytesOut != 9 {
		t.Errorf("traffic %+v, want 20 connections/s and the bytes", vs.Traffic)
	}
	rs := vs.RealServers[0]
	if len(rs.Timeline) != 1 || rs.Timeline[0].Label() != "up" {
		t.Errorf("timeline %+v, want one change to up", rs.Timeline)
	}
	if len(rs.Checks[0].Recent) != 1 || rs.Checks[0].Recent[0].Latency != 2*time.Millisecond {
		t.Errorf("recent probes %+v", rs.Checks[0].Recent)
	}
}
