package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// The redispatch lab: three web hosts behind vigil's userspace virtual server and, on the same
// host, HAProxy 2.6's frontend, over one LAN (a bridge in its own namespace), and a client that
// opens 200 new connections a second to each of them:
//
//	lan (bridge br0) ── lb 192.0.2.1: vigil on :80, HAProxy on :81
//	                 ── web1 192.0.2.21, web2 192.0.2.22, web3 192.0.2.23 (nginx on :8080)
//	                 ── client 192.0.2.100
//
// web2 is cut off between two checks (delay_loop 5), by its link going down (a silent host:
// its connects go unanswered) or by its web server being killed (its connects are refused),
// and each side's failed requests are counted. A client gives a request rdPatience.
const (
	rdVigilPort   = 80
	rdHAProxyPort = 81
	rdWebPort     = 8080
	rdPatience    = 2 * time.Second
	rdWarm        = 2 * time.Second  // load before the cut
	rdAfter       = 12 * time.Second // load after it: past both sides' checks taking web2 out
	rdVictim      = "192.0.2.22"
)

// rdLab is the lab's hosts and the processes on them, which live as long as t, the test that
// built the lab (not one of its subtests).
type rdLab struct {
	t             *testing.T
	bin, nginxBin string
	conf          string // vigil's configuration file
	lb, client    *testenv.Namespace
	webs          [3]*rdWeb
	vigil         *vigilProc
	status        func() (status.Snapshot, error)
	haproxy       *haproxy
}

// rdWeb is one web host: its namespace and its nginx.
type rdWeb struct {
	name, addr string
	ns         *testenv.Namespace
	dir        string
	nginx      *exec.Cmd
}

