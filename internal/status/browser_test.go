package status

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// set replaces the whole snapshot, so that handlers encoding the old one never share memory
// with the new one.
func (f *fixedSource) set(s Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap = s
}

var browserEpoch = time.Date(2026, 11, 24, 22, 14, 5, 0, time.UTC)

// browserSnapshot is a realistic state: two virtual services (one with a failing server and a
// long reason), a VRRP instance and a few events. down names a web server to show as down.
func browserSnapshot(down string) Snapshot {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	web := VirtualServer{Name: "192.0.2.10:443", Listen: "192.0.2.10:443", Protocol: "TCP", Scheduler: "wlc", Quorum: 1, Serving: true}
	for i, addr := range []string{"198.51.100.11:8443", "198.51.100.12:8443", "198.51.100.13:8443"} {
		rs := RealServer{Name: addr, Address: addr, Up: true, Weight: 10, EffectiveWeight: 10, Since: browserEpoch.Add(-time.Hour),
			ActiveConns: int64(12 * (i + 1)), TotalConns: uint64(9000 * (i + 1)),
			Checks: []Check{{Kind: "SSL_GET", Target: addr, Healthy: true, Latency: ms(3.2 + float64(i)), At: browserEpoch, Checked: true}}}
		if addr == down {
			rs.Up, rs.EffectiveWeight, rs.Since = false, 0, browserEpoch
			rs.Reason = "connection refused"
			rs.Checks[0].Healthy, rs.Checks[0].Reason = false, "dial tcp "+addr+": connect: connection refused"
		}
		web.RealServers = append(web.RealServers, rs)
		if rs.Up {
			web.UpCount++
		}
	}
	web.Total, web.QuorumUp = len(web.RealServers), web.UpCount >= web.Quorum
	dns := VirtualServer{Name: "dns", Listen: "192.0.2.53:53", Protocol: "UDP", Scheduler: "rr", Quorum: 2, Total: 2, UpCount: 1,
		SorryActive: true, Serving: true,
		RealServers: []RealServer{
			{Name: "198.51.100.53:53", Address: "198.51.100.53:53", Up: true, Weight: 1, EffectiveWeight: 1, Since: browserEpoch.Add(-2 * time.Hour),
				Checks: []Check{{Kind: "DNS_CHECK", Target: "198.51.100.53:53", Healthy: true, Latency: ms(0.8), At: browserEpoch, Checked: true}}},
			{Name: "198.51.100.54:53", Address: "198.51.100.54:53", Up: false, Weight: 1, Since: browserEpoch.Add(-5 * time.Minute),
				Reason: "DNS_CHECK: answer for www.example.com. type A had RCODE SERVFAIL after 3 retries, expected NOERROR",
				Checks: []Check{
					{Kind: "DNS_CHECK", Target: "198.51.100.54:53", Reason: "answer for www.example.com. type A had RCODE SERVFAIL after 3 retries, expected NOERROR", Latency: ms(1.4), At: browserEpoch, Checked: true},
					{Kind: "MISC_CHECK", Target: "/usr/local/bin/check-resolver --server 198.51.100.54"},
				}},
		}}
	return Snapshot{
		Generated: browserEpoch, Version: "1.0.0-test", Dataplane: "nftables",
		VirtualServers: []VirtualServer{web, dns},
		VRRPInstances: []VRRPInstance{{Name: "VI_EDGE", Interface: "eth0", VRID: 51, State: "MASTER", Priority: 150, EffectivePriority: 140,
			MasterAddress: "192.0.2.2", Transitions: 3, Since: browserEpoch.Add(-time.Hour),
			VirtualAddresses: []string{"192.0.2.10/24", "192.0.2.53/24", "2001:db8::10/64"}}},
		BGP: &BGP{
			Sessions: []BGPSession{
				{Peer: "192.0.2.254", AS: 65000, State: "ESTABLISHED", EstablishedSince: browserEpoch.Add(-3 * time.Hour)},
				{Peer: "2001:db8::fe", AS: 65000, State: "ACTIVE"},
			},
			Prefixes: []BGPPrefix{
				{VirtualServer: "192.0.2.10:443", Prefix: "192.0.2.10/32", State: BGPAnnounced, Reason: "quorum gained",
					Since: browserEpoch.Add(-time.Hour), InRIB: true},
				{VirtualServer: "dns", Prefix: "192.0.2.53/32", State: BGPPendingWithdraw, Reason: "quorum lost",
					Held:  "hold-down: last change at 2026-11-24T22:14:02Z, 3s ago; hold_down is 5s",
					Since: browserEpoch, Due: browserEpoch.Add(2 * time.Second), InRIB: true},
			},
		},
		Events: []Event{
			{Seq: 2, At: browserEpoch, Kind: "real_server", Subject: "dns/198.51.100.54:53", Message: "down: answer had RCODE SERVFAIL"},
			{Seq: 1, At: browserEpoch.Add(-time.Hour), Kind: "vrrp", Subject: "VI_EDGE", Message: "BACKUP -> MASTER"},
		},
	}
}

