package e2e

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// The flood: the VRRP lab with lb1's vigil under a limit of floodFiles descriptors (prlimit),
// flooded with twice as many idle client connections, first on its userspace virtual server,
// then on its status port; HAProxy 2.6 runs on lb1 under the same limit and takes the same
// flood on a frontend of its own over the same web servers, for comparison. Every check must
// keep its verdict (and keep running), VRRP must keep advertising (lb2 stays backup, lb1
// master), and service must come back as soon as the flood ends.
const (
	floodFiles    = 1024
	floodConns    = 2 * floodFiles
	floodHold     = 8 * time.Second // each flood is held this long: eight check rounds
	haproxyPort   = 8081
	floodRecovery = 5 * time.Second // the bound on coming back once a flood ends
)

// floodChecks are each real server's checks on lb1 and lb2: an HTTP_GET (a socket per probe)
// and a MISC_CHECK (pipes and a process per probe), the two kinds a flood starved before the
// descriptor budget ("connect: too many open files", "pipe2: too many open files").
const floodChecks = `        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 1
        }
        MISC_CHECK {
            misc_path /bin/true
            misc_timeout 2
        }
`

func TestFloodStarvesNeitherChecksNorVRRP(t *testing.T) {
	testenv.RequireTool(t, "prlimit")
	haproxyBin := testenv.RequireTool(t, "haproxy")
	l := newVRRPLabConf(t, func(node string) labConfig {
		c := labConfig{global: "    log_format json\n", checks: floodChecks}
		if node == "lb1" {
			c.files = floodFiles
		}
		return c
	}, nil)
	lb1, lb2 := l.nodes[0], l.nodes[1]
	testenv.WaitFor(t, 10*time.Second, "every check of lb1 run and healthy", func() bool { return allChecksHealthy(lb1) })
	budget := budgetLine(t, lb1.proc.out.String())
	t.Logf("vigil's descriptor budget under a limit of %d: %s", floodFiles, budget)

	hp := startHAProxy(t, lb1.ns, haproxyBin)
	testenv.WaitFor(t, 10*time.Second, "HAProxy's servers checked L7OK", func() bool { return hp.checksOK() })
	hpInfo := hp.info()
	t.Logf("HAProxy under a limit of %d: Ulimit-n %s, Maxsock %s, Maxconn %s, Hard_maxconn %s", floodFiles,
		hpInfo["Ulimit-n"], hpInfo["Maxsock"], hpInfo["Maxconn"], hpInfo["Hard_maxconn"])

	// 1. vigil's virtual server.
	vigil := l.floodAndWatch(t, fmt.Sprintf("%s:%d", labVIP, labVSPort), l.client, "")
	vigilM := metricsOf(t, lb1)
	vigil.accepted, vigil.refused, vigil.paused = vigilM.sum("vigil_connections_open"), vigilM.sum("vigil_connections_refused_total"), vigilM.sum("vigil_connections_paused_total")
	vigil.descriptors = fmt.Sprintf("%v in use of %v (budget: %v reserved, maxconn %v)", vigilM.sum("vigil_descriptors_in_use"),
		vigilM.sum("vigil_descriptors_limit"), vigilM.sum("vigil_descriptors_reserved"), vigilM.sum("vigil_connections_max"))
	vigil.peakFiles = max(vigil.peakFiles, openFiles(lb1.proc.cmd.Process.Pid))
	vigil.recovered = l.recovery(t, fmt.Sprintf("http://%s:%d/", labVIP, labVSPort), vigil)

	// 2. HAProxy's frontend, same limit, same flood, same web servers.
	haproxy := hp.floodAndWatch(t, l, fmt.Sprintf("%s:%d", lb1.addr, haproxyPort))
	haproxy.recovered = l.recovery(t, fmt.Sprintf("http://%s:%d/", lb1.addr, haproxyPort), haproxy)

	// 3. vigil's status port: keep-alive clients that asked once and stay.
	statusFlood := l.floodStatusPort(t, lb1, lb2)

	t.Logf("flood of %d idle connections, descriptor limit %d, held %v:", floodConns, floodFiles, floodHold)
	t.Logf("  %-40s | %-44s | %s", "", "vigil (userspace virtual server)", "HAProxy 2.6 (mode tcp)")
	row := func(what, v, h string) { t.Logf("  %-40s | %-44s | %s", what, v, h) }
	row("connects completed (accepted or queued)", fmt.Sprint(vigil.connected), fmt.Sprint(haproxy.connected))
	row("connects that failed (backlog full)", fmt.Sprint(vigil.failed), fmt.Sprint(haproxy.failed))
	row("accepted and proxied at once", fmt.Sprint(vigil.accepted), fmt.Sprint(haproxy.accepted))
	row("refused", fmt.Sprint(vigil.refused), fmt.Sprint(haproxy.refused))
	row("times accepting paused at the cap", fmt.Sprint(vigil.paused), "-")
	row("check verdicts during the flood", vigil.verdicts, haproxy.verdicts)
	row("descriptors", vigil.descriptors, haproxy.descriptors)
	row("peak descriptors seen (/proc)", fmt.Sprint(vigil.peakFiles), fmt.Sprint(haproxy.peakFiles))
	row("served again after the flood", vigil.recovered.Round(time.Millisecond).String(), haproxy.recovered.Round(time.Millisecond).String())
	t.Logf("status port flood: %s", statusFlood)

	checkLog(t, lb1.proc.out.String())
}

