package examples

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-lb/vigil/internal/config"
)

// Every example must load without a single complaint: they are what new users copy.
func TestExamplesLoadCleanly(t *testing.T) {
	files, err := filepath.Glob("*.conf")
	if err != nil || len(files) < 4 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		cfg, diags, err := config.Load(f, config.Options{ConfigID: "example"})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, d := range diags.List {
			t.Errorf("%s", d)
		}
		if len(cfg.VirtualServers) == 0 {
			t.Errorf("%s: no virtual server", f)
		}
	}
	if b, err := os.ReadFile("web-cluster.conf"); err != nil || string(b) != string(WebCluster) {
		t.Fatal("the embedded demo configuration differs from web-cluster.conf")
	}
}
