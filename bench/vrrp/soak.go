package main

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/netif"
)

// soakResult is what one soak measured.
type soakResult struct {
	impl      string
	dur       time.Duration
	rt        int
	spinners  int
	adverts   int             // adverts from the master captured on the backup's side
	gaps      []time.Duration // between consecutive captured adverts, kernel receive timestamps
	gapEnds   []time.Time     // when each gap ended
	load      [2]string       // /proc/loadavg at the start and the end
	failovers []string        // the backup's MASTER transitions, as logged
	masterOK  bool            // the master still held the address at the end
}

// soakLab is one implementation's master (A, priority 150) and backup (B, priority 100) at
// advert_int 0.01 (VRRPv3, 1 cs) in their own pair of namespaces, with a capture of the
// master's adverts on the backup's side.
type soakLab struct {
	impl     string
	rt       int
	dir      string
	hA       *netif.Host
	before   []byte // the backup's log when the soak started
	stop     chan struct{}
	stamps   chan []time.Time
	cleanups []func()
}

func (l *soakLab) close() {
	for i := len(l.cleanups) - 1; i >= 0; i-- {
		l.cleanups[i]()
	}
}

// newSoakLab starts impl's pair in namespaces named after n and waits until it has settled.
func newSoakLab(impl, bin string, rt, n int) (*soakLab, error) {
	l := &soakLab{impl: impl, rt: rt, stop: make(chan struct{}), stamps: make(chan []time.Time, 1)}
	fail := func(err error) (*soakLab, error) {
		l.close()
		return nil, fmt.Errorf("%s: %w", impl, err)
	}
	suffix := fmt.Sprintf("%d-soak%d", os.Getpid()%10000, n)
	nsA, nsB := "vgb-a-"+suffix, "vgb-b-"+suffix
	for _, ns := range []string{nsA, nsB} {
		if err := run("ip", "netns", "add", ns); err != nil {
			return fail(err)
		}
		l.cleanups = append(l.cleanups, func() { run("ip", "netns", "del", ns) })
		if err := run("ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
			return fail(err)
		}
	}
	if err := run("ip", "-n", nsA, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", nsB); err != nil {
		return fail(err)
	}
	for i, ns := range []string{nsA, nsB} {
		if err := run("ip", "-n", ns, "addr", "add", fmt.Sprintf("192.0.2.%d/24", i+1), "dev", "eth0"); err != nil {
			return fail(err)
		}
		if err := run("ip", "-n", ns, "link", "set", "eth0", "up"); err != nil {
			return fail(err)
		}
	}
	var err error
	if l.hA, err = netif.OpenNamespace(nsA); err != nil {
		return fail(err)
	}
	l.cleanups = append(l.cleanups, l.hA.Close)
	hB, err := netif.OpenNamespace(nsB)
	if err != nil {
		return fail(err)
	}
	l.cleanups = append(l.cleanups, hB.Close)
	if l.dir, err = os.MkdirTemp("", "vrrpsoak"); err != nil {
		return fail(err)
	}
	l.cleanups = append(l.cleanups, func() { os.RemoveAll(l.dir) })

	startOne := func(ns, router string, prio int) (*proc, error) {
		c := conf(router, 3, prio, "0.01")
		if rt > 0 {
			c = strings.Replace(c, "global_defs {\n", fmt.Sprintf("global_defs {\n  vrrp_rt_priority %d\n", rt), 1)
		}
		p, err := startConf(impl, bin, ns, l.dir, router, c)
		if err == nil {
			l.cleanups = append(l.cleanups, p.finish)
		}
		return p, err
	}
	if _, err := startOne(nsA, "a", 150); err != nil {
		return fail(err)
	}
	// The master first, alone, so that the backup starts as a backup of a live master.
	if err := waitFor(10*time.Second, func() (bool, error) { return l.hA.HasAddress("eth0", vip) }); err != nil {
		return fail(fmt.Errorf("master did not take the address: %w", err))
	}
	if _, err := startOne(nsB, "b", 100); err != nil {
		return fail(err)
	}
	// Settled: the backup has heard the master for a second and never took the address.
	time.Sleep(time.Second)
	if b, err := hB.HasAddress("eth0", vip); err != nil || b {
		return fail(fmt.Errorf("backup holds the address before the soak (%v)", err))
	}
	l.before, _ = os.ReadFile(filepath.Join(l.dir, "b.log"))
	capt, err := openCapture(nsB)
	if err != nil {
		return fail(err)
	}
	go func() { l.stamps <- capt.run(l.stop, netip.MustParseAddr("192.0.2.1")) }()
	return l, nil
}

