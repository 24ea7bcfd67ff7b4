package sharedtest

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the shared/ folder: $VIGIL_SHARED, else the one beside the repository (the
// folder holding go.mod, above the test's working directory). When there is none the test is
// skipped, or fails under CI, which must have it.
func Dir(t testing.TB) string {
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
	if os.Getenv("CI") != "" {
		t.Fatalf("shared/corpus not found beside the repository (tried %v); CI must have it", dirs)
	}
	t.Skip("shared/corpus not found beside the repository; set VIGIL_SHARED to run this test")
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
