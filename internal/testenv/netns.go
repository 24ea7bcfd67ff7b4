package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// commandTimeout bounds every command the helpers below run.
const commandTimeout = 20 * time.Second

// Run runs a command with a deadline and returns its combined output, failing t when it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := RunErr(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// RunErr runs a command with a deadline and returns its combined output and an error that
// names the command and quotes its output.
func RunErr(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Namespace is a network namespace a test created; it is deleted, with every interface in it,
// when the test ends.
type Namespace struct {
	Name string
}

// NewNamespace creates a namespace named vgl-PREFIX-<8 hex digits> (keep prefix short), with
// its loopback up and IPv6 duplicate address detection off so that test addresses are usable
// at once. It needs root (RequireRoot is called).
func NewNamespace(t testing.TB, prefix string) *Namespace {
	t.Helper()
	RequireRoot(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	ns := &Namespace{Name: "vgl-" + prefix + "-" + hex.EncodeToString(b[:])}
	Run(t, "ip", "netns", "add", ns.Name)
	t.Cleanup(func() {
		// Processes started with Start are killed by their own cleanups, which run first.
		if out, err := RunErr("ip", "netns", "del", ns.Name); err != nil {
			t.Errorf("delete namespace %s: %v %s", ns.Name, err, out)
		}
	})
	Run(t, "ip", "-n", ns.Name, "link", "set", "lo", "up")
	for _, k := range []string{"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"} {
		ns.Run(t, "sysctl", "-qw", k)
	}
	return ns
}

// Run runs a command inside the namespace and returns its output, failing t when it fails.
func (ns *Namespace) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return Run(t, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// RunErr runs a command inside the namespace and returns its output and error.
func (ns *Namespace) RunErr(name string, args ...string) (string, error) {
	return RunErr("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Command returns a command that runs name with args inside the namespace; the caller starts
// and stops it (see Start for one stopped at cleanup).
func (ns *Namespace) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Start starts name with args inside the namespace, its output going to t's log when the test
// fails, and kills it (and waits for it) when the test ends.
func (ns *Namespace) Start(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	return StartCmd(t, ns.Command(name, args...))
}

// StartCmd starts cmd and kills it (and waits for it) when the test ends. Its combined output
// is logged if the test failed.
func StartCmd(t testing.TB, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	var out Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &out
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", strings.Join(cmd.Args, " "), err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(commandTimeout):
			t.Errorf("%s did not exit within %v of SIGKILL", cmd.Path, commandTimeout)
		}
		if t.Failed() && out.Len() > 0 {
			t.Logf("output of %s:\n%s", strings.Join(cmd.Args, " "), out.String())
		}
	})
	return cmd
}

// Do runs fn on an OS thread switched into the namespace, so that the sockets fn opens live
// there (they stay there when used from other threads later).
func (ns *Namespace) Do(t testing.TB, fn func()) {
	t.Helper()
	if err := ns.DoErr(func() error { fn(); return nil }); err != nil {
		t.Fatal(err)
	}
}

// DoErr is Do for code that reports its own error; it does not need a testing.TB. A nil
// Namespace is the test's own: fn runs where it is.
func (ns *Namespace) DoErr(fn func() error) error {
	if ns == nil {
		return fn()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("current network namespace: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns.Name)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", ns.Name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return fmt.Errorf("enter network namespace %s: %w", ns.Name, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic("cannot return to the original network namespace: " + err.Error())
		}
	}()
	return fn()
}

// Addr adds cidr ("192.0.2.1/24", "2001:db8::1/64") to interface ifname of the namespace
// (IPv6 addresses without duplicate address detection).
func (ns *Namespace) Addr(t testing.TB, ifname, cidr string) {
	t.Helper()
	args := []string{"-n", ns.Name, "addr", "add", cidr, "dev", ifname}
	if strings.Contains(cidr, ":") {
		args = append(args, "nodad")
	}
	Run(t, "ip", args...)
}

// SetLink sets interface ifname of the namespace up or down, as a host whose link fails.
func (ns *Namespace) SetLink(t testing.TB, ifname string, up bool) {
	t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	Run(t, "ip", "-n", ns.Name, "link", "set", ifname, state)
}

// Forwarding turns IPv4 and IPv6 forwarding on in the namespace, for a router between two
// others.
func (ns *Namespace) Forwarding(t testing.TB) {
	t.Helper()
	ns.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	ns.Run(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
}

// Veth joins interface ifA of namespace a and interface ifB of namespace b with a veth pair
// and brings both up. The pair goes with either namespace.
func Veth(t testing.TB, a *Namespace, ifA string, b *Namespace, ifB string) {
	t.Helper()
	Run(t, "ip", "-n", a.Name, "link", "add", ifA, "type", "veth", "peer", "name", ifB, "netns", b.Name)
	a.SetLink(t, ifA, true)
	b.SetLink(t, ifB, true)
}

// Bridge creates a bridge named name in the namespace, up, with IPv6 DAD off, so that several
// namespaces can share one segment (a LAN of load balancers, say): join each with Attach.
func (ns *Namespace) Bridge(t testing.TB, name string) {
	t.Helper()
	Run(t, "ip", "-n", ns.Name, "link", "add", name, "type", "bridge")
	ns.SetLink(t, name, true)
}

// Attach connects namespace member to the bridge named bridge in ns with a veth pair: the end
// in member is named ifname (brought up), and the end in ns (named port) is enslaved to the
// bridge.
func (ns *Namespace) Attach(t testing.TB, bridge, port string, member *Namespace, ifname string) {
	t.Helper()
	Veth(t, ns, port, member, ifname)
	Run(t, "ip", "-n", ns.Name, "link", "set", port, "master", bridge)
}

// HostVeth is a veth pair with one end (Host) in the test process's own namespace and the
// other (Peer, eth0) in a test namespace: a peer the test reaches directly, without joining a
// namespace itself.
type HostVeth struct {
	Host, Peer string
	NS         *Namespace
}

// NewHostVeth creates a HostVeth: the host end, named vgl<8 hex digits> (within the kernel's 15
// characters), gets hostAddr (a prefix such as "198.51.100.1/30"); eth0 in ns gets peerAddr.
// Both ends are up. The pair is deleted when the test ends (with ns, or on its own if ns
// outlives it).
func NewHostVeth(t testing.TB, ns *Namespace, hostAddr, peerAddr string) *HostVeth {
	t.Helper()
	RequireRoot(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	v := &HostVeth{Host: "vgl" + hex.EncodeToString(b[:]), Peer: "eth0", NS: ns}
	Run(t, "ip", "link", "add", v.Host, "type", "veth", "peer", "name", v.Peer, "netns", ns.Name)
	t.Cleanup(func() {
		if _, err := RunErr("ip", "link", "show", v.Host); err == nil {
			if out, err := RunErr("ip", "link", "del", v.Host); err != nil {
				t.Errorf("delete veth %s: %v %s", v.Host, err, out)
			}
		}
	})
	args := []string{"addr", "add", hostAddr, "dev", v.Host}
	if strings.Contains(hostAddr, ":") {
		args = append(args, "nodad")
	}
	Run(t, "ip", args...)
	Run(t, "ip", "link", "set", v.Host, "up")
	ns.Addr(t, v.Peer, peerAddr)
	ns.SetLink(t, v.Peer, true)
	return v
}

// SetPeerUp sets the namespace end of the pair up or down, as a host whose link fails.
func (v *HostVeth) SetPeerUp(t testing.TB, up bool) {
	t.Helper()
	v.NS.SetLink(t, v.Peer, up)
}