// floodResult is what one flood did to one proxy.
type floodResult struct {
	connected, failed int
	accepted, refused float64
	paused            float64
	verdicts          string
	descriptors       string
	peakFiles         int
	recovered         time.Duration
	flood             *flood
}

// floodAndWatch floods addr from ns with floodConns idle connections and watches vigil on lb1
// and lb2 while the flood lasts: lb1 stays master and serving, lb2 backup (so lb1 advertises),
// every check of lb1 healthy, and each check runs again during the flood. The flood is left
// open for the caller to measure, then closed by recovery.
func (l *vrrpLab) floodAndWatch(t *testing.T, addr string, ns *testenv.Namespace, hello string) floodResult {
	t.Helper()
	lb1, lb2 := l.nodes[0], l.nodes[1]
	before := checkTimes(t, lb1)
	f := startFlood(t, ns, addr, floodConns, hello)
	r := floodResult{connected: len(f.conns), failed: f.failed, flood: f}
	t.Logf("flood on %s: %d connects completed, %d failed, in %v", addr, len(f.conns), f.failed, f.took.Round(time.Millisecond))
	polls := 0
	deadline := time.Now().Add(floodHold)
	for time.Now().Before(deadline) {
		s, err := lb1.status()
		if err != nil {
			t.Fatalf("lb1's status during the flood: %v", err)
		}
		if st := stateOf(s); st != "MASTER" {
			t.Fatalf("lb1 went %s during the flood on %s", st, addr)
		}
		if st := lb2.state(); st != "BACKUP" {
			t.Fatalf("lb2 is %s during the flood on %s: lb1 stopped advertising", st, addr)
		}
		if why := unhealthy(s); why != "" {
			t.Fatalf("during the flood on %s: %s", addr, why)
		}
		r.peakFiles = max(r.peakFiles, openFiles(lb1.proc.cmd.Process.Pid))
		polls++
		time.Sleep(250 * time.Millisecond)
	}
	ran := checksRanSince(t, lb1, before)
	r.verdicts = fmt.Sprintf("all healthy in %d polls; %d of %d checks ran again", polls, ran, len(before))
	if ran != len(before) {
		t.Fatalf("only %d of %d checks ran during the flood on %s", ran, len(before), addr)
	}
	return r
}

