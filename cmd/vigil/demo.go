package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/vigil-lb/vigil/examples"
	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/status"
)

// demoDefinition is the line of examples/web-cluster.conf that the demo points at its own
// directory.
var demoDefinition = regexp.MustCompile(`(?m)^\$DEMO_DIR=.*$`)

// runDemo is `vigil demo`: three local web servers, the embedded web-cluster.conf (or -f FILE)
// balancing 127.0.0.1:8080 over them, and plain instructions for watching a server leave the
// pool and come back.
func runDemo(o options, stdout, stderr io.Writer) int {
	dir, err := os.MkdirTemp("", "vigil-demo-")
	if err != nil {
		fmt.Fprintf(stderr, "vigil demo: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	src := examples.WebCluster
	if o.configFile != defaultConfigPath {
		if src, err = os.ReadFile(o.configFile); err != nil {
			fmt.Fprintf(stderr, "vigil demo: %v\n", err)
			return 1
		}
	}
	src = demoDefinition.ReplaceAll(src, []byte("$$DEMO_DIR="+dir))
	path := filepath.Join(dir, "web-cluster.conf")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		fmt.Fprintf(stderr, "vigil demo: %v\n", err)
		return 1
	}
	cfg, diags, err := config.Load(path, config.Options{ConfigID: o.configID})
	if err != nil {
		fmt.Fprintf(stderr, "vigil demo: %v\n", err)
		return 1
	}
	base, closeLog, err := newLoggerFor(o, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "vigil demo: %v\n", err)
		return 1
	}
	defer closeLog()
	startup, log := holdStartup(base)
	if !logDiagnostics(log, diags) {
		startup.fail("the demo configuration is not usable", "file", path)
		return 1
	}

	var backends []*demoBackend
	for i := 1; i <= 3; i++ {
		b := &demoBackend{n: i, addr: fmt.Sprintf("127.0.0.1:%d", 8080+i)}
		if err := b.start(); err != nil {
			startup.fail("cannot start the demo's web servers (is another demo running?)", "err", err)
			return 1
		}
		backends = append(backends, b)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, b := range backends {
			b.stop(ctx)
		}
	}()

	statusURL := "http://" + cmp.Or(cfg.Global.StatusListen, status.DefaultListen) + "/"
	var msg bytes.Buffer
	fmt.Fprintf(&msg, `
vigil demo
  Three web servers run on 127.0.0.1:8081, :8082 and :8083 (weights 3, 2, 1).
  vigil balances http://127.0.0.1:8080/ over them and checks them every 2 seconds.

  Status page:   %s   (JSON: %sapi/v1/status, metrics: %smetrics)
  Send traffic:  for i in 1 2 3 4 5 6; do curl -s http://127.0.0.1:8080/; done

  Take server 2 out:   curl -s http://127.0.0.1:8082/admin/fail
      (its health URL answers 503: within about 5 seconds vigil removes it and no request
       reaches it; the status page shows it turn red)
  Bring it back:       curl -s http://127.0.0.1:8082/admin/recover
      (after two good checks in a row it is back in the pool)
  Maintenance mode:    touch %s/maintenance-8083     (MISC_CHECK takes server 3 out)
                       rm %s/maintenance-8083        (and puts it back)

  Configuration used:  %s   (the same as examples/web-cluster.conf)
  Stop the demo with Ctrl-C.

`, statusURL, statusURL, statusURL, dir, dir, path)
	o.configFile = path
	// The instructions come once vigil has bound its ports: if it cannot, the reason is the
	// first thing printed.
	return serve(o, cfg, startup, log, func() { stdout.Write(msg.Bytes()) })
}
