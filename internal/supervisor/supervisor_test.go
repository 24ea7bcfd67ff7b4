package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
)

// journal records what fake parts did, in order.
type journal struct {
	mu    sync.Mutex
	lines []string
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lines = append(j.lines, fmt.Sprintf(format, args...))
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.lines)
}

// fakePart is a Part that records its calls; it can fail to bind, stop early, or refuse a
// reload.
type fakePart struct {
	name        string
	j           *journal
	bindErr     error
	reloadErr   error
	stopEarly   chan error // a value makes Run return it before its context ends
	started     chan struct{}
	startedOnce sync.Once
}

func newFake(name string, j *journal) *fakePart {
	return &fakePart{name: name, j: j, stopEarly: make(chan error, 1), started: make(chan struct{})}
}

func (p *fakePart) Name() string { return p.name }

func (p *fakePart) Bind() error {
	p.j.add("bind %s", p.name)
	return p.bindErr
}

func (p *fakePart) Run(ctx context.Context) error {
	p.j.add("run %s", p.name)
	p.startedOnce.Do(func() { close(p.started) })
	select {
	case <-ctx.Done():
		p.j.add("stop %s", p.name)
		return nil
	case err := <-p.stopEarly:
		p.j.add("ended %s", p.name)
		return err
	}
}

func (p *fakePart) Reload(cfg *config.Config) error {
	p.j.add("reload %s", p.name)
	return p.reloadErr
}

// runAll runs s until stop is called, and returns Run's error.
func runAll(t *testing.T, s *Supervisor, parts ...*fakePart) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for _, p := range parts {
		select {
		case <-p.started:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not start within 5s", p.name)
		}
	}
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return within 5s of the stop")
			return nil
		}
	}
}

func TestPartsBindAllThenStartInOrderAndStopInReverse(t *testing.T) {
	j := &journal{}
	a, b, c := newFake("status", j), newFake("lb", j), newFake("vrrp", j)
	s := New(nil, &config.Config{}, a, b, c)
	if err := runAll(t, s, a, b, c)(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := j.list()
	// Every part is bound before any runs; the runs start in order (each in its own
	// goroutine, so only their order relative to the binds is fixed); the stops come in
	// reverse order, each after the later part has returned.
	if want := []string{"bind status", "bind lb", "bind vrrp"}; !slices.Equal(got[:3], want) {
		t.Fatalf("binds %v, want %v", got[:3], want)
	}
	if want := []string{"stop vrrp", "stop lb", "stop status"}; !slices.Equal(got[6:], want) {
		t.Fatalf("stops %v, want %v (all: %v)", got[6:], want, got)
	}
}

func TestAPartThatCannotBindStopsTheStartAndNothingRuns(t *testing.T) {
	j := &journal{}
	a, b, c := newFake("status", j), newFake("lb", j), newFake("vrrp", j)
	b.bindErr = errors.New("listen tcp 192.0.2.10:80: bind: address already in use")
	s := New(nil, &config.Config{}, a, b, c)
	err := s.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "lb: listen tcp 192.0.2.10:80") {
		t.Fatalf("Run: %v, want the bind error named by its part", err)
	}
	if got, want := j.list(), []string{"bind status", "bind lb"}; !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v: nothing binds after the failure and nothing runs", got, want)
	}
}

func TestAPartThatStopsEarlyStopsTheRestInReverse(t *testing.T) {
	j := &journal{}
	a, b, c := newFake("status", j), newFake("lb", j), newFake("vrrp", j)
	s := New(nil, &config.Config{}, a, b, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for _, p := range []*fakePart{a, b, c} {
		<-p.started
	}
	b.stopEarly <- errors.New("scheduler: epoll broke")
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "lb stopped early: scheduler: epoll broke") {
			t.Fatalf("Run: %v, want the part and its error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of a part stopping early")
	}
	got := j.list()
	if want := []string{"ended lb", "stop vrrp", "stop status"}; !slices.Equal(got[6:], want) {
		t.Fatalf("after the early stop %v, want %v", got[6:], want)
	}
}

func TestReloadFansOutInOrderAndRecordsEachOutcomeOnce(t *testing.T) {
	j := &journal{}
	a, b, c := newFake("status", j), newFake("lb", j), newFake("vrrp", j)
	running := &config.Config{VRRPInstances: []*vrrpd.Instance{{Name: "VI_1"}}}
	s := New(nil, running, a, b, c)
	var records []string
	s.record = func(outcome, reason string) { records = append(records, outcome+": "+reason) }

	// Applied: every part, in order.
	if err := s.Reload(running, nil); err != nil {
		t.Fatalf("a clean reload: %v", err)
	}
	// Refused by a part: the parts before it applied it, those after it never saw it.
	b.reloadErr = errors.New("virtual server X: check refused")
	err := s.Reload(running, nil)
	var re *ReloadError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "the lb part refused it: virtual server X: check refused (the parts before it applied it: status)") {
		t.Fatalf("a reload a part refuses: %v", err)
	}
	b.reloadErr = nil
	// Refused before any part: errors in the file; complaints that would remove VI_1.
	withError := &config.Diagnostics{}
	withError.Errorf(config.Pos{File: "k.conf", Line: 3}, "broken")
	if err := s.Reload(running, withError); err == nil || !strings.Contains(err.Error(), "k.conf:3: broken") {
		t.Fatalf("a reload with an error: %v", err)
	}
	complaint := &config.Diagnostics{}
	complaint.Warnf(config.Pos{File: "k.conf", Line: 7}, "Unknown keyword 'vrrp_instanse'")
	if err := s.Reload(&config.Config{}, complaint); err == nil || !strings.Contains(err.Error(), "would remove running vrrp_instance VI_1") {
		t.Fatalf("a reload whose complaint removes VI_1: %v", err)
	}
	want := []string{"reload status", "reload lb", "reload vrrp", "reload status", "reload lb"}
	if got := j.list(); !slices.Equal(got, want) {
		t.Errorf("reload calls %v, want %v", got, want)
	}
	if len(records) != 4 || !strings.HasPrefix(records[0], "applied") || !strings.HasPrefix(records[1], "refused") ||
		!strings.HasPrefix(records[2], "refused") || !strings.HasPrefix(records[3], "refused") {
		t.Errorf("records %v, want applied then three refusals", records)
	}
}

// -P runs the VRRP half and the status page only: no load-balancing half is built for the
// virtual servers of the file, and no BGP; -C runs no VRRP half.
func TestBuildMakesThePartsTheFlagsAskFor(t *testing.T) {
	cfg := everyPartConfig(t)
	for _, tc := range []struct {
		name string
		opts Options
		want []string
	}{
		{"both halves", Options{}, []string{"status", "lb", "vrrp", "bgp"}},
		{"-P", Options{VRRPOnly: true}, []string{"status", "vrrp"}},
		{"-C", Options{CheckOnly: true}, []string{"status", "lb", "bgp"}},
		{"-C without a status page", Options{CheckOnly: true, StatusListen: "off"}, []string{"lb", "bgp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.StatusListen == "" {
				tc.opts.StatusListen = "127.0.0.1:0"
			}
			v, err := Build(cfg, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			var got []string
			for _, p := range v.Parts() {
				got = append(got, p.Name())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("parts %v, want %v", got, tc.want)
			}
		})
	}
}
