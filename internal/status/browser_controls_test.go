package status

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/control"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// poolExecutor carries out the page's commands on a browserSnapshot as the supervisor does on
// the pools: the admin state changes, the servers' states go to the hub's timelines, and an
// admin-changed event tells the page.
type poolExecutor struct {
	src *fixedSource
	hub *Hub
	mu  sync.Mutex
	// admin is each real server's admin state, by "vs rs".
	admin map[string]control.Command
	got   []control.Command
}

// snapshot is a browserSnapshot with traffic, probes and the admin states set so far.
func (e *poolExecutor) snapshot() Snapshot {
	s := browserSnapshot("")
	for i := range s.VirtualServers {
		vs := &s.VirtualServers[i]
		vs.Traffic = Traffic{ActiveConns: 72, TotalConns: 54000 + uint64(i), BytesIn: 3 << 20, BytesOut: 250 << 20}
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			rs.BytesIn, rs.BytesOut = 1<<20, 80<<20
			for k := range rs.Checks {
				c := &rs.Checks[k]
				if !c.Checked {
					continue
				}
				for n := range 40 {
					ms := time.Duration(2+n%7) * time.Millisecond
					c.Recent = append(c.Recent, Probe{At: browserEpoch.Add(time.Duration(n-40) * 3 * time.Second), Latency: ms, Healthy: c.Healthy || n < 30})
				}
			}
			if cmd, ok := e.admin[vs.Name+" "+rs.Name]; ok {
				rs.AdminState, rs.AdminBy, rs.AdminReason, rs.AdminSince = string(cmd.Verb), cmd.By, cmd.Reason, browserEpoch
			}
		}
	}
	return s
}

// marks are vs's servers' states as the half's observer hands them to the hub.
func marks(vs VirtualServer) []ServerMark {
	var out []ServerMark
	for _, rs := range vs.RealServers {
		out = append(out, ServerMark{Name: rs.Name, Up: rs.Up, AdminState: rs.AdminState})
	}
	return out
}

func (e *poolExecutor) Execute(c control.Command) (control.Reply, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, c)
	s := e.snapshot()
	for _, vs := range s.VirtualServers {
		if vs.Name != c.VS {
			continue
		}
		for _, rs := range vs.RealServers {
			if c.RS == "" || c.RS == rs.Name {
				e.admin[vs.Name+" "+rs.Name] = c
			}
		}
		s = e.snapshot()
		e.src.set(s)
		for _, v := range s.VirtualServers {
			if v.Name == c.VS {
				e.hub.ServerStates(v.Name, marks(v))
			}
		}
		e.hub.Publish("admin-changed", strings.TrimSpace(c.VS+" "+c.RS), string(c.Verb)+" by "+c.By)
		return control.Reply{Changed: true, Message: fmt.Sprintf("%s %s: %s", c.VS, c.RS, c.Verb)}, nil
	}
	return control.Reply{}, control.Errorf(control.NotFound, "no virtual server %q", c.VS)
}

func (e *poolExecutor) commands() []control.Command {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]control.Command(nil), e.got...)
}

