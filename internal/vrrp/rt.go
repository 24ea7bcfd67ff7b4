package vrrp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Real-time scheduling (Keepalived's vrrp_rt_priority).
//
// Keepalived makes its VRRP process SCHED_RR. vigil does the same to every thread of its
// process while the Manager runs. Making only the threads of the advert path real-time (each
// instance's goroutine locked to a SCHED_RR thread) is not enough in Go: a goroutine is woken
// by whichever thread runs the scheduler, fires the timers or polls the sockets, and those stay
// at normal priority. Measured in bench/vrrp (advert_int 0.01, both cores busy): locked
// threads only, gaps between adverts up to 307 ms and 23 false failovers in 30 s; the whole
// process, max 26 ms and none.
//
// SCHED_RESET_ON_FORK keeps scripts at normal priority; it also makes the threads the Go
// runtime creates later start at normal priority, so the Manager looks for them every
// rtRescan. When Run returns every thread goes back to normal priority.

// rtRescan is how often new threads are made real-time.
const rtRescan = 250 * time.Millisecond

// schedSetter sets thread tid's scheduling attributes; a variable in tests.
type schedSetter func(tid int, attr *unix.SchedAttr) error

func setThreadSched(tid int, attr *unix.SchedAttr) error { return unix.SchedSetAttr(tid, attr, 0) }

// realtimeAttr is SCHED_RR at prio, not inherited by children.
func realtimeAttr(prio int) *unix.SchedAttr {
	return &unix.SchedAttr{
		Size:     unix.SizeofSchedAttr,
		Policy:   unix.SCHED_RR,
		Flags:    unix.SCHED_FLAG_RESET_ON_FORK,
		Priority: uint32(prio),
	}
}

// normalAttr is the default policy.
func normalAttr() *unix.SchedAttr {
	return &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}
}

// realtimeThreads is the Manager's state for vrrp_rt_priority.
type realtimeThreads struct {
	set     schedSetter // nil: setThreadSched
	threads func() ([]int, error)
	warned  atomic.Bool
}

// processThreads lists the process's thread ids.
func processThreads() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// applySched sets attr on every listed thread that does not have it. A thread that ended
// meanwhile (ESRCH) is no error.
func applySched(tids []int, attr *unix.SchedAttr, set schedSetter) (changed int, err error) {
	for _, tid := range tids {
		if cur, gerr := unix.SchedGetAttr(tid, 0); gerr == nil && cur.Policy == attr.Policy && cur.Priority == attr.Priority {
			continue
		}
		if serr := set(tid, attr); serr != nil {
			if errors.Is(serr, unix.ESRCH) {
				continue
			}
			return changed, fmt.Errorf("thread %d: %w", tid, serr)
		}
		changed++
	}
	return changed, nil
}

// keepRealtime makes every thread of the process SCHED_RR at opts.RealtimePriority until ctx
// ends, then puts them back to normal priority. A refusal (EPERM without CAP_SYS_NICE or a
// real-time budget) is a warning and vigil goes on at normal priority.
func (m *Manager) keepRealtime(ctx context.Context) {
	prio := m.opts.RealtimePriority
	if prio == 0 {
		return
	}
	set, list := m.rt.set, m.rt.threads
	if set == nil {
		set = setThreadSched
	}
	if list == nil {
		list = processThreads
	}
	attr := realtimeAttr(prio)
	apply := func() error {
		tids, err := list()
		if err != nil {
			return fmt.Errorf("list threads: %w", err)
		}
		if _, err := applySched(tids, attr, set); err != nil {
			if errors.Is(err, unix.EPERM) {
				return fmt.Errorf("SCHED_RR priority %d refused (needs CAP_SYS_NICE and a real-time budget: RLIMIT_RTPRIO, or the cgroup's cpu.rt_runtime_us): %w", prio, err)
			}
			return fmt.Errorf("SCHED_RR priority %d: %w", prio, err)
		}
		return nil
	}
	if prio < 1 || prio > 99 {
		m.warnRealtime(fmt.Errorf("real-time priority %d: want 1-99", prio))
		return
	}
	if err := apply(); err != nil {
		m.warnRealtime(err)
		return
	}
	m.log.Info("vrrp_rt_priority: the process runs SCHED_RR (scripts it starts do not); with the checker half in this process its checks run real-time too", "priority", prio)
	defer func() {
		if tids, err := list(); err == nil {
			_, err = applySched(tids, normalAttr(), set)
			if err != nil {
				m.log.Warn("threads not put back to normal priority", "error", err)
			}
		}
	}()
	t := time.NewTicker(rtRescan)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := apply(); err != nil {
				m.warnRealtime(err)
			}
		}
	}
}

// warnRealtime logs the first refusal as a warning and later ones at debug.
func (m *Manager) warnRealtime(err error) {
	if m.rt.warned.CompareAndSwap(false, true) {
		m.log.Warn("vrrp_rt_priority not in force: adverts and timers run at normal priority and may be late under CPU load", "error", err)
		return
	}
	m.log.Debug("vrrp_rt_priority not in force", "error", err)
}
