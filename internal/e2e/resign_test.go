package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// The lab's VRRP timing: version 3, advert_int 0.2, priority 100 on both nodes.
const (
	labAdvert     = 200 * time.Millisecond
	labSkew       = (256 - 100) * labAdvert / 256
	labMasterDown = 3*labAdvert + labSkew
)

// hasVIP says whether the VIP is on n's interface now.
func (n *vigilNode) hasVIP(t *testing.T) bool {
	return strings.Contains(n.ns.Run(t, "ip", "-o", "addr", "show", "dev", "eth0"), " "+labVIP+"/")
}

// admin is n's VRRP instance's admin state and the admin state of its real server addr.
func (n *vigilNode) admin(addr string) (instance, server string) {
	s, err := n.status()
	if err != nil || len(s.VRRPInstances) == 0 {
		return "", ""
	}
	for _, vs := range s.VirtualServers {
		for _, rs := range vs.RealServers {
			if rs.Address == addr {
				server = rs.AdminState
			}
		}
	}
	return s.VRRPInstances[0].AdminState, server
}

// An operator resigns the master before maintaining it: it sends priority 0, so the peer
// takes the address after its skew time rather than its master down interval, and keeps it.
// The resignation (and a drained server beside it) outlives a SIGHUP and a restart: the
// restarted node stays BACKUP even with its peer gone, until the operator says it is ready,
// when it takes the address as any backup would.
func TestResignHandsTheAddressOverAndHoldsThroughAReloadAndARestartUntilReady(t *testing.T) {
	dir := t.TempDir()
	socket := func(node string) string { return filepath.Join(dir, node+".sock") }
	l := newVRRPLabConf(t, func(node string) labConfig {
		return labConfig{global: fmt.Sprintf("    control_socket %s\n    state_dir %s\n", socket(node), filepath.Join(dir, node+"-state"))}
	}, nil)
	lb1, lb2 := l.nodes[0], l.nodes[1]
	vs := fmt.Sprintf("%s:%d", labVIP, labVSPort)
	const drained = "192.0.2.22:8080"

	if out, err := vigilCtl(l.bin, socket("lb1"), "drain", vs, drained, "--reason", "disk swap"); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("vigil ctl drain: %s", out)
	}
	start := time.Now()
	out, err := vigilCtl(l.bin, socket("lb1"), "resign", "VI_WEB", "--reason", "kernel upgrade")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("vigil ctl resign: %s", out)
	testenv.WaitFor(t, 5*time.Second, "lb2 taking the address", func() bool { return lb2.lastVIPAdded().After(start) })
	took := lb2.lastVIPAdded().Sub(start)
	t.Logf("lb2 took the address %v after the resign command (skew time %v, master down interval %v)", took.Round(time.Millisecond), labSkew, labMasterDown)
	if took > labSkew+300*time.Millisecond {
		t.Errorf("lb2 took the address %v after lb1 resigned, want within its skew time %v (+300 ms for the command and scheduling): no priority 0 advert?", took, labSkew)
	}

	// The peer keeps it; the resigned node holds no address and says why.
	holding := func(what string, d time.Duration) {
		t.Helper()
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if lb2.state() != "MASTER" || lb1.state() != "BACKUP" || lb1.hasVIP(t) {
				t.Fatalf("%s: lb1 %s (address %v), lb2 %s; want lb2 master and lb1 a backup without the address", what, lb1.state(), lb1.hasVIP(t), lb2.state())
			}
		}
	}
	holding("after the resign", 2*time.Second)
	resigned := func(when string) {
		t.Helper()
		if inst, srv := lb1.admin(drained); inst != status.AdminResigned || srv != status.AdminDrain {
			t.Fatalf("%s: lb1's instance %q and %s %q, want resigned and drain", when, inst, drained, srv)
		}
	}
	resigned("after the resign")

	lb1.proc.signal(syscall.SIGHUP)
	testenv.WaitFor(t, 5*time.Second, "lb1's reload", func() bool {
		s, err := lb1.status()
		return err == nil && s.LastReload != nil && s.LastReload.Outcome == "applied"
	})
	resigned("after SIGHUP")
	holding("after SIGHUP", time.Second)

	l.stop(lb1, syscall.SIGTERM)
	l.start(lb1)
	resigned("after a restart")
	if log := lb1.proc.out.String(); !strings.Contains(log, "admin states restored from the state file") ||
		!strings.Contains(log, "vrrp_instance VI_WEB resigned") || !strings.Contains(log, drained+" drain") {
		t.Errorf("the restarted lb1 does not say what it restored:\n%s", log)
	}
	// With its peer gone, a resigned node still does not take the address.
	l.stop(lb2, syscall.SIGKILL)
	for end := time.Now().Add(3 * labMasterDown); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if lb1.state() != "BACKUP" || lb1.hasVIP(t) {
			t.Fatalf("resigned lb1 is %s (address %v) with its peer gone", lb1.state(), lb1.hasVIP(t))
		}
	}

	readyAt := time.Now()
	if out, err := vigilCtl(l.bin, socket("lb1"), "ready", "VI_WEB"); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("vigil ctl ready: %s", out)
	}
	testenv.WaitFor(t, 5*time.Second, "lb1 taking the address once ready", func() bool { return lb1.lastVIPAdded().After(readyAt) })
	took = lb1.lastVIPAdded().Sub(readyAt)
	t.Logf("lb1 took the address %v after ready (master down interval %v)", took.Round(time.Millisecond), labMasterDown)
	if took > labMasterDown+500*time.Millisecond {
		t.Errorf("lb1 took %v to take the address once ready, want about its master down interval %v", took, labMasterDown)
	}
	if inst, srv := lb1.admin(drained); inst != status.AdminReady || srv != status.AdminDrain {
		t.Errorf("after ready: lb1's instance %q and %s %q, want ready and still drain", inst, drained, srv)
	}
}