// notServing makes the web service of a browserSnapshot not served although its servers are up,
// flags the master that tracks it, and records a refused reload.
func notServing(s *Snapshot) {
	why := "data plane: listen tcp 192.0.2.10:443: bind: address already in use (retrying)"
	s.VirtualServers[0].Serving, s.VirtualServers[0].ServingReason = false, why
	s.VRRPInstances[0].Problem = "tracked virtual server 192.0.2.10:443 is not serving: " + why
	s.LastReload = &Reload{At: browserEpoch, Outcome: "refused", Reason: "the new file has 1 complaint(s), the first at /etc/keepalived/keepalived.conf:12 (Invalid address 127.0.0.300), and would remove running virtual_server 192.0.2.10:443"}
}

// artifactDir is where screenshots are kept: $VIGIL_ARTIFACTS/status when set (CI keeps it),
// else the test's temporary directory.
func artifactDir(t *testing.T) string {
	if dir := os.Getenv("VIGIL_ARTIFACTS"); dir != "" {
		dir = filepath.Join(dir, "status")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// cellText is JavaScript that returns the text of cell i of the first row matching selector.
func cellText(selector string, i int) string {
	return fmt.Sprintf(`(() => { const r = document.querySelector(%q); return r ? r.cells[%d].textContent.trim() : ""; })()`, selector, i)
}

// rowState is JavaScript that returns the state cell of the real server row with the id.
func rowState(id string) string {
	return fmt.Sprintf(`(() => { const r = document.querySelector('tr[data-id=%q]'); return r ? r.cells[1].textContent.trim() : ""; })()`, id)
}

func TestBrowserPageShowsServersAndFollowsEventsWithinASecond(t *testing.T) {
	bin := requireChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	src := &fixedSource{snap: browserSnapshot("")}
	hub := NewHub(50, time.Now)
	srv := httptest.NewServer(NewHandler(src, hub, NewMetrics().Handler()))
	t.Cleanup(srv.Close)

	b, p := openLivePage(ctx, t, bin, srv.URL+"/")

	for _, vs := range browserSnapshot("").VirtualServers {
		for _, rs := range vs.RealServers {
			var got string
			if err := p.eval(ctx, rowState(rs.Name), &got); err != nil {
				t.Fatal(err)
			}
			want := "down"
			if rs.Up {
				want = "up"
			}
			if got != want {
				t.Errorf("before the change: %s shows %q, want %q", rs.Name, got, want)
			}
		}
	}
	var text string
	if err := p.eval(ctx, `document.body.innerText`, &text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"VI_EDGE", "MASTER", "3/3 up", "1/2 up", "sorry server", "BACKUP -> MASTER",
		"1/2 sessions established", "192.0.2.10/32", "waiting: hold-down", "in RIB"} {
		if !strings.Contains(text, want) {
			t.Errorf("page text lacks %q", want)
		}
	}
	for js, want := range map[string]string{
		cellText(`#bgp tr[data-peer="192.0.2.254"]`, 1):  "ESTABLISHED",
		cellText(`#bgp tr[data-peer="2001:db8::fe"]`, 1): "ACTIVE",
		cellText(`#bgp tr[data-vs="192.0.2.10:443"]`, 1): "announced",
		cellText(`#bgp tr[data-vs="dns"]`, 1):            "pending-withdraw",
	} {
		var got string
		if err := p.eval(ctx, js, &got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("BGP table: %s gives %q, want %q", js, got, want)
		}
	}

	const victim = "198.51.100.12:8443"
	src.set(browserSnapshot(victim))
	start := time.Now()
	hub.Publish("real_server", "192.0.2.10:443/"+victim, "down: connection refused")
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := p.waitFor(wctx, rowState(victim)+` === "down"`)
	wcancel()
	latency := time.Since(start)
	if err != nil {
		t.Fatalf("page did not show %s down within 2 s of the event: %v", victim, err)
	}
	t.Logf("page showed %s down %.1f ms after the event was published", victim, float64(latency)/float64(time.Millisecond))
	if latency > time.Second {
		t.Errorf("page update took %v, want at most 1 s", latency)
	}
	if err := p.eval(ctx, `document.body.innerText`, &text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "2/3 up") {
		t.Errorf("after the change the pool pill does not say 2/3 up")
	}
	// A pool with a server down is amber, not green, although it has quorum.
	var badge string
	if err := p.eval(ctx, `[...document.querySelectorAll("section.vs h2 .pill")].find(e => e.textContent === "2/3 up").className`, &badge); err != nil {
		t.Fatal(err)
	}
	if badge != "pill warn" {
		t.Errorf("the badge of a pool with one server down has class %q, want amber (pill warn)", badge)
	}

	// Up servers, not serving: the section turns red and says why, and the master that tracks it
	// is flagged. "Up servers, not serving" must never look healthy.
	ns := browserSnapshot(victim)
	notServing(&ns)
	src.set(ns)
	hub.Publish("not serving", "192.0.2.10:443", ns.VirtualServers[0].ServingReason)
	nctx, ncancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = p.waitFor(nctx, `document.querySelector("section.vs.notserving") !== null`)
	ncancel()
	if err != nil {
		t.Fatalf("page did not show the virtual server as not serving within 5 s: %v", err)
	}
	var look struct {
		Heading, Why, Problem, Reload, ReloadColor, Border string
	}
	if err := p.eval(ctx, `(() => { const s = document.querySelector("section.vs.notserving"); return {
		Heading: s.querySelector("h2").textContent, Why: s.querySelector(".why").textContent,
		Problem: (document.querySelector("td.problem") || {}).textContent || "",
		Reload: document.getElementById("reload").textContent,
		ReloadColor: getComputedStyle(document.getElementById("reload")).color,
		Border: getComputedStyle(s).borderTopColor }; })()`, &look); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(look.Heading, "not serving") || !strings.Contains(look.Why, "address already in use") {
		t.Errorf("not-serving section: heading %q, reason %q", look.Heading, look.Why)
	}
	if look.Border != "rgb(207, 34, 46)" {
		t.Errorf("not-serving section border %s, want the red of --down", look.Border)
	}
	if !strings.Contains(look.Problem, "VI_EDGE") || !strings.Contains(look.Problem, "is not serving") {
		t.Errorf("master's problem row %q", look.Problem)
	}
	if !strings.Contains(look.Reload, "refused") || look.ReloadColor != "rgb(207, 34, 46)" {
		t.Errorf("last reload %q in %s, want the refusal in red", look.Reload, look.ReloadColor)
	}

	// The hold-down ends: the dns prefix is withdrawn, and the second session comes up.
	bsnap := browserSnapshot(victim)
	notServing(&bsnap)
	bsnap.BGP.Sessions[1].State, bsnap.BGP.Sessions[1].EstablishedSince = "ESTABLISHED", browserEpoch
	bsnap.BGP.Prefixes[1].State, bsnap.BGP.Prefixes[1].Held, bsnap.BGP.Prefixes[1].InRIB = BGPWithdrawn, "", false
	src.set(bsnap)
	hub.Publish("bgp", "dns", "withdrawn: quorum lost")
	bctx, bcancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = p.waitFor(bctx, cellText(`#bgp tr[data-vs="dns"]`, 1)+` === "withdrawn" && `+
		cellText(`#bgp tr[data-peer="2001:db8::fe"]`, 1)+` === "ESTABLISHED" && `+
		`document.querySelector("#bgp h2").textContent.includes("2/2 sessions established")`)
	bcancel()
	if err != nil {
		t.Fatalf("page did not show the BGP change within 5 s of the event: %v", err)
	}

	screenshots(ctx, t, p, "status-page")

	// The daemon restarts (every connection drops) and a change happens while the page is
	// disconnected, so its event is never seen: the page must reconnect and catch up.
	srv.CloseClientConnections()
	if _, err := p.waitFor(ctx, `document.getElementById("live").textContent === "reconnecting"`); err != nil {
		t.Fatalf("page did not notice the dropped event stream: %v", err)
	}
	const second = "198.51.100.13:8443"
	snap := browserSnapshot(victim)
	for i, rs := range snap.VirtualServers[0].RealServers {
		if rs.Name == second {
			snap.VirtualServers[0].RealServers[i].Up = false
		}
	}
	src.set(snap)
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	took, err := p.waitFor(rctx, `document.getElementById("live").textContent === "live" && `+rowState(second)+` === "down"`)
	rcancel()
	if err != nil {
		t.Fatalf("page did not reconnect and catch up: %v", err)
	}
	t.Logf("page reconnected and showed the change it missed after %.1f s", took.Seconds())

	// Without BGP (a daemon with no bgp block) the section goes away.
	snap.BGP = nil
	src.set(snap)
	hub.Publish("reconfigured", "bgp", "no bgp block")
	gctx, gcancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = p.waitFor(gctx, `document.getElementById("bgp") === null && `+rowState(second)+` === "down"`)
	gcancel()
	if err != nil {
		t.Fatalf("page kept a BGP section 5 s after BGP went away: %v", err)
	}

	if ex := b.pageExceptions(); len(ex) > 0 {
		t.Errorf("the page threw: %s", strings.Join(ex, "; "))
	}
}

// screenshots saves the page as a desktop and as a phone would show it, whole, to
// artifactDir as NAME-desktop.png and NAME-phone.png, after checking that nothing sticks out
// sideways.
func screenshots(ctx context.Context, t *testing.T, p *page, name string) {
	t.Helper()
	dir := artifactDir(t)
	for _, shot := range []struct {
		name   string
		width  int
		scale  float64
		mobile bool
	}{
		{"desktop", 1280, 1, false},
		{"phone", 390, 2, true},
	} {
		if err := p.viewport(ctx, shot.width, 800, shot.scale, shot.mobile); err != nil {
			t.Fatal(err)
		}
		// Nothing may stick out sideways: on a phone that means a page that scrolls both ways.
		var overflow struct{ Scroll, Inner int }
		if err := p.eval(ctx, `({Scroll: document.documentElement.scrollWidth, Inner: window.innerWidth})`, &overflow); err != nil {
			t.Fatal(err)
		}
		if overflow.Scroll > overflow.Inner {
			t.Errorf("%s: page is %d px wide in a %d px viewport", shot.name, overflow.Scroll, overflow.Inner)
		}
		var height int
		if err := p.eval(ctx, `document.documentElement.scrollHeight`, &height); err != nil {
			t.Fatal(err)
		}
		if err := p.viewport(ctx, shot.width, height, shot.scale, shot.mobile); err != nil {
			t.Fatal(err)
		}
		png, err := p.screenshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name+"-"+shot.name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s (%d px wide, %d bytes): %s", shot.name, shot.width, len(png), path)
	}
}

// requireChromium finds the browser, or skips the test; under CI a missing browser fails it.
func requireChromium(t *testing.T) string {
	t.Helper()
	bin, err := chromiumPath()
	if err != nil {
		testenv.Unavailable(t, fmt.Sprintf("needs a headless browser: %v", err))
	}
	return bin
}

// openLivePage starts a browser, opens url in a 1280 px wide page and waits until the page is
// live: its EventSource is open, so that an event published now reaches it.
func openLivePage(ctx context.Context, t *testing.T, bin, url string) (*browser, *page) {
	t.Helper()
	b := startBrowser(t, bin)
	p, err := b.newPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.viewport(ctx, 1280, 800, 1, false); err != nil {
		t.Fatal(err)
	}
	if err := p.navigate(ctx, url); err != nil {
		t.Fatal(err)
	}
	if _, err := p.waitFor(ctx, `document.readyState === "complete" && document.getElementById("live").textContent === "live"`); err != nil {
		t.Fatal(err)
	}
	return b, p
}
