// Package netiftest builds network namespaces joined by veth pairs for tests that need a real
// network, and tears them down when the test ends, whether it passed or not. It drives
// iproute2's ip command, which every test host has; tests need root and skip without it,
// except under CI (env CI set), where a skip would hide a failure and is fatal instead.
package netiftest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// RequireRoot skips t when not running as root or without the ip command; under CI it fails
// instead.
func RequireRoot(t testing.TB) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root to create network namespaces"
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = "needs iproute2's ip command"
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this is a failure, not a skip)", why)
	}
	t.Skip(why)
}

// Run runs a command and fails t with its output if it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Namespace creates a network namespace with a unique name starting with prefix (keep it
// short), brings its loopback up, turns IPv6 duplicate address detection off so that test
// addresses are usable at once, and deletes it (with every interface in it) when t ends.
func Namespace(t testing.TB, prefix string) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "vgl-" + prefix + "-" + hex.EncodeToString(b[:])
	Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("delete namespace %s: %v\n%s", name, err, out)
		}
	})
	Run(t, "ip", "-n", name, "link", "set", "lo", "up")
	for _, k := range []string{"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"} {
		Run(t, "ip", "netns", "exec", name, "sysctl", "-qw", k)
	}
	return name
}

// Veth joins namespace nsA's interface ifA and namespace nsB's interface ifB with a veth pair
// and brings both up. The pair goes when either namespace is deleted.
func Veth(t testing.TB, nsA, ifA, nsB, ifB string) {
	t.Helper()
	Run(t, "ip", "-n", nsA, "link", "add", ifA, "type", "veth", "peer", "name", ifB, "netns", nsB)
	Run(t, "ip", "-n", nsA, "link", "set", ifA, "up")
	Run(t, "ip", "-n", nsB, "link", "set", ifB, "up")
}

// Addr adds the address cidr ("192.0.2.1/24") to interface ifname in namespace ns.
func Addr(t testing.TB, ns, ifname, cidr string) {
	t.Helper()
	args := []string{"-n", ns, "addr", "add", cidr, "dev", ifname}
	if strings.Contains(cidr, ":") {
		args = append(args, "nodad")
	}
	Run(t, "ip", args...)
}

// Command returns a command that runs name with args inside namespace ns.
func Command(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// InNamespace runs fn on an OS thread switched into namespace ns, so that the sockets fn opens
// live there (they stay there when used from other threads later).
func InNamespace(t testing.TB, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic("cannot return to the original network namespace: " + err.Error())
		}
	}()
	fn()
}