// rdVigilConfig is vigil's virtual server over the three web hosts, with lines added to it.
func rdVigilConfig(lines string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global_defs {
    router_id lb
    status_listen 127.0.0.1:9080
    dataplane userspace
}
virtual_server 192.0.2.1 %d {
    delay_loop 5
    lb_algo rr
    lb_kind NAT
    protocol TCP
    passive_health {
        consecutive_failures 3
        max_ejection_percent 50
    }
%s`, rdVigilPort, lines)
	for i := range 3 {
		fmt.Fprintf(&b, "    real_server 192.0.2.2%d %d {\n        TCP_CHECK {\n            connect_timeout 1\n        }\n    }\n", i+1, rdWebPort)
	}
	b.WriteString("}\n")
	return b.String()
}

// rdHAProxyConfig is HAProxy's frontend over the same hosts, as close to vigil's as HAProxy's
// words allow: connect checks every 5 s (1 s once one failed, down after two), retries 3 with
// option redispatch, a connect timeout equal to vigil's floor, and passive health (observe
// layer4, three errors in a row mark a server down).
func rdHAProxyConfig() string {
	var b strings.Builder
	fmt.Fprintf(&b, `defaults
    mode tcp
    timeout connect 250ms
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
frontend web
    bind 192.0.2.1:%d
    default_backend web
backend web
    balance roundrobin
    default-server check inter 5s fastinter 1s fall 2 rise 1 observe layer4 error-limit 3 on-error mark-down
`, rdHAProxyPort)
	for i := range 3 {
		fmt.Fprintf(&b, "    server web%d 192.0.2.2%d:%d\n", i+1, i+1, rdWebPort)
	}
	return b.String()
}

func newRedispatchLab(t *testing.T) *rdLab {
	testenv.RequireRoot(t)
	l := &rdLab{t: t, nginxBin: testenv.RequireTool(t, "nginx"), bin: buildVigil(t)}
	haproxyBin := testenv.RequireTool(t, "haproxy")
	lan := testenv.NewNamespace(t, "lan")
	lan.Bridge(t, "br0")
	attach := func(prefix, port, addr string) *testenv.Namespace {
		ns := testenv.NewNamespace(t, prefix)
		lan.Attach(t, "br0", port, ns, "eth0")
		ns.Addr(t, "eth0", addr+"/24")
		return ns
	}
	l.lb = attach("lb", "plb", "192.0.2.1")
	l.client = attach("cli", "pcli", "192.0.2.100")
	for i := range l.webs {
		w := &rdWeb{name: fmt.Sprintf("web%d", i+1), addr: fmt.Sprintf("192.0.2.2%d", i+1), dir: t.TempDir()}
		w.ns = attach(w.name, "p"+w.name, w.addr)
		l.webs[i] = w
		l.startNginx(w)
	}
	l.conf = filepath.Join(t.TempDir(), "vigil.conf")
	l.writeConfig(t, "")
	l.vigil = startVigilIn(t, l.lb, l.bin, l.conf, 0)
	statusClient := l.lb.HTTPClient(2 * time.Second)
	l.status = func() (status.Snapshot, error) {
		var s status.Snapshot
		resp, err := statusClient.Get("http://127.0.0.1:9080/api/v1/status")
		if err != nil {
			return s, err
		}
		defer resp.Body.Close()
		err = json.NewDecoder(resp.Body).Decode(&s)
		return s, err
	}
	l.haproxy = runHAProxy(t, l.lb, haproxyBin, rdHAProxyConfig())
	l.waitAllIn(t, 15*time.Second)
	return l
}

func (l *rdLab) writeConfig(t *testing.T, lines string) {
	t.Helper()
	if err := os.WriteFile(l.conf, []byte(rdVigilConfig(lines)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startNginx runs w's nginx, one process (testenv.NginxConfig: killing it kills the server),
// answering its name on every path, until the lab's test ends or it is killed.
func (l *rdLab) startNginx(w *rdWeb) {
	t := l.t
	t.Helper()
	conf := testenv.NginxConfig(w.dir, fmt.Sprintf("  server {\n    listen %s:%d;\n    location / { return 200 \"%s\\n\"; }\n  }\n", w.addr, rdWebPort, w.name))
	path := filepath.Join(w.dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	w.nginx = w.ns.Start(t, l.nginxBin, "-p", w.dir, "-e", "stderr", "-c", path)
	addr := net.JoinHostPort(w.addr, fmt.Sprint(rdWebPort))
	testenv.WaitFor(t, 5*time.Second, w.name+"'s nginx listening", func() bool {
		return w.ns.DoErr(func() error {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err
		}) == nil
	})
}

// waitAllIn waits until vigil has every web host up and not ejected, and HAProxy every one UP.
func (l *rdLab) waitAllIn(t *testing.T, within time.Duration) time.Duration {
	t.Helper()
	return testenv.WaitFor(t, within, "every web host in on both sides", func() bool {
		s, err := l.status()
		if err != nil || len(s.VirtualServers) != 1 {
			return false
		}
		for _, rs := range s.VirtualServers[0].RealServers {
			if !rs.Up || rs.Ejected {
				return false
			}
		}
		hs := l.haproxy.servers()
		for i := range l.webs {
			if hs[fmt.Sprintf("web%d", i+1)]["status"] != "UP" {
				return false
			}
		}
		return true
	})
}

// rdCut is one way of cutting web2 off, and its repair.
type rdCut struct {
	name         string
	cut, restore func(t *testing.T, l *rdLab)
}

var (
	rdLinkDown = rdCut{"link down",
		func(t *testing.T, l *rdLab) { l.webs[1].ns.SetLink(t, "eth0", false) },
		func(t *testing.T, l *rdLab) { l.webs[1].ns.SetLink(t, "eth0", true) }}
	rdKilled = rdCut{"process killed",
		func(t *testing.T, l *rdLab) {
			p := l.webs[1].nginx.Process
			if err := p.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// The cut takes effect when the process is gone (StartCmd's Wait reaps it).
			testenv.WaitFor(t, 2*time.Second, "web2's nginx gone", func() bool { return syscall.Kill(p.Pid, 0) == syscall.ESRCH })
		},
		func(t *testing.T, l *rdLab) { l.startNginx(l.webs[1]) }}
)

// rdSide is what one proxy's clients saw through one cut.
type rdSide struct {
	name          string
	total, failed int
	// inFlight are the failed requests that had started before the cut took effect (before
	// the command that cut web2 off returned): those that reached web2 before it went, which
	// no proxy in mode tcp can replay, since the request was sent. The others are the ones a
	// proxy could have saved.
	inFlight          int
	slow              int // answered, but after more than 200 ms: redispatched
	p50, p99, worst   time.Duration
	errors            []string // a few of the failures
	ejected, down     time.Duration
	ejectedOK, downOK bool
}

func (r rdSide) String() string {
	s := fmt.Sprintf("%-7s %4d failed of %d (%d in flight at the cut); %d slower than 200ms; latency p50 %v p99 %v max %v", r.name, r.failed, r.total,
		r.inFlight, r.slow, r.p50.Round(time.Microsecond), r.p99.Round(time.Millisecond), r.worst.Round(time.Millisecond))
	if r.ejectedOK {
		s += fmt.Sprintf("; passive ejection %v after the cut", r.ejected.Round(time.Millisecond))
	}
	if r.downOK && r.name == "HAProxy" {
		// HAProxy's DOWN is its observe layer4 as much as its checks: its log says which.
		s += fmt.Sprintf("; web2 DOWN %v after the cut", r.down.Round(time.Millisecond))
	} else if r.downOK {
		s += fmt.Sprintf("; down by its checks %v after", r.down.Round(time.Millisecond))
	}
	if len(r.errors) > 0 {
		s += "; e.g. " + strings.Join(r.errors, " | ")
	}
	return s
}

// rdGet is one client request to addr from the client host, on a new connection, within the
// client's patience.
func (l *rdLab) rdGet(addr string) error {
	var c net.Conn
	if err := l.client.DoErr(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, rdPatience)
		return err
	}); err != nil {
		return err
	}
	_, err := getOn(c, rdPatience)
	return err
}

// cutAndCount loads vigil (and, with haproxyToo, HAProxy) with 200 new connections a second,
// cuts web2 off after rdWarm, keeps the load on for rdAfter, and says what each side's clients
// saw; then it repairs web2 and waits until both sides have it back.
func (l *rdLab) cutAndCount(t *testing.T, c rdCut, haproxyToo bool) (vigil, hap rdSide) {
	t.Helper()
	l.waitAllIn(t, 20*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	vigilLoad, hapLoad := &shortLoad{}, &shortLoad{}
	vigilAddr := fmt.Sprintf("192.0.2.1:%d", rdVigilPort)
	hapAddr := fmt.Sprintf("192.0.2.1:%d", rdHAProxyPort)
	var loads sync.WaitGroup
	loads.Add(1)
	go func() { defer loads.Done(); vigilLoad.run(ctx, func() error { return l.rdGet(vigilAddr) }) }()
	if haproxyToo {
		loads.Add(1)
		go func() { defer loads.Done(); hapLoad.run(ctx, func() error { return l.rdGet(hapAddr) }) }()
	}
	time.Sleep(rdWarm)
	cutAt := time.Now()
	c.cut(t, l)
	cutDone := time.Now() // the cut took effect between the two
	var hapDown time.Duration
	for deadline := cutAt.Add(rdAfter); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if hapDown == 0 && haproxyToo && strings.HasPrefix(l.haproxy.servers()["web2"]["status"], "DOWN") {
			hapDown = time.Since(cutAt)
		}
	}
	cancel()
	loads.Wait()
	vigilLoad.wg.Wait()
	hapLoad.wg.Wait()

	vigil = summarize("vigil", &vigilLoad.log, cutDone)
	s, err := l.status()
	if err != nil {
		t.Fatalf("vigil's status: %v", err)
	}
	victim := net.JoinHostPort(rdVictim, fmt.Sprint(rdWebPort))
	for _, ev := range s.Events {
		if !strings.HasSuffix(ev.Subject, " "+victim) || ev.At.Before(cutAt) {
			continue
		}
		switch {
		case ev.Kind == "server-ejected" && !vigil.ejectedOK:
			vigil.ejected, vigil.ejectedOK = ev.At.Sub(cutAt), true
		case ev.Kind == "server-down" && !vigil.downOK:
			vigil.down, vigil.downOK = ev.At.Sub(cutAt), true
		}
	}
	if haproxyToo {
		hap = summarize("HAProxy", &hapLoad.log, cutDone)
		hap.down, hap.downOK = hapDown, hapDown > 0
	}
	c.restore(t, l)
	back := l.waitAllIn(t, 20*time.Second)
	t.Logf("%s: web2 back in on both sides %v after its repair", c.name, back.Round(time.Millisecond))
	return vigil, hap
}

// summarize counts one load's requests around a cut that had taken effect by cutDone.
func summarize(name string, log *requestLog, cutDone time.Time) rdSide {
	log.mu.Lock()
	defer log.mu.Unlock()
	r := rdSide{name: name, total: len(log.reqs)}
	var took []time.Duration
	for _, q := range log.reqs {
		d := q.end.Sub(q.start)
		if !q.ok {
			r.failed++
			if q.start.Before(cutDone) {
				r.inFlight++
			}
			if len(r.errors) < 3 && q.err != nil {
				r.errors = append(r.errors, q.err.Error())
			}
			continue
		}
		took = append(took, d)
		if d > 200*time.Millisecond {
			r.slow++
		}
	}
	if len(took) > 0 {
		slices.Sort(took)
		r.p50, r.p99, r.worst = took[len(took)/2], took[len(took)*99/100], took[len(took)-1]
	}
	return r
}

// A backend host that dies between two checks costs vigil's clients nothing: each connection
// that went to it is redispatched while the client waits, and passive health ejects the host
// within a connect timeout, so the next clients skip it. HAProxy (retries, redispatch, observe
// layer4) takes the same load over the same hosts in the same run, for comparison.
func TestRedispatchHidesABackendThatDiesBetweenChecks(t *testing.T) {
	l := newRedispatchLab(t)
	for _, c := range []rdCut{rdLinkDown, rdKilled} {
		t.Run(c.name, func(t *testing.T) {
			vigil, hap := l.cutAndCount(t, c, true)
			t.Logf("web2 %s at 200 new connections a second each, delay_loop 5, a client's patience %v:", c.name, rdPatience)
			t.Logf("  %s", vigil)
			t.Logf("  %s", hap)
			if lost, hapLost := vigil.failed-vigil.inFlight, hap.failed-hap.inFlight; lost > 0 || lost > hapLost {
				t.Errorf("vigil failed %d requests that started after the cut, HAProxy %d; want none", lost, hapLost)
			}
			if !vigil.ejectedOK {
				t.Errorf("vigil published no server-ejected event for web2 after the cut")
			}
			if vigil.total < 2000 || hap.total < 2000 {
				t.Errorf("only %d and %d requests were made; the load generator fell behind", vigil.total, hap.total)
			}
		})
	}
	// Without redispatch, the same cut costs the clients whose connection went to web2 before
	// passive health ejected it: the proof that redispatch, not luck, saved them above.
	t.Run("link down, connect_retries 0", func(t *testing.T) {
		l.writeConfig(t, "    connect_retries 0\n")
		l.vigil.signal(syscall.SIGHUP)
		testenv.WaitFor(t, 10*time.Second, "the reload applied", func() bool {
			s, err := l.status()
			return err == nil && s.LastReload != nil && s.LastReload.Outcome == "applied"
		})
		vigil, _ := l.cutAndCount(t, rdLinkDown, false)
		t.Logf("  %s", vigil)
		if vigil.failed-vigil.inFlight == 0 {
			t.Errorf("with connect_retries 0 no request that started after the cut failed; the cut did not reach the clients, so the test above proves nothing")
		}
	})
}
