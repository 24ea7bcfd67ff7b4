// Command driver runs the checker benchmark that run.sh describes: it generates a
// keepalived.conf and an haproxy.cfg over the targets of bench/checks/backends, runs vigil and
// HAProxy in turn against the same targets, and prints a Markdown table of CPU per check,
// memory per backend, check intervals seen at the targets and vigil's detection latency.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type settings struct {
	vigil, haproxy, backends, work string
	label                          string // after "vigil" in the table, to tell builds apart
	window, warm                   time.Duration
	perVS                          int
	statusAddr                     string
	procs                          []*proc
	shards                         []*shard
	kinds                          []string // of targets: tcp, http or both
	// reuse gives vigil's HTTP_GETs http_protocol 1.1 and reuse_connection (the -baseline
	// binaries run without).
	reuse bool
}

func main() {
	var s settings
	flag.StringVar(&s.vigil, "vigil", "", "vigil binary")
	flag.StringVar(&s.haproxy, "haproxy", "haproxy", "haproxy binary")
	flag.StringVar(&s.backends, "backends", "", "backends binary")
	flag.StringVar(&s.work, "work", os.TempDir(), "directory for configurations and logs")
	flag.DurationVar(&s.window, "window", 20*time.Second, "measurement window")
	flag.DurationVar(&s.warm, "warm", 4*time.Second, "time after the first checks before measuring")
	flag.IntVar(&s.perVS, "per-vs", 100, "real servers per virtual server")
	flag.StringVar(&s.statusAddr, "status", "127.0.0.1:7998", "vigil status_listen")
	n := flag.Int("n", 10000, "TCP and HTTP targets each for the comparison")
	big := flag.Int("big", 50000, "TCP and HTTP targets each for vigil alone (0: skip)")
	bigDelays := flag.String("big-delays", "1,10", "delay_loop values (seconds) for the runs of vigil alone")
	trials := flag.Int("trials", 20, "detection latency trials")
	printOnly := flag.String("print", "", "print the configuration (vigil, haproxy-tcp or haproxy-http) for -n targets and exit")
	baseline := flag.String("baseline", "", "other vigil binaries (an earlier build; comma-separated) to run too, after vigil and before HAProxy in every round, on the same targets")
	rounds := flag.Int("rounds", 1, "vigil and HAProxy runs on the same targets, alternating (the machine's noise shows as their spread)")
	kinds := flag.String("kinds", "tcp,http", "kinds of targets: tcp, http or both")
	flag.BoolVar(&s.reuse, "reuse", false, "vigil's HTTP_GETs keep their connection (http_protocol 1.1, reuse_connection); the HTTP targets then keep alive a connection that asks for it; -baseline binaries run without")
	flag.Parse()
	s.kinds = strings.Split(*kinds, ",")
	for _, k := range s.kinds {
		if k != "tcp" && k != "http" {
			log.Fatalf("-kinds: %q: want tcp, http or both", k)
		}
	}
	log.SetFlags(log.Ltime)
	switch *printOnly {
	case "vigil":
		fmt.Print(s.vigilConfig(*n, 1))
		return
	case "haproxy-tcp", "haproxy-http":
		fmt.Print(s.haproxyConfig(strings.TrimPrefix(*printOnly, "haproxy-"), *n))
		return
	}

	var rows []row
	s.startBackends(*n)
	r, det := s.runVigil(*n, 1, *trials)
	rows = append(rows, r)
	// runBaselines runs each -baseline binary once, labelled with the round's label.
	runBaselines := func() {
		if *baseline == "" {
			return
		}
		current, label, reuse := s.vigil, s.label, s.reuse
		for _, b := range strings.Split(*baseline, ",") {
			s.vigil, s.label, s.reuse = b, " (baseline "+filepath.Base(b)+")"+label, false
			r, _ := s.runVigil(*n, 1, 0)
			rows = append(rows, r)
		}
		s.vigil, s.label, s.reuse = current, label, reuse
	}
	runBaselines()
	rows = append(rows, s.runHAProxy(*n))
	vigilRuns, haproxyRuns := []row{rows[0]}, []row{rows[len(rows)-1]}
	for i := 2; i <= *rounds; i++ {
		s.label = fmt.Sprintf(" (round %d)", i)
		v, _ := s.runVigil(*n, 1, 0)
		rows = append(rows, v)
		runBaselines()
		h := s.runHAProxy(*n)
		h.name += s.label
		rows = append(rows, h)
		vigilRuns, haproxyRuns = append(vigilRuns, v), append(haproxyRuns, h)
	}
	s.label = ""
	s.stopBackends()
	if *big > 0 {
		s.startBackends(*big)
		for _, f := range strings.Split(*bigDelays, ",") {
			delay, err := strconv.Atoi(f)
			if err != nil || delay < 1 {
				s.fatalf("-big-delays: %q is not a whole number of seconds", f)
			}
			r, _ := s.runVigil(*big, delay, 0)
			rows = append(rows, r)
		}
		s.stopBackends()
	}
	printRows(rows)
	printRounds(vigilRuns, haproxyRuns)
	printDetection(det)
}