// recovery closes the flood and says how soon a request through url is served again from the
// client host.
func (l *vrrpLab) recovery(t *testing.T, url string, r floodResult) time.Duration {
	t.Helper()
	r.flood.stop()
	c := nsHTTPClient(l.client, time.Second)
	return testenv.WaitFor(t, floodRecovery, "a request through "+url+" served once the flood ended", func() bool {
		resp, err := c.Get(url)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// floodStatusPort floods lb1's status port from inside lb1 with keep-alive clients that ask
// once and stay, and watches what does not go through that port: lb2 stays backup, the virtual
// address stays on lb1 and serves. Once the flood ends, lb1's status answers again and shows
// it master with every check healthy, each having run during the flood.
func (l *vrrpLab) floodStatusPort(t *testing.T, lb1, lb2 *vigilNode) string {
	t.Helper()
	before := checkTimes(t, lb1)
	start := time.Now()
	f := startFlood(t, lb1.ns, "127.0.0.1:9080", floodConns, "GET /healthz HTTP/1.1\r\nHost: vigil\r\n\r\n")
	client := nsHTTPClient(l.client, time.Second)
	served, polls := 0, 0
	peak := 0
	for deadline := time.Now().Add(floodHold); time.Now().Before(deadline); polls++ {
		if st := lb2.state(); st != "BACKUP" {
			t.Fatalf("lb2 is %s during the status port flood: lb1 stopped advertising", st)
		}
		if resp, err := client.Get(fmt.Sprintf("http://%s:%d/", labVIP, labVSPort)); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			served++
		}
		peak = max(peak, openFiles(lb1.proc.cmd.Process.Pid))
		time.Sleep(250 * time.Millisecond)
	}
	if served < polls-1 {
		t.Fatalf("the virtual server served %d of %d requests during the status port flood", served, polls)
	}
	connected, failed := len(f.conns), f.failed
	f.stop()
	back := testenv.WaitFor(t, floodRecovery, "lb1's status answering once the flood ended", func() bool { _, err := lb1.status(); return err == nil })
	s, err := lb1.status()
	if err != nil || stateOf(s) != "MASTER" || unhealthy(s) != "" {
		t.Fatalf("after the status port flood lb1 is %s: %v %s", stateOf(s), err, unhealthy(s))
	}
	ran := checksRanSinceAt(s, before, start)
	if ran != len(before) {
		t.Fatalf("only %d of %d checks ran during the status port flood", ran, len(before))
	}
	return fmt.Sprintf("%d connects completed, %d failed; lb2 backup and the virtual server serving in all %d polls (%d/%d requests); "+
		"%d of %d checks ran; peak %d descriptors; status answered again %v after the flood ended",
		connected, failed, polls, served, polls, ran, len(before), peak, back.Round(time.Millisecond))
}

// flood is idle client connections opened from inside a namespace.
type flood struct {
	mu     sync.Mutex
	conns  []net.Conn
	failed int
	took   time.Duration
}

// startFlood opens n connections to addr from inside ns, 128 dials at a time, each sending
// hello (if any) and then nothing. A connect that does not complete within a second (the
// listen backlog is full and the SYN goes unanswered) counts as failed. The connections are closed by stop, or when the test ends.
func startFlood(t *testing.T, ns *testenv.Namespace, addr string, n int, hello string) *flood {
	t.Helper()
	f := &flood{}
	t.Cleanup(f.stop)
	start := time.Now()
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	var wg sync.WaitGroup
	for range 128 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				var c net.Conn
				err := ns.DoErr(func() error {
					var err error
					c, err = net.DialTimeout("tcp", addr, time.Second)
					return err
				})
				if err == nil && hello != "" {
					c.SetWriteDeadline(time.Now().Add(2 * time.Second))
					if _, err = io.WriteString(c, hello); err != nil {
						c.Close()
					}
				}
				f.mu.Lock()
				if err != nil {
					f.failed++
				} else {
					f.conns = append(f.conns, c)
				}
				f.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	f.took = time.Since(start)
	return f
}

func (f *flood) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

func stateOf(s status.Snapshot) string {
	if len(s.VRRPInstances) == 0 {
		return ""
	}
	return s.VRRPInstances[0].State
}

// unhealthy says what is wrong with lb1's virtual server, or "" when it serves with every real
// server up and every check healthy.
func unhealthy(s status.Snapshot) string {
	if len(s.VirtualServers) != 1 {
		return fmt.Sprintf("%d virtual servers", len(s.VirtualServers))
	}
	vs := s.VirtualServers[0]
	if !vs.Serving {
		return "virtual server not serving: " + vs.ServingReason
	}
	for _, rs := range vs.RealServers {
		if !rs.Up {
			return rs.Address + " down: " + rs.Reason
		}
		for _, c := range rs.Checks {
			if !c.Checked || !c.Healthy {
				return fmt.Sprintf("%s %s check unhealthy: %s", rs.Address, c.Kind, c.Reason)
			}
		}
	}
	return ""
}

func allChecksHealthy(n *vigilNode) bool {
	s, err := n.status()
	return err == nil && unhealthy(s) == ""
}

// checkTimes are the times of each check's last verdict on n, by real server and kind.
func checkTimes(t *testing.T, n *vigilNode) map[string]time.Time {
	t.Helper()
	s, err := n.status()
	if err != nil {
		t.Fatal(err)
	}
	return checkTimesOf(s)
}

func checkTimesOf(s status.Snapshot) map[string]time.Time {
	out := map[string]time.Time{}
	for _, vs := range s.VirtualServers {
		for _, rs := range vs.RealServers {
			for _, c := range rs.Checks {
				out[rs.Address+" "+c.Kind] = c.At
			}
		}
	}
	return out
}

// checksRanSince counts the checks whose verdict is newer than in before.
func checksRanSince(t *testing.T, n *vigilNode, before map[string]time.Time) int {
	t.Helper()
	s, err := n.status()
	if err != nil {
		t.Fatal(err)
	}
	return checksRanSinceAt(s, before, time.Time{})
}

// checksRanSinceAt counts the checks whose verdict is newer than in before and than since.
func checksRanSinceAt(s status.Snapshot, before map[string]time.Time, since time.Time) int {
	ran := 0
	for k, at := range checkTimesOf(s) {
		if at.After(before[k]) && at.After(since) {
			ran++
		}
	}
	return ran
}

// openFiles counts the descriptors process pid holds.
func openFiles(pid int) int {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return len(es)
}

// metrics are one scrape of a node's /metrics.
type metrics string

func metricsOf(t *testing.T, n *vigilNode) metrics {
	t.Helper()
	resp, err := n.http.Get("http://127.0.0.1:9080/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return metrics(b)
}

// sum adds every series of the metric name.
func (m metrics) sum(name string) float64 {
	total := 0.0
	sc := bufio.NewScanner(strings.NewReader(string(m)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		fields := strings.Fields(line)
		if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
			total += v
		}
	}
	return total
}

// budgetLine is the budget vigil logged at start (log_format json), its reservations and
// maxconn.
func budgetLine(t *testing.T, log string) string {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "descriptor budget" {
			continue
		}
		var parts []string
		for _, k := range []string{"limit", "base", "checks", "scripts", "vrrp", "bgp", "status", "listeners", "reserved", "dataplane", "maxconn"} {
			if v, ok := rec[k]; ok {
				parts = append(parts, fmt.Sprintf("%s %v", k, v))
			}
		}
		return strings.Join(parts, ", ")
	}
	t.Fatalf("vigil did not log its descriptor budget:\n%s", log)
	return ""
}

// checkLog fails t for a line of vigil's log that is not JSON (log_format json holds for every
// line, net/http's included), that says it ran out of descriptors, or that records a real
// server going down or a VRRP state other than the start's.
func checkLog(t *testing.T, log string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("a log line not in JSON: %s", line)
			continue
		}
		switch {
		case strings.Contains(line, "too many open files"):
			t.Errorf("vigil ran out of descriptors: %s", line)
		case rec["event"] == "server-down" || rec["event"] == "quorum-lost":
			t.Errorf("a real server went down: %s", line)
		case rec["msg"] == "vrrp state changed" && rec["state"] != "BACKUP" && rec["state"] != "MASTER":
			t.Errorf("a VRRP state change: %s", line)
		}
	}
}

