package fdbudget

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// Limit is the process's RLIMIT_NOFILE.
type Limit struct {
	// Soft is the limit in force (after Raise, the hard one); Hard the most it may be raised to.
	Soft, Hard uint64
	// Was is the soft limit before Raise raised it (equal to Soft when it did not).
	Was uint64
}

// Current reads RLIMIT_NOFILE without changing it.
func Current() (Limit, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return Limit{}, fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	return Limit{Soft: r.Cur, Hard: r.Max, Was: r.Cur}, nil
}

// Raise reads RLIMIT_NOFILE and raises the soft limit to the hard one. Go raises it to one below
// the hard limit at start and puts the original back for the programs it runs; once raised here,
// scripts inherit the raised limit too, as they do under Keepalived.
func Raise() (Limit, error) {
	l, err := Current()
	if err != nil {
		return l, err
	}
	r := syscall.Rlimit{Cur: l.Soft, Max: l.Hard}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			return l, fmt.Errorf("raise RLIMIT_NOFILE from %d to %d: %w", l.Soft, r.Max, err)
		}
		l.Soft = r.Max
	}
	return l, nil
}

// Reservation is the descriptors one part may need at once.
type Reservation struct {
	// For names the part: "base", "checks", "scripts", "vrrp", "bgp", "status", "control", "listeners".
	For string
	// N is the number of descriptors.
	N int
	// Why says how N was counted, for the log ("512 probes in flight + 2 ICMP sockets").
	Why string
}

// Budget is the process's descriptors shared out.
type Budget struct {
	// Limit is the soft RLIMIT_NOFILE the budget shares out.
	Limit int
	// Reserved are the parts' reservations, in the order given.
	Reserved []Reservation
	// Dataplane is what is left for the data planes' connections: Limit less every reservation,
	// never below zero.
	Dataplane int
	// MaxConn is the most connections and UDP flows the userspace balancer holds at once: the
	// configured maxconn, or what Dataplane holds when none is configured or the configured one
	// does not fit; at least 1.
	MaxConn int
	// Configured is global_defs maxconn (0: not set).
	Configured int
	// Problem says what does not fit, for a warning: a configured maxconn lowered, or a limit
	// that leaves the data planes (next to) nothing. Empty when all is well.
	Problem string
}

// DescriptorsPerConn is what one proxied TCP connection holds: the client's socket and the
// backend's. A UDP flow holds one (its socket to the backend), so counting every connection at
// two leaves UDP flows room to spare.
const DescriptorsPerConn = 2

// minConns is the fewest connections below which a budget is reported as a problem.
const minConns = 16

// Compute shares limit out: every reservation first, the rest to the data planes. maxconn is
// global_defs maxconn, 0 when not set.
func Compute(limit int, reserved []Reservation, maxconn int) Budget {
	b := Budget{Limit: limit, Reserved: reserved, Configured: maxconn}
	b.Dataplane = max(limit-b.ReservedTotal(), 0)
	fits := b.Dataplane / DescriptorsPerConn
	switch {
	case maxconn > 0 && maxconn <= fits:
		b.MaxConn = maxconn
	case maxconn > 0:
		b.MaxConn = max(fits, 1)
		b.Problem = fmt.Sprintf("maxconn %d needs %d descriptors and %d are left after the reservations (limit %d, reserved %d): maxconn lowered to %d; raise the limit (LimitNOFILE, ulimit -n) to %d for it",
			maxconn, maxconn*DescriptorsPerConn, b.Dataplane, limit, b.ReservedTotal(), b.MaxConn, b.ReservedTotal()+maxconn*DescriptorsPerConn)
	default:
		b.MaxConn = max(fits, 1)
	}
	if b.Problem == "" && fits < minConns {
		b.Problem = fmt.Sprintf("descriptor limit %d leaves %d descriptors after the reservations (%d): the data planes hold %d connection(s) at most; raise the limit (LimitNOFILE, ulimit -n)",
			limit, b.Dataplane, b.ReservedTotal(), b.MaxConn)
	}
	return b
}

// ReservedTotal is the sum of the reservations.
func (b Budget) ReservedTotal() int {
	n := 0
	for _, r := range b.Reserved {
		n += r.N
	}
	return n
}

// Reservation returns the reservation for part, or zero.
func (b Budget) Reservation(part string) int {
	for _, r := range b.Reserved {
		if r.For == part {
			return r.N
		}
	}
	return 0
}

// LogAttrs are the budget as slog key-value pairs: the limit, each reservation, the total, the
// data planes' share and maxconn.
func (b Budget) LogAttrs() []any {
	args := []any{"limit", b.Limit}
	for _, r := range b.Reserved {
		args = append(args, r.For, r.N)
	}
	args = append(args, "reserved", b.ReservedTotal(), "dataplane", b.Dataplane, "maxconn", b.MaxConn)
	if b.Configured > 0 {
		args = append(args, "maxconn_configured", b.Configured)
	}
	return args
}

