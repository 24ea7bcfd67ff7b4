package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// Connections kept across the master's death: the VRRP lab on the nftables data plane, with
// an echo service on the web host behind the virtual address, its connections translated to
// an address the nodes share (a second VRRP address, the backends' way back), and conntrackd
// keeping the nodes' conntrack tables in step (conntrack_sync) — or not, to show what it saves.
const (
	echoPort   = 9000
	labSNAT    = "192.0.2.11"
	longConns  = 50
	failovers  = 10
	msgEvery   = 100 * time.Millisecond
	echoWithin = 15 * time.Second // longer than any takeover and TCP's retransmissions after it
	shortEvery = 5 * time.Millisecond
)

// continuityLab is the VRRP lab on nftables with the echo service; with sync, conntrack_sync
// over the LAN between the two nodes.
func continuityLab(t *testing.T, synced bool) *vrrpLab {
	testenv.RequireTool(t, "conntrack")
	if synced {
		testenv.RequireTool(t, "conntrackd")
	}
	conf := func(node string) labConfig {
		c := labConfig{
			// A self probe made in the moment the address moves can time out (the backends
			// still send the shared address's packets to the dead node until the gratuitous
			// ARP reaches them), and the new master would give the address up again.
			noSelfProbe: true,
			dataplane:   "nftables",
			global:      "    nftables_snat " + labSNAT + "\n",
			instance:    "    virtual_ipaddress_excluded {\n        " + labSNAT + "/24 dev eth0\n    }\n",
			extra:       labVirtualServer(echoPort, echoPort, ""),
		}
		if synced {
			// Short: conntrackd's socket path must fit a sockaddr_un.
			dir, err := os.MkdirTemp("", "vgct")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			peer := map[string]string{"lb1": "192.0.2.2", "lb2": "192.0.2.1"}[node]
			c.global += fmt.Sprintf("    conntrack_sync {\n        instance VI_WEB\n        interface eth0\n        peer %s\n        runtime_dir %s\n    }\n", peer, dir)
		}
		return c
	}
	l := newVRRPLabConf(t, conf, func(l *vrrpLab) {
		for _, ip := range []string{"192.0.2.21", "192.0.2.22"} {
			startEchoServer(t, l.web, net.JoinHostPort(ip, strconv.Itoa(echoPort)))
		}
	})
	return l
}

// startEchoServer echoes every line on every connection to addr inside ns until the test ends.
func startEchoServer(t *testing.T, ns *testenv.Namespace, addr string) {
	var ln net.Listener
	ns.Do(t, func() {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			t.Fatal(err)
		}
	})
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(c, c)
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// longConn is one long-lived client connection: a numbered line every 100 ms, each echo
// checked.
type longConn struct {
	id   int
	c    net.Conn
	sent atomic.Int64
	// err is why the connection ended early (nil while it lives); maxWait the longest an echo
	// took.
	mu      sync.Mutex
	err     error
	endedAt time.Time
	maxWait time.Duration
}

func (lc *longConn) run(ctx context.Context) {
	r := bufio.NewReader(lc.c)
	fail := func(err error) {
		lc.mu.Lock()
		lc.err, lc.endedAt = err, time.Now()
		lc.mu.Unlock()
	}
	tick := time.NewTicker(msgEvery)
	defer tick.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		start := time.Now()
		lc.c.SetDeadline(start.Add(echoWithin))
		if _, err := fmt.Fprintf(lc.c, "%d %d\n", lc.id, seq); err != nil {
			fail(fmt.Errorf("send %d: %w", seq, err))
			return
		}
		lc.sent.Store(int64(seq))
		line, err := r.ReadString('\n')
		if err != nil {
			fail(fmt.Errorf("echo of %d: %w", seq, err))
			return
		}
		if want := fmt.Sprintf("%d %d\n", lc.id, seq); line != want {
			fail(fmt.Errorf("echo of %d: got %q, want %q (a message lost or out of order)", seq, line, want))
			return
		}
		lc.mu.Lock()
		lc.maxWait = max(lc.maxWait, time.Since(start))
		lc.mu.Unlock()
	}
}