// haproxy is HAProxy 2.6 run by a test, and its stats socket. startHAProxy runs it on lb1 under
// the flood's descriptor limit, in mode tcp over the lab's web servers, with HTTP checks every
// second; its maxconn is left to be sized from the limit.
type haproxy struct {
	t    *testing.T
	sock string
	pid  int
}

func startHAProxy(t *testing.T, ns *testenv.Namespace, bin string) *haproxy {
	t.Helper()
	body := fmt.Sprintf(`defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
frontend web
    bind 192.0.2.1:%d
    default_backend web
backend web
    balance roundrobin
    option httpchk GET /
    default-server inter 1s fall 2 rise 1
    server web1 192.0.2.21:%d check
    server web2 192.0.2.22:%d check
`, haproxyPort, labWebPort, labWebPort)
	return runHAProxy(t, ns, bin, body, testenv.RequireTool(t, "prlimit"), fmt.Sprintf("--nofile=%d:%d", floodFiles, floodFiles))
}

// runHAProxy runs HAProxy inside ns (here when nil) on a configuration of body (every section after global)
// and a global section holding the stats socket the methods below talk to, until the test
// ends. wrapper, when given, is a command HAProxy runs under (prlimit and its options); it
// must exec HAProxy, so that the pid is HAProxy's.
func runHAProxy(t *testing.T, ns *testenv.Namespace, bin, body string, wrapper ...string) *haproxy {
	t.Helper()
	dir := t.TempDir()
	h := &haproxy{t: t, sock: filepath.Join(dir, "haproxy.sock")}
	conf := fmt.Sprintf("global\n    stats socket %s mode 600 level admin\n", h.sock) + body
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	argv := append(append(wrapper[:len(wrapper):len(wrapper)], bin), "-db", "-f", path)
	c := exec.Command(argv[0], argv[1:]...)
	if ns != nil {
		c = ns.Command(argv[0], argv[1:]...)
	}
	cmd := testenv.StartCmd(t, c)
	h.pid = cmd.Process.Pid // ip netns exec (and the wrapper) exec HAProxy: the pid is its own
	testenv.WaitFor(t, 10*time.Second, "HAProxy's stats socket", func() bool { _, err := h.command("show info"); return err == nil })
	return h
}

