// Command vrrpbench measures VRRP failover time of vigil and of Keepalived in the same network
// namespaces and the same run: a master (priority 150) and a backup (priority 100) of the same
// implementation on two namespaces joined by a veth pair; the master is SIGKILLed or stopped
// gracefully (SIGTERM: it resigns with priority 0), and the time from the signal to the virtual
// address being present on the backup's interface is the failover time, polled over netlink
// every millisecond. Every trial gets fresh namespaces; trial i of n stops the master
// (i+0.5)/n of an advert interval after an advert. Needs root, ip and keepalived.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/internal/netif"
)

func main() {
	vigilBin := flag.String("vigil", "", "vigil binary (go build ./cmd/vigil)")
	kaBin := flag.String("keepalived", "keepalived", "keepalived binary")
	trials := flag.Int("trials", 5, "trials per cell")
	only := flag.String("only", "", "run only cells whose name contains this")
	soakDur := flag.Duration("soak", 0, "instead of the failover table: soak vigil at advert_int 0.01 under CPU load for this long")
	soakRT := flag.Int("rt", 0, "soak: vrrp_rt_priority (0: off)")
	latDur := flag.Duration("rtlatency", 0, "instead: measure this machine's real-time wake-up latency (SCHED_FIFO 90, 1 ms sleeps) with -spinners busy loops for this long")
	soakImpl := flag.String("impl", "vigil", "soak: vigil, keepalived, or both side by side (vigil,keepalived)")
	spinners := flag.Int("spinners", runtime.NumCPU(), "soak: busy loops competing for the CPUs")
	flag.Parse()
	if *vigilBin == "" {
		log.Fatal("-vigil is required")
	}
	if os.Geteuid() != 0 {
		log.Fatal("needs root (network namespaces)")
	}
	if *latDur > 0 {
		fmt.Print(latencyHeader)
		if err := rtLatency(*latDur, *spinners); err != nil {
			log.Fatalf("latency: %v", err)
		}
		return
	}
	if *soakDur > 0 {
		impls := strings.Split(*soakImpl, ",")
		var bins []string
		for _, impl := range impls {
			switch impl {
			case "vigil":
				bins = append(bins, *vigilBin)
			case "keepalived":
				bins = append(bins, *kaBin)
			default:
				log.Fatalf("-impl: %q is neither vigil nor keepalived", impl)
			}
		}
		rs, err := soak(impls, bins, *soakDur, *soakRT, *spinners)
		if err != nil {
			log.Fatalf("soak: %v", err)
		}
		fmt.Print(soakHeader)
		for _, r := range rs {
			printSoak(r)
		}
		return
	}
	type cell struct {
		stop    string // "SIGKILL" or "graceful"
		advert  string
		version int
	}
	cells := []cell{{"SIGKILL", "1", 2}, {"graceful", "1", 2}, {"SIGKILL", "0.1", 3}, {"graceful", "0.1", 3}}
	impls := []string{"keepalived", "vigil"}
	fmt.Printf("| stop | advert_int | implementation | median | max | trials (ms) |\n|---|---|---|---|---|---|\n")
	for _, c := range cells {
		for _, impl := range impls {
			name := fmt.Sprintf("%s %s v%d %s", c.stop, c.advert, c.version, impl)
			if *only != "" && !strings.Contains(name, *only) {
				continue
			}
			var got []time.Duration
			for i := 0; i < *trials; i++ {
				bin := *vigilBin
				if impl == "keepalived" {
					bin = *kaBin
				}
				// Trial i stops the master (i+0.5)/trials of an advert interval after the
				// settling time: the same phases for both implementations.
				phase := (float64(i) + 0.5) / float64(*trials)
				d, err := trial(impl, bin, c.stop, c.advert, c.version, i, phase)
				if err != nil {
					log.Fatalf("%s trial %d: %v", name, i, err)
				}
				got = append(got, d)
			}
			sorted := slices.Clone(got)
			slices.Sort(sorted)
			var ms []string
			for _, d := range got {
				ms = append(ms, fmt.Sprintf("%.0f", float64(d.Microseconds())/1000))
			}
			fmt.Printf("| %s | %s (v%d) | %s | %s | %s | %s |\n", c.stop, c.advert, c.version, impl,
				fmtD(sorted[len(sorted)/2]), fmtD(sorted[len(sorted)-1]), strings.Join(ms, ", "))
		}
	}
}