// finish stops the capture and reads the results; l is closed afterwards.
func (l *soakLab) finish(dur time.Duration, spinners int, load [2]string) (*soakResult, error) {
	defer l.close()
	close(l.stop)
	ts := <-l.stamps
	r := &soakResult{impl: l.impl, dur: dur, rt: l.rt, spinners: spinners, adverts: len(ts), load: load}
	for i := 1; i < len(ts); i++ {
		r.gaps = append(r.gaps, ts[i].Sub(ts[i-1]))
		r.gapEnds = append(r.gapEnds, ts[i])
	}
	r.masterOK, _ = l.hA.HasAddress("eth0", vip)
	after, _ := os.ReadFile(filepath.Join(l.dir, "b.log"))
	for _, line := range strings.Split(string(after[min(len(l.before), len(after)):]), "\n") {
		if strings.Contains(line, "vrrp state changed") && strings.Contains(line, "state=MASTER") || // vigil
			strings.Contains(line, "Entering MASTER STATE") { // Keepalived
			r.failovers = append(r.failovers, line)
		}
	}
	if l.rt > 0 && l.impl == "vigil" {
		for _, router := range []string{"a", "b"} {
			b, _ := os.ReadFile(filepath.Join(l.dir, router+".log"))
			if strings.Contains(string(b), "vrrp_rt_priority not in force") {
				return nil, fmt.Errorf("%s did not get real-time threads:\n%s", router, b)
			}
		}
	}
	return r, nil
}

// soak runs each implementation's pair (impls[i] with bins[i]) side by side for dur with
// spinners busy loops competing for the CPUs, and counts the backups' transitions to MASTER
// while the masters live (false failovers) and the gaps between the masters' adverts as the
// backups' kernels received them. Side by side, both see the same load.
func soak(impls, bins []string, dur time.Duration, rt, spinners int) ([]*soakResult, error) {
	var labs []*soakLab
	defer func() {
		for _, l := range labs {
			l.close()
		}
	}()
	for i, impl := range impls {
		l, err := newSoakLab(impl, bins[i], rt, i)
		if err != nil {
			return nil, err
		}
		labs = append(labs, l)
	}
	load0 := loadavg()
	var spin []*exec.Cmd
	for i := 0; i < spinners; i++ {
		c := exec.Command("sh", "-c", "while :; do :; done")
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			return nil, err
		}
		spin = append(spin, c)
	}
	time.Sleep(dur)
	for _, c := range spin {
		c.Process.Kill()
		c.Wait()
	}
	load := [2]string{load0, loadavg()}
	var out []*soakResult
	for _, l := range labs {
		r, err := l.finish(dur, spinners, load)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	labs = nil
	return out, nil
}

func waitFor(d time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(d)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// capture is a raw IP protocol 112 socket in a namespace that stamps each packet with the
// kernel's receive time (SO_TIMESTAMPNS): the gaps it sees do not depend on how promptly this
// program is scheduled.
type capture struct{ fd int }

func openCapture(ns string) (*capture, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 112)
	if serr := netns.Set(orig); serr != nil {
		panic(fmt.Sprintf("cannot return to the original namespace: %v", serr)) // this thread is unusable
	}
	if err != nil {
		return nil, fmt.Errorf("raw socket in %s: %w", ns, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		unix.Close(fd)
		return nil, err
	}
	tv := unix.Timeval{Usec: 200000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, err
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	return &capture{fd: fd}, nil
}

// run returns the receive times of the packets from src until stop is closed.
func (c *capture) run(stop <-chan struct{}, src netip.Addr) []time.Time {
	defer unix.Close(c.fd)
	buf := make([]byte, 2048)
	oob := make([]byte, 256)
	var out []time.Time
	for {
		select {
		case <-stop:
			return out
		default:
		}
		n, oobn, _, _, err := unix.Recvmsg(c.fd, buf, oob, 0)
		if err != nil {
			continue // timeout (to look at stop) or EINTR
		}
		if n < 20 || netip.AddrFrom4([4]byte(buf[12:16])) != src {
			continue
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
				sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
				nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
				out = append(out, time.Unix(sec, nsec))
			}
		}
	}
}

// printSoak prints one row of the soak table.
func printSoak(r *soakResult) {
	s := slices.Clone(r.gaps)
	slices.Sort(s)
	q := func(p float64) string {
		if len(s) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", float64(s[min(int(p*float64(len(s))), len(s)-1)].Microseconds())/1000)
	}
	over := func(d time.Duration) int {
		n := 0
		for _, g := range s {
			if g > d {
				n++
			}
		}
		return n
	}
	rt := "off"
	if r.rt > 0 {
		rt = fmt.Sprintf("SCHED_RR %d", r.rt)
	}
	maxGap := "-"
	if len(s) > 0 {
		maxGap = fmt.Sprintf("%.2f", float64(s[len(s)-1].Microseconds())/1000)
	}
	fmt.Printf("| %s | %s | %v | %d | %d | %s | %s | %s | %s | %d | %d | %d | %v |\n", r.impl, rt, r.dur, r.spinners, r.adverts,
		q(0.5), q(0.99), q(0.999), maxGap, over(20*time.Millisecond), over(30*time.Millisecond), len(r.failovers), r.masterOK)
	for _, l := range r.failovers {
		fmt.Printf("  false failover: %s\n", l)
	}
	fmt.Printf("  load average at start: %s; at end: %s\n", r.load[0], r.load[1])
	idx := make([]int, len(r.gaps))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return int(r.gaps[b] - r.gaps[a]) })
	for _, i := range idx[:min(len(idx), 5)] {
		fmt.Printf("  gap %.2f ms ending %s\n", float64(r.gaps[i].Microseconds())/1000, r.gapEnds[i].UTC().Format("15:04:05.000"))
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

const soakHeader = "| implementation | real-time | duration | spinners | adverts | gap p50 ms | p99 | p99.9 | max | gaps > 20 ms | > 30 ms | false failovers | master at end |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
