package netlab

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// commandTimeout bounds every ip command netlab runs.
const commandTimeout = 10 * time.Second

// Require skips t unless it runs as root with iproute2 installed. When the environment variable
// CI is set the missing capability is a failure instead: CI runs as root.
func Require(t testing.TB) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root to create network namespaces"
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = "needs iproute2 (the ip command)"
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("netlab: %s, and CI is set", why)
	}
	t.Skipf("netlab: %s; skipping (set CI to make this a failure)", why)
}

// Run runs a command with a deadline and returns its combined output, failing t when it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := run(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("netlab: %s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Namespace is a network namespace the test created.
type Namespace struct {
	Name string
}

// NewNamespace creates a network namespace named vigil-<prefix>-<8 random hex digits> with its
// loopback up, and deletes it at cleanup.
func NewNamespace(t testing.TB, prefix string) *Namespace {
	t.Helper()
	Require(t)
	ns := &Namespace{Name: fmt.Sprintf("vigil-%s-%08x", prefix, rand.Uint32())}
	Run(t, "ip", "netns", "add", ns.Name)
	t.Cleanup(func() {
		if out, err := run("ip", "netns", "del", ns.Name); err != nil {
			t.Errorf("cleanup: %v %s", err, out)
		}
	})
	ns.Run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// Run runs a command inside the namespace (ip netns exec) and returns its output.
func (ns *Namespace) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return Run(t, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Veth is a veth pair with one end (Host) in the test's namespace and the other (Peer) in a
// Namespace.
type Veth struct {
	Host, Peer string
	NS         *Namespace
}

// NewVeth creates a veth pair: the host end, named vigil<8 random hex digits> (13 characters,
// within the kernel's 15), gets hostAddr (a prefix such as "198.51.100.1/30"); the peer end, eth0 inside
// ns, gets peerAddr. Both ends are up. The pair is deleted at cleanup (deleting one end deletes
// both).
func NewVeth(t testing.TB, ns *Namespace, hostAddr, peerAddr string) *Veth {
	t.Helper()
	Require(t)
	v := &Veth{Host: fmt.Sprintf("vigil%08x", rand.Uint32()), Peer: "eth0", NS: ns}
	Run(t, "ip", "link", "add", v.Host, "type", "veth", "peer", "name", v.Peer, "netns", ns.Name)
	t.Cleanup(func() {
		// The pair may already be gone with its namespace.
		if _, err := run("ip", "link", "show", v.Host); err == nil {
			if out, err := run("ip", "link", "del", v.Host); err != nil {
				t.Errorf("cleanup: %v %s", err, out)
			}
		}
	})
	Run(t, "ip", "addr", "add", hostAddr, "dev", v.Host)
	Run(t, "ip", "link", "set", v.Host, "up")
	ns.Run(t, "ip", "addr", "add", peerAddr, "dev", v.Peer)
	ns.Run(t, "ip", "link", "set", v.Peer, "up")
	return v
}

// SetPeerUp sets the namespace end of the pair up or down, as a host whose link fails.
func (v *Veth) SetPeerUp(t testing.TB, up bool) {
	t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	v.NS.Run(t, "ip", "link", "set", v.Peer, state)
}
