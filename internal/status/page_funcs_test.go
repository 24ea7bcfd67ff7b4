package status

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {3 << 20, "3.0 MiB"}, {5 << 30, "5.0 GiB"}, {1 << 62, "4096.0 PiB"},
	} {
		if got := humanBytes(tc.n); got != tc.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestSparklineDrawsAPointPerProbeAndFailuresAsDots(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name              string
		probes            []Probe
		points, fails     int
		wantTitleContains string
	}{
		{"no probes, no chart", nil, 0, 0, ""},
		{"one probe", []Probe{{Latency: 2 * ms, Healthy: true}}, 1, 0, "last 1 probes: 2.0 ms to 2.0 ms, last 2.0 ms"},
		{"a failure is a dot", []Probe{{Latency: ms, Healthy: true}, {Latency: 9 * ms}}, 2, 1, "1.0 ms to 9.0 ms"},
		{"zero latencies stay on the floor", []Probe{{Healthy: true}, {Healthy: true}}, 2, 0, "0.0 ms to 0.0 ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(sparkline(tc.probes))
			if tc.points == 0 {
				if got != "" {
					t.Errorf("sparkline of nothing: %s", got)
				}
				return
			}
			pts := got[strings.Index(got, `points="`)+8:]
			pts = pts[:strings.Index(pts, `"`)]
			if n := len(strings.Fields(pts)); n != tc.points {
				t.Errorf("%d points, want %d: %s", n, tc.points, got)
			}
			if n := strings.Count(got, `class="fail"`); n != tc.fails {
				t.Errorf("%d failure dots, want %d", n, tc.fails)
			}
			if !strings.Contains(got, tc.wantTitleContains) {
				t.Errorf("title lacks %q: %s", tc.wantTitleContains, got)
			}
			if strings.Contains(got, "NaN") {
				t.Errorf("NaN in %s", got)
			}
		})
	}
}

func TestTimelineDrawsASegmentPerStateWithinTheHour(t *testing.T) {
	now := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	at := func(minAgo int) time.Time { return now.Add(-time.Duration(minAgo) * time.Minute) }
	for _, tc := range []struct {
		name    string
		changes []StateChange
		want    []string // each segment's class and x, width
	}{
		{"nothing recorded", nil, nil},
		{"up all hour, from before it", []StateChange{{At: at(90), Up: true}}, []string{`seg up" x="0.0" y="0" width="160.0"`}},
		{"down for the last quarter", []StateChange{{At: at(60), Up: true}, {At: at(15), Up: false}},
			[]string{`seg up" x="0.0" y="0" width="120.0"`, `seg down" x="120.0" y="0" width="40.0"`}},
		{"a change just now is one pixel at the end", []StateChange{{At: at(30), Up: true}, {At: now, Up: true, AdminState: AdminDrain}},
			[]string{`seg up" x="80.0" y="0" width="80.0"`, `seg drain" x="159.0" y="0" width="1.0"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(timeline(tc.changes, now))
			if n := strings.Count(got, "<rect"); n != len(tc.want) {
				t.Fatalf("%d segments, want %d: %s", n, len(tc.want), got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("no segment %s in %s", w, got)
				}
			}
		})
	}
}

func TestActionsEscapeNames(t *testing.T) {
	got := string(actions(`web"><script>`, "a&b"))
	if strings.Contains(got, "<script>") || !strings.Contains(got, `data-vs="web&#34;&gt;&lt;script&gt;"`) || !strings.Contains(got, `data-rs="a&amp;b"`) {
		t.Errorf("names not escaped: %s", got)
	}
	if n := strings.Count(got, "<button"); n != 3 {
		t.Errorf("%d buttons, want drain, maint and ready", n)
	}
	if strings.Contains(string(actions("web", "")), "data-rs") {
		t.Error("a virtual server's buttons name a real server")
	}
}

// The page works without its script: the charts, the traffic and the buttons are in the HTML
// the server sends.
func TestPageRendersChartsTrafficAndButtonsOnTheServer(t *testing.T) {
	clk := &fakeNow{t: browserEpoch}
	hub := NewHub(10, clk.now)
	s := browserSnapshot("")
	s.VirtualServers[0].Traffic = Traffic{BytesIn: 3 << 20}
	s.VirtualServers[0].RealServers[0].Checks[0].Recent = []Probe{{Latency: time.Millisecond, Healthy: true}, {Latency: 2 * time.Millisecond}}
	hub.ServerStates(s.VirtualServers[0].Name, marks(s.VirtualServers[0]))
	html := getPageWithHub(t, s, hub)
	for _, tc := range []struct {
		what string
		want string
		n    int
	}{
		{"a sparkline for the check with probes", `<svg class="spark"`, 1},
		{"its failed probe as a dot", `<circle class="fail"`, 1},
		{"a timeline per server of the first virtual server", `<svg class="timeline"`, 3},
		{"three buttons per real server and per virtual server", `<button type="button" class="act"`, 3 * (3 + 2 + 2)},
		{"the virtual server's bytes in", `<b class="in">3.0 MiB</b>`, 1},
	} {
		if n := strings.Count(html, tc.want); n != tc.n {
			t.Errorf("%s: %q appears %d times, want %d", tc.what, tc.want, n, tc.n)
		}
	}
	if !regexp.MustCompile(`PROBES = *60 *, WINDOW = *3600000 *,`).MatchString(html) {
		t.Error("the script does not get the charts' bounds (60 probes, an hour)")
	}
}
