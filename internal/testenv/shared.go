package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// SharedDir returns the steering repository's shared/ folder (Keepalived's sample
// configurations in samples/, real ones with what Keepalived 2.2.7 said of them in corpus/): $VIGIL_SHARED, else the one beside the repository (the
// folder holding go.mod, above the test's working directory). When there is none the test is
// skipped, or fails under CI, which must have it.
func SharedDir(t testing.TB) string {
	t.Helper()
	dirs := []string{os.Getenv("VIGIL_SHARED")}
	if root, ok := moduleRoot(); ok {
		dirs = append(dirs, filepath.Join(root, "..", "shared"))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "corpus", "ORACLE_FULL.txt")); err == nil {
			return d
		}
	}
	Unavailable(t, fmt.Sprintf("needs shared/corpus beside the repository (tried %q; or set VIGIL_SHARED)", dirs))
	return ""
}

// moduleRoot is the nearest folder above the working directory that holds go.mod.
func moduleRoot() (string, bool) {
	d, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, true
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", false
		}
		d = parent
	}
}
