package main

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/internal/status"
)

// The SIGUSR1 and SIGUSR2 dumps are plain text laid out as Keepalived lays out keepalived.data
// and keepalived.stats: "------< Section >------" headers, one "Key = value" per line, indented
// by nesting. They show what vigil's status snapshot knows; Keepalived's internal fields that
// vigil has no counterpart for are left out rather than invented.

const dumpTimeLayout = "2006-01-02 15:04:05.000 MST"

// writeStateDump writes the SIGUSR1 dump (keepalived.data): virtual servers with their real
// servers, the health checkers with their last results, and the VRRP instances.
func writeStateDump(w io.Writer, s status.Snapshot) error {
	b := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	p("------< Global definitions >------")
	p(" Dump time = %s", dumpTime(s.Generated))
	p(" vigil version = %s", s.Version)
	p(" Data plane = %s", s.Dataplane)

	if len(s.VirtualServers) > 0 {
		p("------< LVS Topology >------")
		for _, vs := range s.VirtualServers {
			p(" ------< Virtual server >------")
			if ap, err := netip.ParseAddrPort(vs.Listen); err == nil {
				p(" VS VIP = %s, VPORT = %d", ap.Addr(), ap.Port())
			} else {
				p(" VS = %s", vs.Name)
			}
			p("   Name = %s", vs.Name)
			p("   Listen = %s", vs.Listen)
			p("   lvs_sched = %s", vs.Scheduler)
			p("   protocol = %s", vs.Protocol)
			p("   quorum = %d, quorum up = %s", vs.Quorum, yesNo(vs.QuorumUp))
			p("   sorry server active = %s", yesNo(vs.SorryActive))
			p("   panic mode = %s", yesNo(vs.Panic))
			p("   real servers alive = %d of %d", vs.UpCount, vs.Total)
			p("   VS alive = %d", boolInt(vs.QuorumUp))
			for _, rs := range vs.RealServers {
				p("   ------< Real server >------")
				if ap, err := netip.ParseAddrPort(rs.Address); err == nil {
					p("   RIP = %s, RPORT = %d, WEIGHT = %d EFF WEIGHT = %d", ap.Addr(), ap.Port(), rs.Weight, rs.EffectiveWeight)
				} else {
					p("   RS = %s, WEIGHT = %d EFF WEIGHT = %d", rs.Address, rs.Weight, rs.EffectiveWeight)
				}
				if rs.Name != rs.Address {
					p("   Name = %s", rs.Name)
				}
				p("   alive = %d", boolInt(rs.Up))
				p("   state since = %s", dumpTime(rs.Since))
				if rs.Reason != "" {
					p("   reason = %s", rs.Reason)
				}
				p("   num checkers = %d, num failed checkers = %d", len(rs.Checks), failedChecks(rs))
				p("   active connections = %d, total connections = %d", rs.ActiveConns, rs.TotalConns)
			}
		}
	}

	header := false
	for _, vs := range s.VirtualServers {
		for _, rs := range vs.RealServers {
			for _, c := range rs.Checks {
				if !header {
					p("------< Health checkers >------")
					header = true
				}
				kind, target := c.Kind, c.Target
				if kind == "" {
					kind = "checker"
				}
				if target == "" {
					target = rs.Address
				}
				p(" %s -> %s %s", vs.Name, kind, target)
				p("   Has run = %s", yesNo(c.Checked))
				if !c.Checked {
					continue
				}
				p("   Last result = %s", healthWord(c.Healthy))
				if c.Reason != "" {
					p("   Last reason = %s", c.Reason)
				}
				p("   Last run = %s", dumpTime(c.At))
				p("   Last latency = %s", c.Latency)
			}
		}
	}

	if len(s.VRRPInstances) > 0 {
		p("------< VRRP Topology >------")
		for _, vi := range s.VRRPInstances {
			p(" VRRP Instance = %s", vi.Name)
			p("   State = %s", vi.State)
			p("   Interface = %s", vi.Interface)
			p("   Virtual Router ID = %d", vi.VRID)
			p("   Priority = %d", vi.Priority)
			p("   Effective priority = %d", vi.EffectivePriority)
			if vi.MasterAddress != "" {
				p("   Master router = %s", vi.MasterAddress)
			}
			p("   State since = %s", dumpTime(vi.Since))
			p("   Transitions = %d", vi.Transitions)
			p("   Virtual IP (%d):", len(vi.VirtualAddresses))
			for _, a := range vi.VirtualAddresses {
				p("     %s", a)
			}
		}
	}
	return b.Flush()
}