// String is the budget in one line, each reservation with how it was counted.
func (b Budget) String() string {
	var parts []string
	for _, r := range b.Reserved {
		s := fmt.Sprintf("%s %d", r.For, r.N)
		if r.Why != "" {
			s += " (" + r.Why + ")"
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("limit %d: reserved %d [%s], data planes %d, maxconn %d",
		b.Limit, b.ReservedTotal(), strings.Join(parts, ", "), b.Dataplane, b.MaxConn)
}

// InUse counts the descriptors the process holds now (the entries of /proc/self/fd, less the
// one the count itself opens).
func InUse() (int, error) {
	f, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return 0, err
	}
	return len(names) - 1, nil
}

// Needs are what the reservations are made from, counted by the supervisor from the
// configuration and the parts it runs.
type Needs struct {
	// Probes is the most probes in flight at once: for each address family the checks that
	// open a socket, at most the scheduler's in-flight bound. The probe socket pool keeps no
	// more idle sockets than probes were in flight at once, so this bounds those too.
	Probes int
	// KeptConns is the connections checks keep open between their probes: one per HTTP_GET
	// with reuse_connection (fewer when checkers share a probe).
	KeptConns int
	// ICMP is the ICMP sockets PING_CHECKs share (one per address family in use).
	ICMP int
	// Scripts is the most scripts running at once (each runner's bound, or the scripts it
	// runs if fewer).
	Scripts int
	// VRRP runs the VRRP half, with VRRPInstances instances.
	VRRP          bool
	VRRPInstances int
	// BGP runs the BGP speaker, with BGPNeighbors neighbors.
	BGP          bool
	BGPNeighbors int
	// StatusConns is the status server's connection cap; 0 when it does not run.
	StatusConns int
	// ControlConns is the control socket's connection cap; 0 when it does not run.
	ControlConns int
	// ConntrackSync runs conntrackd as a child and sends it commands; IPVSSync follows a
	// VRRP instance with the kernel's IPVS sync daemon.
	ConntrackSync, IPVSSync bool
	// Listeners are the data planes' listening sockets and self probes.
	Listeners int
}

// What each need costs in descriptors.
const (
	// BaseReserve is the process's own: standard streams, the runtime's poller and its wake-up,
	// the log's file or syslog socket, netlink handles, the files the metrics read.
	BaseReserve = 32
	// PerScript is what starting one script holds at its peak: its output pipe (both ends
	// until it runs), /dev/null for its input, the pipe that reports a failed exec (two ends)
	// and its pidfd.
	PerScript = 6
	// VRRPReserve is the VRRP half's own (netlink watches and handles); PerVRRPInstance is
	// each instance's raw socket, its ARP/NDP announcer and slack for a VMAC's sockets.
	VRRPReserve     = 16
	PerVRRPInstance = 4
	// BGPReserve is the speaker's listening sockets and gRPC; PerBGPNeighbor a session and a
	// connection being retried.
	BGPReserve     = 16
	PerBGPNeighbor = 2
	// ConntrackSyncReserve is conntrackd's output pipes and pidfd and a command to it being
	// started; IPVSSyncReserve the netlink handle that starts and stops the kernel's daemons.
	ConntrackSyncReserve = 2*PerScript + 4
	IPVSSyncReserve      = 2
	// ControlReserve is the control socket's listener and the state file its commands write
	// (the file and its directory, synced), beside the socket's connections.
	ControlReserve = 3
)

// Reserve turns needs into reservations, in the order the budget is logged: base, checks,
// scripts, vrrp, bgp, sync, status, control, listeners; a part that does not run has none.
func Reserve(n Needs) []Reservation {
	out := []Reservation{{For: "base", N: BaseReserve, Why: "standard streams, poller, logs, netlink"}}
	if c := n.Probes + n.ICMP + n.KeptConns; c > 0 {
		why := fmt.Sprintf("%d probes in flight + %d ICMP sockets", n.Probes, n.ICMP)
		if n.KeptConns > 0 {
			why += fmt.Sprintf(" + %d kept connections", n.KeptConns)
		}
		out = append(out, Reservation{For: "checks", N: c, Why: why})
	}
	if n.Scripts > 0 {
		out = append(out, Reservation{For: "scripts", N: n.Scripts * PerScript, Why: fmt.Sprintf("%d at once × %d", n.Scripts, PerScript)})
	}
	if n.VRRP {
		out = append(out, Reservation{For: "vrrp", N: VRRPReserve + n.VRRPInstances*PerVRRPInstance,
			Why: fmt.Sprintf("%d + %d instances × %d", VRRPReserve, n.VRRPInstances, PerVRRPInstance)})
	}
	if n.BGP {
		out = append(out, Reservation{For: "bgp", N: BGPReserve + n.BGPNeighbors*PerBGPNeighbor,
			Why: fmt.Sprintf("%d + %d neighbors × %d", BGPReserve, n.BGPNeighbors, PerBGPNeighbor)})
	}
	if c := count(n.ConntrackSync)*ConntrackSyncReserve + count(n.IPVSSync)*IPVSSyncReserve; c > 0 {
		out = append(out, Reservation{For: "sync", N: c, Why: "conntrackd and its commands, the IPVS sync daemon's handle"})
	}
	if n.StatusConns > 0 {
		out = append(out, Reservation{For: "status", N: n.StatusConns + 1, Why: fmt.Sprintf("%d connections + its listener", n.StatusConns)})
	}
	if n.ControlConns > 0 {
		out = append(out, Reservation{For: "control", N: n.ControlConns + ControlReserve,
			Why: fmt.Sprintf("%d connections + its listener and the state file", n.ControlConns)})
	}
	if n.Listeners > 0 {
		out = append(out, Reservation{For: "listeners", N: n.Listeners, Why: "data plane listeners and self probes"})
	}
	return out
}

func count(b bool) int {
	if b {
		return 1
	}
	return 0
}
