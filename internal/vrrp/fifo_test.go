package vrrp

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	"github.com/vigil-lb/vigil/internal/notify"
	"go.uber.org/goleak"
)

// fifoReader reads a fifo's lines as they come.
type fifoReader struct {
	lines chan string
}

// readFifo opens the fifo at path (waiting up to 5 s for it to appear) and reads it until the
// test ends.
func readFifo(t *testing.T, path string) *fifoReader {
	t.Helper()
	var f *os.File
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		// Read and write: the open does not wait for a writer, and reads never see end of
		// file before the writer has opened it. The writer keeps its own end open for
		// reading and writing, so lines written before this open are still there.
		f, err = os.OpenFile(path, os.O_RDWR|syscall.O_NONBLOCK, 0)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fifo %s: %v", path, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := &fifoReader{lines: make(chan string, 100)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(r.lines)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { f.Close(); <-done })
	return r
}

// expect reads lines until every one of want has been seen (in any order; other lines are
// skipped) or 5 s pass.
func (r *fifoReader) expect(t *testing.T, want ...string) {
	t.Helper()
	missing := map[string]bool{}
	for _, w := range want {
		missing[w] = true
	}
	var got []string
	timeout := time.After(5 * time.Second)
	for len(missing) > 0 {
		select {
		case l, ok := <-r.lines:
			if !ok {
				t.Fatalf("fifo closed; still missing %v; read %q", keys(missing), got)
			}
			got = append(got, l)
			delete(missing, l)
		case <-timeout:
			t.Fatalf("fifo: missing %v after 5s; read %q", keys(missing), got)
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Every state change reaches notify_fifo and vrrp_notify_fifo in Keepalived's format, the
// fifo scripts run with the fifo's path, and the fifos go when Run ends. The instances'
// interfaces do not exist, so they are in FAULT (no root needed).
func TestStateChangesAreWrittenToTheNotifyFifos(t *testing.T) {
	// After the cleanups that stop the fifo readers.
	leakOpt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leakOpt) })
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	fifo, vfifo := filepath.Join(dir, "notify.fifo"), filepath.Join(dir, "vrrp.fifo")
	copied := filepath.Join(dir, "copied")
	// The vrrp_notify_fifo_script copies what it reads, after the path it was given and a
	// line saying it has the fifo open (lines in a fifo nobody has open are lost when it goes).
	copier := script(t, dir, "copy.sh", `exec 3< "$1"; echo "path $1" > `+copied+`; while read -r l <&3; do echo "$l" >> `+copied+`; done`)
	conf := fmt.Sprintf(`global_defs {
  notify_fifo %s
  vrrp_notify_fifo %s
  vrrp_notify_fifo_script %s
}
vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
}
vrrp_instance VI_1 {
  interface vgl-missing1
  virtual_router_id 51
  version 3
  priority 100
  advert_int 1
  virtual_ipaddress {
    192.0.2.100/24
  }
}
vrrp_instance VI_2 {
  interface vgl-missing2
  virtual_router_id 52
  version 3
  priority 90
  advert_int 1
  virtual_ipaddress {
    192.0.2.101/24
  }
}
`, fifo, vfifo, copier)
	m, err := NewManager(loadConf(t, conf), ManagerOptions{Runner: notify.NewRunner(notify.RunnerOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	stopped := false
	defer func() {
		cancel()
		if !stopped {
			<-done
		}
	}()
	r := readFifo(t, fifo)
	r.expect(t, `INSTANCE "VI_1" FAULT 100`, `INSTANCE "VI_2" FAULT 90`, `GROUP "G" FAULT 0`)

	testenv.WaitFor(t, 5*time.Second, "the fifo script to open its fifo", func() bool { return containsLine(readLines(copied), "path "+vfifo) })
	cancel()
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of cancel")
	}
	r.expect(t, `INSTANCE "VI_1" STOP 100`, `INSTANCE "VI_2" STOP 90`, `GROUP "G" STOP 0`)
	for _, p := range []string{fifo, vfifo} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("fifo %s still there after Run: %v", p, err)
		}
	}
	// The script read to the end of its fifo and exited: Run waited for it.
	got := readLines(copied)
	want := []string{"path " + vfifo, `INSTANCE "VI_1" FAULT 100`, `GROUP "G" FAULT 0`, `INSTANCE "VI_2" STOP 90`, `GROUP "G" STOP 0`}
	for _, w := range want {
		if !containsLine(got, w) {
			t.Errorf("the fifo script did not read %q; it read:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

// On the wire: a master's BACKUP and MASTER lines, and with notify_priority_changes the
// MASTER_PRIORITY line a reload to a new priority brings (in place: no new state line).
func TestNotifyFifoHearsElectionAndPriorityChanges(t *testing.T) {
	t.Parallel()
	nsA, _ := pair(t, "192.0.2.1/24", "192.0.2.2/24")
	fifo := filepath.Join(t.TempDir(), "notify.fifo")
	conf := strings.Replace(vrrpConf("a", 3, 150, "0.2", "192.0.2.100/24", "notify_priority_changes"),
		"global_defs {", "global_defs {\n  notify_fifo "+fifo, 1)
	a := startVigil(t, nsA, conf)
	r := readFifo(t, fifo)
	r.expect(t, `INSTANCE "VI_1" BACKUP 150`, `INSTANCE "VI_1" MASTER 150`)
	a.reload(t, strings.Replace(conf, "priority 150", "priority 160", 1))
	r.expect(t, `INSTANCE "VI_1" MASTER_PRIORITY 160`)
	a.stop(t, 10*time.Second)
	r.expect(t, `INSTANCE "VI_1" STOP 160`)
}