// writeStatsDump writes the SIGUSR2 dump (keepalived.stats): per virtual server and real
// server the counts vigil keeps, per VRRP instance its transitions and the adverts it refused
// by kind of error, and the recent events by kind.
func writeStatsDump(w io.Writer, s status.Snapshot) error {
	b := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	p("Dump time: %s", dumpTime(s.Generated))
	for _, vs := range s.VirtualServers {
		p("Virtual Server: %s", vs.Name)
		p("  Real servers: %d", vs.Total)
		p("    Alive: %d", vs.UpCount)
		p("    Down: %d", vs.Total-vs.UpCount)
		checks, failed, run := 0, 0, 0
		for _, rs := range vs.RealServers {
			for _, c := range rs.Checks {
				checks++
				if c.Checked {
					run++
					if !c.Healthy {
						failed++
					}
				}
			}
		}
		p("  Checkers: %d", checks)
		p("    Has run: %d", run)
		p("    Failing: %d", failed)
		for _, rs := range vs.RealServers {
			p("  Real Server: %s", rs.Address)
			p("    Alive: %d", boolInt(rs.Up))
			p("    Connections:")
			p("      Active: %d", rs.ActiveConns)
			p("      Total: %d", rs.TotalConns)
		}
	}
	for _, vi := range s.VRRPInstances {
		p("VRRP Instance: %s", vi.Name)
		p("  State: %s", vi.State)
		p("  Transitions: %d", vi.Transitions)
		writeDropCounts(p, vi.Dropped)
	}
	if len(s.Events) > 0 {
		kinds := map[string]int{}
		for _, ev := range s.Events {
			kinds[ev.Kind]++
		}
		names := make([]string, 0, len(kinds))
		for k := range kinds {
			names = append(names, k)
		}
		sort.Strings(names)
		p("Recent events (last %d):", len(s.Events))
		for _, k := range names {
			p("  %s: %d", k, kinds[k])
		}
	}
	return b.Flush()
}

// dropCount is one line of a VRRP instance's errors in the SIGUSR2 dump: a title and the drop
// reasons (status.VRRPInstance.Dropped keys) it sums.
type dropCount struct {
	title   string
	reasons []string
}

// vrrpDropSections are the error sections of a VRRP instance in the SIGUSR2 dump, as
// Keepalived's vrrp_print_stats lays them out: its lines first, with its titles and what it
// counts under each (Length is too short or too long; Address List a wrong count or a missing
// address), then vigil's reasons that Keepalived does not count. Keepalived's counters vigil
// has no counterpart for (adverts sent and received, priority 0, its own authentication
// extension) are left out.
func vrrpDropSections() []struct {
	title string
	lines []dropCount
} {
	return []struct {
		title string
		lines []dropCount
	}{
		{"Packet Errors", []dropCount{
			{"Length", []string{"short", "long"}},
			{"TTL", []string{"bad_ttl"}},
			{"Invalid Type", []string{"bad_type"}},
			{"Advertisement Interval", []string{"interval_mismatch"}},
			{"Address List", []string{"address_count_mismatch", "address_list_mismatch"}},
			{"Version", []string{"bad_version"}},
			{"Checksum", []string{"bad_checksum"}},
			{"Address Family", []string{"bad_address_family"}},
			{"Source Not Link-Local", []string{"source_not_link_local"}},
			{"Unknown Peer", []string{"unknown_peer"}},
		}},
		{"Authentication Errors", []dropCount{
			{"Type Mismatch", []string{"auth_type_mismatch"}},
			{"Failure", []string{"auth_failure"}},
			{"IPsec AH Header", []string{"bad_ah_header"}},
		}},
		// Keepalived 2.4's auth_hmac counters, under its title.
		{"Authentication Extension Errors", []dropCount{
			{"Missing", []string{"auth_ext_missing"}},
			{"Malformed", []string{"auth_ext_malformed"}},
			{"Unknown Key", []string{"auth_ext_unknown_key"}},
			{"Invalid HMAC", []string{"auth_ext_invalid_hmac"}},
			{"Stale", []string{"auth_ext_stale"}},
			{"Replay", []string{"auth_ext_replay"}},
		}},
	}
}

// writeDropCounts writes a VRRP instance's error sections, zeros included as Keepalived
// writes them. A reason the table does not know (a newer one) is written by its name at the
// end of Packet Errors rather than lost.
func writeDropCounts(p func(string, ...any), dropped map[string]uint64) {
	known := map[string]bool{}
	for _, sec := range vrrpDropSections() {
		p("  %s:", sec.title)
		for _, l := range sec.lines {
			var n uint64
			for _, r := range l.reasons {
				n += dropped[r]
				known[r] = true
			}
			p("    %s: %d", l.title, n)
		}
	}
	var other []string
	for r := range dropped {
		if !known[r] {
			other = append(other, r)
		}
	}
	if len(other) > 0 {
		sort.Strings(other)
		p("  Other Errors:")
		for _, r := range other {
			p("    %s: %d", r, dropped[r])
		}
	}
}

// dumpToFile writes one of the dumps to path and logs where, or why not. It does not follow a
// symbolic link at path: the dumps go to /tmp, where anyone may plant one.
func dumpToFile(log *slog.Logger, path string, write func(io.Writer, status.Snapshot) error, s status.Snapshot) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err == nil {
		err = write(f, s)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		log.Error("state dump", "path", path, "err", err)
		return
	}
	log.Info("state dumped", "path", path)
}

func dumpTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format(dumpTimeLayout)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func healthWord(b bool) string {
	if b {
		return "success"
	}
	return "failure"
}

func failedChecks(rs status.RealServer) int {
	n := 0
	for _, c := range rs.Checks {
		if c.Checked && !c.Healthy {
			n++
		}
	}
	return n
}