// printRounds sums up alternating runs: each checker's median CPU per check and their ratio.
func printRounds(vigil, haproxy []row) {
	if len(vigil) < 2 {
		return
	}
	median := func(rs []row) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = r.perCheck()
		}
		sort.Float64s(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	var ratios []string
	for i := range vigil {
		ratios = append(ratios, fmt.Sprintf("%.2f", vigil[i].perCheck()/haproxy[i].perCheck()))
	}
	mv, mh := median(vigil), median(haproxy)
	fmt.Printf("\n%d alternating rounds: CPU µs per check, median vigil %.1f, HAProxy %.1f: vigil ÷ HAProxy %.2f (per round: %s)\n",
		len(vigil), mv, mh, mv/mh, strings.Join(ratios, ", "))
}

// counted is the checks the row's checker ran over its window: its own count, or for HAProxy,
// which counts none, the configuration's servers ÷ inter, with how it was got.
func (r row) counted() (float64, string) {
	if r.ownChecks == 0 {
		return r.expected * r.window.Seconds(), " (servers ÷ inter)"
	}
	return r.ownChecks, ""
}

// perCheck is the CPU µs per check.
func (r row) perCheck() float64 {
	c, _ := r.counted()
	return r.cpu / c * 1e6
}

type row struct {
	name                string
	backends            int
	expected            float64 // checks per second the configuration asks for
	cpu                 float64 // CPU seconds over the window
	ownChecks           float64 // checks the checker counted (vigil); 0 when unknown
	seenChecks          float64 // checks the targets accepted
	seenTCP, seenHTTP   float64 // checks the TCP and HTTP targets accepted
	window              time.Duration
	rss                 int64
	p50, p99, p999, max float64 // intervals between checks of one target, seconds
	startup             time.Duration
	load                string // /proc/loadavg's 1-minute figure at the end of the window
	// lateness is vigil's own vigil_check_lateness_seconds over the window (how late probes
	// started against their due time); empty for HAProxy, which has no such measure.
	lateness string
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// start runs a program with its output in logPath; fatalf stops it with the others.
func (s *settings) start(name, logPath string, args ...string) *proc {
	f, err := os.Create(logPath)
	if err != nil {
		s.fatalf("%v", err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		s.fatalf("start %s: %v", name, err)
	}
	p := &proc{name: filepath.Base(name), cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	s.procs = append(s.procs, p)
	return p
}

func (s *settings) stopProc(p *proc) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		log.Printf("%s did not stop within 20s of SIGTERM; killing", p.name)
		p.cmd.Process.Kill()
		<-p.done
	}
}

// fatalf stops every program still running, then exits.
func (s *settings) fatalf(format string, args ...any) {
	log.Printf(format, args...)
	for _, p := range s.procs {
		select {
		case <-p.done:
		default:
			s.stopProc(p)
		}
	}
	os.Exit(1)
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// shard is one backends process: count targets of one kind from index from.
type shard struct {
	kind        string
	from, count int
	control     string
	p           *proc
}

// perShard keeps each backends process below the open-file limit (20,000 here, and not
// raisable without CAP_SYS_RESOURCE): one socket per target plus the checks' connections.
// With -reuse each HTTP target also holds the connection vigil keeps to it.
const perShard = 12500

// shardSize is perShard, or its share with a kept connection per target (-reuse).
func (s *settings) shardSize(kind string) int {
	if s.reuse && kind == "http" {
		return perShard * 2 / 3
	}
	return perShard
}

// startBackends starts n targets of each kind over as many processes as the limit needs.
func (s *settings) startBackends(n int) {
	log.Printf("starting %d targets of each kind (%s)", n, strings.Join(s.kinds, ", "))
	port := 17999 // control ports count down from here
	for _, kind := range s.kinds {
		for from := 0; from < n; from += s.shardSize(kind) {
			sh := &shard{kind: kind, from: from, count: min(s.shardSize(kind), n-from), control: fmt.Sprintf("127.0.0.1:%d", port)}
			port--
			sh.p = s.start(s.backends, filepath.Join(s.work, fmt.Sprintf("backends-%s-%d.log", kind, from)),
				"-kind", kind, "-from", strconv.Itoa(from), "-count", strconv.Itoa(sh.count), "-net", nets[kind], "-control", sh.control, fmt.Sprintf("-keepalive=%t", s.reuse))
			s.shards = append(s.shards, sh)
		}
	}
	s.waitUntil(120*time.Second, "backends control APIs", func() bool { _, err := s.backendStats(false); return err == nil })
}

func (s *settings) stopBackends() {
	for _, sh := range s.shards {
		s.stopProc(sh.p)
	}
	s.shards = nil
}

var nets = map[string]string{"tcp": "127.1", "http": "127.2"}

type stats struct {
	Accepts float64 // every kind
	ByKind  map[string]float64
	// Intervals between checks of one HTTP target. (HAProxy's TCP checks reset the connection
	// right after the handshake; Go's accept drops such connections, so TCP targets cannot
	// see them, and only HTTP targets serve to compare schedules.)
	P50  float64
	P99  float64
	P999 float64
	Max  float64
}

// backendStats merges every shard's counts and interval histograms.
func (s *settings) backendStats(reset bool) (stats, error) {
	st := stats{ByKind: map[string]float64{}}
	merged := map[int]uint64{}
	for _, sh := range s.shards {
		url := "http://" + sh.control + "/stats"
		if reset {
			url += "?reset=1"
		}
		resp, err := http.Get(url)
		if err != nil {
			return st, err
		}
		var one struct {
			Accepts   float64           `json:"accepts"`
			Intervals map[string]uint64 `json:"intervals_ms"`
		}
		err = json.NewDecoder(resp.Body).Decode(&one)
		resp.Body.Close()
		if err != nil {
			return st, err
		}
		st.Accepts += one.Accepts
		st.ByKind[sh.kind] += one.Accepts
		if sh.kind != "http" {
			continue
		}
		for k, v := range one.Intervals {
			ms, _ := strconv.Atoi(k)
			merged[ms] += v
		}
	}
	var keys []int
	var total uint64
	for k, v := range merged {
		keys = append(keys, k)
		total += v
	}
	sort.Ints(keys)
	q := func(p float64) float64 {
		want := uint64(p * float64(total))
		var seen uint64
		for _, k := range keys {
			seen += merged[k]
			if seen > want || seen == total {
				return float64(k) / 1000
			}
		}
		return 0
	}
	st.P50, st.P99, st.P999, st.Max = q(0.5), q(0.99), q(0.999), q(1)
	return st, nil
}

func (s *settings) control(what, kind string, i int) {
	for _, sh := range s.shards {
		if sh.kind != kind || i < sh.from || i >= sh.from+sh.count {
			continue
		}
		resp, err := http.Get(fmt.Sprintf("http://%s/%s?i=%d", sh.control, what, i))
		if err != nil {
			s.fatalf("backends %s %s %d: %v", what, kind, i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			s.fatalf("backends %s %s %d: %s", what, kind, i, resp.Status)
		}
		return
	}
	s.fatalf("no backends process serves %s target %d", kind, i)
}

func addr(net16 string, i int) string { return fmt.Sprintf("%s.%d.%d", net16, i/254, i%254+1) }

// vigilConfig: n TCP_CHECK and n HTTP_GET real servers, perVS to a virtual server, every
// check each delay seconds with one retry a second later and a 1 s timeout.
func (s *settings) vigilConfig(n, delay int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  status_listen %s\n}\n", s.statusAddr)
	vs := 0
	httpGet := "    HTTP_GET {\n"
	if s.reuse {
		httpGet += "      http_protocol 1.1\n      reuse_connection\n"
	}
	for _, kind := range s.kinds {
		net16 := nets[kind]
		for i := 0; i < n; i++ {
			if i%s.perVS == 0 {
				if i > 0 {
					b.WriteString("}\n")
				}
				fmt.Fprintf(&b, "virtual_server 127.3.%d.%d %d {\n  delay_loop %d\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  retry 1\n  delay_before_retry 1\n", vs/200, vs%200+1, 10000+vs%200, delay)
				vs++
			}
			if kind == "tcp" {
				fmt.Fprintf(&b, "  real_server %s 8000 {\n    TCP_CHECK {\n      connect_timeout 1\n    }\n  }\n", addr(net16, i))
			} else {
				fmt.Fprintf(&b, "  real_server %s 8000 {\n%s      url {\n        path /health\n        status_code 200\n      }\n      connect_timeout 1\n    }\n  }\n", addr(net16, i), httpGet)
			}
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// haproxyConfig checks the n targets of one kind the way vigil does: inter 1s, fall 2 (retry
// 1), 1 s timeouts. HAProxy reserves a file descriptor per checked server, and the open-file
// limit here is 20,000 (not raisable), so each kind gets its own HAProxy process.
func (s *settings) haproxyConfig(kind string, n int) string {
	var b strings.Builder
	b.WriteString("global\n  maxconn 2000\n\ndefaults\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n  timeout check 1s\n\n")
	// HAProxy refuses to run without a listener; one frontend is enough, the checks run anyway.
	port := map[string]int{"tcp": 10000, "http": 10001}[kind]
	fmt.Fprintf(&b, "frontend bench\n  mode tcp\n  bind 127.3.255.1:%d\n  default_backend %s_0\n\n", port, kind)
	for i := 0; i < n; i++ {
		if i%s.perVS == 0 {
			fmt.Fprintf(&b, "backend %s_%d\n  mode %s\n  default-server check inter 1s fall 2 rise 1\n", kind, i/s.perVS, kind)
			if kind == "http" {
				b.WriteString("  option httpchk GET /health\n  http-check expect status 200\n")
			}
		}
		fmt.Fprintf(&b, "  server s%d %s:8000\n", i, addr(nets[kind], i))
	}
	return b.String()
}

func (s *settings) runVigil(n, delay, trials int) (row, []detection) {
	conf := filepath.Join(s.work, fmt.Sprintf("keepalived-%d-%ds.conf", n, delay))
	if err := os.WriteFile(conf, []byte(s.vigilConfig(n, delay)), 0o644); err != nil {
		s.fatalf("%v", err)
	}
	log.Printf("vigil: %d real servers in %d virtual servers (reuse_connection %t)", len(s.kinds)*n, len(s.kinds)*n/s.perVS, s.reuse)
	t0 := time.Now()
	p := s.start(s.vigil, filepath.Join(s.work, fmt.Sprintf("vigil-%d-%ds%s.log", n, delay, strings.NewReplacer(" ", "-", "(", "", ")", "").Replace(s.label))), "-f", conf, "--dataplane", "userspace")
	defer s.stopProc(p)
	s.waitUntil(120*time.Second, "vigil's first check results", func() bool { c, err := s.vigilChecks(); return err == nil && c > 0 })
	startup := time.Since(t0)
	name := "vigil" + s.label
	if delay != 1 {
		name = fmt.Sprintf("vigil, delay_loop %d", delay)
	}
	r := s.measure(name, []*proc{p}, n, s.vigilScrape)
	r.expected /= float64(delay)
	r.startup = startup
	var det []detection
	if trials > 0 {
		det = s.detect(trials, n)
	}
	return r, det
}

func (s *settings) runHAProxy(n int) row {
	log.Printf("haproxy: %d servers in %d backends, a process per kind (%s)", len(s.kinds)*n, len(s.kinds)*n/s.perVS, strings.Join(s.kinds, ", "))
	s.backendStats(true)
	t0 := time.Now()
	var ps []*proc
	for _, kind := range s.kinds {
		conf := filepath.Join(s.work, fmt.Sprintf("haproxy-%s-%d.cfg", kind, n))
		if err := os.WriteFile(conf, []byte(s.haproxyConfig(kind, n)), 0o644); err != nil {
			s.fatalf("%v", err)
		}
		p := s.start(s.haproxy, filepath.Join(s.work, fmt.Sprintf("haproxy-%s-%d.log", kind, n)), "-db", "-f", conf)
		defer s.stopProc(p)
		ps = append(ps, p)
	}
	s.waitUntil(120*time.Second, "haproxy's first HTTP checks", func() bool {
		st, err := s.backendStats(false)
		return err == nil && st.ByKind["http"] > 0
	})
	startup := time.Since(t0)
	r := s.measure("HAProxy "+haproxyVersion(s.haproxy), ps, n, nil)
	r.startup = startup
	return r
}

func haproxyVersion(bin string) string {
	out, _ := exec.Command(bin, "-v").Output()
	f := strings.Fields(string(out))
	if len(f) > 2 {
		return f[2]
	}
	return ""
}

// measure waits s.warm, then samples CPU, the checker's own count and the targets' count over
// s.window.
func (s *settings) measure(name string, ps []*proc, n int, own func() (float64, histo, error)) row {
	time.Sleep(s.warm)
	s.backendStats(true)
	// sample reads the checker's CPU and, for vigil, its counters. With 100,000 servers a
	// scrape of /metrics takes seconds; the counters are read somewhere within it, so the
	// sample's CPU and time are the means of before and after the scrape (half of each
	// scrape's own CPU then falls in the window).
	sample := func() (cpu float64, at time.Time, checks float64, late histo) {
		cpuA, tA := procCPU(ps...), time.Now()
		if own != nil {
			checks, late, _ = own()
		}
		cpuB, tB := procCPU(ps...), time.Now()
		return (cpuA + cpuB) / 2, tA.Add(tB.Sub(tA) / 2), checks, late
	}
	cpu0, t0, own0, late0 := sample()
	time.Sleep(s.window)
	cpu1, t1, own1, late1 := sample()
	lateness := ""
	if own != nil {
		lateness = late1.minus(late0).summary()
	}
	w := t1.Sub(t0)
	st, _ := s.backendStats(false)
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Fields(string(b))[0]
	}
	r := row{name: name, backends: len(s.kinds) * n, expected: float64(len(s.kinds) * n), cpu: cpu1 - cpu0, ownChecks: own1 - own0,
		seenChecks: st.Accepts, seenTCP: st.ByKind["tcp"], seenHTTP: st.ByKind["http"], window: w, load: load, rss: procRSS(ps...), p50: st.P50, p99: st.P99, p999: st.P999, max: st.Max, lateness: lateness}
	log.Printf("%s: %.1f CPU s over %v, %.0f checks counted, %.0f seen by the targets, RSS %d MB, interval p99 %.3fs, lateness p50/p99 %s, load %s",
		name, r.cpu, w.Round(time.Millisecond), r.ownChecks, r.seenChecks, r.rss>>20, r.p99, r.lateness, r.load)
	return r
}

// vigilChecks sums vigil_check_results_total over kinds and outcomes.
func (s *settings) vigilChecks() (float64, error) {
	c, _, err := s.vigilScrape()
	return c, err
}

// vigilScrape reads, in one scrape, vigil_check_results_total summed over kinds and outcomes
// and the vigil_check_lateness_seconds histogram.
func (s *settings) vigilScrape() (float64, histo, error) {
	var h histo
	resp, err := http.Get("http://" + s.statusAddr + "/metrics")
	if err != nil {
		return 0, h, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "vigil_check_results_total{") {
			f := strings.Fields(line)
			if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
				sum += v
			}
			continue
		}
		rest, ok := strings.CutPrefix(line, `vigil_check_lateness_seconds_bucket{le="`)
		if !ok {
			continue
		}
		bound, count, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		le, err1 := strconv.ParseFloat(bound, 64)
		c, err2 := strconv.ParseFloat(strings.TrimSpace(count), 64)
		if err1 == nil && err2 == nil {
			h.le, h.counts = append(h.le, le), append(h.counts, c)
		}
	}
	return sum, h, sc.Err()
}

// histo is a Prometheus histogram as scraped: cumulative counts by upper bound, ascending,
// the last bound +Inf.
type histo struct {
	le     []float64
	counts []float64
}

func (h histo) minus(o histo) histo {
	out := histo{le: h.le, counts: append([]float64(nil), h.counts...)}
	if len(o.counts) == len(h.counts) {
		for i := range out.counts {
			out.counts[i] -= o.counts[i]
		}
	}
	return out
}

// quantile interpolates linearly within the bucket that holds rank q, as PromQL's
// histogram_quantile does; past the last finite bound it returns +Inf.
func (h histo) quantile(q float64) float64 {
	if len(h.counts) == 0 || h.counts[len(h.counts)-1] == 0 {
		return math.NaN()
	}
	rank := q * h.counts[len(h.counts)-1]
	lo, below := 0.0, 0.0
	for i, c := range h.counts {
		if c >= rank {
			if math.IsInf(h.le[i], 1) {
				return math.Inf(1)
			}
			if c == below {
				return h.le[i]
			}
			return lo + (h.le[i]-lo)*(rank-below)/(c-below)
		}
		lo, below = h.le[i], c
	}
	return math.Inf(1)
}

// summary renders p50 / p99 in milliseconds; beyond the largest bucket (1 s) as "> 1000".
func (h histo) summary() string {
	f := func(v float64) string {
		switch {
		case math.IsNaN(v):
			return "-"
		case math.IsInf(v, 1):
			return fmt.Sprintf("> %.0f", h.le[len(h.le)-2]*1000)
		}
		return fmt.Sprintf("%.1f", v*1000)
	}
	return f(h.quantile(0.5)) + " / " + f(h.quantile(0.99))
}

// procCPU is utime+stime of the processes in seconds.
func procCPU(ps ...*proc) float64 {
	var sum float64
	for _, p := range ps {
		sum += procCPUOne(p.pid())
	}
	return sum
}

// procRSS is the resident set of the processes in bytes.
func procRSS(ps ...*proc) int64 {
	var sum int64
	for _, p := range ps {
		sum += procRSSOne(p.pid())
	}
	return sum
}

func procCPUOne(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// Fields after the command: state is f[0], utime f[11], stime f[12] (stat fields 14 and 15).
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100 // USER_HZ
}

func procRSSOne(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

type detection struct {
	addr     string
	down, up time.Duration
}

type sseEvent struct {
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
}

// detect stops trials HTTP targets spread over the virtual servers at once, times each one's
// server-down event on vigil's event stream, then starts them again and times server-up.
func (s *settings) detect(trials, n int) []detection {
	resp, err := http.Get("http://" + s.statusAddr + "/api/v1/events")
	if err != nil {
		s.fatalf("%v", err)
	}
	defer resp.Body.Close()
	type seen struct {
		kind, addr string
		at         time.Time
	}
	events := make(chan seen, 1024)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var ev sseEvent
			if json.Unmarshal([]byte(data), &ev) == nil {
				f := strings.Fields(ev.Subject)
				events <- seen{ev.Kind, f[len(f)-1], time.Now()}
			}
		}
		close(events)
	}()
	time.Sleep(200 * time.Millisecond)
	res := make([]detection, trials)
	idx := map[string]int{}
	stride := n / trials
	wait := func(kind string, t0 time.Time, set func(*detection, time.Duration)) {
		left := trials
		deadline := time.After(30 * time.Second)
		for left > 0 {
			select {
			case ev, ok := <-events:
				if !ok {
					s.fatalf("vigil's event stream ended")
				}
				if i, ok := idx[ev.addr]; ok && ev.kind == kind {
					set(&res[i], ev.at.Sub(t0))
					left--
				}
			case <-deadline:
				log.Printf("detection: %d of %d %s events missing after 30s", left, trials, kind)
				return
			}
		}
	}
	t0 := time.Now()
	for k := 0; k < trials; k++ {
		i := k*stride + k%s.perVS
		res[k].addr = addr("127.2", i) + ":8000"
		idx[res[k].addr] = k
		s.control("stop", "http", i)
	}
	wait("server-down", t0, func(d *detection, v time.Duration) { d.down = v })
	t0 = time.Now()
	for k := 0; k < trials; k++ {
		s.control("start", "http", k*stride+k%s.perVS)
	}
	wait("server-up", t0, func(d *detection, v time.Duration) { d.up = v })
	return res
}

func (s *settings) waitUntil(within time.Duration, what string, cond func() bool) {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			s.fatalf("%s: not within %v", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func printRows(rows []row) {
	w := os.Stdout
	fmt.Fprintln(w, "\n| checker | backends (TCP+HTTP) | checks/s asked | checks/s counted | checks/s seen by TCP / HTTP targets | CPU cores busy | CPU µs per check | RSS MB | RSS KB per backend | HTTP target check interval p50 / p99 / p99.9 / max (s) | lateness p50 / p99 (ms) | start to first check | load avg |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		sec := r.window.Seconds()
		// vigil counts its checks (vigil_check_results_total); HAProxy's count is the
		// configuration's (servers / inter), which the HTTP targets confirm.
		counted, how := r.counted()
		late := r.lateness
		if late == "" {
			late = "n/a"
		}
		perCheck := fmt.Sprintf("%.1f", r.perCheck())
		if r.ownChecks == 0 && r.seenHTTP > 0 && 2*r.seenHTTP < 0.95*counted {
			// HAProxy fell behind: servers ÷ inter overstates its checks. Its TCP checks cannot
			// be seen; if they fell behind as much as the HTTP ones, it ran 2 × HTTP seen.
			perCheck += fmt.Sprintf(" to %.1f (2 × HTTP seen)", r.cpu/(2*r.seenHTTP)*1e6)
		}
		fmt.Fprintf(w, "| %s | %d | %.0f | %.0f%s | %.0f / %.0f | %.2f | %s | %d | %.1f | %.3f / %.3f / %.3f / %.3f | %s | %v | %s |\n",
			r.name, r.backends, r.expected, counted/sec, how, r.seenTCP/sec, r.seenHTTP/sec, r.cpu/sec, perCheck, r.rss>>20,
			float64(r.rss)/1024/float64(r.backends), r.p50, r.p99, r.p999, r.max, late, r.startup.Round(100*time.Millisecond), r.load)
	}
}

func printDetection(det []detection) {
	if len(det) == 0 {
		return
	}
	var down, up []time.Duration
	for _, d := range det {
		if d.down > 0 {
			down = append(down, d.down)
		}
		if d.up > 0 {
			up = append(up, d.up)
		}
	}
	q := func(v []time.Duration, p float64) time.Duration {
		if len(v) == 0 {
			return 0
		}
		sort.Slice(v, func(a, b int) bool { return v[a] < v[b] })
		i := int(p * float64(len(v)-1))
		return v[i].Round(time.Millisecond)
	}
	fmt.Printf("\nDetection (vigil, %d HTTP targets stopped at once; delay_loop 1, retry 1, delay_before_retry 1, connect_timeout 1: bound 1.05·1 + 1·(1.05·1 + 1) + 1 = 4.1 s):\n\n", len(det))
	fmt.Printf("| event | trials seen | p50 | p99 | max |\n|---|---|---|---|---|\n")
	fmt.Printf("| removed (server-down event) | %d/%d | %v | %v | %v |\n", len(down), len(det), q(down, 0.5), q(down, 0.99), q(down, 1))
	fmt.Printf("| back (server-up event) | %d/%d | %v | %v | %v |\n", len(up), len(det), q(up, 0.5), q(up, 0.99), q(up, 1))
}