func fmtD(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func conf(router string, version, prio int, advert string) string {
	auth := ""
	if version == 2 {
		auth = "authentication {\n    auth_type PASS\n    auth_pass s3cret\n  }"
	}
	return fmt.Sprintf(`global_defs {
  router_id %s
  vrrp_garp_master_delay 1
  vrrp_garp_master_repeat 1
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  version %d
  priority %d
  advert_int %s
  %s
  virtual_ipaddress {
    192.0.2.100/24
  }
}
`, router, version, prio, advert, auth)
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func start(impl, bin, ns, dir, router string, version, prio int, advert string) (*proc, error) {
	return startConf(impl, bin, ns, dir, router, conf(router, version, prio, advert))
}

// startConf starts impl in ns with configuration text c, logging to dir/router.log.
func startConf(impl, bin, ns, dir, router, c string) (*proc, error) {
	cfg := filepath.Join(dir, router+".conf")
	if err := os.WriteFile(cfg, []byte(c), 0o644); err != nil {
		return nil, err
	}
	var args []string
	if impl == "keepalived" {
		args = []string{bin, "-n", "-l", "-P", "-f", cfg, "-p", filepath.Join(dir, router+".k.pid"),
			"-r", filepath.Join(dir, router+".v.pid"), "-c", filepath.Join(dir, router+".c.pid")}
	} else {
		args = []string{bin, "-n", "-P", "-f", cfg, "--dataplane", "userspace"}
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	logf, err := os.Create(filepath.Join(dir, router+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

// kill SIGKILLs the whole process group (Keepalived's parent and its VRRP child).
func (p *proc) kill() { syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) }

// term asks the daemon to stop: Keepalived's parent stops its VRRP child, which resigns; vigil
// resigns itself. "ip netns exec" execs the daemon, so the pid is the daemon's.
func (p *proc) term() { syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM) }

func (p *proc) finish() {
	p.kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

var vip = netip.MustParseAddr("192.0.2.100")

func trial(impl, bin, stop, advert string, version, n int, phase float64) (time.Duration, error) {
	suffix := fmt.Sprintf("%d-%d", os.Getpid()%10000, n)
	nsA, nsB := "vgb-a-"+suffix, "vgb-b-"+suffix
	for _, ns := range []string{nsA, nsB} {
		if err := run("ip", "netns", "add", ns); err != nil {
			return 0, err
		}
		defer run("ip", "netns", "del", ns)
		if err := run("ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
			return 0, err
		}
	}
	if err := run("ip", "-n", nsA, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", nsB); err != nil {
		return 0, err
	}
	for i, ns := range []string{nsA, nsB} {
		if err := run("ip", "-n", ns, "addr", "add", fmt.Sprintf("192.0.2.%d/24", i+1), "dev", "eth0"); err != nil {
			return 0, err
		}
		if err := run("ip", "-n", ns, "link", "set", "eth0", "up"); err != nil {
			return 0, err
		}
	}
	hA, err := netif.OpenNamespace(nsA)
	if err != nil {
		return 0, err
	}
	defer hA.Close()
	hB, err := netif.OpenNamespace(nsB)
	if err != nil {
		return 0, err
	}
	defer hB.Close()
	dir, err := os.MkdirTemp("", "vrrpbench")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)

	master, err := start(impl, bin, nsA, dir, "a", version, 150, advert)
	if err != nil {
		return 0, err
	}
	defer master.finish()
	backup, err := start(impl, bin, nsB, dir, "b", version, 100, advert)
	if err != nil {
		return 0, err
	}
	defer backup.finish()
	fail := func(err error) (time.Duration, error) {
		for _, r := range []string{"a", "b"} {
			b, _ := os.ReadFile(filepath.Join(dir, r+".log"))
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 20 {
				lines = lines[len(lines)-20:]
			}
			err = fmt.Errorf("%w\n--- %s log:\n%s", err, r, strings.Join(lines, "\n"))
		}
		return 0, err
	}

	// Settled: A holds the address, B does not, for 3 advert intervals plus a second
	// (B has heard A and is a backup, not still in its startup wait), plus the trial's
	// phase: a master's adverts start when it takes the address, so without it every kill
	// would come right after an advert.
	adv, _ := time.ParseDuration(advert + "s")
	settle := 3*adv + time.Second + time.Duration(phase*float64(adv))
	deadline := time.Now().Add(20 * time.Second)
	var since time.Time
	for {
		a, errA := hA.HasAddress("eth0", vip)
		b, errB := hB.HasAddress("eth0", vip)
		if errA != nil || errB != nil {
			return fail(fmt.Errorf("poll: %v %v", errA, errB))
		}
		if a && !b {
			if since.IsZero() {
				since = time.Now()
			}
			if time.Since(since) >= settle {
				break
			}
		} else {
			since = time.Time{}
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("A master and B backup did not settle within 20s (A has VIP %v, B %v)", a, b))
		}
		time.Sleep(10 * time.Millisecond)
	}

	t0 := time.Now()
	if stop == "SIGKILL" {
		master.kill()
	} else {
		master.term()
	}
	deadline = t0.Add(10 * time.Second)
	for {
		b, err := hB.HasAddress("eth0", vip)
		if err != nil {
			return fail(err)
		}
		if b {
			return time.Since(t0), nil
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("B did not take the address within 10s of %s", stop))
		}
		time.Sleep(time.Millisecond)
	}
}
