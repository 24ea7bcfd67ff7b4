package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// InsecureScript writes a shell script that exits 0, that everyone may change, under
// t.TempDir, and returns its path. Script security (enable_script_security) refuses it, and
// without script security vigil warns of it, when it runs with root's privileges: so t needs
// root (RequireRoot skips it otherwise, or fails it under CI).
func InsecureScript(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	p := filepath.Join(t.TempDir(), "insecure.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o777); err != nil { // past the umask
		t.Fatal(err)
	}
	return p
}