func TestBrowserDrainNeedsTheTokenAndShowsRefusalTimelineAndSparkline(t *testing.T) {
	bin := requireChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The hub's clock starts 50 minutes before the snapshot, so that the timelines hold an
	// hour's changes: 198.51.100.12 went down and came back.
	clk := &fakeNow{t: browserEpoch.Add(-50 * time.Minute)}
	src := &fixedSource{}
	hub := NewHub(50, clk.now)
	exec := &poolExecutor{src: src, hub: hub, admin: map[string]control.Command{}}
	snap := exec.snapshot()
	src.set(snap)
	web := snap.VirtualServers[0]
	hub.ServerStates(web.Name, marks(web))
	hub.ServerStates(snap.VirtualServers[1].Name, marks(snap.VirtualServers[1]))
	const victim = "198.51.100.12:8443"
	for _, step := range []struct {
		after time.Duration
		up    bool
	}{{10 * time.Minute, false}, {5 * time.Minute, true}} {
		clk.add(step.after)
		m := marks(web)
		m[1].Up = step.up
		hub.ServerStates(web.Name, m)
	}
	clk.add(35 * time.Minute)

	h := NewHandler(src, hub, nil)
	const token = "s3cret-token"
	h.Control(exec, func() string { return token })
	srv := NewServer("127.0.0.1:0", h, ServerOptions{})
	if err := srv.Bind(); err != nil {
		t.Fatal(err)
	}
	testenv.RunUntilCleanup(t, "status server", srv.Run)

	b, p := openLivePage(ctx, t, bin, "http://"+srv.Addr().String()+"/")

	row := func(rs string) string {
		return fmt.Sprintf(`document.querySelector('section[data-vs=%q] tr[data-id=%q]')`, web.Name, rs)
	}
	// The charts: a sparkline per checked check with a point per probe and the failed ones as
	// red dots, a timeline per server whose segments are its states in order, and the traffic.
	var charts struct {
		Points, Fails       int
		DNSFails            int
		Segments            []string
		WebSegments         []string
		TrafficIn, Rate     string
		Buttons, VSButtons  int
		SparkTitle, SegHint string
	}
	if err := p.eval(ctx, `(() => {
		const r = `+row(victim)+`, dns = document.querySelector('tr[data-id="198.51.100.54:53"]');
		const poly = r.querySelector("svg.spark polyline");
		return {
			Points: poly ? poly.getAttribute("points").trim().split(/\s+/).length : 0,
			Fails: r.querySelectorAll("svg.spark circle.fail").length,
			DNSFails: dns.querySelectorAll("svg.spark circle.fail").length,
			Segments: [...r.querySelectorAll("svg.timeline rect.seg")].map(e => e.classList[1]),
			WebSegments: [...`+row("198.51.100.11:8443")+`.querySelectorAll("svg.timeline rect.seg")].map(e => e.classList[1]),
			TrafficIn: document.querySelector('section[data-vs="192.0.2.10:443"] .traffic .in').textContent,
			Rate: document.querySelector('section[data-vs="192.0.2.10:443"] .traffic .rate').textContent,
			Buttons: r.querySelectorAll("button.act").length,
			VSButtons: document.querySelectorAll('section[data-vs="192.0.2.10:443"] h2 button.act').length,
			SparkTitle: r.querySelector("svg.spark title").textContent,
			SegHint: r.querySelector("svg.timeline rect.seg title").textContent,
		}; })()`, &charts); err != nil {
		t.Fatal(err)
	}
	if charts.Points != 40 || charts.Fails != 0 || charts.DNSFails != 10 {
		t.Errorf("sparklines: %d points and %d failed probes for %s, %d failed for the failing DNS server; want 40, 0, 10",
			charts.Points, charts.Fails, victim, charts.DNSFails)
	}
	if got := strings.Join(charts.Segments, " "); got != "up down up" {
		t.Errorf("timeline of %s: %q, want up down up", victim, got)
	}
	if got := strings.Join(charts.WebSegments, " "); got != "up" {
		t.Errorf("timeline of a steady server: %q, want up", got)
	}
	if charts.TrafficIn != "3.0 MiB" || charts.Rate != "0.0" || charts.Buttons != 3 || charts.VSButtons != 3 {
		t.Errorf("traffic %q in at %q conn/s, %d buttons per server, %d per virtual server", charts.TrafficIn, charts.Rate, charts.Buttons, charts.VSButtons)
	}
	t.Logf("sparkline says %q; the timeline's first segment %q", charts.SparkTitle, charts.SegHint)

	click := func(scope, state string) {
		t.Helper()
		if err := p.eval(ctx, scope+`.querySelector('button.act[data-state="`+state+`"]').click()`, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitMsg := func(what, cond string) string {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		defer wcancel()
		if _, err := p.waitFor(wctx, cond); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var msg string
		if err := p.eval(ctx, `document.getElementById("msg").textContent`, &msg); err != nil {
			t.Fatal(err)
		}
		return msg
	}

	// Without a token, then with a wrong one: refused, and the page says so in red.
	for _, tc := range []struct{ name, token string }{{"no token", ""}, {"wrong token", "guess"}} {
		if err := p.eval(ctx, fmt.Sprintf(`document.getElementById("msg").textContent = ""; document.getElementById("token").value = %q`, tc.token), nil); err != nil {
			t.Fatal(err)
		}
		click(row(victim), "drain")
		msg := waitMsg(tc.name, `document.getElementById("msg").className === "refused"`)
		if !strings.Contains(msg, "refused (401)") || !strings.Contains(msg, "bearer token") {
			t.Errorf("%s: the page says %q, want the 401 refusal and why", tc.name, msg)
		}
		var stored any
		if err := p.eval(ctx, `sessionStorage.getItem("vigil-status-token")`, &stored); err != nil {
			t.Fatal(err)
		}
		if stored != nil {
			t.Errorf("%s: sessionStorage keeps %v after a refusal", tc.name, stored)
		}
	}
	if n := len(exec.commands()); n != 0 {
		t.Fatalf("%d commands reached the executor without the right token", n)
	}

	// With the token and a reason: the server drains, the page shows it, its timeline ends in
	// drain, and the token is in this tab's sessionStorage, not in the URL.
	if err := p.eval(ctx, fmt.Sprintf(`document.getElementById("token").value = %q; document.getElementById("reason").value = "kernel upgrade"`, token), nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	click(row(victim), "drain")
	msg := waitMsg("drain with the token", rowState(victim)+`.includes("drain") && document.getElementById("msg").className === "done" && `+
		`[...`+row(victim)+`.querySelectorAll("svg.timeline rect.seg")].map(e => e.classList[1]).join(" ") === "up down up drain"`)
	t.Logf("page showed the drain %.1f ms after the click: %q", float64(time.Since(start))/float64(time.Millisecond), msg)
	cmds := exec.commands()
	if len(cmds) != 1 || cmds[0].Verb != control.Drain || cmds[0].VS != web.Name || cmds[0].RS != victim || cmds[0].Reason != "kernel upgrade" {
		t.Errorf("the executor got %+v, want one drain of %s %s with the reason", cmds, web.Name, victim)
	}
	var where struct{ Stored, URL string }
	if err := p.eval(ctx, `({Stored: sessionStorage.getItem("vigil-status-token"), URL: location.href})`, &where); err != nil {
		t.Fatal(err)
	}
	if where.Stored != token || strings.Contains(where.URL, token) {
		t.Errorf("token in sessionStorage %q, URL %q: want it stored and not in the URL", where.Stored, where.URL)
	}

	// The virtual server's buttons act on every server of it.
	click(`document.querySelector('section[data-vs="192.0.2.10:443"] h2')`, "maint")
	waitMsg("maint of the whole virtual server", `[...document.querySelectorAll('section[data-vs="192.0.2.10:443"] tbody tr')].every(r => r.cells[1].textContent.includes("maint"))`)

	screenshots(ctx, t, p, "status-page-controls")
	if ex := b.pageExceptions(); len(ex) > 0 {
		t.Errorf("the page threw: %s", strings.Join(ex, "; "))
	}
}
