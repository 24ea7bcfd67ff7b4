package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (the environment variable CI is set). There a
// missing capability is a failure, not a skip: CI runs as root with every peer installed.
func InCI() bool { return os.Getenv("CI") != "" }

// Unavailable skips t with why, or fails it when CI is set.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s (CI is set, so this is a failure, not a skip)", why)
	}
	t.Skipf("%s; skipping (set CI to make this a failure)", why)
}

// RequireRoot skips t unless it runs as root with iproute2's ip command (what every
// namespace test needs); under CI it fails instead.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root (network namespaces, raw sockets, the kernel's tables)")
	}
	RequireTool(t, "ip")
}

// RequireTool returns the path of the named program, or skips t (fails it under CI) when it is
// not installed. The Debian package that has it is in .ci/run.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, "needs "+name+" (installed by .ci/run)")
	}
	return p
}
