package notify

import (
	"bufio"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestFifoWritesKeepalivedLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.fifo")
	f, err := OpenFifo(path, nil)
	must(t, err)
	// A reader opening after the writer sees everything written since, in order.
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	must(t, err)
	defer r.Close()
	vs := FormatService(netip.MustParseAddrPort("192.0.2.15:80"), "TCP")
	rs := FormatService(netip.MustParseAddrPort("[2001:db8::4]:8080"), "tcp")
	must(t, f.Instance("VI_1", "MASTER", 100))
	must(t, f.Group("VG_1", "BACKUP"))
	must(t, f.VirtualServer(vs, true))
	must(t, f.RealServer(rs, vs, false))
	must(t, f.Close())
	want := []string{
		`INSTANCE "VI_1" MASTER 100`,
		`GROUP "VG_1" BACKUP 0`,
		`VS [192.0.2.15]:tcp:80 UP`,
		`RS [2001:db8::4]:tcp:8080 [192.0.2.15]:tcp:80 DOWN`,
	}
	sc := bufio.NewScanner(r)
	for i, w := range want {
		if !sc.Scan() {
			t.Fatalf("line %d missing: %v", i, sc.Err())
		}
		if sc.Text() != w {
			t.Fatalf("line %d = %q, want %q", i, sc.Text(), w)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("Close left the fifo it created: %v", err)
	}
}

func TestFifoDropsLinesWhenNobodyReadsInsteadOfBlocking(t *testing.T) {
	f, err := OpenFifo(filepath.Join(t.TempDir(), "fifo"), nil)
	must(t, err)
	defer f.Close()
	var lastErr error
	for i := 0; i < 100000 && lastErr == nil; i++ {
		lastErr = f.Instance(strings.Repeat("x", 100), "MASTER", 100)
	}
	if lastErr == nil || !strings.Contains(lastErr.Error(), "full") {
		t.Fatalf("after filling the pipe: %v, want a \"full\" error", lastErr)
	}
}

func TestOpenFifoRefusesAPlantedRegularFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	must(t, os.WriteFile(path, nil, 0o644))
	if f, err := OpenFifo(path, nil); err == nil {
		f.Close()
		t.Fatal("opened a regular file as a fifo")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("refusal removed a file it did not create: %v", err)
	}
}

func TestNotifyArgsMatchKeepalived(t *testing.T) {
	if got := strings.Join(InstanceArgs("VI_1", "MASTER", 100), " "); got != "INSTANCE VI_1 MASTER 100" {
		t.Fatalf("InstanceArgs = %q", got)
	}
	if got := strings.Join(GroupArgs("VG", "FAULT"), " "); got != "GROUP VG FAULT 0" {
		t.Fatalf("GroupArgs = %q", got)
	}
}