// openLongConns opens n long-lived connections to addr from ns and runs each on wg until ctx
// ends; a dial that fails is made again, up to attempts in all, and the failed dials counted.
func openLongConns(ctx context.Context, t *testing.T, ns *testenv.Namespace, addr string, n, attempts int, wg *sync.WaitGroup) ([]*longConn, int) {
	var conns []*longConn
	t.Cleanup(func() {
		for _, lc := range conns {
			lc.c.Close()
		}
	})
	failed := 0
	for i := range n {
		var c net.Conn
		for attempt := 1; c == nil; attempt++ {
			ns.Do(t, func() {
				var err error
				if c, err = net.DialTimeout("tcp", addr, 3*time.Second); err != nil {
					failed++
					if attempt == attempts {
						t.Fatalf("long-lived connection %d: %v (%d attempts)", i, err, attempts)
					}
				}
			})
		}
		lc := &longConn{id: i, c: c}
		conns = append(conns, lc)
		wg.Add(1)
		go func() { defer wg.Done(); lc.run(ctx) }()
	}
	return conns, failed
}

func (lc *longConn) status() (error, time.Time, time.Duration) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.err, lc.endedAt, lc.maxWait
}

// shortLoad starts a request every 5 ms (200 a second), each on a new connection (once), and
// records when each started and ended and whether it was served. The continuity test's are
// shortOnce's.
type shortLoad struct {
	log requestLog
	wg  sync.WaitGroup
}

func (s *shortLoad) run(ctx context.Context, once func() error) {
	tick := time.NewTicker(shortEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			start := time.Now()
			err := once()
			s.log.mu.Lock()
			s.log.reqs = append(s.log.reqs, labRequest{start: start, end: time.Now(), ok: err == nil, err: err})
			s.log.mu.Unlock()
		}()
	}
}

// shortOnce sends one line to the echo service at addr and reads it back, with 3 s to connect
// (so a SYN lost in the takeover is sent again, after 1 s, as any client's would be) and 3 s
// for the echo.
func shortOnce(ns *testenv.Namespace, addr string) error {
	var c net.Conn
	if err := ns.DoErr(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 3*time.Second)
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "short\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && line != "short\n" {
		err = fmt.Errorf("echo %q", line)
	}
	return err
}

// failoverResult is what one run of failovers saw.
type failoverResult struct {
	lost         int             // long-lived connections ended early, of longConns
	lostPerRound []int           // by failover
	takeovers    []time.Duration // kill to the new master serving
	shortFailed  []int           // short connections failed, by failover window
	shortTotal   []int
	shortBefore  [2]int // failed, total in the second before the first failover
	maxWait      time.Duration
	reasons      []string
}

// runFailovers opens the long-lived connections and the short load, then kills the master
// failovers times: SIGKILL to vigil (conntrackd, its child, dies with it) and the node's link
// down, so that its forwarding dies too; once the other node serves, the dead node "reboots"
// (its conntrack table and virtual addresses gone, its link up) and vigil starts again there,
// becoming backup; with sync, the next failover waits until its conntrackd has the master's
// connections again (the resync that BACKUP's commands ask for).
func runFailovers(t *testing.T, l *vrrpLab, synced bool) failoverResult {
	addr := net.JoinHostPort(labVIP, strconv.Itoa(echoPort))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	conns, _ := openLongConns(ctx, t, l.client, addr, longConns, 1, &wg)
	load := &shortLoad{}
	wg.Add(1)
	go func() { defer wg.Done(); load.run(ctx, func() error { return shortOnce(l.client, addr) }) }()
	alive := func() int {
		n := 0
		for _, lc := range conns {
			if err, _, _ := lc.status(); err == nil {
				n++
			}
		}
		return n
	}
	// The first entries reach the backup before the first failover.
	if synced {
		l.waitResync(t, l.backupNode(t), longConns)
	}
	time.Sleep(time.Second)
	var res failoverResult
	res.shortBefore[0], res.shortBefore[1] = load.log.failedBetween(time.Now().Add(-time.Second), time.Now())

	var kills []time.Time
	for round := range failovers {
		m, b := l.masterNode(t), l.backupNode(t)
		before := alive()
		killed := time.Now()
		m.proc.signal(syscall.SIGKILL)
		<-m.proc.done
		m.ns.SetLink(t, "eth0", false)
		testenv.WaitFor(t, 10*time.Second, b.name+" master and serving", func() bool { return b.state() == "MASTER" && b.serving() })
		res.takeovers = append(res.takeovers, time.Since(killed))
		// The dead node comes back as after a reboot: no conntrack entries, no virtual
		// addresses, its link up, vigil started.
		m.ns.Run(t, "conntrack", "-F")
		for _, a := range []string{labVIP, labSNAT} {
			_, _ = m.ns.RunErr("ip", "addr", "del", a+"/24", "dev", "eth0")
		}
		m.ns.SetLink(t, "eth0", true)
		l.start(m)
		testenv.WaitFor(t, 15*time.Second, m.name+" backup and serving", func() bool { return m.state() == "BACKUP" && m.serving() })
		// Let TCP's retransmissions after the takeover play out before counting.
		time.Sleep(3 * time.Second)
		if synced {
			l.waitResync(t, m, alive())
		}
		lost := before - alive()
		res.lostPerRound = append(res.lostPerRound, lost)
		kills = append(kills, killed)
		t.Logf("failover %d: %s died, %s took over in %v; long-lived connections lost %d (alive %d)",
			round+1, m.name, b.name, res.takeovers[round].Round(time.Millisecond), lost, alive())
	}
	cancel()
	wg.Wait()
	load.wg.Wait()
	for _, k := range kills {
		f, n := load.log.failedBetween(k.Add(-time.Second), k.Add(3*time.Second))
		res.shortFailed, res.shortTotal = append(res.shortFailed, f), append(res.shortTotal, n)
	}
	for _, lc := range conns {
		err, at, wait := lc.status()
		res.maxWait = max(res.maxWait, wait)
		if err != nil && at.Before(time.Now().Add(-time.Millisecond)) {
			res.lost++
			if len(res.reasons) < 5 {
				res.reasons = append(res.reasons, fmt.Sprintf("connection %d: %v", lc.id, err))
			}
		}
	}
	return res
}

