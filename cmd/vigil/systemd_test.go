package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStartSystemdSaysReadyFeedsWatchdogAndSaysStopping(t *testing.T) {
	dir, err := os.MkdirTemp("", "vigil-sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "100000")
	t.Setenv("WATCHDOG_PID", "")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	probed := make(chan struct{}, 16)
	startSystemd(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), func() {
		select {
		case probed <- struct{}{}:
		default:
		}
	})
	seen := map[string]bool{}
	buf := make([]byte, 512)
	deadline := time.Now().Add(3 * time.Second)
	for !(seen["READY=1\n"] && seen["WATCHDOG=1\n"] && seen["STOPPING=1\n"]) {
		_ = conn.SetReadDeadline(deadline)
		n, _, err := conn.ReadFromUnix(buf)
		if err != nil {
			t.Fatalf("after %v: %v", seen, err)
		}
		msg := string(buf[:n])
		if msg == "WATCHDOG=1\n" && !seen["READY=1\n"] {
			t.Fatal("watchdog before READY")
		}
		seen[msg] = true
		if msg == "WATCHDOG=1\n" {
			cancel() // one keep-alive is enough; now the stop
		}
	}
	select {
	case <-probed:
	default:
		t.Error("the watchdog never probed the daemon")
	}
}
