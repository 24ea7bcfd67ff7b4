package status

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type fixedSource struct {
	mu   sync.Mutex
	snap Snapshot
}

func (f *fixedSource) Snapshot() Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func testSnapshot() Snapshot {
	return Snapshot{
		Version: "test", Dataplane: "userspace",
		VirtualServers: []VirtualServer{{
			Name: "web", Listen: "127.0.0.1:8080", Protocol: "TCP", Scheduler: "wrr", QuorumUp: true, UpCount: 1, Total: 2,
			RealServers: []RealServer{
				{Name: "127.0.0.1:9001", Address: "127.0.0.1:9001", Up: true, Weight: 1, EffectiveWeight: 1},
				{Name: "127.0.0.1:9002", Address: "127.0.0.1:9002", Up: false, Weight: 1, Reason: "connection refused <script>"},
			},
		}},
	}
}

func TestStatusServesSnapshotAsJSON(t *testing.T) {
	src := &fixedSource{snap: testSnapshot()}
	srv := httptest.NewServer(NewHandler(src, NewHub(10, time.Now), nil))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got.VirtualServers) != 1 || len(got.VirtualServers[0].RealServers) != 2 || got.VirtualServers[0].RealServers[1].Up {
		t.Fatalf("snapshot did not round-trip: %+v", got)
	}
}

func TestPageListsEveryServerAndEscapesText(t *testing.T) {
	src := &fixedSource{snap: testSnapshot()}
	srv := httptest.NewServer(NewHandler(src, NewHub(10, time.Now), nil))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	page := string(b)
	for _, want := range []string{"127.0.0.1:9001", "127.0.0.1:9002", "1/2 up"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "refused <script>") {
		t.Error("page did not escape a reason")
	}
}

// subscribeEvents opens the event stream of a status server over hub and returns it once the
// handler has subscribed (it writes its retry line then), so that what is published next is
// on the stream.
func subscribeEvents(t *testing.T, hub *Hub) *bufio.Reader {
	t.Helper()
	srv := httptest.NewServer(NewHandler(&fixedSource{}, hub, nil))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	rd := bufio.NewReader(resp.Body)
	if line, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("first line %q, %v", line, err)
	}
	return rd
}

// nextEvent reads the stream up to the next event's data line: its name and the event.
func nextEvent(t *testing.T, rd *bufio.Reader) (string, Event) {
	t.Helper()
	name := ""
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before the event: %v", err)
		}
		if n, ok := strings.CutPrefix(line, "event: "); ok {
			name = strings.TrimSpace(n)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var ev Event
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatal(err)
			}
			return name, ev
		}
	}
}

func TestEventsStreamDeliversPublishedEvents(t *testing.T) {
	hub := NewHub(10, time.Now)
	rd := subscribeEvents(t, hub)
	hub.Publish("server", "web/127.0.0.1:9002", "down: connection refused")
	if _, ev := nextEvent(t, rd); ev.Subject != "web/127.0.0.1:9002" || ev.Seq != 1 {
		t.Fatalf("got %+v", ev)
	}
}

func TestHubKeepsOnlyTheNewestEvents(t *testing.T) {
	hub := NewHub(3, time.Now)
	for i := 0; i < 5; i++ {
		hub.Publish("k", "s", string(rune('a'+i)))
	}
	got := hub.Recent()
	if len(got) != 3 || got[0].Message != "e" || got[2].Message != "c" {
		t.Fatalf("recent = %+v", got)
	}
}

func TestRequireTokenRefusesMissingOrWrongToken(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) })
	cases := []struct {
		token, header string
		want          int
	}{
		{"s3cret", "Bearer s3cret", 204},
		{"s3cret", "Bearer nope", 401},
		{"s3cret", "", 401},
		{"", "Bearer ", 403},
		{"", "", 403},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/", nil)
		if c.header != "" {
			req.Header.Set("Authorization", c.header)
		}
		RequireToken(func() string { return c.token }, ok).ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("token %q header %q: got %d want %d", c.token, c.header, rec.Code, c.want)
		}
	}
}

func getPage(t *testing.T, snap Snapshot) string {
	t.Helper()
	return getPageWithHub(t, snap, NewHub(10, time.Now))
}

// getPageWithHub is getPage with what hub keeps (the timelines) on the page.
func getPageWithHub(t *testing.T, snap Snapshot, hub *Hub) string {
	t.Helper()
	srv := httptest.NewServer(NewHandler(&fixedSource{snap: snap}, hub, nil))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /: %s\n%s", resp.Status, b)
	}
	return string(b)
}

func TestPageShowsBGPTablesOnlyWhenTheSnapshotHasBGP(t *testing.T) {
	if page := getPage(t, testSnapshot()); strings.Contains(page, `id="bgp"`) {
		t.Error("page has a BGP section without BGP")
	}
	snap := testSnapshot()
	snap.BGP = &BGP{
		Sessions: []BGPSession{{Peer: "192.0.2.254", AS: 65000, State: "ESTABLISHED"}, {Peer: "198.51.100.254", AS: 65002, State: "ACTIVE"}},
		Prefixes: []BGPPrefix{{VirtualServer: "web", Prefix: "192.0.2.10/32", State: BGPPendingWithdraw, Reason: "quorum lost <b>",
			Held: "hold-down: last change 2s ago", InRIB: true, Error: "path refused"}},
	}
	page := getPage(t, snap)
	for _, want := range []string{`id="bgp"`, "1/2 sessions established", `data-peer="198.51.100.254"`, "ACTIVE", "65002",
		`data-vs="web"`, "192.0.2.10/32", "pending-withdraw", "in RIB", "quorum lost &lt;b&gt;", "waiting: hold-down", "error: path refused"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	snap.BGP = &BGP{}
	page = getPage(t, snap)
	for _, want := range []string{"0/0 sessions established", "the speaker is not running", "no virtual server has an announce block"} {
		if !strings.Contains(page, want) {
			t.Errorf("page of an idle speaker lacks %q", want)
		}
	}
}