// masterNode and backupNode are the nodes in those states now.
func (l *vrrpLab) masterNode(t *testing.T) *vigilNode { return l.nodeIn(t, "MASTER") }
func (l *vrrpLab) backupNode(t *testing.T) *vigilNode { return l.nodeIn(t, "BACKUP") }

func (l *vrrpLab) nodeIn(t *testing.T, state string) *vigilNode {
	t.Helper()
	var found *vigilNode
	testenv.WaitFor(t, 10*time.Second, "a node in state "+state, func() bool {
		for _, n := range l.nodes {
			if n.state() == state {
				found = n
				return true
			}
		}
		return false
	})
	return found
}

// waitResync waits until n's kernel table holds at least want established connections to the
// echo service: the master's, injected by n's conntrackd after its resync request.
func (l *vrrpLab) waitResync(t *testing.T, n *vigilNode, want int) {
	t.Helper()
	testenv.WaitFor(t, 15*time.Second, fmt.Sprintf("%s's kernel table to hold the %d connections", n.name, want), func() bool {
		out, err := n.ns.RunErr("conntrack", "-L", "-p", "tcp", "--dport", strconv.Itoa(echoPort), "--state", "ESTABLISHED")
		return err == nil && strings.Count(out, "ESTABLISHED") >= want
	})
}

func (r failoverResult) String() string {
	f, n := 0, 0
	for i := range r.shortFailed {
		f += r.shortFailed[i]
		n += r.shortTotal[i]
	}
	return fmt.Sprintf("long-lived connections lost %d of %d over %d failovers (per failover %v; longest echo %v); takeovers %v; short connections (200/s) failed %d of %d from 1 s before to 3 s after each kill (per failover %v), %d of %d in the second before the first failover",
		r.lost, longConns, failovers, r.lostPerRound, r.maxWait.Round(time.Millisecond), roundAll(r.takeovers), f, n, r.shortFailed, r.shortBefore[0], r.shortBefore[1])
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Millisecond)
	}
	return out
}

// TestConntrackSyncKeepsEveryConnectionAcrossTenFailovers: with conntrack_sync, no long-lived
// connection through the virtual address is lost when the master dies, ten times in a row,
// each time the other node taking over with the dead one's connections.
func TestConntrackSyncKeepsEveryConnectionAcrossTenFailovers(t *testing.T) {
	l := continuityLab(t, true)
	res := runFailovers(t, l, true)
	t.Logf("with conntrack_sync: %v", res)
	if res.lost != 0 {
		t.Errorf("with conntrack_sync, %d of %d long-lived connections were lost: %s", res.lost, longConns, strings.Join(res.reasons, "; "))
	}
}

// TestWithoutConntrackSyncFailoversLoseConnections is the same lab and the same failovers
// without conntrack_sync: the new master has no state for the connections, picks a backend
// afresh for each (rr), and those sent to the other backend are reset. It shows that the sync
// is what keeps them.
func TestWithoutConntrackSyncFailoversLoseConnections(t *testing.T) {
	l := continuityLab(t, false)
	res := runFailovers(t, l, false)
	t.Logf("without conntrack_sync: %v", res)
	if res.lost < longConns/4 {
		t.Errorf("without conntrack_sync only %d of %d long-lived connections were lost: the test cannot tell the sync's effect", res.lost, longConns)
	}
}