// command sends one command to the stats socket and returns the answer.
func (h *haproxy) command(cmd string) (string, error) {
	c, err := net.DialTimeout("unix", h.sock, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// info is "show info" as a map.
func (h *haproxy) info() map[string]string {
	out := map[string]string{}
	s, err := h.command("show info")
	if err != nil {
		h.t.Fatalf("HAProxy show info: %v", err)
	}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			out[k] = v
		}
	}
	return out
}

// servers are "show stat"'s rows of the backend's servers, by name, each a map by column.
func (h *haproxy) servers() map[string]map[string]string {
	s, err := h.command("show stat")
	if err != nil {
		h.t.Fatalf("HAProxy show stat: %v", err)
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(s, "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		h.t.Fatalf("HAProxy show stat: %v %q", err, s)
	}
	out := map[string]map[string]string{}
	for _, row := range rows[1:] {
		m := map[string]string{}
		for i, col := range rows[0] {
			if i < len(row) {
				m[col] = row[i]
			}
		}
		out[m["svname"]] = m
	}
	return out
}

// checksOK reports whether both servers are UP with their last check L7OK ("* L7OK" while the
// next check runs).
func (h *haproxy) checksOK() bool {
	s := h.servers()
	for _, name := range []string{"web1", "web2"} {
		if s[name]["status"] != "UP" || strings.TrimPrefix(s[name]["check_status"], "* ") != "L7OK" {
			return false
		}
	}
	return true
}

// floodAndWatch floods HAProxy's frontend at addr from the client host for floodHold, watching
// its servers' checks (UP and L7OK, no failed check) and the descriptors it holds.
func (h *haproxy) floodAndWatch(t *testing.T, l *vrrpLab, addr string) floodResult {
	t.Helper()
	failsBefore := h.servers()["web1"]["chkfail"] + "/" + h.servers()["web2"]["chkfail"]
	f := startFlood(t, l.client, addr, floodConns, "")
	r := floodResult{connected: len(f.conns), failed: f.failed, flood: f}
	t.Logf("flood on HAProxy %s: %d connects completed, %d failed, in %v", addr, len(f.conns), f.failed, f.took.Round(time.Millisecond))
	polls := 0
	for deadline := time.Now().Add(floodHold); time.Now().Before(deadline); polls++ {
		if !h.checksOK() {
			s := h.servers()
			t.Fatalf("HAProxy's checks during the flood: web1 %s %q, web2 %s %q", s["web1"]["status"], s["web1"]["check_status"], s["web2"]["status"], s["web2"]["check_status"])
		}
		r.peakFiles = max(r.peakFiles, openFiles(h.pid))
		time.Sleep(250 * time.Millisecond)
	}
	s := h.servers()
	failsAfter := s["web1"]["chkfail"] + "/" + s["web2"]["chkfail"]
	info := h.info()
	r.accepted, _ = strconv.ParseFloat(info["CurrConns"], 64)
	fe := s["FRONTEND"]
	denied, _ := strconv.ParseFloat(fe["dcon"], 64)
	r.refused = denied
	r.verdicts = fmt.Sprintf("UP L7OK in %d polls; failed checks %s before, %s after", polls, failsBefore, failsAfter)
	r.descriptors = fmt.Sprintf("%d in use (Ulimit-n %s, Maxsock %s, Maxconn %s)", openFiles(h.pid), info["Ulimit-n"], info["Maxsock"], info["Maxconn"])
	return r
}
